"""Differential test: `ingest_records` (the msgspec fast path, with the per-record fallback) against every record
sent through the per-record path (`normalise_record`, orjson), chunk by chunk, on real, synthetic and fuzzed
inputs in every format: identical conversations and rejects, schema and every value."""

import json
import sys
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.ingest import ingest_records
from pipelines.ingest_config import IngestConfig
from pipelines.normalise import normalise_record
from pipelines.rejects import UNREADABLE_INPUT, RecordError, reject_row
from pipelines.sources import plan_chunks, read_chunk
from schemas import conversations as conversations_schema
from schemas import rejects as rejects_schema
from tests.conftest import NIGHT, shared_file, wildchat_record
from tests.differential.test_sql_segmentation_matches_reference import fuzz_lines as segmentation_fuzz_lines

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def ingest_per_record(raw: pa.Table, source_format: str | None, cfg: IngestConfig) -> tuple[pa.Table, pa.Table]:
    """The reference: every record through `normalise_record`, as `ingest_records` did before the fast path."""
    night = date.fromisoformat(NIGHT)
    conversations, rejects = [], []
    columns = (raw.column(name).to_pylist() for name in ("source_file", "source_record", "raw", "read_error"))
    for source_file, source_record, payload, read_error in zip(*columns, strict=True):
        try:
            if read_error is not None:
                raise RecordError(UNREADABLE_INPUT, read_error)
            row = normalise_record(payload, source_format, cfg)
        except RecordError as error:
            where = {"source_file": source_file, "source_record": source_record, "ingest_date": night}
            rejects.append(reject_row(error, payload, source_format, cfg, where))
            continue
        row.update(source_format=source_format, source_file=source_file, source_record=source_record)
        row["ingest_date"] = night
        conversations.append(row)
    return (
        pa.Table.from_pylist(conversations, schema=conversations_schema.SCHEMA),
        pa.Table.from_pylist(rejects, schema=rejects_schema.SCHEMA),
    )


DEFAULT_INGEST = IngestConfig()


def assert_same_tables(paths, cfg=DEFAULT_INGEST, chunk_bytes=None) -> tuple[int, int, int]:
    """Every chunk of `paths` both ways; returns the conversations, rejects and fast-path records counted."""
    totals = [0, 0, 0]
    kwargs = {"chunk_bytes": chunk_bytes} if chunk_bytes else {}
    for chunk in plan_chunks([str(p) for p in paths], cfg.input_format, **kwargs):
        raw = read_chunk(chunk).records
        fast = ingest_records(raw, chunk.source_format, NIGHT, cfg)
        reference = ingest_per_record(raw, chunk.source_format, cfg)
        for name, new, old in zip(("conversations", "rejects"), fast[:2], reference, strict=True):
            assert new.schema.equals(old.schema), name
            old_rows, new_rows = old.to_pylist(), new.to_pylist()
            for old_row, new_row in zip(old_rows, new_rows, strict=False):
                assert new_row == old_row, (name, chunk.path, old_row["source_record"])
            assert len(new_rows) == len(old_rows), name
            assert new.equals(old), name  # also tells a null from a missing value, -0.0 from 0.0
        totals[0] += fast.conversations.num_rows
        totals[1] += fast.rejects.num_rows
        totals[2] += fast.fast_records
    return totals[0], totals[1], totals[2]


def test_real_wildchat_and_sharegpt_files():
    paths = [shared_file(name) for name in ("wildchat_real.jsonl", "sharegpt_real.jsonl")]
    conversations, rejects, fast = assert_same_tables(paths)
    assert conversations == 569 + 200 and rejects == 0
    assert fast >= 0.99 * conversations


def test_bundled_sample_with_other_settings():
    sample = ROOT / "data" / "sample" / "wildchat_sample.jsonl"
    conversations, rejects, fast = assert_same_tables([sample])
    assert conversations > 300 and rejects > 0 and fast >= 0.99 * conversations
    assert_same_tables([sample], IngestConfig(detect_language=False, keep_private_fields=True))
    assert_same_tables([sample], IngestConfig(max_record_bytes=3000, reject_raw_chars=50), chunk_bytes=4096)


def test_synthetic_wildchat_dump(synthetic_dump):
    conversations, rejects, fast = assert_same_tables(synthetic_dump)
    assert conversations + rejects == 20000 and rejects > 50  # the dump plants about 0.5% malformed lines
    assert fast >= 0.99 * conversations


