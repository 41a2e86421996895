"""Simulation stages: bundled prompts, config checks, one simulated round on a tiny model, the comparison."""

import importlib.util
import json
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from pipelines import storage
from tests.train.conftest_train import tiny_config, write_tiny_model
from train import loop
from train import simulate as sim_stages
from train.simulated_users import COMPLAINTS, CONTROL


def load_generator():
    script = sim_stages.BUNDLED_PROMPTS.parents[1] / "generate_prompts.py"
    spec = importlib.util.spec_from_file_location("generate_prompts", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bundled_prompts_are_the_generators_output_with_disjoint_splits():
    rows = [json.loads(line) for line in sim_stages.BUNDLED_PROMPTS.read_text().splitlines()]
    assert rows == load_generator().build_prompts()  # the file is reproducible from the script
    by_split = {s: {r["text"] for r in rows if r["split"] == s} for s in sim_stages.SPLITS}
    assert len(by_split["train"]) >= 200 and len(by_split["held_out"]) >= 50 and len(by_split["unrelated"]) >= 20
    assert not by_split["train"] & by_split["held_out"] and not by_split["unrelated"] & (
        by_split["train"] | by_split["held_out"]
    )
    # No filler straddles the split: a held-out request's filler never appears in a training request.
    fillers = {r["text"].split(" ", 3)[-1] for r in rows if r["split"] == "held_out"}
    assert not any(r["text"].endswith(f) for f in fillers for r in rows if r["split"] == "train")


def test_root_without_prompts_says_how_to_add_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="no prompts under .*--prompts .*everyday_requests.jsonl"):
        sim_stages.read_prompts(str(tmp_path))


def test_prompts_with_a_missing_split_or_overlap_are_refused(tmp_path):
    bad = tmp_path / "p.jsonl"
    lines = [{"prompt_id": "a", "split": "train", "category": "x", "text": "Hi?"}]
    bad.write_text("\n".join(json.dumps(r) for r in lines))
    with pytest.raises(ValueError, match=r"no prompts in split\(s\) \['held_out', 'unrelated'\]"):
        sim_stages.import_prompts(str(tmp_path / "root"), str(bad))
    lines += [
        {"prompt_id": "b", "split": "held_out", "category": "x", "text": "Hi?"},
        {"prompt_id": "c", "split": "unrelated", "category": "x", "text": "2+2?"},
    ]
    bad.write_text("\n".join(json.dumps(r) for r in lines))
    with pytest.raises(ValueError, match="'Hi\\?' is in both train and held_out"):
        sim_stages.import_prompts(str(tmp_path / "root"), str(bad))


def test_config_rejects_bad_input_and_names_both_arms_of_one_experiment(tmp_path):
    with pytest.raises(ValueError, match="unknown simulated user 'polite'"):
        sim_stages.load_simulation_config(None, str(tmp_path), 2, "polite", False)
    with pytest.raises(ValueError, match="--rounds 0"):
        sim_stages.load_simulation_config(None, str(tmp_path), 0, "concise", False)
    config = tmp_path / "sim.toml"
    config.write_text("[train]\nlearning_rate = 1e-4\n[simulate]\nmax_words = 12\nbogus = 1\n")
    with pytest.raises(ValueError, match="unknown simulate config keys \\['bogus'\\]"):
        sim_stages.load_simulation_config(str(config), str(tmp_path), 2, "concise", False)
    config.write_text("[train]\nlearning_rate = 1e-4\n[simulate]\nmax_words = 12\n")
    pref, sim = sim_stages.load_simulation_config(str(config), str(tmp_path), 2, "concise", False)
    ctrl, sim_ctrl = sim_stages.load_simulation_config(str(config), str(tmp_path), 3, "concise", True)
    assert (
        pref.learning_rate == 1e-4
        and sim.max_words == 12
        and pref.regen.max_new_tokens == sim_stages.TRAIN_DEFAULTS["regen"]["max_new_tokens"]
    )
    assert pref.eval_fraction == 0.0 and pref.mode == "onpolicy"
    pair = sim_stages.pair_id(pref, sim)
    assert pair == sim_stages.pair_id(ctrl, sim_ctrl)  # rounds and the arm do not change the experiment
    assert (pref.run_id, ctrl.run_id) == (f"{pair}-preference", f"{pair}-control")


