"""A replaced night retires what depended on the old night (issue 30, item 4): after `nightly --replace` from
other inputs, `scores`, `advantages` and `token_advantages` hold no row whose interaction is gone, the night is
scored anew (not skipped as "already done"), the old scoring run is kept under `retired/` for audit, and the
replacing run's `runs` row names it. Real `afterword` commands in child processes, on a local and a bucket root."""

import json

import pytest

from pipelines import objectstore
from pipelines.store.retire import retired_dir
from tests.conftest import NIGHT, wildchat_record, write_jsonl
from tests.reliability.test_hostile_inputs import afterword

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

ORPHANS = "select count(*) as n from {view} where interaction_id not in (select interaction_id from interactions)"


def query(tmp_path, root: str, sql: str) -> list[dict]:
    done = afterword(tmp_path, "query", "--root", root, "--format", "json", "--max-rows", "0", sql)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def scored_night(tmp_path, root: str, model, first: int, *extra: str) -> None:
    dump = write_jsonl(tmp_path / f"dump-{first}.jsonl", [wildchat_record(first + i) for i in range(6)])
    args = ("nightly", "--input", str(dump), "--root", root, "--date", NIGHT, "--score-limit", "4")
    done = afterword(tmp_path, *args, "--score.model", str(model), *extra, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(params=["local", "bucket"])
def root(request, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path / "root")
    return f"{request.getfixturevalue('s3_bucket')}/afterword"


def test_a_replaced_night_leaves_no_score_of_a_gone_interaction(tmp_path, root, tiny_model_dir):
    scored_night(tmp_path, root, tiny_model_dir, 0)
    (old,) = query(tmp_path, root, "select distinct run_id from scores")
    old_ids = {row["interaction_id"] for row in query(tmp_path, root, "select interaction_id from advantages")}
    assert len(old_ids) == 4

    scored_night(tmp_path, root, tiny_model_dir, 100, "--replace")
    for view in ("scores", "advantages", "token_advantages"):
        assert query(tmp_path, root, ORPHANS.format(view=view)) == [{"n": 0}], view
    new_ids = {row["interaction_id"] for row in query(tmp_path, root, "select interaction_id from advantages")}
    assert len(new_ids) == 4 and not new_ids & old_ids  # scored anew, not skipped as already done

    runs = query(tmp_path, root, "select run_id, retired_scoring_runs from runs order by started_at")
    assert [row["retired_scoring_runs"] for row in runs] == [[], [old["run_id"]]]
    kept = objectstore.join(retired_dir(root, runs[1]["run_id"]), f"run_id={old['run_id']}", "round=0000", "*")
    assert len(objectstore.glob(kept)) == 1  # the old shard, kept for audit
