"""The refresh trainer: `main(cfg)` runs rounds of regenerate → score → train → evaluate → checkpoint.

Reads interactions (and, in logged mode, round-0 score shards) under `cfg.root`; writes regenerated score
shards (`scores/run_id=<run>/round=NNNN/`), checkpoints (`checkpoints/run_id=<run>/round-NNNN/`), metrics
(`training/<run>/metrics.jsonl`) and one `training_rounds` row per round (paths from `pipelines/store/layout.py`).
`main` owns the one round loop: `setup_run` (train/run_setup.py), then `run_round` per round: its replies
(`regenerate_round`, train/round_replies.py) → its steps (`train_round`, train/steps.py) → `evaluate_round` →
`checkpoint_round` (its `RoundRow`, train/round_row.py). The round's replies and its evaluation are plain
callables, so `afterword simulate` is this loop with a simulated user's follow-ups and its own evaluation
plugged in (train/simulation/simulation.py); the `refresh` Prefect flow calls `main` and only adds a markdown
artifact per round.
Rerunning the same config resumes after the newest complete checkpoint. `afterword refresh --root R` runs it;
so does `python -m train.loop --root R --rounds N [--config FILE]`, also under `torchrun --nproc_per_node N`:
then every rank trains on its own micro-batches of each step, gradients are summed across ranks, and rank 0
alone samples, evaluates and writes (shards, checkpoints, metrics, training_rounds rows).

Axis letters: B replies in a micro-batch, L prefix + reply tokens, T reply tokens, V vocabulary, K top-K.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import torch.distributed as dist

from pipelines.backends.model_loading import weights_revision
from pipelines.io import code_version, write_table
from pipelines.progress import report
from pipelines.score import ScoreRun
from pipelines.store import layout as storage
from pipelines.store.lock import writer_lock
from pipelines.store.publish import publish_catalog
from train import checkpoint, distributed
from train.config import TrainConfig, parse_train_args
from train.evaluate import evaluate_policy
from train.metrics import describe_time_split, time_split
from train.round_replies import regenerate_round, sampling_seed
from train.round_row import SIMULATION_COLUMNS, RoundRow
from train.run_setup import setup_run
from train.run_state import RoundEvaluation, RoundReplies, RunState
from train.steps import train_round

log = logging.getLogger(__name__)


def evaluate_round(state: RunState, round_index: int) -> dict:
    """Approval, drift and length of fresh samples on the held-out interactions (rank 0 only; others get {})."""
    # ----------------------------------------------------------------- eval/regen: evaluation
    cfg = state.cfg
    if state.setup.rank:
        return {}
    started = time.perf_counter()
    plain = replace(cfg.hindsight, show_earlier_reply=False)  # the judge's own template, same rendering
    seed = sampling_seed(cfg, round_index) + 7_919  # eval samples never equal training samples
    judge = ScoreRun(
        f"{state.setup.run_id}-eval",
        state.setup.model_id,
        state.setup.base_revision,
        max(round_index, 1),
        "regenerated",
        plain,
    )
    metrics = evaluate_policy(
        state.policy, state.reference, state.setup.tokenizer, state.setup.held_out, judge, seed, cfg
    )
    metrics["time/eval_s"] = time.perf_counter() - started
    return metrics


def checkpoint_round(state: RunState, round_index: int, metrics: dict, started_at: datetime) -> dict:
    """Save the round's checkpoint, then its training_rounds row and round metrics line (rank 0 writes)."""
    # ----------------------------------------------------------------- checkpoint
    cfg, setup, progress = state.cfg, state.setup, state.progress
    path = storage.checkpoint_path(cfg.root, setup.run_id, round_index)
    if setup.rank:  # wait for rank 0's checkpoint, then take its revision (the weights are the same)
        dist.barrier()
        progress.revision, progress.completed_rounds = weights_revision(Path(path)), round_index
        return {"run_id": setup.run_id, "round": round_index, "checkpoint_path": path}
    trainer_state = {
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(),
        "cursor": asdict(progress.cursor),
        "global_step": progress.global_step,
        "round": round_index,
        "total_steps": setup.steps_per_round * cfg.rounds,
    }
    meta = {"run_id": setup.run_id, "round": round_index, "global_step": progress.global_step,
            "model_id": setup.model_id, "base_revision": setup.base_revision, "code_version": code_version(),
            "config": cfg.to_dict(), "metrics": metrics, "written_at": datetime.now(UTC).isoformat()}  # fmt: skip
    save_started = time.perf_counter()
    checkpoint.save_checkpoint(
        path, state.policy, setup.tokenizer, trainer_state, meta, state.teacher if cfg.teacher == "ema" else None
    )
    checkpoint.prune_checkpoints(cfg.root, setup.run_id, cfg.keep_last)
    metrics = {**metrics, "time/save_s": time.perf_counter() - save_started}
    round_revision = progress.revision  # the weights that sampled and scored this round
    progress.revision, progress.completed_rounds = weights_revision(Path(path)), round_index
    progress.weights_dir = path
    row = round_row(state, round_index, metrics, round_revision, started_at)
    log.info("round %d time split: %s", round_index, describe_time_split(row.to_row()))
    write_table(row.to_table(), storage.training_round_path(cfg.root, setup.run_id, round_index))
    numbers = {k: v for k, v in metrics.items() if "/" in k and isinstance(v, int | float)}
    state.write_metrics({"step": progress.global_step, "round": round_index, **numbers})
    if setup.world > 1:
        dist.barrier()
    return row.to_row()


