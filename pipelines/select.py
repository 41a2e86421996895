"""Select: tonight's staged tables → the night's conversations, rejects, selected interactions and filter report.

Set-level work in DuckDB SQL (files in `pipelines/sql/`, parameters bound, never formatted in):
duplicate ids within the night and against earlier nights, the conversation rules (published defaults:
English, ≥ 3 usable messages, ≤ 100,000 characters, no message over 4,096), repeated (x, y, o) across
nights, and an optional sampling cap. Out of core: inputs are Parquet views, outputs lazy relations.
Run by the nightly flow (`afterword nightly ...`).
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import date
from typing import NamedTuple

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines import objectstore, segment
from pipelines.formats import INPUTS_THAT_WORK
from pipelines.io import parquet_view, run_checks, run_sql, staged_view, write_concurrently, write_query
from pipelines.rejects import ALREADY_INGESTED, DUPLICATE_ID
from pipelines.store import layout as storage
from pipelines.store.staging import STAGED, publish_file, staged_part, staged_parts
from schemas import conversations, filter_report, rejects
from schemas import interactions as interactions_schema

# The night's four tables as they are stored.
SCHEMAS = {
    "conversations": conversations.SCHEMA,
    "rejects": rejects.SCHEMA,
    "interactions": interactions_schema.SCHEMA,
    "filter_report": filter_report.SCHEMA,
}

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


class StagedPart(NamedTuple):
    """One chunk's staged rows, in record order: a Parquet part or the rows themselves."""

    rows: str | pa.Table
    record_offset: int = 0  # added to its source_record numbers (the lines of its file's earlier chunks)


class NightTables(NamedTuple):
    conversations: Iterator[pa.Table]  # stored rows, part by part in input order
    rejects: duckdb.DuckDBPyRelation
    interactions: Iterator[pa.Table]  # stored rows (interactions table columns), part by part in input order
    filter_report: duckdb.DuckDBPyRelation


