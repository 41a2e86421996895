"""Differential test: SQL segmentation (`pipelines.segment.segment_turns`) against the Python segmentation it
replaced (`reference_segment`), chunk by chunk, on real and synthetic inputs ingested per record: identical
candidate interactions."""

import json
from pathlib import Path

import pytest

from pipelines.ingest import ingest_records
from pipelines.ingest_config import IngestConfig
from pipelines.segment import SegmentConfig, segment_turns
from pipelines.sources import plan_chunks, read_chunk
from tests.conftest import NIGHT, shared_file, wildchat_record
from tests.differential import reference_segment

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


DEFAULT_INGEST, DEFAULT_SEGMENT = IngestConfig(), SegmentConfig()


def assert_same_interactions(paths, ingest_cfg=DEFAULT_INGEST, segment_cfg=DEFAULT_SEGMENT, chunk_bytes=None):
    """Every chunk of `paths` ingested, then segmented both ways; returns the conversations, rejects and
    candidates counted."""
    totals = [0, 0, 0]
    kwargs = {"chunk_bytes": chunk_bytes} if chunk_bytes else {}
    for chunk in plan_chunks([str(p) for p in paths], ingest_cfg.input_format, **kwargs):
        ingested = ingest_records(read_chunk(chunk).records, chunk.source_format, NIGHT, ingest_cfg)
        old = reference_segment.segment_turns(ingested.conversations, segment_cfg)
        new = segment_turns(ingested.conversations, segment_cfg)
        assert new.schema.equals(old.schema)
        old_rows, new_rows = old.to_pylist(), new.to_pylist()
        for old_row, new_row in zip(old_rows, new_rows, strict=False):
            assert new_row == old_row, (chunk.path, old_row["source_record"])
        assert len(new_rows) == len(old_rows), chunk.path
        totals[0] += ingested.conversations.num_rows
        totals[1] += ingested.rejects.num_rows
        totals[2] += len(new_rows)
    return totals


def test_real_wildchat_and_sharegpt_files():
    paths = [shared_file(name) for name in ("wildchat_real.jsonl", "sharegpt_real.jsonl")]
    conversations, rejects, candidates = assert_same_interactions(paths)
    assert conversations == 569 + 200 and rejects == 0 and candidates > 1000


def test_bundled_sample_with_other_settings():
    sample = ROOT / "data" / "sample" / "wildchat_sample.jsonl"
    conversations, _, candidates = assert_same_interactions([sample])
    assert conversations > 300 and candidates > 300
    assert_same_interactions(
        [sample], segment_cfg=SegmentConfig(history_messages=2, strip_messages=False), chunk_bytes=4096
    )
    assert_same_interactions([sample], IngestConfig(detect_language=False, keep_private_fields=True))


def test_synthetic_wildchat_dump(synthetic_dump):
    conversations, rejects, candidates = assert_same_interactions(synthetic_dump)
    assert conversations + rejects == 20000 and rejects > 50  # the dump plants about 0.5% malformed lines
    assert candidates > conversations


