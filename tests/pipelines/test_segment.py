import hashlib
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from pipelines import segment
from pipelines.ingest import ingest_records
from pipelines.ingest_config import IngestConfig
from pipelines.segment import SegmentConfig, segment_turns
from tests.conftest import NIGHT, raw_table, wildchat_record


def candidates(turns, history_messages=5, strip_messages=True):
    conversations = ingest_records(raw_table(wildchat_record(1, turns=turns)), "wildchat", NIGHT, IngestConfig())
    return segment_turns(conversations.conversations, SegmentConfig(history_messages, strip_messages)).to_pylist()


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
    turns = [("user", "a"), ("user", "b"), ("assistant", "c"), ("user", "d"), ("assistant", "R"), ("user", "F")]
    last = candidates(turns)[-1]
    assert (last["context"], last["drop_reason"]) == ([m("user", "a"), m("assistant", "c"), m("user", "d")], None)
    first = candidates([("assistant", "hello"), ("user", "hi"), ("assistant", "R"), ("user", "F")])
    assert [(r["context"], r["drop_reason"]) for r in first] == [
        ([], segment.EMPTY_HISTORY),
        ([m("user", "hi")], None),  # the leading assistant message is dropped from the window
    ]
    (two_replies,) = candidates([("user", "a"), ("assistant", "b"), ("assistant", "R"), ("user", "F")])
    assert (two_replies["context"], two_replies["drop_reason"]) == (
        [m("user", "a"), m("assistant", "b")],
        segment.HISTORY_NOT_ENDING_WITH_USER,
    )


def test_whitespace_is_python_whitespace_everywhere():
    assert "".join(chr(c) for c in range(0x110000) if chr(c).isspace()) == segment.PYTHON_WHITESPACE
    turns = [("user", "\u3000Q1\xa0"), ("assistant", "\u2028"), ("assistant", "A1\x85"), ("user", "\u200bno")]
    (row,) = candidates(turns)
    # U+2028 alone is blank (skipped); U+200B is not whitespace to Python, so it stays.
    assert (row["context"], row["response"], row["followup"]) == ([m("user", "Q1")], "A1", "\u200bno")


def test_arrow_trim_strips_exactly_what_python_strips_for_every_code_point():
    texts = [f"{chr(c)}{chr(c)}x{chr(c)}" for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    texts += ["", " \t\u3000\x85", "\u200b x\xa0\u2029"]
    trimmed = pc.utf8_trim(pa.array(texts), segment.PYTHON_WHITESPACE).to_pylist()
    assert trimmed == [text.strip() for text in texts]


def test_content_hash_is_md5_of_duckdb_json_with_its_escapes():
    (row,) = candidates([("user", 'say "hi" \\ \x01\x1f\x7f\u2028\U0001f600'), ("assistant", "A\x00"), ("user", "ok")])
    # to_json escapes quote, backslash and control characters (\u00XX upper case); DEL, U+2028 and emoji stay raw.
    json = '[{"role":"user","content":"say \\"hi\\" \\\\ \\u0001\\u001F\x7f\u2028\U0001f600"}]'
    assert row["content_hash"] == hashlib.md5(f"{json}\0A\x00\0ok".encode()).hexdigest()


def test_null_lists_messages_and_contents_are_not_usable():
    conversations = ingest_records(
        raw_table(wildchat_record(1), wildchat_record(2)), "wildchat", NIGHT, IngestConfig()
    ).conversations
    message = pa.struct([("role", pa.string()), ("content", pa.string()), ("flagged", pa.bool_())])
    values = [m("user", "Q"), None, m("assistant", None), m("assistant", "A"), m("user", "F")]
    values += [m("user", "hidden"), m("assistant", "hidden"), m("user", "hidden")]  # under the null list
    messages = pa.ListArray.from_arrays(
        pa.array([0, 5, 8], pa.int32()), pa.array(values, message), mask=pa.array([False, True])
    )
    table = conversations.set_column(conversations.schema.get_field_index("messages"), "messages", messages)
    rows = segment_turns(table, SegmentConfig()).to_pylist()
    assert [(r["conversation_id"], r["turn_index"], r["context"], r["response"]) for r in rows] == [
        ("hash0001", 3, [m("user", "Q")], "A")
    ]


def test_every_message_is_stripped_by_default_and_kept_verbatim_on_request():
    turns = [("user", " Q1\n"), ("assistant", "\n\nA1  "), ("user", "\tshorter\n")]
    (row,) = candidates(turns)
    assert (row["context"], row["response"], row["followup"]) == ([m("user", "Q1")], "A1", "shorter")
    # The hash is of the stored (stripped) text: the same as an interaction logged without the whitespace.
    assert (
        row["content_hash"] == candidates([("user", "Q1"), ("assistant", "A1"), ("user", "shorter")])[0]["content_hash"]
    )
    (verbatim,) = candidates(turns, strip_messages=False)
    assert (verbatim["context"], verbatim["response"], verbatim["followup"]) == (
        [m("user", " Q1\n")],
        "\n\nA1  ",
        "\tshorter\n",
    )


def test_length_rules_measure_stripped_text():
    turns = [("user", "Q1" + " " * 50), ("assistant", "A1"), ("user", "ok")]
    conversations = ingest_records(raw_table(wildchat_record(1, turns=turns)), "wildchat", NIGHT, IngestConfig())
    row = conversations.conversations.to_pylist()[0]
    assert (row["usable_chars"], row["longest_usable_message_chars"]) == (2 + 2 + 2, 2)


def test_reply_without_a_user_followup_is_not_a_candidate():
    rows = candidates([("user", "Q1"), ("assistant", "A1"), ("assistant", "A1 again"), ("user", "ok")])
    assert [(r["turn_index"], r["drop_reason"]) for r in rows] == [(2, segment.HISTORY_NOT_ENDING_WITH_USER)]


def test_output_schema_is_the_candidate_schema():
    conversations = ingest_records(raw_table(wildchat_record(1)), "wildchat", NIGHT, IngestConfig()).conversations
    assert segment_turns(conversations, SegmentConfig()).schema.equals(segment.CANDIDATE_SCHEMA)
    assert segment_turns(conversations.slice(0, 0), SegmentConfig()).num_rows == 0
