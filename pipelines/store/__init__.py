"""The storage layer: a root's layout (nights, shards, commits), staging, the writer lock and the DuckDB catalog,
and the input files a night reads. A local folder and a bucket are told apart only here and in
`pipelines/objectstore.py`; the stages, flows and commands above never ask which they were given."""
