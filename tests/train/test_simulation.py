"""Simulation stages: bundled prompts, config checks, one simulated round on a tiny model, the comparison."""

import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.io import write_table
from pipelines.store import layout as storage
from schemas import training_rounds
from tests.helpers.training import tiny_config, write_tiny_model
from train import loop, steps
from train.simulation import prompts as simulation_prompts
from train.simulation import simulation as sim_stages
from train.simulation import simulation_report
from train.simulation.simulated_users import COMPLAINTS, CONTROL, INSTRUCTIONS, SimulatedUser


def load_generator():
    script = simulation_prompts.BUNDLED_PROMPTS.parents[1] / "generate_prompts.py"
    spec = importlib.util.spec_from_file_location("generate_prompts", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bundled_prompts_are_the_generators_output_with_disjoint_splits():
    rows = [json.loads(line) for line in simulation_prompts.BUNDLED_PROMPTS.read_text().splitlines()]
    assert rows == load_generator().build_prompts()  # the file is reproducible from the script
    by_split = {s: {r["text"] for r in rows if r["split"] == s} for s in simulation_prompts.SPLITS}
    assert len(by_split["train"]) >= 200 and len(by_split["held_out"]) >= 50 and len(by_split["unrelated"]) >= 20
    assert not by_split["train"] & by_split["held_out"] and not by_split["unrelated"] & (
        by_split["train"] | by_split["held_out"]
    )
    # No filler straddles the split: a held-out request's filler never appears in a training request.
    fillers = {r["text"].split(" ", 3)[-1] for r in rows if r["split"] == "held_out"}
    assert not any(r["text"].endswith(f) for f in fillers for r in rows if r["split"] == "train")


def test_root_without_prompts_says_how_to_add_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="no prompts under .*--prompts .*everyday_requests.jsonl"):
        simulation_prompts.read_prompts(str(tmp_path))


def test_prompts_with_a_missing_split_or_overlap_are_refused(tmp_path):
    bad = tmp_path / "p.jsonl"
    lines = [{"prompt_id": "a", "split": "train", "category": "x", "text": "Hi?"}]
    bad.write_text("\n".join(json.dumps(r) for r in lines))
    with pytest.raises(ValueError, match=r"no prompts in split\(s\) \['held_out', 'unrelated'\]"):
        simulation_prompts.import_prompts(str(tmp_path / "root"), str(bad))
    lines += [
        {"prompt_id": "b", "split": "held_out", "category": "x", "text": "Hi?"},
        {"prompt_id": "c", "split": "unrelated", "category": "x", "text": "2+2?"},
    ]
    bad.write_text("\n".join(json.dumps(r) for r in lines))
    with pytest.raises(ValueError, match="'Hi\\?' is in both train and held_out"):
        simulation_prompts.import_prompts(str(tmp_path / "root"), str(bad))


