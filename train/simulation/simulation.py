"""Online personalization with a simulated user: does training on the hindsight signal learn what users ask?

Each round is the on-policy trainer's (`train.loop.main`, called by `run_arm`) with one change: the follow-up
o of every sampled reply is written by a rule-based simulated user (train/simulation/simulated_users.py) after
reading that reply, instead of coming from a log (`SimulatedFollowups`, plugged into `regenerate_round`). A round:
sample replies to `interactions_per_round` training prompts with the current weights → the user writes each
follow-up → score through `pipelines.score.score_interactions` with the same weights (the nightly scoring
path) → `steps.train_round` → `evaluate_simulation` → `loop.checkpoint_round`.
The control arm runs the same loop with follow-ups that say nothing about the preference (same lengths,
same rate), so a gain over it can be attributed to the preference and not to the hindsight block alone.

Evaluation (every round, and round 0 = the starting weights): fresh samples on the held-out prompts →
satisfaction (share meeting the preference) and median length in words; fresh samples on the unrelated
prompts → drift, mean per-token KL(p_θ ‖ p_initial) (`train.evaluate.evaluate_policy`; 0 at round 0).
Both arms sample their evaluation replies with the same seed.

Under the root: `prompts/prompts.parquet` (imported once from a prompts file), `simulations/run_id=R/round-NNNN.parquet`
(the round's prompts, replies, follow-ups and verdicts), the usual score shards, checkpoints and metrics,
`training_rounds` rows with the simulation columns, and `reports/<pair>.png|.md` comparing the two arms.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.backends.model_loading import load_model
from pipelines.hindsight import add_hindsight
from pipelines.io import write_table, write_text
from pipelines.score import ScoreRun, take_sample
from pipelines.store import layout as storage
from schemas import training_rounds
from train import data, loop, model, round_replies, run_setup
from train.config import TrainConfig
from train.evaluate import evaluate_policy
from train.regen import in_process, sample_replies
from train.round_row import RoundRow
from train.simulation.audit import copy_evaluation, held_out_metrics, write_eval_replies
from train.simulation.prompts import prompt_interactions, read_prompts
from train.simulation.simulated_users import ARMS, SimulateConfig, SimulatedUser, word_count
from train.simulation.simulation_config import (  # noqa: F401  (the names callers read from here)
    TRAIN_DEFAULTS,
    arm_run_id,
    experiment_id,
    experiment_of,
    load_simulation_config,
    night_run_id,
    pair_id,
)
from train.simulation.teacher_check import competence_markdown, template_competence

if TYPE_CHECKING:
    import torch


@dataclass
class Simulation:
    """The trainer's RunState plus what the simulation adds (in memory between stages)."""

    state: loop.RunState
    sim: SimulateConfig
    held_out: pa.Table
    unrelated: pa.Table
    prompts: pa.Table | None = None  # the root's prompts: categories, texts and answers of what is evaluated
    base: torch.nn.Module | None = None  # drift reference of a later night: the base model (else the run's start)


def simulation_prompts(cfg: TrainConfig, sim: SimulateConfig) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The root's prompts as interactions: the training split, and the held-out and unrelated samples."""
    prompts = read_prompts(cfg.root)
    return (
        prompt_interactions(prompts, "train"),
        prompt_interactions(prompts, "held_out", sim.eval_prompts),
        prompt_interactions(prompts, "unrelated", sim.unrelated_prompts),
    )


def setup_simulation(cfg: TrainConfig, sim: SimulateConfig) -> Simulation:
    """Read the root's prompts and set up the trainer on the training split (resuming if checkpoints exist)."""
    train, held_out, unrelated = simulation_prompts(cfg, sim)
    return Simulation(run_setup.setup_run(cfg, interactions=train), sim, held_out, unrelated)


