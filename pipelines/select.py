"""Select: tonight's staged tables → the night's conversations, rejects, selected interactions and filter report.

Set-level work in DuckDB SQL (files in `pipelines/sql/`, parameters bound, never formatted in):
duplicate ids within the night and against earlier nights, the conversation rules (published defaults:
English, ≥ 3 usable messages, ≤ 100,000 characters, no message over 4,096), repeated (x, y, o) across
nights, and an optional sampling cap. Out of core: inputs are Parquet views, outputs lazy relations.
Run by the nightly flow (`afterword nightly ...`).
"""

from dataclasses import dataclass, fields
from datetime import date
from typing import NamedTuple

import duckdb

from pipelines import ingest, segment
from pipelines.io import run_sql

# Reason codes, level 'conversation' (first failing rule wins, in this order).
WRONG_LANGUAGE = "wrong_language"
TOXIC = "toxic"
REDACTED = "redacted"
MODERATION_FLAGGED = "moderation_flagged"
MODEL_NOT_SELECTED = "model_not_selected"
OUTSIDE_DATE_RANGE = "outside_date_range"
TOO_FEW_MESSAGES = "too_few_messages"
CONVERSATION_TOO_LONG = "conversation_too_long"
MESSAGE_TOO_LONG = "message_too_long"
# Level 'interaction' (after segmentation's empty_history / history_not_ending_with_user).
DUPLICATE_INTERACTION = "duplicate_interaction"
OVER_SAMPLE_CAP = "over_sample_cap"

INTERACTION_REASONS = (
    segment.EMPTY_HISTORY,
    segment.HISTORY_NOT_ENDING_WITH_USER,
    DUPLICATE_INTERACTION,
    OVER_SAMPLE_CAP,
)


@dataclass(frozen=True)
class SelectConfig:
    languages: tuple[str, ...] = ("English",)  # conversation languages kept; () = any language
    min_messages: int = 3  # fewest usable (user/assistant, non-blank) messages a conversation needs
    max_conversation_chars: int = 100_000  # most characters over the usable messages; 0 = no limit
    max_message_chars: int = 4_096  # most characters in any usable message; 0 = no limit
    drop_toxic: bool = False  # drop conversations the source marks toxic
    drop_redacted: bool = False  # drop conversations the source marks redacted
    drop_flagged: bool = False  # drop conversations with a message flagged by OpenAI moderation
    models: tuple[str, ...] = ()  # keep only conversations from these source models; () = all
    start_date: date | None = None  # keep conversations with timestamp >= this date (UTC); None = no bound
    end_date: date | None = None  # keep conversations with timestamp < this date (UTC); None = no bound
    max_interactions: int = 0  # keep at most this many interactions per night, a stable hash sample; 0 = all
    reject_raw_chars: int = 2000  # characters of a duplicate record's messages copied into rejects.raw

    def __post_init__(self):
        if self.min_messages < 2:
            raise ValueError("min_messages must be >= 2: an interaction needs a reply and a follow-up")
        for name in ("max_conversation_chars", "max_message_chars", "max_interactions", "reject_raw_chars"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (0 = no limit)")
        if self.start_date and self.end_date and self.start_date >= self.end_date:
            raise ValueError("start_date must be before end_date")


class NightTables(NamedTuple):
    conversations: duckdb.DuckDBPyRelation
    rejects: duckdb.DuckDBPyRelation
    interactions: duckdb.DuckDBPyRelation
    filter_report: duckdb.DuckDBPyRelation


def select_night(con: duckdb.DuckDBPyConnection, ingest_date: date, cfg: SelectConfig) -> NightTables:
    """Decide tonight's tables from the views staged_conversations, staged_rejects, staged_interactions,
    earlier_conversations and earlier_interactions, which the caller has created on `con`."""
    params = {name.name: getattr(cfg, name.name) for name in fields(cfg)}
    params.update(
        languages=list(cfg.languages),
        models=list(cfg.models),
        raw_chars=cfg.reject_raw_chars,
        already_ingested=ingest.ALREADY_INGESTED,
        duplicate_id=ingest.DUPLICATE_ID,
        wrong_language=WRONG_LANGUAGE,
        toxic=TOXIC,
        redacted=REDACTED,
        moderation_flagged=MODERATION_FLAGGED,
        model_not_selected=MODEL_NOT_SELECTED,
        outside_date_range=OUTSIDE_DATE_RANGE,
        too_few_messages=TOO_FEW_MESSAGES,
        conversation_too_long=CONVERSATION_TOO_LONG,
        message_too_long=MESSAGE_TOO_LONG,
        duplicate_interaction=DUPLICATE_INTERACTION,
        over_sample_cap=OVER_SAMPLE_CAP,
    )
    # Verdict tables are materialised once and hold keys and reasons only (the interactions' text is read
    # from the staged Parquet when the selected rows are written, not copied into a table that spills);
    # the large inputs stay lazy views over Parquet. Rerunning on the same connection replaces them.
    for name in ("duplicate_records", "conversation_verdicts", "interaction_verdicts"):
        con.execute(f"drop table if exists {name}")  # our own fixed names
    con.execute("drop view if exists night_conversations")
    run_sql(con, "find_duplicate_records", params).create("duplicate_records")
    run_sql(con, "night_conversations", params).create_view("night_conversations")
    run_sql(con, "select_conversations", params).create("conversation_verdicts")
    run_sql(con, "select_interactions", params).create("interaction_verdicts")
    return NightTables(
        conversations=con.sql("select * from night_conversations"),
        rejects=run_sql(con, "night_rejects", params),
        interactions=run_sql(con, "selected_interactions"),
        filter_report=run_sql(con, "filter_report", {"ingest_date": ingest_date}),
    )
