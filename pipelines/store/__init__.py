"""The storage root: its layout (nights, shards, commits), the writer lock and the DuckDB catalog."""