def run_arm(cfg: TrainConfig, sim: SimulateConfig, base_model: str | None = None) -> dict:
    """One arm until `cfg.rounds` rounds are complete: `train.loop.main` on the training prompts, with the
    simulated user's follow-ups, the simulation's evaluation and its round 0 plugged in; the loop's summary.

    `base_model`: a later night's base, the drift reference when `cfg.model` is an earlier night's weights."""
    train, held_out, unrelated = simulation_prompts(cfg, sim)
    prompts = read_prompts(cfg.root)
    base = model.frozen_copy(load_model(base_model, device=cfg.device)[0]) if base_model else None

    def simulation(state: loop.RunState) -> Simulation:
        return Simulation(state, sim, held_out, unrelated, prompts, base)

    def evaluate(state: loop.RunState, round_index: int) -> dict:
        if sim.evaluate_every_round or round_index == cfg.rounds:
            return evaluate_simulation(simulation(state), round_index)
        return {}  # an intermediate round of a run evaluated at its end only: its row's figures stay empty

    return loop.main(
        cfg,
        interactions=train,
        replies=lambda state, round_index: simulate_round(simulation(state), round_index),
        evaluate=evaluate,
        before_rounds=lambda state: [baseline_round(simulation(state))],
    )


@dataclass(frozen=True)
class SimulatedFollowups:
    """The simulated user answering a round's sampled replies (`train.run_state.Followups`), stored per round."""

    user: SimulatedUser
    seed: int  # the run's seed: the user's wording is drawn from it and the reply's round and id
    root: str
    run_id: str

    def path(self, round_index: int) -> str:
        return storage.simulation_path(self.root, self.run_id, round_index)

    def sampling_prompts(self, chosen: pa.Table) -> pa.Table:
        """The sft arm samples what the instruction teacher writes: each request with the instruction appended
        (its student context kept aside for `answer`); the other arms sample the requests themselves."""
        if self.user.arm != "sft":
            return chosen
        told = [add_hindsight(context, self.user.instruction, "appended") for context in chosen["context"].to_pylist()]
        aside = chosen.append_column("student_context", chosen["context"])
        return aside.set_column(
            aside.schema.get_field_index("context"), "context", pa.array(told, chosen["context"].type)
        )

    def answer(self, sampled: pa.Table, round_index: int) -> pa.Table:
        if "student_context" in sampled.column_names:  # the sft arm: the student is trained without the instruction
            index = sampled.schema.get_field_index("context")
            sampled = sampled.set_column(index, "context", sampled["student_context"]).drop(["student_context"])
        return with_followups(sampled, self.user, self.seed, round_index)

    def metrics(self, answered: pa.Table) -> dict:
        satisfied = answered["satisfied"].to_pylist()
        return {"complaint_rate": 1.0 - sum(satisfied) / max(len(satisfied), 1)}


def simulate_round(simulation: Simulation, round_index: int) -> tuple[list[data.TrainingRow], dict]:
    """Sample the round's replies, let the simulated user answer each, score them; advances the cursor
    (`train.round_replies.regenerate_round` with the user's follow-ups)."""
    state, user = simulation.state, simulation.sim.simulated_user
    followups = SimulatedFollowups(user, state.cfg.seed, state.cfg.root, state.setup.run_id)
    return round_replies.regenerate_round(state, round_index, followups)


def with_followups(sampled: pa.Table, user: SimulatedUser, seed: int, round_index: int) -> pa.Table:
    """`sample_replies`' table with the user's follow-up of each reply and whether it met the preference."""
    written = [
        user.followup(reply, seed, f"{round_index}:{interaction_id}")
        for reply, interaction_id in zip(
            sampled["response"].to_pylist(), sampled["interaction_id"].to_pylist(), strict=True
        )
    ]
    dialogue = sampled.set_column(
        sampled.schema.get_field_index("followup"), "followup", pa.array([o for o, _ in written], pa.string())
    )
    return dialogue.append_column("satisfied", pa.array([ok for _, ok in written], pa.bool_()))


def evaluation_config(cfg: TrainConfig, sim: SimulateConfig) -> TrainConfig:
    """The trainer's settings with the evaluation's length limit (long enough for replies to end on their own)."""
    return replace(cfg, regen=replace(cfg.regen, max_new_tokens=sim.eval_max_new_tokens))