def select_night(
    con: duckdb.DuckDBPyConnection, ingest_date: date, cfg: SelectConfig, parts: dict[str, list[StagedPart]]
) -> NightTables:
    """Decide tonight's tables from the views staged_conversations, staged_rejects, staged_interactions,
    earlier_conversations and earlier_interactions, which the caller has created on `con` over the same
    staged `parts` (per table, in input order) it passes here."""
    params = {name.name: getattr(cfg, name.name) for name in fields(cfg)}
    params.update(
        languages=list(cfg.languages),
        models=list(cfg.models),
        raw_chars=cfg.reject_raw_chars,
        already_ingested=ALREADY_INGESTED,
        duplicate_id=DUPLICATE_ID,
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
    # Verdict tables are materialised once and hold keys and reasons only; the large inputs stay lazy views
    # over Parquet. Rerunning on the same connection replaces them.
    for name in ("duplicate_records", "conversation_verdicts", "interaction_verdicts"):
        con.execute(f"drop table if exists {name}")  # our own fixed names
    con.execute("drop view if exists night_conversations")
    run_sql(con, "find_duplicate_records", params).create("duplicate_records")
    run_sql(con, "night_conversations", params).create_view("night_conversations")
    run_sql(con, "select_conversations", params).create("conversation_verdicts")
    run_sql(con, "select_interactions", params).create("interaction_verdicts")
    # The stored rows are the staged parts' own rows, filtered by key in input order: the night's files
    # come out in record order without sorting their text (a sort of every message spills at 1M records).
    duplicates = _keys_by_file(con.sql("select source_file, source_record, 0 from duplicate_records"))
    kept = _keys_by_file(
        con.sql("select source_file, source_record, turn_index from interaction_verdicts where drop_reason is null")
    )
    return NightTables(
        conversations=_stored_rows(parts["conversations"], duplicates, keep=False, by_turn=False, columns=None),
        rejects=run_sql(con, "night_rejects", params),
        interactions=_stored_rows(
            parts["interactions"], kept, keep=True, by_turn=True, columns=interactions_schema.SCHEMA.names
        ),
        filter_report=run_sql(con, "filter_report", {"ingest_date": ingest_date}),
    )


def _row_keys(records: np.ndarray, turns: np.ndarray) -> np.ndarray:
    """One sortable int64 per (record, turn) pair."""
    return records.astype(np.int64) * 2**32 + turns.astype(np.int64)


def _keys_by_file(relation: duckdb.DuckDBPyRelation) -> dict[str, np.ndarray]:
    """(source_file, source_record, turn) rows → sorted row keys per source file."""
    rows = relation.to_arrow_table()
    files, records, turns = (rows.column(i).to_numpy(zero_copy_only=False) for i in range(3))
    return {
        file: np.sort(_row_keys(records[files == file], turns[files == file])) for file in np.unique(files).tolist()
    }


def _stored_rows(
    parts: list[StagedPart], keys: dict[str, np.ndarray], keep: bool, by_turn: bool, columns: list[str] | None
) -> Iterator[pa.Table]:
    """Each part's rows with record numbers moved on by its offset, less (keep=False) or only (keep=True) the
    rows whose key (record, and turn_index when `by_turn`) is in `keys`."""
    for part in parts:
        rows = pq.read_table(part.rows) if isinstance(part.rows, str) else part.rows
        position = rows.schema.get_field_index("source_record")
        records = pc.add(rows.column(position), part.record_offset)
        rows = rows.set_column(position, "source_record", records)
        files = rows.column("source_file").to_numpy(zero_copy_only=False)
        turns = rows.column("turn_index").to_numpy(zero_copy_only=False) if by_turn else np.zeros(rows.num_rows)
        row_keys = _row_keys(records.to_numpy(), turns)
        found = np.zeros(rows.num_rows, dtype=bool)
        for file in np.unique(files).tolist():
            wanted = keys.get(file, np.empty(0, np.int64))
            here = files == file
            # Parts cover contiguous record ranges: only the keys inside this part's range are compared.
            low, high = np.searchsorted(wanted, [row_keys[here].min(), row_keys[here].max()], side="left")
            found[here] = np.isin(row_keys[here], wanted[low : high + 1])
        rows = rows.filter(pa.array(found if keep else ~found))
        yield rows.select(columns) if columns else rows


def select_and_write(
    root: str, staging: str, night: date, cfg: SelectConfig, memory_limit: str, record_offsets: dict[str, int]
) -> dict:
    """DuckDB: staged parts (record numbers moved on by `record_offsets` per chunk) + every other night → the
    night's four tables, written beside the staged parts (`night_commit.commit_night` publishes them), then the
    data contracts."""
    staged = {table: staged_parts(staging, table) for table in STAGED}
    # Every other stored night, earlier or later: a backfill keeps only what no other night holds.
    others = {table: storage.other_night_files(root, table, night) for table in ("conversations", "interactions")}
    settings = {"memory_limit": memory_limit, "temp_directory": os.path.join(staging, "duckdb")}
    with duckdb.connect(config=settings) as con:
        objectstore.register_store(con, root)  # on a bucket, the other nights' tables are read there
        staged_view(con, "staged_conversations", staged["conversations"], conversations.SCHEMA, record_offsets)
        staged_view(con, "staged_rejects", staged["rejects"], rejects.SCHEMA, record_offsets)
        staged_view(con, "staged_interactions", staged["interactions"], segment.CANDIDATE_SCHEMA, record_offsets)
        parquet_view(con, "earlier_conversations", others["conversations"], conversations.SCHEMA)
        parquet_view(con, "earlier_interactions", others["interactions"], interactions_schema.SCHEMA)
        # Record offsets come in input order (by file, then position): the order the night's rows are stored in.
        parts = {
            table: [StagedPart(staged_part(staging, table, key), offset) for key, offset in record_offsets.items()]
            for table in ("conversations", "interactions")
        }
        tables = select_night(con, night, cfg, parts)._asdict()
        outputs = {table: publish_file(staging, table) for table in storage.TABLES}
        stored = {
            table: write_query(tables[table], SCHEMAS[table], outputs[table]) for table in ("rejects", "filter_report")
        }
        # The two large tables stream from the staged parts at once, one thread each (zstd releases the GIL).
        stored |= write_concurrently(
            {table: (tables[table], SCHEMAS[table], outputs[table]) for table in ("conversations", "interactions")}
        )
        # The contracts read what was written, not the queries that wrote it.
        for table in ("conversations", "interactions"):
            parquet_view(con, f"all_{table}", [*others[table], outputs[table]], SCHEMAS[table])
            con.execute(f"drop view if exists night_{table}")  # our own fixed names
            parquet_view(con, f"night_{table}", [outputs[table]], SCHEMAS[table])
        checks = run_checks(con)
        night_rejects = con.read_parquet(outputs["rejects"])
        reject_reasons = dict(night_rejects.aggregate("reason, count(*)", "reason").order("reason").fetchall())
        report = con.read_parquet(outputs["filter_report"])
        removed = report.select("level, reason, rows").order("level, reason").fetchall()
    return {"stored": stored, "checks": checks, "reject_reasons": reject_reasons, "filter_report": removed}


def empty_night_problem(stored: dict[str, int], reject_reasons: dict[str, int], removed: list) -> str:
    """Why a night that would hold no interaction is a mistake to publish (one line), or "" when it is not.

    No conversation and no record already stored elsewhere: nothing in the inputs was readable. Conversations
    but no interaction and no duplicate among what selection removed: the rules removed everything. A night whose
    records or interactions other nights already hold (a rerun, a backfill) is empty for a good reason.
    `removed` is the filter report's (level, reason, rows).
    """
    if stored["interactions"]:
        return ""
    if not stored["conversations"]:
        if ALREADY_INGESTED in reject_reasons:
            return ""
        reasons = ", ".join(f"{reason} {rows}" for reason, rows in sorted(reject_reasons.items())) or "none"
        return f"no readable record in the inputs (rejects by reason: {reasons}); {INPUTS_THAT_WORK}"
    dropped = [(level, reason, rows) for level, reason, rows in removed if reason != "kept" and rows]
    if any(reason == DUPLICATE_INTERACTION for _, reason, _ in dropped):
        return ""
    what = ", ".join(f"{level} {reason} {rows}" for level, reason, rows in dropped) or "none"
    return (
        f"selection removed everything: {stored['conversations']} conversation(s), 0 interactions kept (removed: "
        f"{what}); loosen the [select] settings (e.g. --select.languages '[]') or check the inputs"
    )
