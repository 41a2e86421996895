"""Ingest: raw records (one JSON document each) → normalised `conversations` rows and `rejects` rows.

Takes the table `pipelines.sources.read_chunk` produces (source_file, source_record, raw bytes,
read_error) and returns both tables. Every input row lands in exactly one of them; a record is never
dropped and never crashes the run. Run per chunk by the nightly flow's Beam pipeline
(`afterword nightly --input dump.jsonl --root out/`).

Two paths give the same rows. The fast path (`pipelines/fast_ingest.py`) decodes a record with msgspec into a
typed Struct of only the fields kept, without building the objects `orjson.loads` would make for the rest (most
of a WildChat record is moderation scores). It never rejects: a record it can't decode or can't vouch for
(types, JSON orjson reads differently, a timestamp that doesn't parse) goes through the per-record path (orjson
+ Python checks), which alone names reject reasons; tests/differential checks both give identical tables.
"""

import contextlib
import gc
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

import orjson
import py3langid
import pyarrow as pa

from pipelines import fast_ingest, formats
from pipelines.formats import FORMATS, MAX_RECORD_BYTES, OVERSIZED_READ, ROLE_ALIASES
from schemas import conversations as conversations_schema
from schemas import rejects as rejects_schema

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

# py3langid's ISO 639-1 codes → the language names WildChat and LMSYS metadata use.
LANGUAGE_NAMES = {
    "af": "Afrikaans", "am": "Amharic", "an": "Aragonese", "ar": "Arabic", "as": "Assamese",
    "az": "Azerbaijani", "be": "Belarusian", "bg": "Bulgarian", "bn": "Bengali", "br": "Breton",
    "bs": "Bosnian", "ca": "Catalan", "cs": "Czech", "cy": "Welsh", "da": "Danish", "de": "German",
    "dz": "Dzongkha", "el": "Greek", "en": "English", "eo": "Esperanto", "es": "Spanish",
    "et": "Estonian", "eu": "Basque", "fa": "Persian", "fi": "Finnish", "fo": "Faroese",
    "fr": "French", "ga": "Irish", "gl": "Galician", "gu": "Gujarati", "he": "Hebrew", "hi": "Hindi",
    "hr": "Croatian", "ht": "Haitian Creole", "hu": "Hungarian", "hy": "Armenian",
    "id": "Indonesian", "is": "Icelandic", "it": "Italian", "ja": "Japanese", "jv": "Javanese",
    "ka": "Georgian", "kk": "Kazakh", "km": "Khmer", "kn": "Kannada", "ko": "Korean",
    "ku": "Kurdish", "ky": "Kyrgyz", "la": "Latin", "lb": "Luxembourgish", "lo": "Lao",
    "lt": "Lithuanian", "lv": "Latvian", "mg": "Malagasy", "mk": "Macedonian", "ml": "Malayalam",
    "mn": "Mongolian", "mr": "Marathi", "ms": "Malay", "mt": "Maltese", "nb": "Norwegian",
    "ne": "Nepali", "nl": "Dutch", "nn": "Norwegian", "no": "Norwegian", "oc": "Occitan",
    "or": "Oriya", "pa": "Punjabi", "pl": "Polish", "ps": "Pashto", "pt": "Portuguese",
    "qu": "Quechua", "ro": "Romanian", "ru": "Russian", "rw": "Kinyarwanda", "se": "Northern Sami",
    "si": "Sinhala", "sk": "Slovak", "sl": "Slovenian", "sq": "Albanian", "sr": "Serbian",
    "sv": "Swedish", "sw": "Swahili", "ta": "Tamil", "te": "Telugu", "th": "Thai", "tl": "Tagalog",
    "tr": "Turkish", "ug": "Uyghur", "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese",
    "vo": "Volapük", "wa": "Walloon", "xh": "Xhosa", "zh": "Chinese", "zu": "Zulu",
}  # fmt: skip


