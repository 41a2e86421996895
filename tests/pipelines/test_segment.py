from datetime import date

from pipelines import segment
from pipelines.ingest import IngestConfig, ingest_records
from pipelines.segment import SegmentConfig, build_history, segment_turns
from tests.conftest import NIGHT, raw_table, wildchat_record


def candidates(turns, history_messages=5):
    conversations = ingest_records(raw_table(wildchat_record(1, turns=turns)), "wildchat", NIGHT, IngestConfig())
    return segment_turns(conversations.conversations, SegmentConfig(history_messages)).to_pylist()


def m(role, content):
    return {"role": role, "content": content}


def test_one_row_per_reply_followed_by_a_user_message_with_exact_columns():
    rows = candidates([("user", "Q1"), ("assistant", "A1"), ("user", "shorter"), ("assistant", "A2")])
    assert rows == [
        {
            "interaction_id": "hash0001:1",
            "conversation_id": "hash0001",
            "turn_index": 1,
            "context": [m("user", "Q1")],
            "response": "A1",
            "followup": "shorter",
            "model": "gpt-4-0314",
            "language": "English",
            "timestamp": rows[0]["timestamp"],
            "source_format": "wildchat",
            # md5 of '[{"role":"user","content":"Q1"}]' NUL 'A1' NUL 'shorter'
            "content_hash": "88e6089da22717d26ed98af7f60aa585",
            "ingest_date": date(2026, 11, 20),
            "source_file": "dump.jsonl",
            "source_record": 1,
            "drop_reason": None,
        }
    ]


def test_history_keeps_the_last_five_messages_and_starts_with_a_user():
    turns = [("user", "Q1"), ("assistant", "A1"), ("user", "Q2"), ("assistant", "A2"), ("user", "Q3")]
    turns += [("assistant", "A3"), ("user", "thanks")]
    rows = candidates(turns)
    assert [r["turn_index"] for r in rows] == [1, 3, 5]
    # Window before A3 = A1 Q2 A2 Q3 (+Q1 makes 5); before it: Q1 A1 Q2 A2 Q3.
    assert rows[2]["context"] == [m("user", "Q1"), m("assistant", "A1"), m("user", "Q2"), m("assistant", "A2"),
                                  m("user", "Q3")]  # fmt: skip
    turns += [("assistant", "A4"), ("user", "bye")]
    last = candidates(turns)[-1]
    # Before A4 come 7 messages; the window keeps the last 5.
    assert last["context"] == [m("user", "Q2"), m("assistant", "A2"), m("user", "Q3"), m("assistant", "A3"),
                               m("user", "thanks")]  # fmt: skip
    # With a 4-message window, the window before A3 starts with A1, which is dropped.
    assert candidates(turns, history_messages=4)[2]["context"] == [m("user", "Q2"), m("assistant", "A2"),
                                                                    m("user", "Q3")]  # fmt: skip


def test_blank_and_system_messages_are_skipped_and_ids_keep_logged_positions():
    turns = [("system", "Be kind"), ("user", "Q1"), ("assistant", " "), ("assistant", "A1"), ("user", "no")]
    rows = candidates(turns)
    assert [(r["turn_index"], r["response"], r["followup"]) for r in rows] == [(3, "A1", "no")]
    assert rows[0]["context"] == [m("user", "Q1")]


def test_role_repeats_are_dropped_and_drop_reasons_are_named():
    assert build_history([m("user", "a"), m("user", "b"), m("assistant", "c"), m("user", "d")], 5) == (
        [m("user", "a"), m("assistant", "c"), m("user", "d")],
        None,
    )
    assert build_history([m("assistant", "hello")], 5) == ([], segment.EMPTY_HISTORY)
    assert build_history([], 5) == ([], segment.EMPTY_HISTORY)
    assert build_history([m("user", "a"), m("assistant", "b")], 5) == (
        [m("user", "a"), m("assistant", "b")],
        segment.HISTORY_NOT_ENDING_WITH_USER,
    )


def test_reply_without_a_user_followup_is_not_a_candidate():
    rows = candidates([("user", "Q1"), ("assistant", "A1"), ("assistant", "A1 again"), ("user", "ok")])
    assert [(r["turn_index"], r["drop_reason"]) for r in rows] == [(2, segment.HISTORY_NOT_ENDING_WITH_USER)]


def test_output_schema_is_the_candidate_schema():
    conversations = ingest_records(raw_table(wildchat_record(1)), "wildchat", NIGHT, IngestConfig()).conversations
    assert segment_turns(conversations, SegmentConfig()).schema.equals(segment.CANDIDATE_SCHEMA)
    assert segment_turns(conversations.slice(0, 0), SegmentConfig()).num_rows == 0