def test_config_rejects_bad_input_and_names_both_arms_of_one_experiment(tmp_path):
    with pytest.raises(ValueError, match="unknown simulated user 'polite'"):
        sim_stages.load_simulation_config(None, str(tmp_path), 2, ("polite",), "preference")
    with pytest.raises(ValueError, match="--rounds 0"):
        sim_stages.load_simulation_config(None, str(tmp_path), 0, ("concise",), "preference")
    config = tmp_path / "sim.toml"
    config.write_text("[train]\nlearning_rate = 1e-4\n[simulate]\nmax_words = 12\nbogus = 1\n")
    with pytest.raises(ValueError, match=r"\[simulate\] has unknown keys \['bogus'\]"):
        sim_stages.load_simulation_config(str(config), str(tmp_path), 2, ("concise",), "preference")
    config.write_text("[train]\nlearning_rate = 1e-4\n[simulate]\nmax_words = 12\n")
    pref, sim = sim_stages.load_simulation_config(str(config), str(tmp_path), 2, ("concise",), "preference")
    ctrl, sim_ctrl = sim_stages.load_simulation_config(str(config), str(tmp_path), 3, ("concise",), "control")
    told, sim_told = sim_stages.load_simulation_config(str(config), str(tmp_path), 3, ("concise",), "instruction")
    assert (
        pref.learning_rate == 1e-4
        and sim.max_words == 12
        and pref.regen.max_new_tokens == sim_stages.TRAIN_DEFAULTS["regen"]["max_new_tokens"]
    )
    assert pref.eval_fraction == 0.0 and pref.mode == "onpolicy"
    pair = sim_stages.pair_id(pref, sim)
    assert pair == sim_stages.pair_id(ctrl, sim_ctrl)  # rounds and the arm do not change the experiment
    assert (pref.run_id, ctrl.run_id, told.run_id) == (f"{pair}-preference", f"{pair}-control", f"{pair}-instruction")
    # The instruction arm's teacher reads the instruction appended to the request; the others keep the block.
    assert told.hindsight.template == "appended" and pref.hindsight.template == ctrl.hindsight.template == "paper"
    assert sim_stages.experiment_of(told.run_id) == sim_stages.experiment_of(pref.run_id) == pair.rsplit("-seed", 1)[0]
    other_seed, _ = sim_stages.load_simulation_config(str(config), str(tmp_path), 3, ("concise",), "control",
                                                      {"train.seed": "1"})  # fmt: skip
    assert sim_stages.experiment_of(other_seed.run_id) == sim_stages.experiment_of(pref.run_id)
    assert other_seed.run_id != ctrl.run_id
    at_end, sim_at_end = sim_stages.load_simulation_config(str(config), str(tmp_path), 2, ("concise",), "preference",
                                                           {"simulate.evaluate_every_round": "false"})  # fmt: skip
    assert not sim_at_end.evaluate_every_round and sim.evaluate_every_round  # evaluated at the end only: its own
    assert sim_stages.experiment_of(at_end.run_id) != sim_stages.experiment_of(pref.run_id)  # experiment
    config.write_text("[train.hindsight]\nshow_earlier_reply = true\n")
    with pytest.raises(ValueError, match="show_earlier_reply: simulation prompts have no earlier reply"):
        sim_stages.load_simulation_config(str(config), str(tmp_path), 2, ("concise",), "preference")


@pytest.mark.slow
@pytest.mark.parametrize("arm", ["preference", "control", "instruction", "sft"])
def test_a_round_writes_the_users_follow_ups_scores_them_and_trains(tmp_path, arm):
    model_dir = write_tiny_model(tmp_path / "model")
    root = str(tmp_path / "root")
    simulation_prompts.import_prompts(root, str(simulation_prompts.BUNDLED_PROMPTS))
    cfg, sim = sim_stages.load_simulation_config(None, root, 1, ("sign-off",), arm)
    fields = tiny_config(tmp_path, model_dir).__dict__ | {"root": root, "run_id": cfg.run_id}
    fields |= {"hindsight": cfg.hindsight, "loss": cfg.loss}
    assert (cfg.loss == "sft") == (arm == "sft")
    cfg = type(cfg)(**fields | {"eval_fraction": 0.0, "eval_max_interactions": 0, "interactions_per_round": 4})
    sim = sim_stages.SimulateConfig("sign-off", arm, eval_prompts=3, unrelated_prompts=2, eval_max_new_tokens=6)
    simulation = sim_stages.setup_simulation(cfg, sim)
    assert simulation.held_out.num_rows == 3 and simulation.unrelated.num_rows == 2
    baseline = sim_stages.baseline_round(simulation)
    assert baseline["round"] == 0 and baseline["satisfaction"] == 0.0 and baseline["unrelated_drift_kl"] == 0.0
    assert 0.0 <= baseline["finished_share"] <= 1.0
    competence = storage.report_path(root, f"{sim_stages.experiment_of(cfg.run_id)}-competence", "md")
    text = Path(competence).read_text()
    assert all(f"| {teacher} |" in text for teacher in ("paper", "offline", "online", "appended", "instruction"))

    rows, metrics = sim_stages.simulate_round(simulation, 1)
    talk = pq.read_table(storage.simulation_path(root, cfg.run_id, 1)).to_pylist()
    told = [INSTRUCTIONS["sign-off"]]
    pool = {"control": CONTROL, "preference": COMPLAINTS["sign-off"], "instruction": told, "sft": told}[arm]
    # A random model never signs off: every reply draws a complaint (its control stand-in, or the instruction).
    assert len(talk) == 4 and all(t["followup"] in pool and not t["satisfied"] for t in talk)
    # The student never sees the instruction, in any arm (the sft arm's replies were sampled with it).
    requests = {r["interaction_id"]: r["context"] for r in simulation.state.setup.interactions.to_pylist()}
    assert all(t["context"] == requests[t["interaction_id"]] for t in talk)
    # The scored ids are the drawn ids, whole: a reply cut at the limit has no end-of-turn marker appended.
    for t, score in zip(talk, pq.read_table(metrics["scores_path"]).sort_by("interaction_id").to_pylist(), strict=True):
        assert score["token_ids"] == t["response_token_ids"] and score["reply_truncated"] == (
            not t["response_finished"]
        )
    scores = pq.read_table(metrics["scores_path"])
    assert scores.num_rows == 4 and set(scores["reply_source"].to_pylist()) == {"regenerated"}
    assert metrics["complaint_rate"] == 1.0 and len(rows) == 4
    before = [p.detach().clone() for p in simulation.state.policy.parameters()]
    train_metrics = steps.train_round(simulation.state, 1, rows)
    assert train_metrics["steps"] >= 1
    assert any(not b.equal(p) for b, p in zip(before, simulation.state.policy.parameters(), strict=True))
    evaluation = sim_stages.evaluate_simulation(simulation, 1)
    assert evaluation["unrelated_drift_kl"] > 0.0 and evaluation["arm"] == sim.arm == arm
    row = loop.checkpoint_round(simulation.state, 1, {**metrics, **train_metrics, **evaluation}, datetime.now(UTC))
    stored = pq.read_table(storage.training_round_path(root, cfg.run_id, 1)).to_pylist()[0]
    assert stored["simulated_user"] == "sign-off" and stored["complaint_rate"] == 1.0 == row["complaint_rate"]
    assert stored["arm"] == arm and stored["truncated_share"] == metrics["regen/truncated_share"]
    assert stored["student_entropy"] > 0.0
    assert stored["unrelated_drift_kl"] == pytest.approx(evaluation["unrelated_drift_kl"])


