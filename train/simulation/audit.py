"""What a person reads to audit a simulation: every evaluated reply (`eval_replies`) and, after each night, how
every preference seen so far is met (`simulation_nights`).

`write_eval_replies` runs inside each evaluation of `train/simulation/simulation.py`; `write_night_rows` after a night's
run is complete (`train/simulation/nights.py`). Both are plain Parquet files under the root, published in the
catalog like every other table, so `afterword query` reads them.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.io import write_table
from pipelines.store import layout as storage
from schemas import eval_replies, simulation_nights
from train.simulation.simulated_users import SimulatedUser, is_correct, word_count

if TYPE_CHECKING:
    from train.config import TrainConfig
    from train.simulation.simulated_users import SimulateConfig
    from train.simulation.simulation import Simulation

BOOTSTRAP_RESAMPLES = 1000


def write_eval_replies(simulation: Simulation, round_index: int, held_out: pa.Table, unrelated: pa.Table) -> str:
    """One round's evaluated replies: each held-out reply once per judged preference, each unrelated reply once
    with its correctness. Rewritten whole by a rerun of the round (same seed, same rows)."""
    state, sim = simulation.state, simulation.sim
    prompts = {row["prompt_id"]: row for row in simulation.prompts.to_pylist()} if simulation.prompts else {}
    common = {"run_id": state.setup.run_id, "round": round_index, "arm": sim.arm, "seed": state.cfg.seed}
    common["night"] = sim.night
    rows = []
    for reply in held_out.to_pylist():
        for name in sim.judged_users:
            user = SimulatedUser(name, sim.arm, sim.max_words)
            satisfied = user.satisfied(reply["response"], reply["response_finished"])
            rows.append(reply_row(common, "held_out", name, reply, prompts, satisfied=satisfied))
    for reply in unrelated.to_pylist():
        answers = prompts.get(reply["interaction_id"], {}).get("answers") or []
        rows.append(
            reply_row(common, "unrelated", None, reply, prompts, correct=is_correct(reply["response"], answers))
        )
    path = storage.eval_replies_path(state.cfg.root, state.setup.run_id, round_index)
    write_table(pa.Table.from_pylist(rows, schema=eval_replies.SCHEMA), path)
    return path


def copy_evaluation(root: str, source_run: str, source_round: int, run_id: str, **columns) -> pa.Table:
    """Another run's evaluated replies as this run's round 0, with `columns` (arm, night) set: the same weights,
    prompts and dice drew them (another arm's round 0, or the previous night's last round)."""
    table = pq.read_table(storage.eval_replies_path(root, source_run, source_round))
    for name, value in {"run_id": run_id, "round": 0, **columns}.items():
        field = table.schema.field(name)
        table = table.set_column(
            table.schema.get_field_index(name), field, pa.array([value] * table.num_rows, field.type)
        )
    write_table(table, storage.eval_replies_path(root, run_id, 0))
    return table


def held_out_metrics(replies: pa.Table, preference: str) -> dict:
    """Round metrics of stored held-out replies judged for `preference`: satisfaction, median words, ended share."""
    own = replies.filter(pc.and_(pc.equal(replies["split"], "held_out"), pc.equal(replies["preference"], preference)))
    rows = own.to_pylist()
    return {
        "satisfaction": sum(bool(r["satisfied"]) for r in rows) / max(len(rows), 1),
        "median_reply_words": float(statistics.median(r["reply_words"] for r in rows)) if rows else 0.0,
        "finished_share": sum(r["ended"] for r in rows) / max(len(rows), 1),
    }


def reply_row(common: dict, split: str, preference: str | None, reply: dict, prompts: dict, **verdict) -> dict:
    prompt = prompts.get(reply["interaction_id"], {})
    return {
        **common, "split": split, "preference": preference, "prompt_id": reply["interaction_id"],
        "category": prompt.get("category"), "prompt": prompt.get("text"), "reply": reply["response"],
        "reply_words": word_count(reply["response"]), "ended": reply["response_finished"],
        "satisfied": verdict.get("satisfied"), "correct": verdict.get("correct"),
    }  # fmt: skip


def night_rows(replies: pa.Table, base: dict, preferences: tuple[str, ...], drift: float) -> list[dict]:
    """`simulation_nights` rows from one round's `eval_replies`: one per preference, with a bootstrap interval
    over the prompts (seeded by the run, so a rerun writes the same figures)."""
    held_out = replies.filter(pc.equal(replies["split"], "held_out"))
    unrelated = replies.filter(pc.equal(replies["split"], "unrelated")).to_pylist()
    judged = [row["correct"] for row in unrelated if row["correct"] is not None]
    out = []
    for preference in preferences:
        own = held_out.filter(pc.equal(held_out["preference"], preference)).to_pylist()
        satisfied = np.asarray([bool(row["satisfied"]) for row in own], np.float64)
        low, high = bootstrap_interval(satisfied, seed=base["seed"])
        out.append({
            **base, "preference": preference, "satisfaction": float(satisfied.mean()) if len(own) else None,
            "satisfaction_low": low, "satisfaction_high": high, "n": len(own), "unrelated_drift_kl": drift,
            "correct_share": sum(judged) / len(judged) if judged else None, "correct_n": len(judged),
            "median_reply_words": float(statistics.median(r["reply_words"] for r in own)) if own else None,
            "ended_share": sum(r["ended"] for r in own) / len(own) if own else None,
        })  # fmt: skip
    return out


def bootstrap_interval(values: np.ndarray, seed: int) -> tuple[float | None, float | None]:
    """The 2.5th and 97.5th percentiles of the mean over `BOOTSTRAP_RESAMPLES` resamples of `values`."""
    if len(values) == 0:
        return None, None
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(BOOTSTRAP_RESAMPLES, len(values)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def write_night_rows(cfg: TrainConfig, sim: SimulateConfig, experiment: str) -> str:
    """After night `sim.night`'s run (`cfg`): its last round's replies judged by every night's preference up to
    this one (night 1 also writes night 0, the base model, from its round 0, judged by all of them)."""
    root, run_id = cfg.root, cfg.run_id
    last = pq.read_table(storage.training_round_path(root, run_id, cfg.rounds)).to_pylist()[0]
    common = {"experiment": experiment, "run_id": run_id, "arm": sim.arm, "seed": cfg.seed}
    replies = pq.read_table(storage.eval_replies_path(root, run_id, cfg.rounds))
    night = {**common, "night": sim.night, "night_user": sim.user}
    rows = night_rows(replies, night, sim.judged_users[: sim.night], last["unrelated_drift_kl"])
    if sim.night == 1:
        before = pq.read_table(storage.eval_replies_path(root, run_id, 0))
        rows = night_rows(before, {**common, "night": 0, "night_user": None}, sim.judged_users, 0.0) + rows
    path = storage.simulation_nights_path(root, run_id)
    write_table(pa.Table.from_pylist(rows, schema=simulation_nights.SCHEMA), path)
    return path
