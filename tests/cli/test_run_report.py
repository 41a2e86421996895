import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cli.run_report import write_run_report
from schemas import scores as scores_schema
from tests.helpers.scoring import score_row


def write_shard(root, run_id: str, round_index: int, shard: int, shards: int) -> None:
    folder = root / "scores" / f"run_id={run_id}" / f"round={round_index:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist([score_row(run_id, round_index, "reply", [0.1, -0.2])], scores_schema.SCHEMA)
    pq.write_table(table, folder / f"scores-{shard:05d}-of-{shards:05d}.parquet")


def test_report_defaults_to_the_newest_nightly_run_and_says_it_is_partial(tmp_path):
    root = tmp_path / "root"
    write_shard(root, "2026-11-20-paper-aaaa", 0, 0, 2)  # one of two shards so far
    time.sleep(0.01)
    write_shard(root, "refresh-onpolicy-bbbb", 1, 0, 1)  # a training run's regenerated round, written later
    path, completeness = write_run_report(str(root))
    assert os.path.basename(path) == "2026-11-20-paper-aaaa.html"
    assert completeness == "PARTIAL: 1 of 2 shards"
    assert "PARTIAL: 1 of 2 shards" in Path(path).read_text()
    write_shard(root, "2026-11-20-paper-aaaa", 0, 1, 2)
    assert write_run_report(str(root))[1] == "all 2 shards"


def test_report_header_names_the_night_and_how_many_of_its_interactions_were_scored(tmp_path):
    from tests.conftest import wildchat_record
    from tests.helpers.scoring import NIGHT, store_interactions

    interactions = store_interactions(tmp_path, [wildchat_record(i) for i in range(3)])
    row = score_row(f"{NIGHT}-paper-aaaa", 0, "reply", [0.1, -0.2])
    row["interaction_id"] = interactions["interaction_id"][0].as_py()
    folder = tmp_path / "scores" / f"run_id={NIGHT}-paper-aaaa" / "round=0000"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([row], scores_schema.SCHEMA), folder / "scores-00000-of-00001.parquet")
    path, _ = write_run_report(str(tmp_path))
    html = Path(path).read_text()
    assert f"night {NIGHT} · made " in html and " UTC · 1 of 3 replies · n per source model: " in html
