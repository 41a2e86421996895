"""Segment: conversations → candidate interactions (x, y, o), one per (assistant reply, next user message).

Works on the usable messages (user/assistant, non-whitespace) and builds the history x with the
published rules: the last `history_messages` messages before y, leading assistant messages dropped,
a message repeating the previous kept role dropped, and skipped unless x is non-empty and ends with a
user message. Every message is stripped of outer whitespace, as the published WildChat preprocessing
does (`strip_messages=False` keeps text verbatim), so the interactions table holds exactly the text that
is scored. Returns every candidate with a `drop_reason` (null = kept); selection does the rest.
Run per chunk inside the nightly Beam pipeline (`afterword nightly ...`).
"""

import hashlib
import re
from dataclasses import dataclass

import orjson
import pyarrow as pa

from pipelines.ingest import is_usable
from schemas import interactions as interactions_schema

# Reason codes of this stage (level 'interaction' in filter_report).
EMPTY_HISTORY = "empty_history"  # nothing usable before the reply once leading assistant turns are dropped
HISTORY_NOT_ENDING_WITH_USER = "history_not_ending_with_user"  # e.g. two assistant replies in a row

# Candidates also carry their record's provenance, so selection can follow the copy of a duplicated id
# that ingest kept.
CANDIDATE_SCHEMA = pa.schema(
    list(interactions_schema.SCHEMA)
    + [
        pa.field("source_file", pa.string()),
        pa.field("source_record", pa.int64()),
        pa.field("drop_reason", pa.string()),
    ]
)


@dataclass(frozen=True)
class SegmentConfig:
    history_messages: int = 5  # messages before the reply that x may keep (published default: 5)
    strip_messages: bool = True  # strip outer whitespace of x, y and o (published preprocessing); False = verbatim

    def __post_init__(self):
        if self.history_messages < 1:
            raise ValueError("history_messages must be >= 1")


def segment_turns(conversations: pa.Table, cfg: SegmentConfig) -> pa.Table:
    """One candidate row per usable assistant message directly followed by a usable user message."""
    rows: list[dict] = []
    columns = (
        "conversation_id",
        "messages",
        "model",
        "language",
        "timestamp",
        "source_format",
        "ingest_date",
        "source_file",
        "source_record",
    )
    data = {name: conversations.column(name).to_pylist() for name in columns}
    for i, conversation_id in enumerate(data["conversation_id"]):
        # Remember each usable message's index in the logged list: it makes interaction ids stable.
        usable = [
            (index, _stripped(m) if cfg.strip_messages else m)
            for index, m in enumerate(data["messages"][i])
            if is_usable(m)
        ]
        for position in range(len(usable) - 1):
            turn_index, reply = usable[position]
            followup = usable[position + 1][1]
            if reply["role"] != "assistant" or followup["role"] != "user":
                continue
            context, drop_reason = build_history([m for _, m in usable[:position]], cfg.history_messages)
            rows.append(
                {
                    "interaction_id": f"{conversation_id}:{turn_index}",
                    "conversation_id": conversation_id,
                    "turn_index": turn_index,
                    "context": context,
                    "response": reply["content"],
                    "followup": followup["content"],
                    "content_hash": hash_interaction(context, reply["content"], followup["content"]),
                    "model": data["model"][i],
                    "language": data["language"][i],
                    "timestamp": data["timestamp"][i],
                    "source_format": data["source_format"][i],
                    "ingest_date": data["ingest_date"][i],
                    "source_file": data["source_file"][i],
                    "source_record": data["source_record"][i],
                    "drop_reason": drop_reason,
                }
            )
    return pa.Table.from_pylist(rows, schema=CANDIDATE_SCHEMA)


def _stripped(message: dict) -> dict:
    return {"role": message["role"], "content": message["content"].strip()}


# orjson writes control characters as \u00xx; DuckDB's to_json (the hash's original definition, kept so
# hashes stored on earlier nights still match) writes \u00XX. An escape follows an even run of backslashes.
_LOWER_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\u00([0-9a-f]{2})")


def hash_interaction(context: list[dict], response: str, followup: str) -> str:
    """content_hash: md5 of compact JSON of x, NUL, y, NUL, o (= DuckDB md5(to_json(x) || chr(0) || ...))."""
    context_json = orjson.dumps(context)
    if b"\\u00" in context_json:
        context_json = _LOWER_ESCAPE.sub(lambda m: m.group(1) + b"\\u00" + m.group(2).upper(), context_json)
    payload = b"\0".join((context_json, response.encode(), followup.encode()))
    return hashlib.md5(payload).hexdigest()


def build_history(before: list[dict], history_messages: int) -> tuple[list[dict], str | None]:
    """x from the usable messages before the reply, and why it is unusable (None when it is fine)."""
    window = before[-history_messages:]
    while window and window[0]["role"] == "assistant":
        window = window[1:]
    history: list[dict] = []
    for message in window:
        if history and history[-1]["role"] == message["role"]:
            continue
        history.append({"role": message["role"], "content": message["content"]})
    if not history:
        return history, EMPTY_HISTORY
    if history[-1]["role"] != "user":
        return history, HISTORY_NOT_ENDING_WITH_USER
    return history, None
