from collections.abc import Iterator
from datetime import date

import pyarrow as pa
import pytest

from pipelines import rejects, select
from pipelines.ingest import ingest_records
from pipelines.ingest_config import IngestConfig
from pipelines.segment import SegmentConfig, segment_turns
from pipelines.select import SelectConfig, StagedPart, select_night
from schemas import conversations as conversations_schema
from schemas import filter_report as filter_report_schema
from schemas import interactions as interactions_schema
from schemas import rejects as rejects_schema
from tests.conftest import NIGHT, raw_table, wildchat_record

NIGHT_DATE = date.fromisoformat(NIGHT)


DEFAULTS = SelectConfig()


def run_select(con, records, cfg=DEFAULTS, earlier_conversations=None, earlier_interactions=None):
    staged = ingest_records(raw_table(*records), "wildchat", NIGHT, IngestConfig())
    candidates = segment_turns(staged.conversations, SegmentConfig())
    con.register("staged_conversations", staged.conversations)
    con.register("staged_rejects", staged.rejects)
    con.register("staged_interactions", candidates)
    con.register("earlier_conversations", earlier_conversations or conversations_schema.SCHEMA.empty_table())
    con.register("earlier_interactions", earlier_interactions or interactions_schema.SCHEMA.empty_table())
    parts = {"conversations": [StagedPart(staged.conversations)], "interactions": [StagedPart(candidates)]}
    return night_tables(select_night(con, NIGHT_DATE, cfg, parts))


def night_tables(tables) -> dict:
    """select_night's relations and row streams as Arrow tables."""
    return {
        name: pa.concat_tables(rows) if isinstance(rows, Iterator) else rows.to_arrow_table()
        for name, rows in tables._asdict().items()
    }


def report(tables):
    return {(row["level"], row["reason"]): row["rows"] for row in tables["filter_report"].to_pylist()}


def test_one_good_conversation_gives_exact_interaction_row(con):
    tables = run_select(con, [wildchat_record(1)])
    rows = tables["interactions"].to_pylist()
    assert len(rows) == 1
    row = rows[0]
    assert row["interaction_id"] == "hash0001:1"
    assert row["context"] == [{"role": "user", "content": "Question 1: how do I sort a list in Python?"}]
    assert (row["response"], row["followup"]) == ("Answer 1: use sorted(items) or items.sort().", "Shorter please.")
    assert len(row["content_hash"]) == 32
    assert report(tables) == {("conversation", "kept"): 1, ("interaction", "kept"): 1}


def test_duplicate_ids_within_the_night_and_from_earlier_nights_are_rejected(con):
    earlier = ingest_records(raw_table(wildchat_record(9)), "wildchat", "2026-11-19", IngestConfig()).conversations
    records = [wildchat_record(1), wildchat_record(2), wildchat_record(1), wildchat_record(9)]
    tables = run_select(con, records, earlier_conversations=earlier)
    assert tables["conversations"]["conversation_id"].to_pylist() == ["hash0001", "hash0002"]
    rejected = [(r["source_record"], r["reason"]) for r in tables["rejects"].to_pylist()]
    assert rejected == [(3, rejects.DUPLICATE_ID), (4, rejects.ALREADY_INGESTED)]
    assert tables["conversations"].num_rows + tables["rejects"].num_rows == len(records)


def long_turns(user_chars):
    return [("user", "x" * user_chars), ("assistant", "A"), ("user", "ok")]


