"""The object-store layer against moto's S3 server on loopback (`s3_bucket`): URL inputs planned like local
ones, a night published by pointer (a reader sees the old night or the new one), unnamed versions swept, and
the one-line errors for a missing bucket or object and for commands that need a local root."""

import gzip
import json
import os
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from afterword_cli import main
from pipelines import objectstore, sources
from pipelines.ingest_config import IngestConfig
from pipelines.store import layout as storage
from pipelines.store import night_commit, published
from pipelines.store.staging import publish_file
from tests.conftest import NIGHT, wildchat_record

pytestmark = pytest.mark.slow  # each test talks to the S3 server: a second or two


def put(url: str, payload: bytes) -> str:
    objectstore.write_bytes(url, payload)
    return url


def jsonl(records: list[dict]) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for record in records)


def test_url_inputs_expand_and_chunk_like_local_files(s3_bucket, tmp_path):
    dump = jsonl([wildchat_record(i) for i in range(30)])
    put(f"{s3_bucket}/dumps/a.jsonl", dump)
    put(f"{s3_bucket}/dumps/b.jsonl.gz", gzip.compress(dump))
    put(f"{s3_bucket}/dumps/notes.txt", b"not a dump")
    (tmp_path / "a.jsonl").write_bytes(dump)

    assert sources.expand_inputs([f"{s3_bucket}/dumps/*.jsonl*"]) == [
        f"{s3_bucket}/dumps/a.jsonl",
        f"{s3_bucket}/dumps/b.jsonl.gz",
    ]
    assert sources.expand_inputs([f"{s3_bucket}/dumps"]) == sources.expand_inputs([f"{s3_bucket}/dumps/*.jsonl*"])
    with pytest.raises(sources.InputError, match="matches no object"):
        sources.expand_inputs([f"{s3_bucket}/dumps/missing-*.jsonl"])

    # The same byte ranges and the same raw records as the local file, read with ranged GETs.
    on_store = sources.plan_chunks([f"{s3_bucket}/dumps/a.jsonl"], chunk_bytes=4096)
    local = sources.plan_chunks([str(tmp_path / "a.jsonl")], chunk_bytes=4096)
    assert len(on_store) > 3
    assert [(c.start, c.end, c.source_format) for c in on_store] == [(c.start, c.end, c.source_format) for c in local]
    for remote_chunk, local_chunk in zip(on_store, local, strict=True):
        remote_raw = sources.read_chunk(remote_chunk).records.drop_columns(["source_file"])
        assert remote_raw.equals(sources.read_chunk(local_chunk).records.drop_columns(["source_file"]))
    (gz_chunk,) = sources.plan_chunks([f"{s3_bucket}/dumps/b.jsonl.gz"])
    assert sources.read_chunk(gz_chunk, IngestConfig().max_record_bytes).records.num_rows == 30


def test_an_empty_or_broken_object_is_one_unreadable_chunk(s3_bucket):
    put(f"{s3_bucket}/in/empty.jsonl", b"")
    put(f"{s3_bucket}/in/broken.parquet", b"PAR1 not really")
    chunks = sources.plan_chunks([f"{s3_bucket}/in/*"])
    assert [(c.container, c.problem.split(":")[0]) for c in chunks] == [
        ("file", "not a readable Parquet file"),
        ("file", "the file is empty"),
    ]


def finished_night(staging: str, rows: list[int]) -> str:
    """A staging folder holding a finished conversations table of `rows`."""
    path = publish_file(staging, "conversations")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(pa.table({"conversation_id": [f"c{i}" for i in rows]}), path)
    return staging


def test_a_night_is_published_by_its_manifest_and_replaced_versions_are_removed(s3_bucket, tmp_path):
    root, night = f"{s3_bucket}/afterword", date.fromisoformat(NIGHT)
    first, second = finished_night(str(tmp_path / "first"), [1, 2]), finished_night(str(tmp_path / "second"), [3])

    night_commit.commit_night(root, first, night, {"inputs": {}}, "run-1")
    (published_file,) = storage.table_files(root, "conversations")
    assert pq.read_table(objectstore.open_binary(published_file)).num_rows == 2

    # A commit killed before its manifest: its version is stored, but no reader sees it.
    orphan = f"{root}/{published.version_path('conversations', NIGHT, 'killed')}"
    objectstore.upload(publish_file(second, "conversations"), orphan)
    assert storage.table_files(root, "conversations") == [published_file]
    assert night_commit.sweep_unpublished(root) == [orphan.removeprefix(root + "/")]
    assert not objectstore.exists(orphan) and objectstore.exists(published_file)

    night_commit.commit_night(root, second, night, {"inputs": {}}, "run-2")
    (replaced,) = storage.table_files(root, "conversations")
    assert replaced != published_file and not objectstore.exists(published_file)  # the superseded version is gone
    assert pq.read_table(objectstore.open_binary(replaced)).num_rows == 1
    manifest = json.loads(objectstore.read_bytes(published.manifest_path(root, NIGHT)))
    assert manifest["tables"] == {"conversations": replaced.removeprefix(root + "/")}


def test_bucket_root_mistakes_are_one_line_before_any_work(s3_bucket, capsys):
    dump = put(f"{s3_bucket}/d.jsonl", jsonl([wildchat_record(0)]))
    assert main(["nightly", "--input", dump, "--root", "s3://no-such-bucket-here/x", "--date", NIGHT]) == 2
    assert "its bucket does not exist" in capsys.readouterr().err
    assert (
        main(["nightly", "--input", f"{s3_bucket}/nothing-*.jsonl", "--root", f"{s3_bucket}/r", "--date", NIGHT]) == 2
    )
    assert "matches no object" in capsys.readouterr().err
    assert main(["query", "--root", f"{s3_bucket}/never-written", "select 1"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["refresh", "--root", f"{s3_bucket}/r", "--rounds", "1"]) == 2
    assert "needs a local --root" in capsys.readouterr().err
    assert not objectstore.list_files(f"{s3_bucket}/r")  # nothing was written under the root
