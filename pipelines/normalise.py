"""One record → its `conversations` row (less the source columns), or a RecordError naming why it is unusable.

The per-record path (`normalise_record`: orjson, then Python checks per format) alone names reject reasons; the
Arrow path hands it Python objects (`normalise_object`). `normalise_decoded` finishes a record the msgspec
fast path decoded (`pipelines/fast_ingest.py`), or returns None where only the per-record path can tell. Both
end in `_conversation_row`, so the two give identical rows (tests/differential checks it).
"""

import hashlib
import json
from datetime import UTC, datetime

import orjson

from pipelines import fast_ingest, formats
from pipelines.formats import ROLE_ALIASES
from pipelines.ingest_config import IngestConfig
from pipelines.language import detect_language
from pipelines.rejects import (
    CONVERSATION_NOT_LIST,
    EMPTY_CONVERSATION,
    INVALID_ID,
    INVALID_METADATA,
    INVALID_UTF8,
    MALFORMED_JSON,
    MESSAGE_NOT_OBJECT,
    MISSING_CONTENT,
    MISSING_CONVERSATION,
    MISSING_ROLE,
    NON_TEXT_CONTENT,
    NOT_AN_OBJECT,
    OVERSIZED_RECORD,
    UNKNOWN_ROLE,
    RecordError,
)


def normalise_record(payload: bytes, source_format: str, cfg: IngestConfig) -> dict:
    """The conversations row (less its source columns) of one raw JSON record, checked step by step."""
    if len(payload) > cfg.max_record_bytes:
        raise RecordError(OVERSIZED_RECORD, f"record is {len(payload)} bytes, cap is {cfg.max_record_bytes}")
    try:
        record = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError as decode_error:
            raise RecordError(INVALID_UTF8, f"not valid UTF-8: {decode_error}") from None
        raise RecordError(MALFORMED_JSON, f"not valid JSON: {error}") from None
    if not isinstance(record, dict):
        raise RecordError(NOT_AN_OBJECT, f"record is a JSON {type(record).__name__}, expected an object")
    return normalise_object(record, source_format, cfg)


def normalise_object(record: dict, source_format: str, cfg: IngestConfig) -> dict:
    """The conversations row (less its source columns) of one parsed record: a JSON object, or an Arrow row
    (`pipelines/arrow_ingest.py`); RecordError names why the record is unusable."""
    if source_format in ("wildchat", "lmsys"):
        return _normalise_wildchat(record, cfg)
    if source_format == "sharegpt":
        return _normalise_sharegpt(record, cfg)
    return _normalise_openai(record, cfg)


def _normalise_wildchat(record: dict, cfg: IngestConfig) -> dict:
    source_id = record.get("conversation_hash", record.get("conversation_id"))
    conversation_id = _read_id(source_id)
    messages = _read_messages(record, "conversation", "role", "content", conversation_id)
    moderation = record.get("openai_moderation")
    if isinstance(moderation, list) and len(moderation) == len(messages):
        flags = [entry.get("flagged") if isinstance(entry, dict) else None for entry in moderation]
        for message, flag in zip(messages, flags, strict=True):
            message["flagged"] = flag if isinstance(flag, bool) else None
        known = [flag for flag in flags if isinstance(flag, bool)]
        flagged = any(known) if known else None
    else:
        flagged = None
    header = record.get("header")
    return _finish(
        record,
        messages,
        conversation_id,
        cfg,
        moderation_flagged=flagged,
        hashed_ip=_read_str(record, "hashed_ip", conversation_id) if cfg.keep_private_fields else None,
        header=json.dumps(header, sort_keys=True) if cfg.keep_private_fields and header is not None else None,
    )


def _normalise_sharegpt(record: dict, cfg: IngestConfig) -> dict:
    conversation_id = _read_id(record.get("id"))
    messages = _read_messages(record, "conversations", "from", "value", conversation_id)
    return _finish(record, messages, conversation_id, cfg)


