"""Today's per-record segmentation in Python, frozen as the oracle the SQL segmentation is checked against.

It is the code `pipelines/segment.py` ran before segmentation moved to DuckDB, unchanged but for names.
"""

import hashlib
import re

import orjson
import pyarrow as pa

from pipelines.normalise import is_usable
from pipelines.segment import CANDIDATE_SCHEMA, EMPTY_HISTORY, HISTORY_NOT_ENDING_WITH_USER, SegmentConfig


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