@pytest.mark.slow
@pytest.mark.parametrize("control", [False, True])
def test_a_round_writes_the_users_follow_ups_scores_them_and_trains(tmp_path, control):
    model_dir = write_tiny_model(tmp_path / "model")
    root = str(tmp_path / "root")
    sim_stages.import_prompts(root, str(sim_stages.BUNDLED_PROMPTS))
    cfg, sim = sim_stages.load_simulation_config(None, root, 1, "sign-off", control)
    fields = tiny_config(tmp_path, model_dir).__dict__ | {"root": root, "run_id": cfg.run_id}
    cfg = type(cfg)(**fields | {"eval_fraction": 0.0, "eval_max_interactions": 0, "interactions_per_round": 4})
    sim = sim_stages.SimulateConfig("sign-off", control, eval_prompts=3, unrelated_prompts=2)
    simulation = sim_stages.setup_simulation(cfg, sim)
    assert simulation.held_out.num_rows == 3 and simulation.unrelated.num_rows == 2
    baseline = sim_stages.baseline_round(simulation)
    assert baseline["round"] == 0 and baseline["satisfaction"] == 0.0 and baseline["unrelated_drift_kl"] == 0.0

    rows, metrics = sim_stages.simulate_round(simulation, 1)
    talk = pq.read_table(storage.simulation_path(root, cfg.run_id, 1)).to_pylist()
    pool = CONTROL if control else COMPLAINTS["sign-off"]
    # A random model never signs off: every reply draws a complaint (or its control stand-in).
    assert len(talk) == 4 and all(t["followup"] in pool and not t["satisfied"] for t in talk)
    scores = pq.read_table(metrics["scores_path"])
    assert scores.num_rows == 4 and set(scores["reply_source"].to_pylist()) == {"regenerated"}
    assert metrics["complaint_rate"] == 1.0 and len(rows) == 4
    before = [p.detach().clone() for p in simulation.state.policy.parameters()]
    train_metrics = loop.train_round(simulation.state, 1, rows)
    assert train_metrics["steps"] >= 1
    assert any(not b.equal(p) for b, p in zip(before, simulation.state.policy.parameters(), strict=True))
    evaluation = sim_stages.evaluate_simulation(simulation, 1)
    assert evaluation["unrelated_drift_kl"] > 0.0 and evaluation["arm"] == sim.arm
    row = loop.checkpoint_round(simulation.state, 1, {**metrics, **train_metrics, **evaluation}, datetime.now(UTC))
    stored = pq.read_table(storage.training_round_path(root, cfg.run_id, 1)).to_pylist()[0]
    assert stored["simulated_user"] == "sign-off" and stored["complaint_rate"] == 1.0 == row["complaint_rate"]
    assert stored["unrelated_drift_kl"] == pytest.approx(evaluation["unrelated_drift_kl"])


def test_comparison_reports_gain_and_drift_ratio_and_plots_both_arms():
    def row(r, satisfaction, drift):
        return {"round": r, "satisfaction": satisfaction, "median_reply_words": 20.0, "unrelated_drift_kl": drift,
                "complaint_rate": 0.5}  # fmt: skip

    rows = {"preference": [row(0, 0.1, 0.0), row(2, 0.6, 0.012)], "control": [row(0, 0.1, 0.0), row(2, 0.3, 0.01)]}
    text = sim_stages.comparison_markdown("simulate-concise-x", rows)
    assert "| preference | 2 | 60.0% | 20 | 0.0120 | 50% |" in text
    assert "+30.0 points" in text and "drift preference / control = 1.20" in text
    png = sim_stages.comparison_png("simulate-concise-x", rows)
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    assert "points" not in sim_stages.comparison_markdown("p", {"preference": rows["preference"], "control": []})
