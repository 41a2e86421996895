"""The `runs` table: one row per nightly run, the flat part of its manifest.json.

Written under `<root>/runs/ingest_date=YYYY-MM-DD/run-<run_id>.parquet`; reruns of a night add a row
each (the data tables of that night are replaced, not appended).
"""

import pyarrow as pa

# A Hugging Face dataset the run read (pipelines/hf_datasets.py): enough to read the same rows again.
DATASET = pa.struct(
    [
        ("input", pa.string()),
        ("kind", pa.string()),
        ("dataset_id", pa.string()),
        ("revision", pa.string()),
        ("config", pa.string()),
        ("split", pa.string()),
    ]
)

SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("finished_at", pa.timestamp("us", tz="UTC")),
        ("input_files", pa.list_(pa.string())),
        ("records_in", pa.int64()),
        ("conversations", pa.int64()),
        ("rejects", pa.int64()),
        ("interactions", pa.int64()),
        ("code_version", pa.string()),
        ("config_json", pa.string()),
        ("ingest_date", pa.date32()),
        ("input_datasets", pa.list_(DATASET)),
        ("retired_scoring_runs", pa.list_(pa.string())),
    ]
)

DESCRIPTIONS = {
    "run_id": "unique id of the run: '<ingest_date>T<start time>-<random>'",
    "started_at": "when the run started, UTC",
    "finished_at": "when the run finished, UTC",
    "input_files": "input files as given (globs expanded)",
    "records_in": "records read from the inputs (blank lines are not records)",
    "conversations": "records stored in `conversations` by this run",
    "rejects": "records stored in `rejects` by this run",
    "interactions": "interactions selected by this run",
    "code_version": "afterword version and git commit of the code that ran",
    "config_json": "the resolved run configuration as JSON",
    "ingest_date": "night of the run (partition key)",
    "input_datasets": "Hugging Face datasets read: input as given, kind (hub, save_to_disk, repository), dataset id "
    "(OWNER/NAME or folder), revision (Hub commit), config and split; empty for plain files",
    "retired_scoring_runs": "scoring runs of the night this run replaced (--replace from other inputs or settings): "
    "out of scores/advantages/token_advantages, kept under retired/run_id=<this run>/ for audit; empty otherwise",
}