def sample_held_out(simulation: Simulation) -> pa.Table:
    """Fresh replies to the held-out prompts; one seed for every round and arm (they differ by weights only)."""
    state = simulation.state
    cfg = evaluation_config(state.cfg, simulation.sim)
    seed = cfg.seed * 1_000_003 + 7_919
    held_out = simulation.held_out
    return sample_replies(state.policy, state.setup.tokenizer, held_out, in_process(cfg.regen), cfg.hindsight, seed)


def evaluate_simulation(simulation: Simulation, round_index: int, sampled: pa.Table | None = None) -> dict:
    """Held-out satisfaction, median words and share ended on their own; drift on the unrelated prompts.

    `sampled`: `sample_held_out`'s replies when the caller already drew them.
    """
    state, sim = simulation.state, simulation.sim
    cfg = evaluation_config(state.cfg, sim)
    started = time.perf_counter()
    seed = cfg.seed * 1_000_003 + 7_919
    sampled = sample_held_out(simulation) if sampled is None else sampled
    replies = sampled["response"].to_pylist()
    finished = sampled["response_finished"].to_pylist()
    user = sim.simulated_user
    unrelated = sample_replies(
        state.policy, state.setup.tokenizer, simulation.unrelated, in_process(cfg.regen), cfg.hindsight, seed
    )
    drift = unrelated_drift(simulation, round_index, unrelated) if round_index or simulation.base is not None else 0.0
    write_eval_replies(simulation, round_index, sampled, unrelated)
    return {
        "simulated_user": sim.user,
        "arm": sim.arm,
        "satisfaction": sum(map(user.satisfied, replies, finished)) / max(len(replies), 1),
        "median_reply_words": float(statistics.median(word_count(r) for r in replies)) if replies else 0.0,
        "finished_share": sum(finished) / max(len(finished), 1),
        "unrelated_drift_kl": drift,
        "time/eval_s": time.perf_counter() - started,
    }


def unrelated_drift(simulation: Simulation, round_index: int, unrelated: pa.Table) -> float:
    """Mean per-token KL on the unrelated replies from the base model (a later night's `base`, else the run's
    starting weights, which round 0 of night 1 is: 0 without computing)."""
    state = simulation.state
    cfg = evaluation_config(state.cfg, simulation.sim)
    judge = ScoreRun(
        f"{state.setup.run_id}-eval", state.setup.model_id, state.setup.base_revision, max(round_index, 1),
        "regenerated", cfg.hindsight,
    )  # fmt: skip
    reference = simulation.base if simulation.base is not None else state.reference
    seed = cfg.seed * 1_000_003 + 7_919
    metrics = evaluate_policy(
        state.policy, reference, state.setup.tokenizer, simulation.unrelated, judge, seed, cfg, unrelated
    )
    return metrics.get("eval/drift_kl", 0.0)


def baseline_round(simulation: Simulation) -> dict:
    """Round 0: evaluate the starting weights and store that row (once; a rerun reads it back). Evaluated
    already, it is copied: another arm's round 0 from the same start, or the previous night's last round."""
    state, cfg = simulation.state, simulation.state.cfg
    path = storage.training_round_path(cfg.root, state.setup.run_id, 0)
    if os.path.exists(path):
        return pq.read_table(path).to_pylist()[0]
    sibling = sibling_baseline(simulation)
    if sibling is not None:  # the same weights, prompts and dice: another arm's round 0 is this one's
        row = {**sibling, "run_id": state.setup.run_id, "arm": simulation.sim.arm}
        copy_evaluation(cfg.root, sibling["run_id"], 0, state.setup.run_id, arm=simulation.sim.arm)
        write_table(pa.Table.from_pylist([row], schema=training_rounds.SCHEMA), path)
        return row
    started_at = datetime.now(UTC)
    metrics = previous_night_evaluation(simulation)
    if metrics is None:
        sampled = sample_held_out(simulation)
        metrics = evaluate_simulation(simulation, 0, sampled)
        check_teacher(simulation, sampled)
    row = RoundRow(
        run_id=state.setup.run_id, round=0, mode=cfg.mode, model_id=state.setup.model_id,
        model_revision=state.setup.base_revision, teacher=cfg.teacher, loss_name=cfg.loss, steps=0,
        global_step=0, replies=0, tokens=0, learning_rate=0.0, started_at=started_at,
        finished_at=datetime.now(UTC),
        **{k: v for k, v in metrics.items() if k in RoundRow.columns()},
    )  # fmt: skip
    write_table(row.to_table(), path)
    return row.to_row()


