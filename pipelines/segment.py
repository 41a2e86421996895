"""Segment: conversations → candidate interactions (x, y, o), one per (assistant reply, next user message).

Works in DuckDB (`sql/segment_turns.sql`: messages unnested as lists, the history cut with list
windows) on the usable messages (user/assistant, non-whitespace) and builds the history x with the
published rules: the last `history_messages` messages before y, leading assistant messages dropped,
a message repeating the previous kept role dropped, and skipped unless x is non-empty and ends with a
user message. Every message is stripped of outer whitespace, as the published WildChat preprocessing
does (`strip_messages=False` keeps text verbatim), so the interactions table holds exactly the text that
is scored. Returns every candidate with a `drop_reason` (null = kept); selection does the rest.
Run per chunk inside the nightly Beam pipeline (`afterword nightly ...`).
"""

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from pipelines.io import run_sql
from schemas import interactions as interactions_schema

# The characters Python's str.strip() and str.isspace() treat as whitespace (the published rules strip with
# Python), for DuckDB's trim(); a test checks it against every code point.
PYTHON_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)

_WHITESPACE_CLASS = "".join(f"\\x{{{ord(character):x}}}" for character in PYTHON_WHITESPACE)
EDGE_WHITESPACE = f"^[{_WHITESPACE_CLASS}]|[{_WHITESPACE_CLASS}]$"  # text that strip() would change
NON_WHITESPACE = f"[^{_WHITESPACE_CLASS}]"  # text that is not all whitespace

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
    numbered = conversations.append_column("row_order", pa.array(range(conversations.num_rows), pa.int64()))
    params = {
        "strip_messages": cfg.strip_messages,
        "whitespace": PYTHON_WHITESPACE,
        "edge_whitespace": EDGE_WHITESPACE,
        "non_whitespace": NON_WHITESPACE,
        "history_messages": cfg.history_messages,
        "empty_history": EMPTY_HISTORY,
        "history_not_ending_with_user": HISTORY_NOT_ENDING_WITH_USER,
    }
    with duckdb.connect(config={"threads": 1}) as con:
        con.register("conversations", numbered)
        candidates = run_sql(con, "segment_turns", params).to_arrow_table()
    return candidates.cast(CANDIDATE_SCHEMA)
