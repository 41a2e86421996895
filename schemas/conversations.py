"""The `conversations` table: every usable input record, normalised to one row per conversation.

Written by the nightly flow under `<root>/conversations/ingest_date=YYYY-MM-DD/`. Messages are kept
exactly as logged (roles normalised); selection rules never rewrite this table, they only decide
which interactions are selected (see `filter_report`).
"""

import pyarrow as pa

MESSAGE = pa.struct(
    [
        ("role", pa.string()),
        ("content", pa.string()),
        ("flagged", pa.bool_()),
    ]
)

SCHEMA = pa.schema(
    [
        ("conversation_id", pa.string()),
        ("source_format", pa.string()),
        ("source_file", pa.string()),
        ("source_record", pa.int64()),
        ("model", pa.string()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("language", pa.string()),
        ("language_source", pa.string()),
        ("toxic", pa.bool_()),
        ("redacted", pa.bool_()),
        ("moderation_flagged", pa.bool_()),
        ("country", pa.string()),
        ("state", pa.string()),
        ("hashed_ip", pa.string()),
        ("header", pa.string()),
        ("messages", pa.list_(MESSAGE)),
        ("message_count", pa.int32()),
        ("usable_message_count", pa.int32()),
        ("usable_chars", pa.int64()),
        ("longest_usable_message_chars", pa.int64()),
        ("ingest_date", pa.date32()),
    ]
)

DESCRIPTIONS = {
    "conversation_id": "the source's id (conversation_hash / conversation_id / id), else sha256 of the turns (32 hex)",
    "source_format": "input format: wildchat, lmsys, sharegpt or openai",
    "source_file": "path of the input file the record came from",
    "source_record": "1-based line number (JSONL), element index (JSON array) or row index (Parquet) in that file",
    "model": "model that wrote the assistant messages, from the source metadata; null when unknown",
    "timestamp": "conversation timestamp from the source, UTC; null when unknown",
    "language": "conversation language name (e.g. 'English'): source metadata, else detected",
    "language_source": "'metadata' when the source gave the language, 'detected' when py3langid guessed it",
    "toxic": "source's toxic flag; null when the source has none",
    "redacted": "source's redacted flag (PII removed upstream); null when the source has none",
    "moderation_flagged": "true when any message was flagged by the source's OpenAI moderation; null when absent",
    "country": "country from the source metadata; null when unknown",
    "state": "state/region from the source metadata; null when unknown",
    "hashed_ip": "source's hashed IP; null unless ingest keeps private fields",
    "header": "source's HTTP header as JSON text; null unless ingest keeps private fields",
    "messages": "the messages as logged: role (user/assistant/system/tool), content, per-message moderation flag",
    "message_count": "number of messages as logged",
    "usable_message_count": "messages that are user/assistant with non-whitespace content (what selection counts)",
    "usable_chars": "total characters of the usable messages, each stripped of outer whitespace",
    "longest_usable_message_chars": "characters of the longest usable message, stripped of outer whitespace",
    "ingest_date": "night the conversation was ingested (partition key)",
}
