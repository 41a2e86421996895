"""Fast decoding for ingest: raw JSON records → typed msgspec Structs holding only what `conversations` keeps.

msgspec decodes each record into the Struct of its source format, checking types in C and skipping the
fields no column uses (a WildChat record is mostly moderation scores) without building objects for them.
Where its reading of JSON differs from orjson's, which the per-record path in `pipelines/normalise.py` uses, the
record is not vouched for: `screen_records` flags the lines whose skipped parts could hold what orjson refuses
(numbers that overflow a double, nesting deeper than orjson allows), `decode_record` returns None for invalid
UTF-8 and for anything it can't decode, and `fits_orjson_int` tells the integers both read alike.
"""

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.formats import RECORD_TYPES, DecodedRecord

# orjson reads integers in [-2**63, 2**64 - 1] as int and larger ones as float; msgspec keeps them int.
ORJSON_INT_RANGE = (-(2**63), 2**64 - 1)
ORJSON_MAX_DEPTH = 1024  # orjson refuses documents nested deeper than this

# A JSON number token that could overflow a double (orjson refuses it, msgspec skips it unread): an exponent of
# three or more digits, or 210+ digits before the point (10**209 * 10**99 is still finite). A token follows `:`,
# `,` or `[` (and whitespace) and ends at `,`, `}`, `]` or whitespace. One RE2 pattern per character a token
# follows: RE2 then jumps between that character's occurrences (memchr) instead of stepping through every byte.
_NUMBER = r"[ \t\r\n]*-?(?:[0-9]+(?:\.[0-9]+)?[eE]\+?[0-9]{3,}[,}\] \t\r\n]|[0-9]{210})"
_OVERFLOW_CANDIDATES = tuple(start + _NUMBER for start in (":", ",", r"\["))


def raw_views(raw: pa.ChunkedArray) -> list[memoryview | bytes | None]:
    """The raw records as views into Arrow's buffers (`to_pylist` would copy every record)."""
    payloads: list[memoryview | bytes | None] = []
    for chunk in raw.chunks:
        if chunk.null_count or chunk.type != pa.binary():  # views below read int32 offsets
            payloads.extend(chunk.to_pylist())
            continue
        _, offsets, data = chunk.buffers()
        bounds = np.frombuffer(offsets, np.int32)[chunk.offset : chunk.offset + len(chunk) + 1].tolist()
        view = memoryview(b"" if data is None else data)
        payloads.extend(view[start:end] for start, end in zip(bounds[:-1], bounds[1:], strict=True))
    return payloads


def fits_orjson_int(value: int) -> bool:
    """Whether orjson reads this integer as an int too (it reads larger ones as float)."""
    return ORJSON_INT_RANGE[0] <= value <= ORJSON_INT_RANGE[1]


def record_decoder(source_format: str) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(RECORD_TYPES[source_format])


def screen_records(raw: pa.ChunkedArray) -> np.ndarray:
    """Per raw record, whether msgspec may decode it: False where a part it would skip unread could hold
    something orjson refuses."""
    suspect = pc.match_substring_regex(raw, _OVERFLOW_CANDIDATES[0])
    for pattern in _OVERFLOW_CANDIDATES[1:]:
        suspect = pc.or_(suspect, pc.match_substring_regex(raw, pattern))
    if _msgspec_nests_deeper_than_orjson():
        # Depth is at most the count of opening brackets (those inside strings included).
        openers = pc.add(pc.count_substring(raw, "["), pc.count_substring(raw, "{"))
        suspect = pc.or_(suspect, pc.greater(openers, ORJSON_MAX_DEPTH))
    return ~pc.fill_null(suspect, True).to_numpy(zero_copy_only=False)


def decode_record(decoder: msgspec.json.Decoder, payload: bytes) -> DecodedRecord | None:
    """The record as a Struct, or None where it isn't the Struct of its format or isn't valid UTF-8."""
    try:
        record = decoder.decode(payload)
        str(payload, "utf-8")  # msgspec checks the strings it decodes, not those it skips
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, UnicodeDecodeError):
        return None
    return record


def _msgspec_nests_deeper_than_orjson() -> bool:
    # msgspec's limit is the interpreter's recursion limit (minus the stack in use): below orjson's on a
    # default CPython 3.11, above it where the limit was raised or on interpreters with a C-stack limit.
    depth = ORJSON_MAX_DEPTH + 1
    try:
        msgspec.json.decode(b"[" * depth + b"]" * depth)
    except (RecursionError, msgspec.DecodeError):
        return False
    return True
