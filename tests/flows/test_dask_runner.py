"""The nightly flow with its Beam pipeline on a real distributed runner: Beam's Dask runner against a
`dask.distributed` cluster of two worker processes, which this test starts and stops."""

import pyarrow.parquet as pq
import pytest

from flows.nightly import nightly
from pipelines.store import layout as storage
from tests.conftest import wildchat_record, write_jsonl

pytestmark = pytest.mark.slow

DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
NIGHT = "2026-11-20"


def night_tables(root):
    from datetime import date

    night = date.fromisoformat(NIGHT)
    return {table: pq.read_table(storage.published_night_file(root, table, night)) for table in storage.TABLES}


def test_nightly_on_the_dask_runner_gives_the_local_tables(tmp_path, prefect_harness):
    distributed = pytest.importorskip("distributed")
    records = [wildchat_record(i) for i in range(40)] + [wildchat_record(7)]  # a repeated id
    records[5:5] = [b'{"conversation_hash": "cut', b"[1]", b"", b"\xff not utf8"]
    dumps = [write_jsonl(tmp_path / "a.jsonl", records[:25]), write_jsonl(tmp_path / "b.jsonl", records[25:])]
    inputs = [str(path) for path in dumps]
    config = {"chunk_bytes": 2048}  # several chunks per file, spread over both workers

    local = nightly(inputs=inputs, root=str(tmp_path / "local"), night=NIGHT, config=config, score=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        beam_args = [
            f"--runner={DASK_RUNNER}",
            f"--dask_client_address={cluster.scheduler_address}",
            "--dask_npartitions=8",  # Beam's Dask runner otherwise puts a short list of chunks in one partition
        ]
        on_dask = nightly(
            inputs=inputs,
            root=str(tmp_path / "dask"),
            night=NIGHT,
            config={**config, "beam_args": beam_args},
            score=False,
        )
        with cluster.get_client() as client:
            executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert len(executed) == 2 and all(count > 0 for count in executed.values()), executed  # both processes worked
    assert (on_dask["records_in"], on_dask["conversations"], on_dask["rejects"]) == (44, 40, 4)
    for key in ("records_in", "conversations", "rejects", "interactions", "reject_reasons", "filter_report"):
        assert on_dask[key] == local[key], key
    local_tables, dask_tables = night_tables(str(tmp_path / "local")), night_tables(str(tmp_path / "dask"))
    for table in ("conversations", "rejects", "interactions", "filter_report"):
        assert dask_tables[table].equals(local_tables[table]), table
