"""What a killed or racing run leaves (issue 30, item 5). On a bucket root (moto's S3 server on loopback): a first
night killed after its manifest but before its catalog still answers `afterword query` (the tables are read from
the manifests), and the staging folder of a run that published its night and died is swept by the next writer of
another night. A query whose files a replace removed while it read says, in one line, to run it again."""

import os

import pytest

import afterword_cli
from flows.nightly import nightly
from pipelines import objectstore
from pipelines.store import layout as storage
from pipelines.store import night_commit, query
from tests.conftest import NIGHT, wildchat_record, write_jsonl
from tests.reliability.nightly_child import CONFIG
from tests.reliability.test_hostile_inputs import afterword
from tests.reliability.test_object_store_safety import run_child

pytestmark = [pytest.mark.reliability, pytest.mark.slow]


def bucket_dump(tmp_path, s3_bucket) -> str:
    dump = write_jsonl(tmp_path / "dump.jsonl", [wildchat_record(i) for i in range(6)])
    objectstore.upload(str(dump), f"{s3_bucket}/dumps/dump.jsonl")
    return f"{s3_bucket}/dumps/dump.jsonl"


def test_a_first_night_killed_before_its_catalog_answers_queries_and_its_staging_is_swept_later(
    tmp_path, s3_bucket, prefect_harness
):
    root, dump = f"{s3_bucket}/afterword", bucket_dump(tmp_path, s3_bucket)
    child = run_child(root, dump, kill_at="catalog.duckdb")  # published and recorded; catalog and staging not
    output, _ = child.communicate(timeout=300)
    assert child.returncode == -9, output[-3000:]
    assert not objectstore.exists(storage.catalog_path(root))
    assert night_commit.published_stagings(root)

    done = afterword(tmp_path, "query", "--root", root, "--format", "csv", "select count(*) from conversations")
    assert done.returncode == 0 and done.stdout.splitlines()[1:] == ["6"], done.stderr[-3000:]

    nightly(inputs=[dump], root=root, night="2026-11-21", config=CONFIG, score=False)  # another night
    assert not objectstore.glob(f"{root}/_staging/**"), objectstore.glob(f"{root}/_staging/**")


def test_a_query_racing_a_replace_says_to_run_it_again(tmp_path, monkeypatch, capsys):
    """The race as `query` meets it: a file it listed is gone when it reads (a bucket's replace removes the old
    versions once its manifest names the new ones). Shown on a local root, whose reader lists and reads the same
    way; the message is one line that says to run the query again."""
    root = tmp_path / "root"
    done = afterword(tmp_path, "nightly", "--input", str(write_jsonl(tmp_path / "d.jsonl", [wildchat_record(1)])),
                     "--root", str(root), "--date", NIGHT, "--no-score")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    opened = query.open_catalog

    def replaced_meanwhile(where: str):
        con = opened(where)
        for file in storage.stored_files(where, "conversations"):
            os.remove(file)
        return con

    monkeypatch.setattr(query, "open_catalog", replaced_meanwhile)
    assert afterword_cli.main(["query", "--root", str(root), "select count(*) from conversations"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "run the query again" in lines[0], lines


def test_a_python_traceback_in_a_read_error_is_cut_from_the_message():
    # What DuckDB says when an Arrow dataset over the store meets a removed object (seen against moto).
    error = RuntimeError(
        "Invalid Input Error: reading the stream registered as 't' failed: IOError: b/x/t.parquet. Detail: Python "
        'exception: Traceback (most recent call last):\n  File "pyarrow/_fs.pyx", line 1584\nFileNotFoundError: x'
    )
    assert query._first_line(error).endswith("Detail: Python exception:")