def json_differences(text: str) -> list[bytes]:
    """One valid record (`text`, JSON with a `"turn": 2` field no column reads) made into what msgspec and orjson
    could read differently: in a field the fast path skips, in one it decodes, and around the record."""
    skipped = lambda value: text.replace('"turn": 2', f'"turn": {value}').encode()  # noqa: E731
    deep = "[" * 1030 + "]" * 1030
    return [
        *(skipped(value) for value in ("NaN", "-Infinity", "1e400", "1E+400", "-1e400", "1.8e308", "1e309")),
        *(skipped(value) for value in ("1e308", "1e-400", "1e099", "2.5e+12", "0e999", "1" * 400, "1" * 300)),
        *(skipped(value) for value in ("18446744073709551616", "-9223372036854775809", "123456789" * 5)),
        skipped('{"scores": {"a": 1.5e-06, "b": 1e400}}'),
        *(skipped(value) for value in ("[1e400]", "[1,1e400]", "[ 2,\n\t-1E+0400 ]", "[-" + "9" * 320 + "]")),
        *(skipped(value) for value in ("[1e99, 1e-999]", '["1e400", ",1e400,"]', "[1.5e+300]")),
        skipped('"1e400 in a string, then ,1e400, and 1E999}"'),
        skipped('"\\ud800"'),  # lone surrogates
        skipped('"\\udc00"'),
        skipped('"\\ud800\\u0041"'),
        skipped('"\\ud83d\\ude00"'),
        skipped('"\\u00e9\\/\\\\"'),
        skipped('"x"').replace(b'"x"', b'"\xff"'),  # invalid UTF-8
        skipped('"x"').replace(b'"x"', b'"\xc0\xaf"'),  # overlong UTF-8
        skipped('"x"').replace(b'"x"', b'"\xed\xa0\x80"'),  # an encoded surrogate
        skipped('"x"').replace(b'"x"', b'"\xf4\x90\x80\x80"'),  # beyond U+10FFFF
        skipped('"x"').replace(b'"x"', b'"\xe2\x82"'),  # cut short
        skipped("[" * 990 + "]" * 990),  # deeper than msgspec goes on CPython 3.11, within orjson's limit
        skipped(deep),  # deeper than orjson allows
        skipped('{"a": 1, "a": 2}'),
        skipped("[1, 2,]"),
        skipped("tru"),
        skipped("01"),
        skipped("1."),
        skipped('"a\tb"'),  # a raw control character
        b"\xef\xbb\xbf" + text.encode(),  # a BOM inside the file
        text.encode() + b" x",
        text.encode() + b"{}",
        text.encode() + b"\x0c",
        text.encode() + b" \t ",
        b"\t" + text.encode(),
        text.encode()[:-1],
    ]


def wildchat_fuzz_lines() -> list[bytes]:
    """WildChat lines where msgspec and orjson could disagree, on top of the segmentation test's fuzz lines."""
    good = wildchat_record(1, openai_moderation=[{"flagged": False, "category_scores": {"x": 1e-06}}] * 4)

    def variant(**changes) -> bytes:
        return json.dumps({**good, **changes}).encode()

    text = json.dumps(good)
    return [
        *json_differences(text),
        text.replace('"conversation_hash": "hash0001"', '"conversation_hash": 5, "conversation_hash": "b"').encode(),
        text.replace('"conversation_hash": "hash0001"', '"conversation_hash": "a", "conversation_hash": 1.5').encode(),
        text.replace('"conversation": [', '"conversation": 5, "conversation": [').encode(),
        text.replace('"toxic": false', '"toxic": false, "toxic": null').encode(),
        text.replace('"role": "assistant"', '"role": "assistant", "role": "USER"', 1).encode(),
        text.replace('"content": "Shorter please."', '"content": "a", "content": ["x"]').encode(),
        *(variant(conversation_hash=value) for value in (2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 0, -0.0)),
        *(variant(conversation_hash=None, conversation_id=value) for value in (7, True, "", 2**70)),
        variant(conversation_hash="", conversation_id="kept-hash-wins"),
        *(variant(timestamp=value) for value in (2**64, 2**64 - 1, 1e11, 1e11 + 1, -1, 0, 253402300800, "Z")),
        variant(timestamp="2023-04-12T22:49:51.000001Z"),
        variant(timestamp="2023-04-12T22:49:51-07:00"),
        variant(model=None, country=None, state=None, toxic=None, redacted=None),
        variant(language="", conversation=[{"role": "user", "content": "Bonjour, comment allez-vous ?"}]),
        variant(language=None, conversation=[{"role": "assistant", "content": "only the assistant"}]),
        text.replace('"x": 1e-06', '"x": 1e400', 1).encode(),  # in a moderation entry's skipped scores
        text.replace('"flagged": false', '"flagged": false, "flagged": true', 2).encode(),
        text.replace('"flagged": false', '"flagged": "no", "flagged": true', 1).encode(),
        variant(openai_moderation=[{"flagged": None}] * 4),
        variant(openai_moderation=[]),
        variant(openai_moderation=None),
        variant(openai_moderation="none"),
        variant(openai_moderation=[{"flagged": 1}] * 4),
        variant(openai_moderation=[[True]] * 4),
        variant(header=None),
        variant(header={}),
        variant(header={"b": [1, 2.5, None], "a": {"z": "é", "y": 1e-06}}),
        variant(header="a string"),
        variant(header={"x": "\\ud800"}).replace(b"\\\\ud800", b"\\ud800"),
        variant(hashed_ip=5),
        variant(hashed_ip=None),
        variant(conversation=[{"role": "user", "content": "hi", "header": {"deep": 1e400}}]),
        variant(conversation=[{"role": "Prompter", "content": "Q"}, {"role": "Model", "content": "A"}]),
        variant(conversation=[{"role": "user", "content": ""}, {"role": "assistant", "content": " \u3000"}]),
        variant(conversation=[{"role": "developer", "content": "x"}, {"role": "function", "content": "y"}]),
        variant(conversation=[{"role": "ＵＳＥＲ", "content": "x"}]),  # fullwidth letters lower to themselves
        variant(conversation=[{"role": "İ", "content": "x"}]),  # lowers to two characters
    ]