def _normalise_openai(record: dict, cfg: IngestConfig) -> dict:
    conversation_id = _read_id(record.get("id", record.get("conversation_id")))
    messages = _read_messages(record, "messages", "role", "content", conversation_id)
    return _finish(record, messages, conversation_id, cfg)


def normalise_decoded(record: formats.DecodedRecord, cfg: IngestConfig) -> dict | None:
    """The row `normalise_record` gives a record the fast path decoded; None where only that path can tell
    (it then rejects the record, or reads it differently)."""
    source_id = record.source_id()
    if isinstance(source_id, int) and not fast_ingest.fits_orjson_int(source_id):
        return None
    messages = []
    for item in record.messages:
        role = ROLE_ALIASES.get(item.role) or ROLE_ALIASES.get(item.role.lower())
        if role is None:
            return None
        messages.append({"role": role, "content": item.content, "flagged": None})
    timestamp = record.timestamp
    if not messages or (isinstance(timestamp, int) and not fast_ingest.fits_orjson_int(timestamp)):
        return None
    extra = {}
    if isinstance(record, formats.WildChatRecord):
        moderation = record.openai_moderation
        extra["moderation_flagged"] = None
        if moderation is not None and len(moderation) == len(messages):
            for message, entry in zip(messages, moderation, strict=True):
                message["flagged"] = entry.flagged
            known = [entry.flagged for entry in moderation if entry.flagged is not None]
            extra["moderation_flagged"] = any(known) if known else None
        if cfg.keep_private_fields:
            try:
                header = orjson.loads(bytes(record.header))
            except orjson.JSONDecodeError:
                return None
            extra["hashed_ip"] = record.hashed_ip
            extra["header"] = None if header is None else json.dumps(header, sort_keys=True)
    conversation_id = _read_id(source_id)
    if conversation_id is None:
        conversation_id = hash_turns(messages)
    try:
        timestamp = _read_timestamp(record.timestamp, conversation_id)
    except RecordError:
        return None
    # msgspec checked the metadata's types, which `_finish` checks for the per-record path.
    metadata = {
        "model": record.model,
        "timestamp": timestamp,
        "toxic": record.toxic,
        "redacted": record.redacted,
        "country": record.country,
        "state": record.state,
    }
    return _conversation_row(conversation_id, messages, record.language, metadata, cfg, extra)