def previous_night_evaluation(simulation: Simulation) -> dict | None:
    """A later night's round 0 is the previous night's last evaluation: the same weights (that night's last
    checkpoint), prompts and dice. Its replies are copied as this run's round 0 and judged by this night's
    preference; None when night 1, or when the previous night's run did not end at the weights this one starts from.
    """
    state, sim = simulation.state, simulation.sim
    if sim.night == 1:
        return None
    source = night_run_id(state.setup.run_id.removesuffix(f"-night{sim.night}"), sim.night - 1)
    root, rounds = state.cfg.root, state.cfg.rounds
    row_path, replies_path = (
        storage.training_round_path(root, source, rounds),
        storage.eval_replies_path(root, source, rounds),
    )
    if not (os.path.exists(row_path) and os.path.exists(replies_path)):
        return None
    last = pq.read_table(row_path).to_pylist()[0]
    if os.path.normpath(last["checkpoint_path"]) != os.path.normpath(state.cfg.model) or last["satisfaction"] is None:
        return None
    replies = copy_evaluation(root, source, rounds, state.setup.run_id, night=sim.night)
    return {
        "simulated_user": sim.user, "arm": sim.arm, **held_out_metrics(replies, sim.user),
        "unrelated_drift_kl": last["unrelated_drift_kl"], "time/eval_s": 0.0,
    }  # fmt: skip


def sibling_baseline(simulation: Simulation) -> dict | None:
    """Round 0 of another arm of the same pair under this root, when it evaluated the same starting weights.

    Every arm of a pair samples its evaluation replies from the same weights with the same seed, prompts and
    settings (the pair's name hashes them; the instruction arm's template changes no student prompt), so
    their round 0 is one evaluation, not three.
    """
    state = simulation.state
    pair = state.setup.run_id.rsplit("-", 1)[0]
    for arm in ARMS:
        path = storage.training_round_path(state.cfg.root, arm_run_id(pair, arm), 0)
        replies = storage.eval_replies_path(state.cfg.root, arm_run_id(pair, arm), 0)
        if arm != simulation.sim.arm and os.path.exists(path) and os.path.exists(replies):
            row = pq.read_table(path).to_pylist()[0]
            if row["model_revision"] == state.setup.base_revision:
                return row
    return None


def check_teacher(simulation: Simulation, sampled: pa.Table) -> str:
    """Once per experiment: the teacher-competence table of every template on `competence_replies` of the
    round-0 replies (a stable sample).

    Written to `reports/<experiment>-competence.md` by whichever arm starts first (every arm starts from the
    same weights and draws the same replies); returns its path.
    """
    state, cfg, user = simulation.state, simulation.state.cfg, simulation.sim.simulated_user
    path = storage.report_path(cfg.root, f"{experiment_of(state.setup.run_id)}-competence", "md")
    replies = simulation.sim.competence_replies
    if replies and not os.path.exists(path):
        judge = ScoreRun(
            f"{state.setup.run_id}-competence", state.setup.model_id, state.setup.base_revision, 1, "regenerated"
        )
        sample = take_sample(sampled, replies)
        rows = template_competence(state.policy, state.setup.tokenizer, sample, user, cfg.hindsight, judge, cfg.seed)
        write_text(competence_markdown(user, rows), path)
    return path
