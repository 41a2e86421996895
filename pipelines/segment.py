"""Segment: conversations → candidate interactions (x, y, o), one per (assistant reply, next user message).

The chunk's messages are handled as flat Arrow columns: the usable ones (user/assistant, non-whitespace) are
found and stripped with Arrow's utf8_trim, and each reply's history x is cut with NumPy index arithmetic by the
published rules: the last `history_messages` messages before y, leading assistant messages dropped, a message
repeating the previous kept role dropped, and skipped unless x is non-empty and ends with a user message. Only
the content hash is SQL (`sql/segment_turns.sql`), so its bytes stay those of DuckDB's to_json. Every message
is stripped of outer whitespace, as the published WildChat preprocessing does (`strip_messages=False` keeps
text verbatim), so the interactions table holds exactly the text that is scored. Returns every candidate with
a `drop_reason` (null = kept); selection does the rest. Run per chunk in the nightly Beam pipeline
(`afterword nightly ...`).
"""

import functools
import os
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.io import run_sql
from schemas import interactions as interactions_schema

# The characters Python's str.strip() and str.isspace() treat as whitespace (the published rules strip with
# Python), for Arrow's utf8_trim; a test checks it against every code point.
PYTHON_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)

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
CONVERSATION_COLUMNS = ("model", "language", "timestamp", "source_format")  # copied onto each candidate
PROVENANCE_COLUMNS = ("ingest_date", "source_file", "source_record")


@dataclass(frozen=True)
class SegmentConfig:
    history_messages: int = 5  # messages before the reply that x may keep (published default: 5)
    strip_messages: bool = True  # strip outer whitespace of x, y and o (published preprocessing); False = verbatim

    def __post_init__(self):
        if self.history_messages < 1:
            raise ValueError("history_messages must be >= 1")


def segment_turns(conversations: pa.Table, cfg: SegmentConfig) -> pa.Table:
    """One candidate row per usable assistant message directly followed by a usable user message."""
    messages = conversations.column("messages").combine_chunks()
    role, text, usable = _usable_messages(messages, cfg.strip_messages)
    conversation, is_user = usable["conversation"], usable["is_user"]
    # Usable message `reply` is a reply when the next usable one is the user's follow-up in the same conversation.
    reply = np.flatnonzero(~is_user[:-1] & is_user[1:] & (conversation[:-1] == conversation[1:]))
    history_offsets, history = _histories(reply, conversation, is_user, cfg.history_messages)

    history_lengths = np.diff(history_offsets)
    ends_with_user = np.zeros(len(reply), dtype=bool)
    ends_with_user[history_lengths > 0] = is_user[history[history_offsets[1:][history_lengths > 0] - 1]]
    reason = np.where(history_lengths == 0, 1, np.where(ends_with_user, 0, 2))
    drop_reason = pa.array([None, EMPTY_HISTORY, HISTORY_NOT_ENDING_WITH_USER], pa.string()).take(reason)

    history_messages = pa.array(usable["message"][history])
    context = pa.ListArray.from_arrays(
        pa.array(history_offsets, pa.int32()),
        pa.StructArray.from_arrays(
            [role.take(history_messages), text.take(history_messages)], fields=list(interactions_schema.MESSAGE)
        ),
    )
    response = text.take(pa.array(usable["message"][reply]))
    followup = text.take(pa.array(usable["message"][reply + 1]))
    rows = pa.array(conversation[reply])
    conversation_id = conversations.column("conversation_id").take(rows)
    turn_index = pa.array(usable["turn_index"][reply], pa.int32())
    columns = {
        "interaction_id": pc.binary_join_element_wise(conversation_id, pc.cast(turn_index, pa.string()), ":"),
        "conversation_id": conversation_id,
        "turn_index": turn_index,
        "context": context,
        "response": response,
        "followup": followup,
        **{name: conversations.column(name).take(rows) for name in CONVERSATION_COLUMNS},
        "content_hash": _content_hashes(context, response, followup),
        **{name: conversations.column(name).take(rows) for name in PROVENANCE_COLUMNS},
        "drop_reason": drop_reason,
    }
    return pa.Table.from_pydict(columns).cast(CANDIDATE_SCHEMA)


