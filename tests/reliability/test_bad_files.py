"""Bad files and broken containers become rejects with a cause; every good record beside them is kept."""

import gzip
import json
import os
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.arrow_ingest import ingest_chunk
from pipelines.ingest_config import IngestConfig
from pipelines.rejects import UNREADABLE_INPUT, reject_raw
from pipelines.sources import expand_inputs, plan_chunks, read_chunk
from tests.conftest import NIGHT, shared_file, wildchat_record, write_jsonl

pytestmark = pytest.mark.reliability


def ingest_paths(paths: list[str], cfg: IngestConfig | None = None):
    """Plan, read and ingest like one night does; returns records in, conversations and rejects."""
    records_in, conversations, rejects = 0, [], []
    for chunk in plan_chunks([str(p) for p in paths]):
        raw = read_chunk(chunk)
        result = ingest_chunk(raw, chunk, NIGHT, cfg or IngestConfig())
        records_in += raw.record_count
        conversations.append(result.conversations)
        rejects.append(result.rejects)
    return records_in, pa.concat_tables(conversations), pa.concat_tables(rejects)


def jsonl_bytes(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def unreadable_causes(rejects: pa.Table) -> dict[str, str]:
    """File name → detail of its unreadable_input reject."""
    rows = rejects.filter(pa.compute.equal(rejects["reason"], UNREADABLE_INPUT)).to_pylist()
    return {os.path.basename(row["source_file"]): row["detail"] for row in rows}


def test_failure_4_seventeen_bad_file_classes_never_abort_the_night(tmp_path):
    dump = tmp_path / "dump"
    dump.mkdir()
    write_jsonl(dump / "good.jsonl", [wildchat_record(i) for i in range(5)])
    (dump / "empty.jsonl").write_bytes(b"")
    (dump / "empty.jsonl.gz").write_bytes(b"")
    (dump / "nothing.jsonl.gz").write_bytes(gzip.compress(b""))
    (dump / "blank.jsonl").write_bytes(b"\n\n  \n")
    (dump / "garbage.jsonl.gz").write_bytes(os.urandom(64) + b"not gzip")
    (dump / "corrupt.parquet").write_bytes(b"PAR1" + os.urandom(100))
    pq.write_table(pa.Table.from_pylist([wildchat_record(i) for i in range(10, 13)]), dump / "whole.parquet")
    (dump / "truncated.parquet").write_bytes((dump / "whole.parquet").read_bytes()[:300])
    os.remove(dump / "whole.parquet")
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}), dump / "wrong_schema.parquet")
    array = json.dumps([wildchat_record(i) for i in range(20, 24)])
    (dump / "truncated.json").write_text(array[: array.index('"conversation_hash": "hash0023"') + 20])
    cp1252 = json.dumps(wildchat_record(30, [("user", "café"), ("assistant", "naïve")]), ensure_ascii=False)
    (dump / "cp1252.jsonl").write_bytes(cp1252.encode("cp1252") + b"\n")
    junk = [b"<html>", b"garbage line"] * 40 + [json.dumps(wildchat_record(i)).encode() for i in range(40, 43)]
    write_jsonl(dump / "junk_first.jsonl", junk)
    write_jsonl(dump / "locked.jsonl", [wildchat_record(50)])
    os.chmod(dump / "locked.jsonl", 0)
    (dump / "notes.txt").write_text("operator notes")
    write_jsonl(dump / "dump[1].jsonl", [wildchat_record(60), wildchat_record(61)])
    (dump / "dump.json").write_text(json.dumps({"name": "dump", "files": 12, "created": "2026-11-20"}))

    records_in, conversations, rejects = ingest_paths([str(dump / "*"), str(dump / "dump[1].jsonl")])

    assert records_in == conversations.num_rows + rejects.num_rows
    kept = set(conversations["conversation_id"].to_pylist())
    good = {f"hash{i:04d}" for i in [*range(5), 20, 21, 22, 40, 41, 42, 60, 61]}
    assert good <= kept, good - kept
    causes = unreadable_causes(rejects)
    assert "empty" in causes["empty.jsonl"] and "empty" in causes["empty.jsonl.gz"]
    assert "no records" in causes["nothing.jsonl.gz"] and "no records" in causes["blank.jsonl"]
    assert "not a gzip file" in causes["garbage.jsonl.gz"]
    for name in ("corrupt.parquet", "truncated.parquet"):
        assert "Parquet" in causes[name], causes[name]
    assert "can't tell the format" in causes["wrong_schema.parquet"]
    assert "cut off" in causes["truncated.json"] or "broken" in causes["truncated.json"]
    assert "can't tell the format" in causes["cp1252.jsonl"]
    assert "unknown file type" in causes["notes.txt"]
    assert "can't tell the format" in causes["dump.json"]
    if os.geteuid() != 0:  # root reads any file
        assert "Permission denied" in causes["locked.jsonl"]
    junk_rejects = rejects.filter(pa.compute.ends_with(rejects["source_file"], "junk_first.jsonl"))
    assert junk_rejects.num_rows == 80 and set(junk_rejects["reason"].to_pylist()) == {"malformed_json"}