def fuzz_lines() -> list[bytes]:
    """Malformed and borderline records: every reject reason, odd roles and ids, and the whitespace (Unicode,
    all-blank messages) that segmentation must strip and skip exactly as Python does."""
    good = wildchat_record(1)
    text = json.dumps(good)

    def variant(**changes):
        return json.dumps({**good, **changes}).encode()

    def turns(*pairs, **extra):
        return variant(conversation=[{"role": r, "content": c} for r, c in pairs], **extra)

    lines = [
        text[:60].encode(),  # cut off
        text.encode()[:40] + b"\xff\xfe" + text.encode()[40:],  # invalid UTF-8
        b"[1, 2]",
        b'"just a string"',
        b"5",
        b"null",
        b"{}",
        text.replace('"toxic": false', '"toxic": NaN').encode(),
        text.replace('"toxic": false', '"toxic": Infinity').encode(),
        text.replace('"toxic": false', '"toxic": -Infinity').encode(),
        text.replace('"state": "Ohio"}', '"state": "Ohio",}').encode(),  # trailing comma
        text.replace('"turn": 2', '"turn": [2,]').encode(),
        text.replace('"turn": 2', '"turn": 1e400').encode(),
        text.replace('"turn": 2', '"turn": 123456789012345678901234567890').encode(),
        text.replace('"turn": 2', '"turn": 1e-400').encode(),
        text.replace("Shorter please.", "Shorter\\u0000please.").encode(),
        text.replace("Shorter please.", "Shorter \\ud800please.").encode(),  # lone surrogate
        text.replace("Shorter please.", "Shorter \\ud83d\\ude00 please.").encode(),  # a valid pair
        text.replace("Shorter please.", "Shorter\tplease.").encode(),  # raw control character
        text.replace("Shorter please.", 'caf\\u00e9 \\/ \\\\ \\"q\\"').encode(),
        text.replace('"conversation_hash": "hash0001"', '"conversation_hash": "a", "conversation_hash": "b"').encode(),
        text.replace('"model": "gpt-4-0314"', '"model": "x", "model": 5').encode(),
        text.replace(
            '{"role": "user", "content": "Shorter please."}', '{"role": "user", "role": "tool", "content": "x"}'
        ).encode(),
        text.replace('"conversation_hash"', '"conversation_h\\u0061sh"').encode(),  # an escaped key
        variant(conversation=None),
        variant(conversation="hi"),
        variant(conversation=[]),
        variant(conversation=["hi"]),
        variant(conversation=[None]),
        variant(conversation=[{"content": "no role"}]),
        variant(conversation=[{"role": None, "content": "x"}]),
        variant(conversation=[{"role": 3, "content": "x"}]),
        variant(conversation=[{"role": "robot", "content": "x"}]),
        turns(("USER", "Q"), ("Assistant", "A"), ("human", "more"), ("GPT", "ok"), ("user", "thanks")),
        variant(conversation=[{"role": "user"}]),
        variant(conversation=[{"role": "user", "content": None}]),
        variant(conversation=[{"role": "user", "content": 5}]),
        variant(
            conversation=[{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
        ),
        variant(conversation=[{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]),
        variant(conversation=[{"role": "user", "content": []}]),
        variant(conversation_hash=17),
        variant(conversation_hash=1.5),
        variant(conversation_hash=True),
        variant(conversation_hash=""),
        variant(conversation_hash=None, conversation_id="from-id"),
        variant(conversation_hash=None),
        {k: v for k, v in json.loads(variant(conversation_id="only-id")).items() if k != "conversation_hash"},
        variant(model=5),
        variant(language=7),
        variant(language=""),
        variant(language=None),
        variant(toxic="yes"),
        variant(redacted=1),
        variant(country=["x"]),
        variant(state={"a": 1}),
        *(
            variant(timestamp=value)
            for value in (
                "2023-04-12T22:49:51Z",
                "2023-04-12T22:49:51",
                "2023-04-12 22:49:51.5+05:30",
                "2023-04-12T22:49:51.1234567",
                "2023-02-30T00:00:00",
                "0000-01-01T00:00:00",
                "2023-04-12",
                "2023-04-12T24:00:00",
                "2023-04-12T23:59:60",
                "garbage",
                "",
                1700000000,
                1700000000123,
                1.7e9,
                True,
                [2023],
            )
        ),
        variant(openai_moderation=[{"flagged": True}, {"flagged": False}, {"flagged": False}, {"flagged": False}]),
        variant(openai_moderation=[{"flagged": False}] * 4),
        variant(openai_moderation=[{"flagged": True}]),  # wrong length: ignored
        variant(openai_moderation=[5, None, {"flagged": "yes"}, {"other": 1}]),
        variant(openai_moderation=[{"flagged": None}, {"flagged": True, "flagged ": 1}, {}, {"flagged": False}]),
        text.replace(
            '"content": "Shorter please."}]',
            '"content": "Shorter please."}], "openai_moderation": '
            '[{"flagged": false}, {"flagged": false}, {"flagged": false, "flagged": true}, {"flagged": false}]',
        ).encode(),
        variant(openai_moderation={"flagged": True}),
        turns(
            ("user", "\u3000Q\xa0"), ("assistant", "\u2028"), ("assistant", " A "), ("user", "\u200b"), ("user", "ok")
        ),
        turns(("user", "   "), ("assistant", ""), ("system", "sys"), ("tool", "t")),
        turns(("assistant", "hello"), ("user", "Q"), ("assistant", "A"), ("user", "F"), language=None),
        turns(
            ("user", "¿Dónde está la biblioteca de la ciudad?"),
            ("assistant", "Está cerca."),
            ("user", "Gracias"),
            language=None,
        ),  # fmt: skip
        turns(("user", "e\u0301\U0001f600 " * 3), ("assistant", "ok\r\n"), ("user", "\x85more\x1c")),
        turns(
            ("user", "".join(chr(c) for c in range(1, 32)) + '\x7f"\\/\\u00e9\u2028\ufeff\U0001f600'),
            ("assistant", 'q"\\'),
            ("user", '\\"\x01'),
            ("assistant", "\U0010ffff\x0b"),
            ("user", "\x1f end"),
        ),  # everything JSON escapes, and what it leaves raw, in the hashed history
        b"   " + text.encode(),  # leading whitespace
        text.encode() + b"\r",  # CRLF line ending
        b"",
        b"  \t ",
    ]
    return [line if isinstance(line, bytes) else json.dumps(line).encode() for line in lines]


def test_fuzz_file_of_malformed_lines(tmp_path):
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(fuzz_lines()) + b"\n")
    conversations, rejects, candidates = assert_same_interactions([path], IngestConfig(input_format="wildchat"))
    assert conversations > 30 and rejects > 40 and candidates > 30
    wildchat = IngestConfig(input_format="wildchat", detect_language=False)
    assert_same_interactions([path], wildchat, SegmentConfig(history_messages=1, strip_messages=False))
    assert_same_interactions([path], IngestConfig(input_format="lmsys"), chunk_bytes=4096)
