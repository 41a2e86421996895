"""Rejects: the reason codes, the error that carries one, and the `rejects` row an unusable record becomes.

Every unusable record gets exactly one reason code and lands in `rejects` (`schemas/rejects.py`) with a
truncated copy of its raw text, WildChat's private fields removed unless kept. The per-record checks
(`pipelines/normalise.py`) raise `RecordError`; ingest (`pipelines/ingest.py`, `pipelines/arrow_ingest.py`)
turns it into a row with `reject_row`. The set-level reasons are decided by `pipelines/select.py`.
"""

import contextlib
import re

import orjson

from pipelines.ingest_config import IngestConfig

# Reason codes: every unusable record gets exactly one.
UNREADABLE_INPUT = "unreadable_input"  # the file or its container broke here (unreadable, empty, bad gzip/Parquet)
OVERSIZED_RECORD = "oversized_record"  # raw record larger than IngestConfig.max_record_bytes
INVALID_UTF8 = "invalid_utf8"
MALFORMED_JSON = "malformed_json"
NOT_AN_OBJECT = "not_an_object"  # valid JSON, but not a {...} record
MISSING_CONVERSATION = "missing_conversation"  # no message list under the format's key
CONVERSATION_NOT_LIST = "conversation_not_list"
EMPTY_CONVERSATION = "empty_conversation"
MESSAGE_NOT_OBJECT = "message_not_object"
MISSING_ROLE = "missing_role"
UNKNOWN_ROLE = "unknown_role"
MISSING_CONTENT = "missing_content"
NON_TEXT_CONTENT = "non_text_content"  # null, number, image part, ...
INVALID_ID = "invalid_id"  # id present but not a non-empty string or integer
INVALID_METADATA = "invalid_metadata"  # e.g. unparsable timestamp, non-boolean toxic flag
# Set-level reasons, decided by pipelines/select.py over the whole night.
DUPLICATE_ID = "duplicate_id"  # same conversation_id earlier in this run
ALREADY_INGESTED = "already_ingested"  # conversation_id stored on another night (earlier or later)

# Source fields that identify a person; dropped from conversations and from rejects.raw unless kept.
PRIVATE_FIELDS = ("hashed_ip", "header")
# For raw text that is not a JSON object: `"hashed_ip": <string, flat object, or anything up to , } ]>`,
# including a string cut off at the end of the text.
_PRIVATE_VALUE = re.compile(
    rb'"(' + b"|".join(f.encode() for f in PRIVATE_FIELDS) + rb')"\s*:\s*'
    rb'(?:"(?:[^"\\]|\\.)*(?:"|$)|\{[^{}]*(?:\}|$)|[^,}\]]*)'
)


class RecordError(Exception):
    """A record is unusable; carries the reason code and a one-line detail."""

    def __init__(self, reason: str, detail: str, conversation_id: str | None = None):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.conversation_id = conversation_id


def reject_row(error: RecordError, payload: bytes, source_format: str | None, cfg: IngestConfig, where: dict) -> dict:
    """The rejects row for a record the per-record path refused; `where` holds source_file, source_record and
    ingest_date."""
    return {
        **where,
        "source_format": source_format,
        "conversation_id": error.conversation_id,
        "reason": error.reason,
        "detail": error.detail,
        "raw": reject_raw(payload, cfg),
    }


def reject_raw(payload: bytes, cfg: IngestConfig) -> str:
    """The raw text kept with a reject: private fields removed (unless kept), then truncated."""
    head = payload[: cfg.reject_raw_chars * 4]
    if not cfg.keep_private_fields and any(f.encode() in payload for f in PRIVATE_FIELDS):
        try:
            record = orjson.loads(payload)
        except orjson.JSONDecodeError:
            record = None
        cleaned = None
        if isinstance(record, dict):
            with contextlib.suppress(orjson.JSONEncodeError):  # nested deeper than orjson writes
                cleaned = orjson.dumps({k: v for k, v in record.items() if k not in PRIVATE_FIELDS})
        if cleaned is None:
            head = _PRIVATE_VALUE.sub(rb'"\1": "[removed]"', head)
        else:
            head = cleaned[: cfg.reject_raw_chars * 4]
    return head.decode("utf-8", "replace")[: cfg.reject_raw_chars]
