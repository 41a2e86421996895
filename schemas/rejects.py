"""The `rejects` table: every input record that could not be used, with a reason code.

Written under `<root>/rejects/ingest_date=YYYY-MM-DD/`. For every run,
records in = conversations + rejects holds exactly. Reason codes are defined in `pipelines/rejects.py`.
"""

import pyarrow as pa

SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("source_record", pa.int64()),
        ("source_format", pa.string()),
        ("conversation_id", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("raw", pa.string()),
        ("ingest_date", pa.date32()),
    ]
)

DESCRIPTIONS = {
    "source_file": "path of the input file the record came from",
    "source_record": "1-based line number (JSONL), element index (JSON array) or row index (Parquet)",
    "source_format": "format the file was read as; null when the record could not be parsed at all",
    "conversation_id": "the record's id when one could be read, else null",
    "reason": "snake_case reason code, e.g. malformed_json, unknown_role, duplicate_id",
    "detail": "one human-readable line saying what exactly was wrong",
    "raw": "the record's raw text, truncated (undecodable bytes shown as U+FFFD)",
    "ingest_date": "night the record was read (partition key)",
}