def _usable_messages(messages: pa.ListArray, strip_messages: bool) -> tuple[pa.Array, pa.Array, dict]:
    """Every message's role and text (stripped unless `strip_messages` is False), and the usable ones in order:
    their place in those arrays (`message`), conversation row, logged index and whether the user wrote them."""
    offsets = messages.offsets.to_numpy()
    lengths = np.diff(offsets)
    # The values, not flatten(): flatten skips null lists, which may still span values.
    flat = messages.values.slice(offsets[0], offsets[-1] - offsets[0])
    conversation = np.repeat(np.arange(len(messages)), lengths)
    turn_index = np.arange(len(flat)) - np.repeat(offsets[:-1] - offsets[0], lengths)
    role = pc.struct_field(flat, "role")
    content = pc.struct_field(flat, "content")
    stripped = pc.utf8_trim(content, PYTHON_WHITESPACE)
    # Usable = a known role and text that is not all whitespace (Python: not isspace() and not empty).
    keep = pc.and_(pc.is_in(role, pa.array(["user", "assistant"])), pc.not_equal(pc.binary_length(stripped), 0))
    keep = pc.fill_null(keep, False).to_numpy(zero_copy_only=False)
    if messages.null_count:
        keep &= messages.is_valid().to_numpy(zero_copy_only=False)[conversation]
    message = np.flatnonzero(keep)
    usable = {
        "message": message,
        "conversation": conversation[message],
        "turn_index": turn_index[message],
        "is_user": pc.equal(role.take(pa.array(message)), "user").to_numpy(zero_copy_only=False),
    }
    return role, stripped if strip_messages else content, usable


def _histories(
    reply: np.ndarray, conversation: np.ndarray, is_user: np.ndarray, history_messages: int
) -> tuple[np.ndarray, np.ndarray]:
    """x for each reply as offsets into a flat list of usable-message positions (both NumPy arrays)."""
    first_in_conversation = np.r_[True, conversation[1:] != conversation[:-1]]
    conversation_start = np.maximum.accumulate(np.where(first_in_conversation, np.arange(len(conversation)), 0))
    # No window is longer than the chunk, so a huge history_messages still fits int64 arithmetic.
    window_start = np.maximum(reply - min(history_messages, len(is_user)), conversation_start[reply])
    # The first user message at or after each position (len = none): x starts there in its window.
    next_user = np.minimum.accumulate(np.where(is_user, np.arange(len(is_user)), len(is_user))[::-1])[::-1]
    history_start = next_user[window_start]

    # Every (reply, window message) pair, window by window, then the ones x keeps.
    window_lengths = reply - window_start
    window_row = np.repeat(np.arange(len(reply)), window_lengths)
    window_offsets = np.r_[0, np.cumsum(window_lengths)]
    message = np.arange(window_offsets[-1]) - np.repeat(window_offsets[:-1] - window_start, window_lengths)
    start = history_start[window_row]
    # A run of one role keeps its first message; messages before the window's first user message go.
    keep = (message == start) | ((message > start) & (is_user[message] != is_user[message - 1]))
    return np.r_[0, np.cumsum(np.bincount(window_row[keep], minlength=len(reply)))], message[keep]


def _content_hashes(context: pa.Array, response: pa.Array, followup: pa.Array) -> pa.Array:
    """content_hash per candidate, computed by DuckDB (see `sql/segment_turns.sql`)."""
    candidates = pa.table({"context": context, "response": response, "followup": followup})
    with _database(os.getpid()).cursor() as con:
        con.register("candidates", candidates)
        return run_sql(con, "segment_turns").to_arrow_table().column("content_hash")


@functools.cache
def _database(process_id: int) -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB per process, opened on first use (by process id, so a forked child opens its own):
    opening, warming up and closing a database per chunk cost about 0.1 s, more than the hashing itself.
    One thread: Beam already runs one worker process per core."""
    return duckdb.connect(config={"threads": 1})