def round_row(state: RunState, round_index: int, metrics: dict, revision: str, started_at: datetime) -> RoundRow:
    """The round's training_rounds row from its metrics, once its checkpoint is in place; `revision`: the
    weights that sampled and scored the round's replies."""
    cfg, setup = state.cfg, state.setup
    return RoundRow(
        run_id=setup.run_id, round=round_index, mode=cfg.mode, model_id=setup.model_id, model_revision=revision,
        teacher=cfg.teacher, loss_name=cfg.loss, steps=metrics.get("steps", 0),
        global_step=state.progress.global_step, replies=metrics.get("replies", 0),
        tokens=metrics.get("tokens", 0), loss=metrics.get("loss/train"),
        mean_advantage=metrics.get("score/mean_advantage"),
        mean_importance_weight=metrics.get("score/importance_weight"),
        learning_rate=state.scheduler.get_last_lr()[0], approval=metrics.get("eval/approval"),
        drift_kl=metrics.get("eval/drift_kl"), eval_reply_tokens=metrics.get("eval/reply_tokens"),
        truncated_share=metrics.get("regen/truncated_share"), clipped_share=metrics.get("score/clipped_share"),
        end_advantage=metrics.get("score/end_advantage"), student_entropy=metrics.get("score/student_entropy"),
        sample_engine=metrics.get("sample_engine"), sample_dtype=metrics.get("sample_dtype"),
        train_precision=cfg.precision, mismatch_mean_abs_logp=metrics.get("mismatch/mean_abs_logp"),
        mismatch_max_abs_logp=metrics.get("mismatch/max_abs_logp"), mismatch_k3_kl=metrics.get("mismatch/k3_kl"),
        rollout_corrected_share=metrics.get("mismatch/corrected_share"),
        tokens_per_s=metrics.get("time/tokens_per_s"), scores_path=metrics.get("scores_path"),
        checkpoint_path=storage.checkpoint_path(cfg.root, setup.run_id, round_index), started_at=started_at,
        finished_at=datetime.now(UTC), **time_split(metrics),
        # Columns a caller adds to the round's metrics under their own names (the simulation's evaluation).
        **{name: metrics[name] for name in SIMULATION_COLUMNS if name in metrics},
    )  # fmt: skip


def run_round(
    state: RunState,
    round_index: int,
    replies: RoundReplies = regenerate_round,
    evaluate: RoundEvaluation = evaluate_round,
) -> dict:
    """One round: replies (regenerated or logged) → train → evaluate → checkpoint; its training_rounds row."""
    started_at = datetime.now(UTC)
    rows, regen_metrics = replies(state, round_index)
    train_metrics = train_round(state, round_index, rows)
    eval_metrics = evaluate(state, round_index)
    row = checkpoint_round(state, round_index, {**regen_metrics, **train_metrics, **eval_metrics}, started_at)
    if not state.setup.rank:
        publish_catalog(state.cfg.root)  # analysts see the round's shards and training_rounds row at once
    return row


def main(
    cfg: TrainConfig,
    after_round: Callable[[dict], None] | None = None,
    *,
    interactions: pa.Table | None = None,
    replies: RoundReplies = regenerate_round,
    evaluate: RoundEvaluation = evaluate_round,
    before_rounds: Callable[[RunState], list[dict]] | None = None,
) -> dict:
    """Run rounds until `cfg.rounds` are complete (resuming a partly done run); returns a summary.

    `after_round(row)` is called with each finished round's training_rounds row (the flow's artifact);
    `interactions`, `replies`, `evaluate`: what the rounds train on, how a round gets its replies and how it is
    evaluated (the simulation's prompts, simulated follow-ups and evaluation); `before_rounds(state)`: rows
    stored before the first round (the simulation's round 0), listed first in the summary.
    """
    rank, _, _ = distributed.init_distributed(cfg)
    # The whole run holds the root's writer lock: a nightly run or a second refresh on this root fails fast.
    with writer_lock(cfg.root, "refresh") if rank == 0 else contextlib.nullcontext():  # rank 0 alone writes
        state = setup_run(cfg, interactions)
        rows_out = before_rounds(state) if before_rounds else []
        report("training rounds", state.progress.completed_rounds, cfg.rounds)  # the run's own bar, with its ETA
        for round_index in range(state.progress.completed_rounds + 1, cfg.rounds + 1):
            rows_out.append(run_round(state, round_index, replies, evaluate))
            report("training rounds", round_index, cfg.rounds)
            if after_round is not None and not state.setup.rank:
                after_round(rows_out[-1])
    if state.writer is not None:
        state.writer.close()
    if state.setup.world > 1:
        dist.destroy_process_group()
    return summarize(state, rows_out)


def summarize(state: RunState, rows: list[dict]) -> dict:
    """What a caller prints: the run, its rounds and where things are."""
    return {
        "run_id": state.setup.run_id,
        "rounds_completed": state.progress.completed_rounds,
        "global_step": state.progress.global_step,
        "rounds": [{k: v for k, v in r.items() if k not in ("started_at", "finished_at")} for r in rows],
        "checkpoint": checkpoint.latest_checkpoint(state.cfg.root, state.setup.run_id),
        "metrics": state.setup.metrics_path,
    }


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    summary = main(parse_train_args())
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(summary, indent=2, default=str))