def test_report_gives_every_arm_mean_and_interval_over_seeds_and_the_gain_over_control(tmp_path):
    root = str(tmp_path)
    experiment = "simulate-concise-x"

    def write(seed, arm, rnd, satisfaction, drift):
        row = {"run_id": f"{experiment}-seed{seed}-{arm}", "round": rnd, "satisfaction": satisfaction,
               "median_reply_words": 20.0, "unrelated_drift_kl": drift, "finished_share": 0.9, "arm": arm}  # fmt: skip
        table = pa.Table.from_pylist([row], schema=training_rounds.SCHEMA)
        write_table(table, storage.training_round_path(root, row["run_id"], rnd))

    for seed, (told, ctrl) in enumerate([(0.6, 0.2), (0.7, 0.3), (0.8, 0.3)]):
        for arm, value in (("instruction", told), ("control", ctrl)):
            write(seed, arm, 0, 0.1, 0.0)
            write(seed, arm, 3, value, 0.02)
    write(0, "instruction", 3, 0.6, 0.02)
    rows = simulation_report.experiment_rows(root, experiment)
    assert set(rows) == {"instruction", "control"} and sorted(rows["control"]) == [0, 1, 2]
    text = simulation_report.report_markdown(experiment, rows)
    # Per-seed differences 40, 40, 50: mean 43.3, sd 5.77, t(2) = 4.303 → half-width 14.3.
    assert "instruction − control satisfaction = +43.3 ± 14.3 points" in text
    assert "| instruction | 3 | 3 | 70.0% ± 24.8 |" in text
    png = simulation_report.report_png(experiment, rows)
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    assert simulation_report.mean_interval([1.0])[0] == 1.0


def test_the_sft_arm_samples_what_the_instruction_teacher_writes_and_trains_the_student_without_it():
    user = SimulatedUser("concise", "sft")
    followups = sim_stages.SimulatedFollowups(user, 0, "/unused", "run")
    chosen = simulation_prompts.prompt_interactions(
        pa.Table.from_pylist(
            [{"prompt_id": "a", "split": "train", "category": "x", "text": "How do I boil an egg?", "answers": []}],
            schema=simulation_prompts.PROMPTS_SCHEMA,
        ),
        "train",
    )
    prompts = followups.sampling_prompts(chosen)
    assert prompts["context"][0].as_py()[-1]["content"] == "How do I boil an egg?\n\n" + user.instruction
    sampled = prompts.append_column("response_finished", pa.array([True]))  # as sample_replies adds it
    index = sampled.schema.get_field_index("response")
    answered = followups.answer(sampled.set_column(index, "response", pa.array(["Boil it."])), 1)
    assert answered["context"].to_pylist() == chosen["context"].to_pylist() and "student_context" not in answered
    assert answered["followup"].to_pylist() == [user.instruction]
    assert (
        sim_stages.SimulatedFollowups(SimulatedUser("concise", "instruction"), 0, "", "")
        .sampling_prompts(chosen)
        .equals(chosen)
    )
