import json
from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from pipelines import rejects
from pipelines.formats import detect_format
from pipelines.ingest import ingest_records
from pipelines.ingest_config import IngestConfig
from pipelines.normalise import hash_turns
from schemas import conversations as conversations_schema
from schemas import rejects as rejects_schema
from tests.conftest import NIGHT, raw_table, wildchat_record

DEFAULTS = IngestConfig()


def ingest_one(payload, source_format="wildchat", cfg=DEFAULTS):
    return ingest_records(raw_table(payload), source_format, NIGHT, cfg)


def test_wildchat_record_is_normalised_exactly():
    record = wildchat_record(
        1,
        turns=[("user", "Is water wet? Answer YES or NO."), ("assistant", "Water is..."), ("user", "YES or NO only")],
        openai_moderation=[{"flagged": False}, {"flagged": True}, {"flagged": False}],
    )
    result = ingest_one(record)
    assert result.rejects.num_rows == 0
    assert result.conversations.to_pylist() == [
        {
            "conversation_id": "hash0001",
            "source_format": "wildchat",
            "source_file": "dump.jsonl",
            "source_record": 1,
            "model": "gpt-4-0314",
            "timestamp": datetime(2024, 3, 1, 12, 0, tzinfo=UTC),
            "language": "English",
            "language_source": "metadata",
            "toxic": False,
            "redacted": False,
            "moderation_flagged": True,
            "country": "United States",
            "state": "Ohio",
            "hashed_ip": None,
            "header": None,
            "messages": [
                {"role": "user", "content": "Is water wet? Answer YES or NO.", "flagged": False},
                {"role": "assistant", "content": "Water is...", "flagged": True},
                {"role": "user", "content": "YES or NO only", "flagged": False},
            ],
            "message_count": 3,
            "usable_message_count": 3,
            "usable_chars": 31 + 11 + 14,
            "longest_usable_message_chars": 31,
            "ingest_date": date(2026, 11, 20),
        }
    ]


def test_output_schemas_are_the_table_schemas():
    result = ingest_records(raw_table(wildchat_record(1), "not json"), "wildchat", NIGHT, IngestConfig())
    assert result.conversations.schema.equals(conversations_schema.SCHEMA)
    assert result.rejects.schema.equals(rejects_schema.SCHEMA)


def test_private_fields_are_dropped_unless_asked_for():
    kept = ingest_one(wildchat_record(1), cfg=IngestConfig(keep_private_fields=True)).conversations.to_pylist()[0]
    assert kept["hashed_ip"] == "abc123"
    assert kept["header"] == '{"accept-language": "en-US", "user-agent": "Mozilla"}'
    dropped = ingest_one(wildchat_record(1)).conversations.to_pylist()[0]
    assert dropped["hashed_ip"] is None and dropped["header"] is None


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"x" * 101, rejects.OVERSIZED_RECORD),
        (b'{"conversation_hash": "a", "conversation": [{"role": "user", "content": "caf\xe9"}]}', rejects.INVALID_UTF8),
        ('{"conversation_hash": "a", "conversation": [', rejects.MALFORMED_JSON),
        ("[1, 2, 3]", rejects.NOT_AN_OBJECT),
        ("null", rejects.NOT_AN_OBJECT),
        ({"conversation_hash": "a", "model": "m"}, rejects.MISSING_CONVERSATION),
        ({"conversation_hash": "a", "conversation": "hello"}, rejects.CONVERSATION_NOT_LIST),
        ({"conversation_hash": "a", "conversation": []}, rejects.EMPTY_CONVERSATION),
        ({"conversation_hash": "a", "conversation": ["hello"]}, rejects.MESSAGE_NOT_OBJECT),
        ({"conversation_hash": "a", "conversation": [{"content": "hi"}]}, rejects.MISSING_ROLE),
        ({"conversation_hash": "a", "conversation": [{"role": "wizard", "content": "hi"}]}, rejects.UNKNOWN_ROLE),
        ({"conversation_hash": "a", "conversation": [{"role": 3, "content": "hi"}]}, rejects.UNKNOWN_ROLE),
        ({"conversation_hash": "a", "conversation": [{"role": "user"}]}, rejects.MISSING_CONTENT),
        ({"conversation_hash": "a", "conversation": [{"role": "user", "content": 42}]}, rejects.NON_TEXT_CONTENT),
        ({"conversation_hash": "a", "conversation": [{"role": "user", "content": None}]}, rejects.NON_TEXT_CONTENT),
        ({"conversation_hash": ["a"], "conversation": [{"role": "user", "content": "hi"}]}, rejects.INVALID_ID),
        (wildchat_record(1, timestamp="yesterday"), rejects.INVALID_METADATA),
        (wildchat_record(1, toxic="no"), rejects.INVALID_METADATA),
        (wildchat_record(1, model=4), rejects.INVALID_METADATA),
    ],
)
def test_every_reject_reason(payload, reason):
    result = ingest_one(
        payload, cfg=IngestConfig(max_record_bytes=100 if reason == rejects.OVERSIZED_RECORD else 10**6)
    )
    assert result.conversations.num_rows == 0
    rejected = result.rejects.to_pylist()
    assert [row["reason"] for row in rejected] == [reason]
    assert rejected[0]["detail"]
    assert rejected[0]["source_record"] == 1


def test_read_error_rows_become_unreadable_input():
    raw = raw_table(wildchat_record(1))
    raw = raw.set_column(3, "read_error", pa.array(["gzip stream broken"], pa.string()))
    result = ingest_records(raw, "wildchat", NIGHT, IngestConfig())
    assert result.rejects.column("reason").to_pylist() == [rejects.UNREADABLE_INPUT]


