"""Prefect flows (`nightly`, `score-shard`, `refresh`, `learn`, `simulate`) and the Beam ingest pipeline: wiring only.

They read, call a stage or the trainer, write, and add retries and paths, but no data logic. They import
`pipelines`, `train` and `schemas`, never `cli` or `afterword_cli` (tests/test_layers.py).
"""
