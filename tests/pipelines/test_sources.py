import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.errors import InputError
from pipelines.sources import expand_inputs, line_offsets, plan_chunks, read_chunk
from tests.conftest import wildchat_record, write_jsonl


def read_all(paths, **kwargs):
    """Every record of the files, numbered as the nightly flow numbers them (ranges moved on by line_offsets)."""
    chunks = plan_chunks([str(p) for p in paths], **kwargs)
    reads = {chunk.key: read_chunk(chunk) for chunk in chunks}
    offsets = line_offsets(chunks, {key: read.lines for key, read in reads.items()})
    rows, blank = [], 0
    for chunk in chunks:
        table = reads[chunk.key].records
        numbers = [number + offsets[chunk.key] for number in table["source_record"].to_pylist()]
        rows += list(zip(numbers, table["raw"].to_pylist(), strict=True))
        blank += reads[chunk.key].blank_lines
    return rows, blank


def test_jsonl_split_into_many_chunks_reads_the_same_records_with_line_numbers(tmp_path):
    records = [wildchat_record(i) for i in range(40)]
    path = write_jsonl(tmp_path / "dump.jsonl", records[:20] + ["", "   "] + records[20:])
    whole, blank_whole = read_all([path])
    split, blank_split = read_all([path], chunk_bytes=1024)
    assert len(plan_chunks([str(path)], chunk_bytes=1024)) > 5
    assert split == whole
    assert blank_whole == blank_split == 2
    assert [number for number, _ in whole] == list(range(1, 21)) + list(range(23, 43))
    assert json.loads(whole[20][1])["conversation_hash"] == "hash0020"


def test_gzip_json_array_and_parquet_containers(tmp_path):
    records = [wildchat_record(i) for i in range(3)]
    with gzip.open(tmp_path / "a.jsonl.gz", "wb") as handle:
        handle.write(b"".join(json.dumps(r).encode() + b"\n" for r in records))
    (tmp_path / "b.json").write_text(json.dumps(records))
    table = pa.Table.from_pylist([{"conversation_hash": "p1", "conversation": [{"role": "user", "content": "hi"}]}])
    pq.write_table(table, tmp_path / "c.parquet")
    chunks = plan_chunks([str(tmp_path)])
    assert [(c.container, c.source_format) for c in chunks] == [
        ("jsonl.gz", "wildchat"),
        ("json", "wildchat"),
        ("parquet", "wildchat"),
    ]
    gz, json_array, parquet = (read_chunk(c) for c in chunks)
    assert gz.records["source_record"].to_pylist() == [1, 2, 3]
    assert json_array.records["source_record"].to_pylist() == [0, 1, 2]
    assert json.loads(json_array.records["raw"][2].as_py())["conversation_hash"] == "hash0002"
    # Parquet stays Arrow: its rows, no JSON text (pipelines/arrow_ingest.py ingests them).
    assert parquet.records.num_rows == 0 and parquet.record_count == 1
    assert parquet.rows.to_pylist() == [
        {"conversation_hash": "p1", "conversation": [{"role": "user", "content": "hi"}]}
    ]


def test_truncated_gzip_keeps_what_it_can_and_marks_the_break(tmp_path):
    data = gzip.compress(b"".join(json.dumps(wildchat_record(i)).encode() + b"\n" for i in range(200)))
    path = tmp_path / "broken.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    table = read_chunk(plan_chunks([str(path)], input_format="wildchat")[0]).records
    errors = [e for e in table["read_error"].to_pylist() if e]
    assert len(errors) == 1 and "gzip" in errors[0]
    assert 0 < table.num_rows < 200


def test_missing_inputs_are_clear_errors_and_unusable_files_one_row_each(tmp_path):
    with pytest.raises(InputError, match="matches no file"):
        expand_inputs([str(tmp_path / "*.jsonl")])
    with pytest.raises(InputError, match="does not exist"):
        expand_inputs([str(tmp_path / "missing.jsonl")])
    (tmp_path / "notes.txt").write_text("hello")
    write_jsonl(tmp_path / "other.jsonl", [{"text": "not a chat"}])
    chunks = plan_chunks([str(tmp_path / "notes.txt"), str(tmp_path / "other.jsonl")])
    assert [(c.container, c.source_format) for c in chunks] == [("file", None), ("file", None)]
    errors = [read_chunk(c)[0]["read_error"].to_pylist() for c in chunks]
    assert "unknown file type" in errors[0][0] and "can't tell the format" in errors[1][0]


def test_chunk_keys_are_stable_and_distinct(tmp_path):
    path = write_jsonl(tmp_path / "dump.jsonl", [wildchat_record(i) for i in range(30)])
    first = [c.key for c in plan_chunks([str(path)], chunk_bytes=1024)]
    again = [c.key for c in plan_chunks([str(path)], chunk_bytes=1024)]
    assert first == again and len(set(first)) == len(first)
