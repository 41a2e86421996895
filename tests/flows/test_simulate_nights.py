"""`afterword simulate --users a,b`: one night per preference, each from the previous night's weights, every
evaluated reply stored and judged by every night's preference, and a `simulation_nights` row per preference
seen so far."""

import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from flows.simulate import run_simulate
from pipelines.store import layout as storage
from pipelines.store.query import query_catalog
from tests.helpers.training import write_tiny_model
from train.simulation import prompts as simulation_prompts


def tiny_simulation(tmp_path: Path, train: str, regen: str, simulate: str) -> tuple[str, Path]:
    """A root and a config for the tiny random model, with the given extra [train], [train.regen], [simulate] lines."""
    model_dir = write_tiny_model(tmp_path / "tiny-model")
    config = tmp_path / "sim.toml"
    config.write_text(
        f'[train]\nmodel = "{model_dir}"\ninteractions_per_round = 3\nmicro_batch_size = 2\ntensorboard = false\n'
        f"{train}[train.regen]\nmax_new_tokens = 4\n{regen}[train.hindsight]\nmax_context_tokens = 256\n"
        "max_reply_tokens = 16\n[simulate]\neval_prompts = 3\neval_max_new_tokens = 6\ncompetence_replies = 0\n"
        f"{simulate}"
    )
    return str(tmp_path / "root"), config


@pytest.mark.slow
def test_two_nights_chain_weights_store_every_reply_and_measure_retention(tmp_path, prefect_harness):
    root, config = tiny_simulation(
        tmp_path, 'precision = "float32"\n', 'dtype = "float32"\n', "unrelated_prompts = 6\n"
    )
    users = ("concise", "sign-off")
    prompts = str(simulation_prompts.BUNDLED_PROMPTS)
    stored_prompts = [json.loads(line) for line in simulation_prompts.BUNDLED_PROMPTS.read_text().splitlines()]
    result = run_simulate(root, users, 1, "preference", str(config), prompts)
    night1, night2 = (night["run_id"] for night in result["nights"])
    assert night2 == f"{night1}-night2" and night1.endswith("-seed0-preference")

    # Night 2 trained from night 1's final weights; its drift is measured from the base model.
    first = pq.read_table(storage.training_round_path(root, night1, 1)).to_pylist()[0]
    second = pq.read_table(storage.training_round_path(root, night2, 0)).to_pylist()[0]
    assert second["model_id"].endswith(storage.round_name(1)) and night1 in second["model_id"]
    assert first["simulated_user"] == "concise" and second["simulated_user"] == "sign-off"
    assert second["unrelated_drift_kl"] > 0.0  # night 2's starting weights are not the base

    # Every evaluated reply: held-out ones once per preference of the run, unrelated ones with correctness.
    for run_id in (night1, night2):
        for round_index in (0, 1):
            replies = pq.read_table(storage.eval_replies_path(root, run_id, round_index))
            held_out = replies.filter(pc.equal(replies["split"], "held_out"))
            assert sorted(held_out["preference"].to_pylist()) == sorted(list(users) * 3)
            unrelated = replies.filter(pc.equal(replies["split"], "unrelated")).to_pylist()
            assert len(unrelated) == 6 and all(r["preference"] is None and r["satisfied"] is None for r in unrelated)
            answered = {r["prompt_id"] for r in unrelated if r["correct"] is not None}
            with_answers = {p["prompt_id"] for p in stored_prompts if p.get("answers")}
            assert answered == {r["prompt_id"] for r in unrelated} & with_answers
            # Satisfied means ended on its own, non-empty and made of words: a tiny random model rarely is.
            for row in held_out.to_pylist():
                assert not row["satisfied"] or (row["ended"] and row["reply"].strip())

    # After each night: every preference seen so far; night 0 (the base) judged by all of them.
    nights = {}
    for run_id in (night1, night2):
        for row in pq.read_table(storage.simulation_nights_path(root, run_id)).to_pylist():
            nights[(row["night"], row["preference"])] = row
    assert sorted(nights) == [(0, "concise"), (0, "sign-off"), (1, "concise"), (2, "concise"), (2, "sign-off")]
    last = pq.read_table(storage.eval_replies_path(root, night2, 1))
    concise = last.filter(pc.and_(pc.equal(last["split"], "held_out"), pc.equal(last["preference"], "concise")))
    assert nights[(2, "concise")]["satisfaction"] == pytest.approx(sum(concise["satisfied"].to_pylist()) / 3)
    low, high = nights[(2, "concise")]["satisfaction_low"], nights[(2, "concise")]["satisfaction_high"]
    assert 0.0 <= low <= nights[(2, "concise")]["satisfaction"] <= high <= 1.0
    assert nights[(2, "sign-off")]["night_user"] == "sign-off" and nights[(0, "concise")]["night_user"] is None

    # The night-by-night table: one line per (night, preference) measured, retention of night 1's preference.
    table = Path(result["nights_table"]).read_text()
    assert (
        "| preference | 2 | sign-off | concise | 1 |" in table and "| preference | 0 | (base) | sign-off | 1 |" in table
    )
    assert "- preference: concise after night 2 − after night 1 = " in table

    # A rerun trains nothing again and writes the same rows; the catalog reads both tables.
    again = run_simulate(root, users, 1, "preference", str(config))
    assert [n["run_id"] for n in again["nights"]] == [night1, night2]
    assert pq.read_table(storage.simulation_nights_path(root, night2)).to_pylist() == [
        nights[(2, "concise")],
        nights[(2, "sign-off")],
    ]
    _, rows, _ = query_catalog(root, "select night, count(*) from simulation_nights group by night order by night", 0)
    assert [tuple(r) for r in rows] == [(0, 2), (1, 1), (2, 2)]
    _, rows, _ = query_catalog(root, "select count(*) from eval_replies", 0)
    assert rows[0][0] == 2 * 2 * (3 * 2 + 6)