def test_failure_4_bom_is_stripped_and_cp1252_with_a_forced_format_is_rejected_per_record(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + jsonl_bytes([wildchat_record(i) for i in range(3)]))
    records_in, conversations, rejects = ingest_paths([path])
    assert (records_in, conversations.num_rows, rejects.num_rows) == (3, 3, 0)
    array = tmp_path / "bom.json"
    array.write_bytes(b"\xef\xbb\xbf" + json.dumps([wildchat_record(i) for i in range(2)]).encode())
    assert ingest_paths([array])[1].num_rows == 2


def test_failure_4_symlink_loop_reads_each_file_once(tmp_path):
    dump = tmp_path / "dump"
    (dump / "sub").mkdir(parents=True)
    write_jsonl(dump / "sub" / "a.jsonl", [wildchat_record(1)])
    os.symlink(dump, dump / "sub" / "loop")
    files = expand_inputs([str(dump / "**" / "*.jsonl")])
    assert files == [str(dump / "sub" / "a.jsonl")]


def test_failure_4_gzip_with_a_bad_crc_keeps_its_records(tmp_path):
    data = bytearray(gzip.compress(jsonl_bytes([wildchat_record(i) for i in range(200)])))
    data[-8:-4] = (zlib.crc32(b"other") & 0xFFFFFFFF).to_bytes(4, "little")  # trailer CRC
    path = tmp_path / "bad_crc.jsonl.gz"
    path.write_bytes(bytes(data))
    records_in, conversations, rejects = ingest_paths([path])
    assert conversations.num_rows == 200
    assert rejects["reason"].to_pylist() == [UNREADABLE_INPUT] and "CRC" in rejects["detail"][0].as_py()
    assert records_in == 201


def test_failure_4_multi_member_gzip_reads_every_member(tmp_path):
    path = tmp_path / "two.jsonl.gz"
    first, second = jsonl_bytes([wildchat_record(1)]), jsonl_bytes([wildchat_record(2)])
    path.write_bytes(gzip.compress(first) + gzip.compress(second))
    assert ingest_paths([path])[1]["conversation_id"].to_pylist() == ["hash0001", "hash0002"]


def test_failure_4_truncated_json_array_keeps_its_intact_prefix(tmp_path):
    text = json.dumps([wildchat_record(i) for i in range(4)])
    path = tmp_path / "cut.json"
    path.write_text(text[: text.index('"conversation_hash": "hash0003"') + 10])
    records_in, conversations, rejects = ingest_paths([path])
    assert conversations["conversation_id"].to_pylist() == ["hash0000", "hash0001", "hash0002"]
    assert rejects["reason"].to_pylist() == [UNREADABLE_INPUT] and rejects["source_record"].to_pylist() == [3]
    assert records_in == 4


def test_failure_7_private_fields_leave_rejects_raw_unless_kept(tmp_path):
    bad_role = wildchat_record(1, [("user", "hi"), ("robot", "beep")])
    cut = json.dumps(wildchat_record(2))[:-40]  # malformed JSON that still holds hashed_ip and header
    path = write_jsonl(tmp_path / "dump.jsonl", [bad_role, cut])
    _, _, rejects = ingest_paths([path])
    assert rejects["reason"].to_pylist() == ["unknown_role", "malformed_json"]
    for raw in rejects["raw"].to_pylist():
        assert "abc123" not in raw and "Mozilla" not in raw, raw
    _, _, kept = ingest_paths([path], IngestConfig(keep_private_fields=True))
    assert all("abc123" in raw for raw in kept["raw"].to_pylist())
    assert reject_raw(b'{"hashed_ip": "abc', IngestConfig()) == '{"hashed_ip": "[removed]"'


def test_real_dump_behind_a_bom_and_a_bad_gzip_crc_keeps_every_record(tmp_path):
    real = shared_file("wildchat_real_small.jsonl").read_bytes()
    lines = sum(1 for line in real.split(b"\n") if line.strip())
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + real)
    damaged = bytearray(gzip.compress(real))
    damaged[-8:-4] = bytes(4) if damaged[-8:-4] != bytes(4) else b"\x01\x00\x00\x00"
    (tmp_path / "crc.jsonl.gz").write_bytes(bytes(damaged))
    plain_in, plain, plain_rejects = ingest_paths([shared_file("wildchat_real_small.jsonl")])
    for name in ("bom.jsonl", "crc.jsonl.gz"):
        records_in, conversations, rejects = ingest_paths([tmp_path / name])
        assert conversations["conversation_id"].equals(plain["conversation_id"]), name
        assert records_in - plain_in == rejects.num_rows - plain_rejects.num_rows == (name == "crc.jsonl.gz")
    assert plain_in == lines