def test_reject_raw_text_is_truncated_and_undecodable_bytes_replaced():
    result = ingest_one(b"\xff\xfe" + b"a" * 50, cfg=IngestConfig(reject_raw_chars=10))
    assert result.rejects.column("raw").to_pylist() == ["\ufffd\ufffd" + "a" * 8]


def test_counts_balance_on_a_mixed_batch():
    payloads = [wildchat_record(i) for i in range(5)] + ["{", "[]", {"conversation_hash": "x", "conversation": []}]
    result = ingest_records(raw_table(*payloads), "wildchat", NIGHT, IngestConfig())
    assert result.conversations.num_rows + result.rejects.num_rows == len(payloads)
    assert result.conversations.num_rows == 5


def test_sharegpt_roles_are_normalised():
    record = {"id": "QW_0", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}
    row = ingest_one(record, "sharegpt").conversations.to_pylist()[0]
    assert row["conversation_id"] == "QW_0"
    assert [(m["role"], m["content"]) for m in row["messages"]] == [("user", "hi"), ("assistant", "hello")]
    assert row["model"] is None and row["timestamp"] is None


def test_openai_messages_with_text_parts_and_a_hashed_id():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "there"}]},
        {"role": "assistant", "content": "Hi!"},
    ]
    row = ingest_one({"messages": messages}, "openai").conversations.to_pylist()[0]
    assert [m["content"] for m in row["messages"]] == ["Be brief.", "Hello\nthere", "Hi!"]
    normalised = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
    assert row["conversation_id"] == hash_turns(normalised)
    assert row["message_count"] == 3 and row["usable_message_count"] == 2


def test_openai_image_part_is_non_text_content():
    part = {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
    result = ingest_one({"messages": [{"role": "user", "content": [part]}]}, "openai")
    assert result.rejects.column("reason").to_pylist() == [rejects.NON_TEXT_CONTENT]


def test_lmsys_and_older_wildchat_ids_and_epoch_and_naive_timestamps():
    lmsys = {"conversation_id": 77, "model": "vicuna-13b", "conversation": [{"role": "user", "content": "hi"}]}
    assert ingest_one(lmsys, "lmsys").conversations.column("conversation_id").to_pylist() == ["77"]
    naive = wildchat_record(1, timestamp="2024-05-01T10:00:00")  # WildChat-4.8M style
    assert ingest_one(naive).conversations.column("timestamp").to_pylist() == [datetime(2024, 5, 1, 10, tzinfo=UTC)]
    epoch_ms = wildchat_record(1, timestamp=1_714_557_600_000)
    assert ingest_one(epoch_ms).conversations.column("timestamp").to_pylist() == [datetime(2024, 5, 1, 10, tzinfo=UTC)]


def test_language_is_detected_only_when_metadata_is_missing():
    spanish = wildchat_record(
        1,
        turns=[
            ("user", "¿Cómo puedo aprender a programar en Python? Quiero hacer una página web."),
            ("assistant", "x"),
        ],
        language=None,
    )
    row = ingest_one(spanish).conversations.to_pylist()[0]
    assert (row["language"], row["language_source"]) == ("Spanish", "detected")
    off = ingest_one(spanish, cfg=IngestConfig(detect_language=False)).conversations.to_pylist()[0]
    assert (off["language"], off["language_source"]) == (None, None)
    tagged = ingest_one(wildchat_record(2, language="French")).conversations.to_pylist()[0]
    assert (tagged["language"], tagged["language_source"]) == ("French", "metadata")


def test_usable_message_statistics_skip_system_and_blank_messages():
    turns = [("system", "You are helpful." * 10), ("user", "Hi"), ("assistant", "  \n "), ("user", "Hello?")]
    row = ingest_one(wildchat_record(1, turns=turns)).conversations.to_pylist()[0]
    assert (row["message_count"], row["usable_message_count"], row["usable_chars"]) == (4, 2, 8)
    assert row["longest_usable_message_chars"] == 6


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"conversation_hash": "a", "conversation": []}, "wildchat"),
        ({"conversation_id": "a", "conversation": [], "toxic": False}, "wildchat"),
        ({"conversation_id": "a", "conversation": [], "openai_moderation": []}, "lmsys"),
        ({"id": "a", "conversations": []}, "sharegpt"),
        ({"messages": []}, "openai"),
        ({"text": "hello"}, None),
    ],
)
def test_detect_format(record, expected):
    assert detect_format(record) == expected


def test_config_rejects_unknown_format():
    with pytest.raises(ValueError, match="input_format"):
        IngestConfig(input_format="csv")


def test_valid_records_take_the_fast_path_and_odd_ones_the_per_record_path():
    good = json.dumps(wildchat_record(1))
    payloads = [
        good,
        json.dumps(wildchat_record(2, conversation_hash=2**64)),  # orjson reads it as a float: invalid_id
        good.replace('"turn": 2', '"turn": 1e400'),  # msgspec would skip it; orjson refuses the infinity
        good.encode().replace(b'"turn": 2', b'"turn": "\xff"'),  # invalid UTF-8 where msgspec doesn't look
        json.dumps(wildchat_record(3, conversation=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}])),
    ]
    result = ingest_records(raw_table(*payloads), "wildchat", NIGHT, IngestConfig())
    assert result.fast_records == 1
    assert result.conversations.column("conversation_id").to_pylist() == ["hash0001", "hash0003"]
    assert result.conversations.column("messages").to_pylist()[1][0]["content"] == "hi"
    assert result.rejects.column("reason").to_pylist() == ["invalid_id", "malformed_json", "invalid_utf8"]