def _read_id(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RecordError(INVALID_ID, f"id {value!r} is a {type(value).__name__}, expected a string or integer")
    return str(value)


def _read_messages(record: dict, key: str, role_key: str, content_key: str, conversation_id: str | None):
    if key not in record or record[key] is None:
        raise RecordError(MISSING_CONVERSATION, f"no {key!r} list in the record", conversation_id)
    items = record[key]
    if not isinstance(items, list):
        raise RecordError(
            CONVERSATION_NOT_LIST, f"{key!r} is a {type(items).__name__}, expected a list", conversation_id
        )
    if not items:
        raise RecordError(EMPTY_CONVERSATION, f"{key!r} is an empty list", conversation_id)
    messages = []
    for index, item in enumerate(items):
        where = f"message {index}"
        if not isinstance(item, dict):
            raise RecordError(MESSAGE_NOT_OBJECT, f"{where} is a {type(item).__name__}", conversation_id)
        role = item.get(role_key)
        if role is None:
            raise RecordError(MISSING_ROLE, f"{where} has no {role_key!r}", conversation_id)
        if not isinstance(role, str) or role.lower() not in ROLE_ALIASES:
            raise RecordError(UNKNOWN_ROLE, f"{where} has role {role!r}", conversation_id)
        if content_key not in item:
            raise RecordError(MISSING_CONTENT, f"{where} has no {content_key!r}", conversation_id)
        messages.append(
            {
                "role": ROLE_ALIASES[role.lower()],
                "content": _read_text(item[content_key], where, conversation_id),
                "flagged": None,
            }
        )
    return messages


def _read_text(content: object, where: str, conversation_id: str | None) -> str:
    if isinstance(content, str):
        return content
    # OpenAI-style content parts: text-only parts are joined; anything else (images, audio) is unusable.
    if (
        isinstance(content, list)
        and content
        and all(
            isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
            for part in content
        )
    ):
        return "\n".join(part["text"] for part in content)
    kind = "null" if content is None else type(content).__name__
    raise RecordError(NON_TEXT_CONTENT, f"{where} content is {kind}, expected text", conversation_id)


def _read_str(record: dict, key: str, conversation_id: str | None) -> str | None:
    value = record.get(key)
    if value is None or isinstance(value, str):
        return value
    raise RecordError(INVALID_METADATA, f"{key!r} is {value!r}, expected a string", conversation_id)


def _read_bool(record: dict, key: str, conversation_id: str | None) -> bool | None:
    value = record.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise RecordError(INVALID_METADATA, f"{key!r} is {value!r}, expected true/false", conversation_id)


def _read_timestamp(value: object, conversation_id: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        if isinstance(value, datetime):  # an Arrow timestamp column (JSON has no date-times)
            parsed = value
        elif isinstance(value, str):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            # Epoch seconds; LMSYS-style dumps written by pandas use milliseconds.
            parsed = datetime.fromtimestamp(value / 1000 if value > 1e11 else value, tz=UTC)
        else:
            raise ValueError(f"a {type(value).__name__}")
    except (ValueError, OverflowError, OSError) as error:
        detail = f"timestamp {value!r} is not a date-time: {error}"
        raise RecordError(INVALID_METADATA, detail, conversation_id) from None
    # WildChat-4.8M logs naive timestamps in UTC.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _finish(record: dict, messages: list[dict], conversation_id: str | None, cfg: IngestConfig, **extra) -> dict:
    if conversation_id is None:
        conversation_id = hash_turns(messages)
    language = _read_str(record, "language", conversation_id)
    metadata = {
        "model": _read_str(record, "model", conversation_id),
        "timestamp": _read_timestamp(record.get("timestamp"), conversation_id),
        "toxic": _read_bool(record, "toxic", conversation_id),
        "redacted": _read_bool(record, "redacted", conversation_id),
        "country": _read_str(record, "country", conversation_id),
        "state": _read_str(record, "state", conversation_id),
    }
    return _conversation_row(conversation_id, messages, language, metadata, cfg, extra)


def _conversation_row(
    conversation_id: str, messages: list[dict], language: str | None, metadata: dict, cfg: IngestConfig, extra: dict
) -> dict:
    """A conversations row from normalised messages and checked metadata; both paths end here."""
    # Length rules measure stripped text, as the published preprocessing does (segmentation strips too).
    usable = [len(m["content"].strip()) for m in messages if is_usable(m)]
    language_source = "metadata" if language else None
    if not language and cfg.detect_language:
        language = detect_language([m["content"] for m in messages if m["role"] == "user"], cfg)
        language_source = "detected" if language else None
    return {
        "conversation_id": conversation_id,
        "language": language or None,
        "language_source": language_source,
        "moderation_flagged": None,
        "hashed_ip": None,
        "header": None,
        **metadata,
        "messages": messages,
        "message_count": len(messages),
        "usable_message_count": len(usable),
        "usable_chars": sum(usable),
        "longest_usable_message_chars": max(usable, default=0),
        **extra,
    }


def is_usable(message: dict) -> bool:
    """A message selection counts: from the user or the assistant, with non-whitespace text."""
    return message["role"] in ("user", "assistant") and not message["content"].isspace() and message["content"] != ""


def hash_turns(messages: list[dict]) -> str:
    """WildChat's own conversation hash: sha256 of json.dumps([{content, role}, ...]), first 32 hex."""
    turns = [{"content": m["content"], "role": m["role"]} for m in messages]
    return hashlib.sha256(json.dumps(turns).encode()).hexdigest()[:32]