@pytest.mark.parametrize(
    ("record", "cfg", "reason"),
    [
        (wildchat_record(1, language="French"), SelectConfig(), select.WRONG_LANGUAGE),
        (wildchat_record(1, language=None, conversation=[]), SelectConfig(), None),
        (wildchat_record(1, toxic=True), SelectConfig(drop_toxic=True), select.TOXIC),
        (wildchat_record(1, redacted=True), SelectConfig(drop_redacted=True), select.REDACTED),
        (wildchat_record(1, model="gpt-3.5-turbo"), SelectConfig(models=("gpt-4-0314",)), select.MODEL_NOT_SELECTED),
        (wildchat_record(1), SelectConfig(start_date=date(2025, 1, 1)), select.OUTSIDE_DATE_RANGE),
        (wildchat_record(1), SelectConfig(end_date=date(2024, 3, 1)), select.OUTSIDE_DATE_RANGE),
        (wildchat_record(1, turns=[("user", "Q"), ("assistant", "A")]), SelectConfig(), select.TOO_FEW_MESSAGES),
        (wildchat_record(1, turns=long_turns(4097)), SelectConfig(), select.MESSAGE_TOO_LONG),
        (wildchat_record(1, turns=long_turns(4096)), SelectConfig(), "kept"),
        (
            wildchat_record(1, turns=long_turns(200)),
            SelectConfig(max_conversation_chars=100),
            select.CONVERSATION_TOO_LONG,
        ),
    ],
)
def test_every_conversation_rule(con, record, cfg, reason):
    if reason is None:  # an empty conversation never reaches selection: ingest rejects it
        assert run_select(con, [record])["rejects"]["reason"].to_pylist() == [rejects.EMPTY_CONVERSATION]
        return
    tables = run_select(con, [record], cfg)
    assert ("conversation", reason) in report(tables)
    assert tables["interactions"].num_rows == (1 if reason == "kept" else 0)


def test_flagged_conversations_are_dropped_only_when_asked(con):
    record = wildchat_record(1, openai_moderation=[{"flagged": False}, {"flagged": True}] * 2)
    assert report(run_select(con, [record]))[("conversation", "kept")] == 1
    flagged = report(run_select(con, [record], SelectConfig(drop_flagged=True)))
    assert flagged == {("conversation", select.MODERATION_FLAGGED): 1}


def test_repeated_interactions_are_dropped_tonight_and_across_nights(con):
    first, second = wildchat_record(1), wildchat_record(2)
    second["conversation"] = first["conversation"]  # another id, the same (x, y, o)
    tables = run_select(con, [first, second])
    assert tables["interactions"]["interaction_id"].to_pylist() == ["hash0001:1"]
    assert report(tables)[("interaction", select.DUPLICATE_INTERACTION)] == 1

    earlier = tables["interactions"]
    third = wildchat_record(3)
    third["conversation"] = first["conversation"]
    later = run_select(con, [third], earlier_interactions=earlier)
    assert later["interactions"].num_rows == 0
    assert report(later)[("interaction", select.DUPLICATE_INTERACTION)] == 1


def test_sampling_cap_is_stable(con):
    records = [wildchat_record(i) for i in range(10)]
    capped = run_select(con, records, SelectConfig(max_interactions=4))
    again = run_select(con, records, SelectConfig(max_interactions=4))
    assert capped["interactions"].num_rows == 4
    assert capped["interactions"]["interaction_id"].to_pylist() == again["interactions"]["interaction_id"].to_pylist()
    assert report(capped)[("interaction", select.OVER_SAMPLE_CAP)] == 6


def test_report_balances_and_outputs_cast_to_table_schemas(con):
    records = [wildchat_record(i) for i in range(5)] + [wildchat_record(5, language="German"), "{"]
    tables = run_select(con, records)
    counts = report(tables)
    assert sum(v for (level, _), v in counts.items() if level == "conversation") == tables["conversations"].num_rows
    for name, schema in [
        ("conversations", conversations_schema.SCHEMA),
        ("rejects", rejects_schema.SCHEMA),
        ("interactions", interactions_schema.SCHEMA),
        ("filter_report", filter_report_schema.SCHEMA),
    ]:
        assert tables[name].cast(schema).schema.equals(schema)


def test_config_validation():
    with pytest.raises(ValueError, match="min_messages"):
        SelectConfig(min_messages=1)
    with pytest.raises(ValueError, match="start_date"):
        SelectConfig(start_date=date(2025, 1, 2), end_date=date(2025, 1, 1))
