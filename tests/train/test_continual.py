"""`afterword learn`'s mechanics on a tiny random model: nights as the unit, lineage, a schedule per night,
reruns that add nothing, the fixed suite, and the gate's arithmetic. (Whether the gate rejects a sabotaged
night on a real model: tests/train/test_continual_gate.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import registry
from pipelines.backends.backend_configs import TransformersBackendConfig
from pipelines.backends.transformers_backend import make_scorer
from pipelines.score import ScoreRun, score_interactions
from pipelines.store import layout as storage
from schemas import interactions as interactions_schema
from tests.conftest import wildchat_record, write_jsonl
from tests.helpers.scoring import make_model, make_tokenizer
from tests.helpers.training import interactions_table, tiny_config, write_tiny_model
from train import data
from train.continual import continual, eval_sets
from train.continual.continual import LearnConfig, learn, next_night
from train.continual.eval_sets import EvalSuiteConfig
from train.continual.gate import GateConfig, decide
from train.data import is_held_out

REPO = Path(__file__).resolve().parents[2]
NIGHTS = (date(2026, 11, 20), date(2026, 11, 21))
# A gate that promotes whatever trains: these tests check the learner's bookkeeping, not the gate
OPEN_GATE = GateConfig(min_gain=-100.0, max_retention_drop=100.0, max_drift_kl=100.0)


@pytest.fixture
def model_dir(tmp_path):
    return write_tiny_model(tmp_path / "tiny-model")


def write_nights(root, n_per_night: int = 16) -> None:
    """Two nights of interactions, ids distinct per night."""
    for index, night in enumerate(NIGHTS):
        rows = interactions_table(n_per_night).to_pylist()
        for row in rows:
            row["interaction_id"] = f"n{index}-{row['interaction_id']}"
            row["conversation_id"] = f"n{index}-{row['conversation_id']}"
            row["ingest_date"] = night
        path = storage.night_file(str(root), "interactions", night)
        (root / path.removeprefix(str(root) + "/")).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=interactions_schema.SCHEMA), path)


def learn_config(root, model_dir, night: date, gate: GateConfig = OPEN_GATE, **train) -> LearnConfig:
    train_cfg = replace(tiny_config(root, model_dir, eval_fraction=0.3, eval_max_interactions=0, **train))
    return LearnConfig(
        root=str(root),
        nights=night.isoformat(),
        train=train_cfg,
        eval=EvalSuiteConfig(max_items=4, general=True),
        gate=gate,
    )


def test_two_nights_make_a_lineage_with_a_schedule_per_night_and_reruns_add_nothing(tmp_path, model_dir):
    root = tmp_path / "root"
    write_nights(root)
    assert next_night(str(root)) == "2026-11-20"

    first = learn(learn_config(root, model_dir, NIGHTS[0]))["model"]
    assert first["status"] == "promoted" and first["parent_id"] is None and first["nights"] == ["2026-11-20"]
    assert registry.promoted(str(root)).model_id == first["model_id"]
    assert next_night(str(root)) == "2026-11-21"

    second = learn(learn_config(root, model_dir, NIGHTS[1]))["model"]
    assert second["parent_id"] == first["model_id"], "the second night trains from the promoted first"
    assert second["lineage_nights"] == ["2026-11-20", "2026-11-21"]
    assert second["status"] == "promoted"
    assert next_night(str(root)) is None

    # each night is its own run, so its own cosine schedule: both start at the same (peak) learning rate
    first_lrs = step_lrs(root, first["run_id"])
    second_lrs = step_lrs(root, second["run_id"])
    assert first["run_id"] != second["run_id"]
    assert first_lrs[0] == pytest.approx(second_lrs[0]) and second_lrs[0] > second_lrs[-1]

    # the fixed suite: drawn once per night, never from training interactions; general prompts too
    assert eval_sets.stored_sets(str(root)) == ["night=2026-11-20", "night=2026-11-21", "general"]
    night_set = eval_sets.read_set(str(root), "night=2026-11-20")
    assert night_set.num_rows >= 2
    assert all(is_held_out(item, 0.3) for item in night_set["item_id"].to_pylist()), "never a training interaction"

    # a rerun resumes the finished run and adds nothing
    again = learn(learn_config(root, model_dir, NIGHTS[1]))
    assert again["added"] is False
    assert len(registry.read_models(str(root))) == 2


def test_an_interrupted_learn_resumes_its_training_run_and_keeps_finished_evaluations(tmp_path, model_dir, monkeypatch):
    root = tmp_path / "root"
    write_nights(root)
    cfg = learn_config(root, model_dir, NIGHTS[0])
    evaluated: list[tuple[str, str]] = []
    real_evaluate_set = continual.evaluate_set

    def killed_at_the_candidate(cfg, name, model_id, *rest):
        if model_id != continual.BASE_ID:
            raise RuntimeError("killed while evaluating the candidate")
        evaluated.append((model_id, name))
        return real_evaluate_set(cfg, name, model_id, *rest)

    monkeypatch.setattr(continual, "evaluate_set", killed_at_the_candidate)
    with pytest.raises(RuntimeError, match="killed"):
        learn(cfg)
    assert registry.read_models(str(root)) == [] and registry.promoted(str(root)) is None
    (run_id,) = os.listdir(root / "training")
    trained_steps = len(step_lrs(root, run_id))
    assert trained_steps > 0 and evaluated

    def counted(cfg, name, model_id, *rest):
        evaluated.append((model_id, name))
        return real_evaluate_set(cfg, name, model_id, *rest)

    evaluated.clear()
    monkeypatch.setattr(continual, "evaluate_set", counted)
    model = learn(cfg)["model"]
    assert model["run_id"] == run_id and len(step_lrs(root, run_id)) == trained_steps, "no step trained twice"
    assert {model_id for model_id, _ in evaluated} == {model["model_id"]}, "the base's evaluations were kept"
    assert model["status"] == "promoted"


def step_lrs(root, run_id: str) -> list[float]:
    lines = (root / "training" / run_id / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["optim/lr"] for line in lines if "optim/lr" in json.loads(line)]


def test_gate_promotes_a_shown_gain_and_names_every_failed_check():
    rng = np.random.default_rng(0)
    parent = rng.normal(0.0, 0.05, 24)
    better = {"night=b": (parent + 0.1 + rng.normal(0, 0.01, 24), parent)}
    promoted = decide(better, {"night=a": (0.20, 0.21)}, 0.01, GateConfig())
    assert promoted.promote and promoted.gain_low > 0 and promoted.worst_retention_set == "night=a"

    noise = {"night=b": (parent + rng.normal(0, 0.05, 24), parent)}
    rejected = decide(noise, {"night=a": (0.10, 0.20)}, 0.9, GateConfig())
    assert not rejected.promote
    assert "gain" in rejected.reason and "night=a approval falls 0.1000" in rejected.reason
    assert "drift 0.9000" in rejected.reason
    assert rejected.gain_low <= 0 <= rejected.gain_high


def test_logged_mode_learns_a_night_from_that_nights_own_scoring_run(tmp_path, model_dir):
    root = tmp_path / "root"
    write_nights(root)
    interactions = data.read_interactions(str(root))
    for index, night in enumerate(NIGHTS):  # each night scored by its own nightly run, as the nightly flow does
        of_night = interactions.filter(pa.compute.equal(interactions["ingest_date"], night))
        scorer = make_scorer(make_model(), TransformersBackendConfig(), top_k=0)
        scores = score_interactions(of_night, scorer, make_tokenizer(), ScoreRun(f"night-{index}", "tiny", "rev0"))
        path = storage.score_shard_path(str(root), f"night-{index}", 0, 0, 1)
        os.makedirs(os.path.dirname(path))
        pq.write_table(scores, path)
    with pytest.raises(ValueError, match="one round-0 scoring run"):
        data.find_logged_run(str(root), "")  # every night: two runs, ambiguous
    night_ids = data.read_interactions(str(root), nights="2026-11-21")["interaction_id"].to_pylist()
    assert data.find_logged_run(str(root), "", night_ids) == "night-1"

    model = learn(learn_config(root, model_dir, NIGHTS[1], mode="logged"))["model"]
    assert model["status"] == "promoted" and model["nights"] == ["2026-11-21"]
    rounds = pq.read_table(root / "training_rounds" / f"run_id={model['run_id']}")
    assert rounds["mode"].to_pylist() == ["logged"] and rounds["replies"][0].as_py() > 0


def test_learn_command_on_two_nights_landed_by_the_nightly_flow(tmp_path, model_dir):
    """The user's path: `afterword nightly` lands two nights, `afterword learn` learns each, in a subprocess."""
    root = tmp_path / "root"
    gate = ["--gate.min_gain", "-100", "--gate.max_retention_drop", "100", "--gate.max_drift_kl", "100"]
    tiny = ["--train.model", str(model_dir), "--train.precision", "float32", "--train.regen.dtype", "float32"]
    small = ["--train.regen.max_new_tokens", "6", "--train.interactions_per_round", "4", "--eval.max_items", "4"]
    for offset, night in enumerate(NIGHTS):
        dump = write_jsonl(tmp_path / f"{night}.jsonl", [wildchat_record(100 * offset + i) for i in range(12)])
        landed = run_cli("nightly", "--input", str(dump), "--root", str(root), "--date", str(night), "--no-score")
        assert landed.returncode == 0, landed.stderr
    for night in NIGHTS:
        learned = run_cli("learn", "--root", str(root), *tiny, *small, *gate, "--train.eval_fraction", "0.4")
        assert learned.returncode == 0, learned.stdout + learned.stderr
        assert f"nights {night}" in learned.stdout and "promoted" in learned.stdout
    first, second = registry.read_models(str(root))
    assert second.parent_id == first.model_id and second.lineage_nights == [str(n) for n in NIGHTS]
    again = run_cli("learn", "--root", str(root), *tiny, *small, *gate, "--train.eval_fraction", "0.4")
    assert again.returncode == 0 and "nothing to learn" in again.stdout
    listed = run_cli("query", "--root", str(root), "--format", "json", "select model_id, status from models")
    assert sorted(row["model_id"] for row in json.loads(listed.stdout)) == sorted([first.model_id, second.model_id])


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "afterword_cli", *args], cwd=REPO, capture_output=True, text=True, timeout=900
    )