def test_fuzz_file_of_malformed_wildchat_lines(tmp_path):
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(segmentation_fuzz_lines() + wildchat_fuzz_lines()) + b"\n")
    conversations, rejects, fast = assert_same_tables([path], IngestConfig(input_format="wildchat"))
    assert conversations > 60 and rejects > 70 and fast > 40
    private = IngestConfig(input_format="wildchat", keep_private_fields=True, detect_language=False)
    assert assert_same_tables([path], private)[2] > 40
    assert_same_tables([path], IngestConfig(input_format="lmsys", max_record_bytes=1500), chunk_bytes=4096)


def other_format_lines(messages_key: str, role_key: str, content_key: str, id_key: str) -> list[bytes]:
    good = {
        id_key: "r1",
        messages_key: [{role_key: "user", content_key: "Q"}, {role_key: "assistant", content_key: "A"}],
        "turn": 2,
        "model": "m",
    }

    def variant(**changes) -> bytes:
        return json.dumps({**good, **changes}).encode()

    def turns(*pairs) -> list[dict]:
        return [{role_key: role, content_key: content} for role, content in pairs]

    return [
        *json_differences(json.dumps(good)),
        variant(),
        *(variant(**{id_key: value}) for value in (5, True, 1.5, "", None, 2**64, [1], {"a": 1})),
        variant(**{id_key: None, "conversation_id": "other"}),
        variant(conversation_id="other"),
        {k: v for k, v in json.loads(variant(conversation_id="other")).items() if k != id_key},
        variant(**{messages_key: None}),
        variant(**{messages_key: []}),
        variant(**{messages_key: "hi"}),
        variant(**{messages_key: [None]}),
        variant(**{messages_key: [{role_key: "user"}]}),
        variant(**{messages_key: [{content_key: "x"}]}),
        variant(**{messages_key: turns(("robot", "x"))}),
        variant(**{messages_key: turns(("user", 5))}),
        variant(**{messages_key: turns(("user", None))}),
        variant(**{messages_key: turns(("user", [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]))}),
        variant(**{messages_key: turns(("user", [{"type": "image_url", "image_url": "x"}]))}),
        variant(**{messages_key: turns(("Human", "Q"), ("GPT", "A"), ("bing", "B"), ("system", "S"))}),
        variant(**{messages_key: turns(("user", "¿Dónde está la biblioteca de la ciudad?"))}, language=None),
        variant(language="Klingon", timestamp=1700000000123, toxic=True, redacted=False, country="X", state="Y"),
        variant(timestamp="garbage"),
        variant(model=5),
        variant(openai_moderation="ignored here", header={"ignored": 1}, hashed_ip=7),
    ]


def test_fuzz_lines_in_the_other_formats(tmp_path):
    formats = {
        "sharegpt": ("conversations", "from", "value", "id"),
        "openai": ("messages", "role", "content", "id"),
    }
    for name, keys in formats.items():
        path = tmp_path / f"{name}.jsonl"
        lines = [line if isinstance(line, bytes) else json.dumps(line).encode() for line in other_format_lines(*keys)]
        path.write_bytes(b"\n".join(lines) + b"\n")
        conversations, rejects, fast = assert_same_tables([path], IngestConfig(input_format=name))
        assert conversations > 20 and rejects > 20 and fast > 10, name
        assert_same_tables([path], IngestConfig(input_format=name, keep_private_fields=True, detect_language=False))


def test_nesting_where_msgspec_goes_deeper_than_orjson(tmp_path):
    text = json.dumps(wildchat_record(1))
    lines = [text.replace('"turn": 2', f'"turn": {"[" * depth}{"]" * depth}').encode() for depth in (1000, 1023, 1030)]
    path = tmp_path / "deep.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)  # lets msgspec nest past orjson's limit of 1024
    try:
        conversations, rejects, _ = assert_same_tables([path], IngestConfig(input_format="wildchat"))
    finally:
        sys.setrecursionlimit(limit)
    assert conversations == 2 and rejects == 1
