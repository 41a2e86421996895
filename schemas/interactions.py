"""The `interactions` table: one row per (assistant reply y, the user's next message o) with its history x.

Written by the nightly flow under `<root>/interactions/ingest_date=YYYY-MM-DD/`; read by scoring.
Only interactions that passed every selection rule are stored; removals are counted in `filter_report`.
"""

import pyarrow as pa

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])

SCHEMA = pa.schema(
    [
        ("interaction_id", pa.string()),
        ("conversation_id", pa.string()),
        ("turn_index", pa.int32()),
        ("context", pa.list_(MESSAGE)),
        ("response", pa.string()),
        ("followup", pa.string()),
        ("model", pa.string()),
        ("language", pa.string()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("source_format", pa.string()),
        ("content_hash", pa.string()),
        ("ingest_date", pa.date32()),
    ]
)

DESCRIPTIONS = {
    "interaction_id": "stable id: '<conversation_id>:<turn_index>'",
    "conversation_id": "the conversation this interaction comes from (see conversations.conversation_id)",
    "turn_index": "0-based index of the reply y in the conversation's logged message list",
    "context": "x: the history before y (at most 5 messages, roles alternating, starts and ends with a user message)",
    "response": "y: the assistant reply as scored: stripped of outer whitespace by default (segment strip_messages)",
    "followup": "o: the user's next message as scored (the afterword), stripped like y",
    "model": "model that wrote y according to the source metadata; null when unknown",
    "language": "conversation language: source metadata, else detected from the user messages",
    "timestamp": "conversation timestamp from the source, UTC; null when unknown",
    "source_format": "input format the conversation was parsed from (wildchat, lmsys, sharegpt, openai)",
    "content_hash": "md5 of (x, y, o): the same interaction logged again, tonight or on any night, is dropped",
    "ingest_date": "night the conversation was ingested (partition key)",
}