@pytest.mark.slow
def test_nights_evaluated_at_their_end_copy_the_last_evaluation_as_the_next_round_zero(tmp_path, prefect_harness):
    root, config = tiny_simulation(tmp_path, "", "", "unrelated_prompts = 4\nevaluate_every_round = false\n")
    users = ("concise", "no-lists")
    result = run_simulate(root, users, 2, "control", str(config), str(simulation_prompts.BUNDLED_PROMPTS))
    night1, night2 = (night["run_id"] for night in result["nights"])

    for run_id in (night1, night2):  # round 0 and the night's last round evaluated, the round between not
        rows = [pq.read_table(storage.training_round_path(root, run_id, n)).to_pylist()[0] for n in (0, 1, 2)]
        assert [row["satisfaction"] is None for row in rows] == [False, True, False]
        assert rows[1]["steps"] > 0 and not Path(storage.eval_replies_path(root, run_id, 1)).exists()

    # Night 2 starts from night 1's last checkpoint: that evaluation is its round 0, judged by its own preference.
    last = pq.read_table(storage.eval_replies_path(root, night1, 2))
    start = pq.read_table(storage.eval_replies_path(root, night2, 0))
    columns = ["split", "preference", "prompt_id", "reply", "satisfied", "correct"]
    assert start.select(columns).to_pylist() == last.select(columns).to_pylist()
    assert set(start["run_id"].to_pylist()) == {night2} and set(start["night"].to_pylist()) == {2}
    assert set(start["round"].to_pylist()) == {0}
    night1_last = pq.read_table(storage.training_round_path(root, night1, 2)).to_pylist()[0]
    night2_start = pq.read_table(storage.training_round_path(root, night2, 0)).to_pylist()[0]
    assert night2_start["unrelated_drift_kl"] == night1_last["unrelated_drift_kl"] > 0.0
    judged = [r for r in start.to_pylist() if r["split"] == "held_out" and r["preference"] == "no-lists"]
    assert night2_start["simulated_user"] == "no-lists"
    assert night2_start["satisfaction"] == pytest.approx(sum(r["satisfied"] for r in judged) / 3)

    # The nights' figures come from each night's last round, as with every round evaluated.
    _, rows, _ = query_catalog(root, "select night, count(*) from simulation_nights group by night order by night", 0)
    assert [tuple(r) for r in rows] == [(0, 2), (1, 1), (2, 2)]