@dataclass(frozen=True)
class IngestConfig:
    input_format: str | None = None  # force one of FORMATS for every file; None = detect per file
    max_record_bytes: int = MAX_RECORD_BYTES  # larger raw records are rejected as oversized_record (bytes)
    keep_private_fields: bool = False  # keep WildChat's hashed_ip and header, in conversations and rejects.raw
    detect_language: bool = True  # guess the language with py3langid when the metadata has none
    language_sample_chars: int = 2000  # characters of user text the language guess reads
    reject_raw_chars: int = 2000  # characters of raw text copied into rejects.raw

    def __post_init__(self):
        if self.input_format is not None and self.input_format not in FORMATS:
            raise ValueError(f"input_format={self.input_format!r}: use one of {FORMATS} or leave it unset")
        if self.max_record_bytes < 1:
            raise ValueError("max_record_bytes must be >= 1 (bytes)")
        if self.language_sample_chars < 1 or self.reject_raw_chars < 0:
            raise ValueError("language_sample_chars must be >= 1 and reject_raw_chars >= 0")


class IngestResult(NamedTuple):
    conversations: pa.Table
    rejects: pa.Table
    fast_records: int = 0  # conversations the msgspec fast path normalised (the rest went record by record)


class RecordError(Exception):
    """A record is unusable; carries the reason code and a one-line detail."""

    def __init__(self, reason: str, detail: str, conversation_id: str | None = None):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.conversation_id = conversation_id


def hash_turns(messages: list[dict]) -> str:
    """WildChat's own conversation hash: sha256 of json.dumps([{content, role}, ...]), first 32 hex."""
    turns = [{"content": m["content"], "role": m["role"]} for m in messages]
    return hashlib.sha256(json.dumps(turns).encode()).hexdigest()[:32]


def ingest_records(raw: pa.Table, source_format: str | None, ingest_date: str, cfg: IngestConfig) -> IngestResult:
    """Parse, normalise and validate raw records; split them into conversations and rejects.

    `source_format` is None only for a file that could not be read, whose rows all carry a read_error.
    """
    date = datetime.strptime(ingest_date, "%Y-%m-%d").date()
    conversations: list[dict] = []
    rejects: list[dict] = []
    fast_records = 0
    files = raw.column("source_file").to_pylist()
    numbers = raw.column("source_record").to_pylist()
    payloads = fast_ingest.raw_views(raw.column("raw"))
    read_errors = raw.column("read_error").to_pylist()
    if source_format is None:
        vouched = [False] * raw.num_rows
    else:
        vouched = fast_ingest.screen_records(raw.column("raw")).tolist()
        decoder = fast_ingest.record_decoder(source_format)
    rows = zip(files, numbers, payloads, read_errors, vouched, strict=True)
    with _collector_paused():
        for source_file, source_record, payload, read_error, fast in rows:
            row = None
            if fast and read_error is None and len(payload) <= cfg.max_record_bytes:
                record = fast_ingest.decode_record(decoder, payload)
                row = None if record is None else _normalise_decoded(record, cfg)
                fast_records += row is not None
            if row is None:
                try:
                    payload = bytes(payload)
                    if read_error is not None and read_error.startswith(OVERSIZED_READ):
                        raise RecordError(OVERSIZED_RECORD, read_error.removeprefix(OVERSIZED_READ))
                    if read_error is not None:
                        raise RecordError(UNREADABLE_INPUT, read_error)
                    row = _normalise_record(payload, source_format, cfg)
                except RecordError as error:
                    where = {"source_file": source_file, "source_record": source_record, "ingest_date": date}
                    rejects.append(reject_row(error, payload, source_format, cfg, where))
                    continue
            row.update(source_format=source_format, source_file=source_file, source_record=source_record)
            row["ingest_date"] = date
            conversations.append(row)
    return IngestResult(
        conversations=pa.Table.from_pylist(conversations, schema=conversations_schema.SCHEMA),
        rejects=pa.Table.from_pylist(rejects, schema=rejects_schema.SCHEMA),
        fast_records=fast_records,
    )


@contextlib.contextmanager
def _collector_paused():
    """Pause Python's cycle collector: a chunk makes tens of thousands of objects without cycles, and each
    collection their allocations trigger walks every live object in the worker for nothing."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


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


def _normalise_record(payload: bytes, source_format: str, cfg: IngestConfig) -> dict:
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


def _normalise_decoded(record: formats.DecodedRecord, cfg: IngestConfig) -> dict | None:
    """The row `_normalise_record` gives a record the fast path decoded; None where only that path can tell
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


def detect_language(user_texts: list[str], cfg: IngestConfig) -> str | None:
    """Guess the conversation language from its user messages; None when there is no text."""
    sample = "\n".join(user_texts)[: cfg.language_sample_chars]
    if not sample.strip():
        return None
    code, _ = py3langid.classify(sample)
    return LANGUAGE_NAMES.get(code, code)
