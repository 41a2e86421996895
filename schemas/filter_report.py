"""The `filter_report` table: how many conversations and interactions each selection rule removed.

Written under `<root>/filter_report/ingest_date=YYYY-MM-DD/`, one row per (level, reason), including a
`kept` row per level, so that for each level: candidates = kept + sum of removals.
"""

import pyarrow as pa

SCHEMA = pa.schema(
    [
        ("level", pa.string()),
        ("reason", pa.string()),
        ("rows", pa.int64()),
        ("ingest_date", pa.date32()),
    ]
)

DESCRIPTIONS = {
    "level": "'conversation' or 'interaction': what the rule looks at and what `rows` counts",
    "reason": "rule that removed the rows (first failing rule wins), or 'kept'",
    "rows": "number of conversations or interactions",
    "ingest_date": "night of the run (partition key)",
}
