"""The nightly run from a bucket into a bucket root, against moto's S3 server on loopback (`s3_bucket`): the
same tables as a local run of the same dump, on Beam's local runner and on its Dask runner (workers read and
write the bucket themselves), then `score --shard`, `report` and `query` on the bucket root."""

import json
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from afterword_cli import main
from flows.nightly import nightly
from pipelines import objectstore
from pipelines.store import layout as storage
from tests.conftest import NIGHT, wildchat_record, write_jsonl
from tests.helpers.store import published_night_tables

pytestmark = pytest.mark.slow

SAMPLE = "data/sample/wildchat_sample.jsonl"
DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
CONFIG = {"chunk_bytes": 64 * 1024}  # several chunks, so the workers share the night


def with_source(table: pa.Table, old: str, new: str) -> pa.Table:
    """`table` with the input's path in `source_file` written as `new` (the only column naming the input)."""
    if "source_file" not in table.column_names:
        return table
    renamed = pc.replace_substring(table["source_file"], old, new)
    return table.set_column(table.schema.get_field_index("source_file"), "source_file", renamed)


def upload(local_path, url: str) -> str:
    objectstore.upload(str(local_path), url)
    return url


def assert_same_tables(bucket_root: str, local_root: str, local_input: str, bucket_input: str) -> None:
    local, stored = published_night_tables(local_root, NIGHT), published_night_tables(bucket_root, NIGHT)
    for table in storage.TABLES:
        assert stored[table].num_rows > 0, table
        assert stored[table].equals(with_source(local[table], local_input, bucket_input)), table


def test_the_bundled_sample_from_a_bucket_into_a_bucket_root_gives_the_local_tables(
    tmp_path, s3_bucket, prefect_harness
):
    local_input = str(objectstore.absolute(SAMPLE))
    bucket_input = upload(SAMPLE, f"{s3_bucket}/dumps/{NIGHT}/wildchat_sample.jsonl")
    local = nightly(inputs=[local_input], root=str(tmp_path / "local"), night=NIGHT, config=CONFIG, score=False)
    root = f"{s3_bucket}/afterword"
    stored = nightly(
        inputs=[f"{s3_bucket}/dumps/{{night}}/*.jsonl"], root=root, night=NIGHT, config=CONFIG, score=False
    )

    for key in ("records_in", "conversations", "rejects", "interactions", "reject_reasons", "filter_report"):
        assert stored[key] == local[key], key
    assert_same_tables(root, str(tmp_path / "local"), local_input, bucket_input)
    # Published as one pointer: the manifest names exactly the table files the bucket holds, and nothing of
    # the run (staging, lock, temporary objects) is left beside them.
    manifest = json.loads(objectstore.read_bytes(storage.night_manifest(root, date.fromisoformat(NIGHT))))
    objects = {url.removeprefix(root + "/") for url in objectstore.list_files(root)}
    night_files = {name for name in objects if "/ingest_date=" in name and not name.startswith("nights/")}
    assert night_files == set(manifest["tables"].values())
    assert not [name for name in objects if name.startswith(("_staging", ".writer"))], objects
    assert manifest["inputs"] == {bucket_input: "tag:" + objectstore.content_tag(bucket_input)}

    # The same night again is the same night: nothing changes but the catalog and the new run's record.
    again = nightly(inputs=[bucket_input], root=root, night=NIGHT, config=CONFIG, score=False)
    assert again["interactions"] == stored["interactions"]
    assert_same_tables(root, str(tmp_path / "local"), local_input, bucket_input)


