"""Columnar ingest: raw records → `conversations` / `rejects`, parsed and validated by DuckDB in bulk.

Same contract and same results as `pipelines.ingest.ingest_records`, which stays the per-record fallback:
DuckDB's JSON reader projects the fields the table keeps and validates them with vectorised expressions
(`sql/parse_records.sql`); only the records it can't vouch for (every record that will be rejected, and
the rare ones whose JSON DuckDB and orjson might read differently) go through the per-record path, which
gives them today's reject reasons. Python also guesses the language of the conversations whose metadata
has none. Run per chunk by the nightly Beam pipeline (`afterword nightly --input dump.jsonl --root out/`).
"""

import json
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipelines import ingest
from pipelines.io import run_sql
from pipelines.segment import EDGE_WHITESPACE, NON_WHITESPACE, PYTHON_WHITESPACE
from schemas import conversations as conversations_schema

# Lines DuckDB's reader accepts but orjson refuses (NaN/Infinity, trailing commas, numbers past a double)
# or could read otherwise (NUL and surrogate escapes): left to the per-record path.
DOUBTFUL_JSON = r"NaN|Infinity|,\s*[\]}]|\d[eE]\+?\d{3,}\s*[,\]}]|\\u0000|\\u[dD][89abAB]"
# ISO date-times that datetime.fromisoformat (after Z → +00:00) and DuckDB's cast read alike.
ISO_TIMESTAMP = r"[1-9]\d{3}-\d{2}-\d{2}[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?"
METADATA_FIELDS = ("model", "timestamp", "language", "toxic", "redacted", "country", "state")
# (key of the id, key read when it is absent, message list, role, content, per-message moderation)
FORMAT_KEYS = {
    "wildchat": ("conversation_hash", "conversation_id", "conversation", "role", "content", True),
    "lmsys": ("conversation_hash", "conversation_id", "conversation", "role", "content", True),
    "sharegpt": ("id", "id", "conversations", "from", "value", False),
    "openai": ("id", "conversation_id", "messages", "role", "content", False),
}


def ingest_columnar(
    raw: pa.Table, source_format: str | None, ingest_date: str, cfg: ingest.IngestConfig
) -> ingest.IngestResult:
    """Parse, normalise and validate raw records in bulk; the same split as `ingest.ingest_records`."""
    if source_format is None or cfg.keep_private_fields:
        # An unreadable file's rows are all rejects; private fields are rare enough to read per record.
        return ingest.ingest_records(raw, source_format, ingest_date, cfg)
    parsed = parse_records(raw, source_format, cfg)
    fast = _as_conversations(parsed, raw, source_format, ingest_date, cfg)
    rest = pc.invert(pc.is_in(pa.array(range(raw.num_rows), pa.int64()), parsed.column("row_id")))
    fallback = ingest.ingest_records(raw.filter(rest), source_format, ingest_date, cfg)
    conversations = pa.concat_tables([fast, fallback.conversations])
    if fallback.conversations.num_rows:
        conversations = conversations.sort_by("source_record")
    return ingest.IngestResult(conversations, fallback.rejects)


def parse_records(raw: pa.Table, source_format: str, cfg: ingest.IngestConfig) -> pa.Table:
    """The rows DuckDB normalises on its own (`sql/parse_records.sql`), `row_id` = their index in `raw`."""
    numbered = raw.append_column("row_id", pa.array(range(raw.num_rows), pa.int64()))
    with duckdb.connect(config={"threads": 1}) as con:
        con.register("raw_records", numbered)
        return run_sql(con, "parse_records", _parse_params(source_format, cfg)).to_arrow_table()


def _parse_params(source_format: str, cfg: ingest.IngestConfig) -> dict:
    primary_id, secondary_id, messages_key, role_key, content_key, moderation = FORMAT_KEYS[source_format]
    # Every field as JSON text, so that its type can be checked after one parse.
    structure = dict.fromkeys((primary_id, secondary_id, *METADATA_FIELDS, "openai_moderation"), "JSON") | {
        messages_key: [{role_key: "JSON", content_key: "JSON"}],
        "openai_moderation": [{"flagged": "JSON"}],
    }
    return {
        "max_record_bytes": cfg.max_record_bytes,
        "doubtful_json": DOUBTFUL_JSON,
        "structure": json.dumps(structure),
        "message_keys_path": f"$.{messages_key}[*]",
        "moderation_keys_path": "$.openai_moderation[*]" if moderation else "$.__no_such_field__[*]",
        "iso_timestamp": ISO_TIMESTAMP,
        "primary_id_key": primary_id,
        "secondary_id_key": secondary_id,
        "messages_key": messages_key,
        "role_key": role_key,
        "content_key": content_key,
        "has_moderation": moderation,
        "role_names": list(ingest.ROLE_ALIASES),
        "role_values": list(ingest.ROLE_ALIASES.values()),
        "whitespace": PYTHON_WHITESPACE,
        "edge_whitespace": EDGE_WHITESPACE,
        "non_whitespace": NON_WHITESPACE,
    }


def _as_conversations(
    parsed: pa.Table, raw: pa.Table, source_format: str, ingest_date: str, cfg: ingest.IngestConfig
) -> pa.Table:
    """The parsed rows with provenance, detected languages and the table's exact schema."""
    rows = parsed.column("row_id")
    language, language_source = _languages(parsed, cfg)
    count = parsed.num_rows
    columns = {
        "conversation_id": parsed.column("conversation_id"),
        "source_format": pa.array([source_format] * count, pa.string()),
        "source_file": raw.column("source_file").take(rows),
        "source_record": raw.column("source_record").take(rows),
        **{name: parsed.column(name) for name in ("model", "timestamp")},
        "language": language,
        "language_source": language_source,
        **{name: parsed.column(name) for name in ("toxic", "redacted", "moderation_flagged", "country", "state")},
        "hashed_ip": pa.nulls(count, pa.string()),
        "header": pa.nulls(count, pa.string()),
        **{
            name: parsed.column(name)
            for name in (
                "messages",
                "message_count",
                "usable_message_count",
                "usable_chars",
                "longest_usable_message_chars",
            )
        },
        "ingest_date": pa.array([datetime.strptime(ingest_date, "%Y-%m-%d").date()] * count, pa.date32()),
    }
    return pa.table(columns).cast(conversations_schema.SCHEMA)


def _languages(parsed: pa.Table, cfg: ingest.IngestConfig) -> tuple[pa.Array, pa.Array]:
    """The metadata's language, else py3langid's guess from the user messages (only those rows in Python)."""
    language = parsed.column("language").to_pylist()
    source = parsed.column("language_source").to_pylist()
    if cfg.detect_language:
        missing = [index for index, name in enumerate(language) if name is None]
        messages = parsed.column("messages").take(pa.array(missing, pa.int64())).to_pylist()
        for index, turns in zip(missing, messages, strict=True):
            guess = ingest.detect_language([m["content"] for m in turns if m["role"] == "user"], cfg)
            language[index], source[index] = guess, "detected" if guess else None
    return pa.array(language, pa.string()), pa.array(source, pa.string())
