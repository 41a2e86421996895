"""The model registry: promote and rollback move one pointer, statuses keep the history, `promoted` resolves to the
current weights wherever a model is asked for, and the CLI lists, promotes, rolls back and draws the ledger."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import registry
from pipelines.store import layout as storage
from schemas import interactions as interactions_schema
from schemas import model_evals
from tests.helpers.training import interactions_table, write_tiny_model

REPO = Path(__file__).resolve().parents[2]
NIGHT = date(2026, 11, 20)


def record(model_id: str, parent: str | None, checkpoint: Path, age: int, **figures) -> registry.ModelRecord:
    made = datetime(2026, 11, 21, tzinfo=UTC) + timedelta(hours=age)
    values = dict(
        model_id=model_id, parent_id=parent, base_model="tiny", nights=[f"2026-11-2{age}"],
        lineage_nights=[f"2026-11-2{age}"], run_id=f"run-{model_id}", checkpoint_path=str(checkpoint),
        status="candidate", reason="trained", gain=0.01, gain_low=0.002, gain_high=0.02, worst_retention_drop=None,
        worst_retention_set=None, drift_base_kl=0.01, drift_parent_kl=0.01, reply_tokens=12.0, ended_share=0.5,
        created_at=made, decided_at=made,
    )  # fmt: skip
    return registry.ModelRecord(**{**values, **figures})


@pytest.fixture
def two_models(tmp_path):
    """A root with one night of interactions and two promoted models, the second trained from the first."""
    root = tmp_path / "root"
    rows = interactions_table(6).to_pylist()
    for row in rows:
        row["ingest_date"] = NIGHT
    path = Path(storage.night_file(str(root), "interactions", NIGHT))
    path.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=interactions_schema.SCHEMA), path)
    first = record("m-a", None, write_tiny_model(tmp_path / "a"), 1)
    second = record("m-b", "m-a", write_tiny_model(tmp_path / "b"), 2)
    for model in (first, second):
        registry.register(str(root), model)
        registry.promote(str(root), model.model_id, "gate passed")
    return root, first, second


def test_rollback_walks_the_lineage_back_to_the_base_and_then_refuses(two_models):
    root, first, second = (str(two_models[0]), *two_models[1:])
    assert registry.promoted(root).model_id == "m-b"
    assert registry.resolve_model("promoted", root) == second.checkpoint_path
    assert registry.resolve_model("some/model", root) == "some/model"

    assert registry.rollback(root, "regression seen in production").model_id == "m-a"
    assert registry.promoted(root).model_id == "m-a"
    assert registry.read_pointer(root)["checkpoint_path"] == first.checkpoint_path
    rolled = registry.get_model(root, "m-b")
    assert rolled.status == "rolled_back" and rolled.reason == "regression seen in production"

    assert registry.rollback(root, "again") is None  # the base model is current: no pointer
    assert registry.promoted(root) is None and registry.read_pointer(root) is None
    with pytest.raises(registry.UnknownModelError, match="no promoted model"):
        registry.resolve_model("promoted", root)
    with pytest.raises(registry.NothingToRollBackError):
        registry.rollback(root, "once more")
    assert [model.status for model in registry.read_models(root)] == ["rolled_back", "rolled_back"]


def test_a_status_outside_the_schema_is_refused(tmp_path):
    with pytest.raises(ValueError, match="status 'shipped'"):
        record("m-x", None, tmp_path, 1, status="shipped")


def test_cli_rolls_back_then_scores_with_the_promoted_model_and_draws_the_ledger(two_models):
    root, first, _ = two_models
    listed = afterword("models", "--root", str(root))
    assert listed.returncode == 0, listed.stderr
    assert "m-a" in listed.stdout and "m-b *" in listed.stdout

    rolled = afterword("models", "rollback", "--root", str(root), "--reason", "bad replies")
    assert rolled.returncode == 0, rolled.stderr
    assert "the promoted model is now m-a" in rolled.stdout

    scored = afterword(
        "score", "--root", str(root), "--night", str(NIGHT), "--shard", "0/1", "--score.model", "promoted"
    )
    assert scored.returncode == 0, scored.stdout + scored.stderr
    (shard,) = storage.score_shard_files(str(root))
    assert set(pq.read_table(shard)["model_id"].to_pylist()) == {first.checkpoint_path}

    statuses = afterword("query", "--root", str(root), "--format", "json", "select model_id, status from models")
    assert statuses.returncode == 0, statuses.stderr
    assert {row["model_id"]: row["status"] for row in json.loads(statuses.stdout)} == {
        "m-a": "promoted",
        "m-b": "rolled_back",
    }

    unknown = afterword("models", "promote", "--root", str(root), "m-zzz")
    assert unknown.returncode == 2 and "no model 'm-zzz'" in unknown.stderr + unknown.stdout

    for model_id, approval in (("base", -0.30), ("m-a", -0.20), ("m-b", -0.35)):
        row = {
            "model_id": model_id, "eval_set": "night=2026-11-21", "kind": "night", "n": 8, "approval": approval,
            "approval_low": approval - 0.05, "approval_high": approval + 0.05, "drift_base_kl": 0.0,
            "drift_parent_kl": 0.0, "reply_tokens": 10.0, "ended_share": 0.5, "evaluated_at": datetime.now(UTC),
        }  # fmt: skip
        path = root / "model_evals" / f"model_id={model_id}" / "eval_set=night=2026-11-21.parquet"
        path.parent.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist([row], schema=model_evals.SCHEMA), path)
    drawn = afterword("report", "--root", str(root), "--ledger")
    assert drawn.returncode == 0, drawn.stderr
    page = (root / "reports" / "ledger.html").read_text()
    assert "+0.1000" in page and "-0.0500" in page  # m-a gained 0.10 over the base, m-b lost 0.05
    assert "bad replies" in page


def afterword(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "afterword_cli", *args], cwd=REPO, capture_output=True, text=True, timeout=600
    )