def test_the_dask_runner_reads_and_writes_the_bucket_without_a_shared_folder(tmp_path, s3_bucket, prefect_harness):
    distributed = pytest.importorskip("distributed")
    records = [wildchat_record(i) for i in range(40)] + [wildchat_record(7), b'{"conversation_hash": "cut']
    local_input = str(write_jsonl(tmp_path / "dump.jsonl", records))
    bucket_input = upload(local_input, f"{s3_bucket}/dumps/dump.jsonl")
    config = {"chunk_bytes": 2048}
    local = nightly(inputs=[local_input], root=str(tmp_path / "local"), night=NIGHT, config=config, score=False)

    root = f"{s3_bucket}/afterword"
    # Worker processes inherit the AWS variables pointing at the server: the bucket is all they share with us.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        beam_args = [
            f"--runner={DASK_RUNNER}",
            f"--dask_client_address={cluster.scheduler_address}",
            "--dask_npartitions=8",
        ]
        on_dask = nightly(
            inputs=[bucket_input], root=root, night=NIGHT, config={**config, "beam_args": beam_args}, score=False
        )
        with cluster.get_client() as client:
            executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert len(executed) == 2 and all(count > 0 for count in executed.values()), executed
    assert (on_dask["records_in"], on_dask["conversations"], on_dask["rejects"]) == (42, 40, 2)
    for key in ("records_in", "conversations", "rejects", "interactions", "reject_reasons", "filter_report"):
        assert on_dask[key] == local[key], key
    assert_same_tables(root, str(tmp_path / "local"), local_input, bucket_input)


def test_score_shards_report_and_query_on_a_bucket_root(tmp_path, s3_bucket, prefect_harness, capsys, tiny_model_dir):
    model = tiny_model_dir
    dump = upload(write_jsonl(tmp_path / "dump.jsonl", [wildchat_record(i) for i in range(6)]), f"{s3_bucket}/d.jsonl")
    root = f"{s3_bucket}/afterword"
    assert main(["nightly", "--input", dump, "--root", root, "--date", NIGHT, "--no-score"]) == 0
    settings = ["--score.model", str(model), "--score.hindsight.max_context_tokens", "256"]
    assert main(["score", "--root", root, "--night", NIGHT, "--shard", "0/2", *settings]) == 0
    assert main(["report", "--root", root]) == 0
    assert "PARTIAL: 1 of 2 shards" in capsys.readouterr().out
    assert main(["score", "--root", root, "--night", NIGHT, "--shard", "1/2", *settings]) == 0
    assert main(["score", "--root", root, "--night", NIGHT, "--shard", "1/2", *settings]) == 0  # done: skipped
    assert "already done" in capsys.readouterr().out
    assert main(["report", "--root", root]) == 0
    out = capsys.readouterr().out
    assert "all 2 shards" in out
    (run_id,) = storage.scoring_runs_with_round(root, 0)
    report = objectstore.read_text(storage.report_path(root, run_id))
    assert report.startswith("<!DOCTYPE html>") or "<html" in report[:200]

    assert main(["query", "--root", root, "--format", "json", "select count(*) as n from advantages"]) == 0
    scored = sum(pq.read_metadata(objectstore.open_binary(f)).num_rows for f in storage.score_shard_files(root))
    assert json.loads(capsys.readouterr().out) == [{"n": scored}] and scored > 0
    # The uploaded catalog opens in the analyst's own DuckDB once that can read the bucket (README).
    import duckdb
    import s3fs

    catalog = tmp_path / "catalog.duckdb"
    objectstore.download([storage.catalog_path(root)], [str(catalog)])
    with duckdb.connect(str(catalog), read_only=True) as con:
        con.register_filesystem(s3fs.S3FileSystem())
        assert con.execute("select count(*) from advantages").fetchone()[0] == scored
        assert con.execute("select count(*) from interactions").fetchone()[0] > 0
    # The read-only rules hold on a bucket root too: no statement reads or writes a file.
    assert main(["query", "--root", root, f"copy interactions to '{tmp_path / 'out.csv'}'"]) == 2
    assert main(["query", "--root", root, "select * from read_parquet('s3://x/y.parquet')"]) == 2
    assert not (tmp_path / "out.csv").exists()
