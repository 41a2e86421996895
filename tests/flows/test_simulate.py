"""The simulate flow end to end on a tiny random model (every arm), and the command's one-line errors."""

from pathlib import Path

import pyarrow.parquet as pq
import pytest

import afterword_cli
from cli.run_report import write_run_report
from flows.simulate import run_simulate
from tests.helpers.training import write_tiny_model
from train.simulation import prompts as simulation_prompts
from train.simulation import simulation_report


@pytest.mark.slow
def test_both_arms_run_resume_and_are_compared(tmp_path, prefect_harness, capsys):
    model_dir = write_tiny_model(tmp_path / "tiny-model")
    root = str(tmp_path / "root")
    config = tmp_path / "sim.toml"
    config.write_text(
        f'[train]\nmodel = "{model_dir}"\ninteractions_per_round = 3\nmicro_batch_size = 2\ntensorboard = false\n'
        "[train.regen]\nmax_new_tokens = 4\n[train.hindsight]\nmax_context_tokens = 256\nmax_reply_tokens = 16\n"
        "[simulate]\neval_prompts = 3\nunrelated_prompts = 2\n"
    )
    first = run_simulate(root, ("sign-off",), 1, "preference", str(config), str(simulation_prompts.BUNDLED_PROMPTS))
    resumed = run_simulate(root, ("sign-off",), 2, "preference", str(config))  # prompts already under the root
    control = run_simulate(root, ("sign-off",), 2, "control", str(config))
    told = run_simulate(root, ("sign-off",), 1, "instruction", str(config))
    experiment = first["experiment"]
    assert first["run_id"] == resumed["run_id"] == f"{experiment}-seed0-preference"
    assert control["experiment"] == told["experiment"] == experiment
    assert [r["round"] for r in first["rounds"]] == [0, 1] and [r["round"] for r in resumed["rounds"]] == [0, 2]
    assert [r["round"] for r in control["rounds"]] == [0, 1, 2]
    rows = simulation_report.experiment_rows(root, experiment)
    runs = {arm: rows[arm][0] for arm in rows}
    assert [r["round"] for r in runs["preference"]] == [0, 1, 2] == [r["round"] for r in runs["control"]]
    assert all(r["complaint_rate"] == 1.0 for r in runs["control"][1:])  # same rule in every arm
    # One start, one seed: every arm's round 0 is the same replies.
    assert (
        runs["control"][0]["satisfaction"]
        == runs["preference"][0]["satisfaction"]
        == runs["instruction"][0]["satisfaction"]
    )
    assert runs["control"][0]["started_at"] == runs["instruction"][0]["started_at"]  # evaluated once, reused
    stored = [pq.read_table(f).to_pylist()[0] for f in (tmp_path / "root" / "training_rounds").rglob("*.parquet")]
    assert {r["arm"] for r in stored} == {"preference", "control", "instruction"}
    assert Path(told["plot"]).read_bytes()[:4] == b"\x89PNG" and told["plot"].endswith(".png")
    assert "| control | 2 | 1 |" in told["markdown"] and "instruction − control" in Path(told["table"]).read_text()
    # `afterword report --run` on the arm's regenerated replies links the experiment's report beside it.
    scoring_run = next((tmp_path / "root" / "scores").iterdir()).name.removeprefix("run_id=")
    report_path, _ = write_run_report(root, scoring_run)
    html = Path(report_path).read_text()
    assert f'<a href="{experiment}.png">' in html and f'<a href="{experiment}.md">table</a>' in html

    # The grid in one command: every seed's arms in turn; seed 0's runs are done (nothing trains again).
    argv = ["--users", "sign-off", "--rounds", "1", "--arm", "control,instruction", "--seeds", "0,1"]
    assert afterword_cli.main(["simulate", "--root", root, *argv, "--config", str(config)]) == 0
    printed = capsys.readouterr().out
    grid = [f"{experiment}-seed{seed}-{arm}" for seed in (0, 1) for arm in ("control", "instruction")]
    assert [line.removeprefix("run: ") for line in printed.splitlines() if line.startswith("run: ")] == grid
    rows = simulation_report.experiment_rows(root, experiment)
    assert sorted(rows["control"]) == sorted(rows["instruction"]) == [0, 1] and sorted(rows["preference"]) == [0]
    assert [r["round"] for r in rows["control"][0]] == [0, 1, 2]  # seed 0's control kept its 2 rounds
    assert [r["round"] for r in rows["instruction"][1]] == [0, 1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--users", "polite", "--rounds", "2"], "unknown simulated user 'polite'"),
        (["--users", "concise", "--rounds", "0"], "--rounds 0: run at least 1 round"),
        (["--users", "concise", "--rounds", "2"], "no prompts under"),
        (["--users", "concise", "--rounds", "2", "--arm", "control,teacher"], "unknown arm 'teacher'"),
    ],
)
def test_bad_input_is_a_one_line_error(tmp_path, capsys, argv, message):
    assert afterword_cli.main(["simulate", "--root", str(tmp_path), *argv]) == 2
    text = capsys.readouterr().err
    assert text.startswith("afterword simulate: error: ") and message in text and text.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "0,one"], "argument --seeds: '0,one': write whole numbers, comma-separated"),
        (["--arm", "control,"], "argument --arm: 'control,': an empty item"),
    ],
)
def test_a_bad_list_is_refused_while_parsing(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as stopped:
        afterword_cli.main(["simulate", "--root", str(tmp_path), "--users", "concise", "--rounds", "1", *argv])
    text = capsys.readouterr().err
    assert stopped.value.code == 2 and text.startswith("afterword simulate: error: ") and message in text
