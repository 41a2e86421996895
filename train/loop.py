"""The refresh trainer: `main(cfg)` runs rounds of regenerate → score → train → evaluate → checkpoint.

Reads interactions (and, in logged mode, round-0 score shards) under `cfg.root`; writes regenerated score
shards (`scores/run_id=<run>/round=NNNN/`), checkpoints (`checkpoints/run_id=<run>/round-NNNN/`), metrics
(`training/<run>/metrics.jsonl`) and one `training_rounds` row per round (paths from `pipelines/store/layout.py`).
`main` owns the one round loop: `setup_run`, then `run_round` (replies → train → evaluate → checkpoint) per
round. The round's replies and its evaluation are plain callables (`regenerate_round` and `evaluate_round` by
default), so `afterword simulate` is this loop with a simulated user's follow-ups and its own evaluation
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
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
import torch.distributed as dist

from pipelines.backends.model_loading import load_model, load_tokenizer, weights_revision
from pipelines.backends.scoring_config import in_groups
from pipelines.io import code_version, write_table
from pipelines.progress import report
from pipelines.score import ScoreRun, take_sample
from pipelines.store import layout as storage
from pipelines.store.lock import writer_lock
from pipelines.store.publish import publish_catalog
from schemas import training_rounds
from train import batches, checkpoint, data, distributed, model, objective
from train.config import TrainConfig, parse_train_args
from train.evaluate import evaluate_policy
from train.metrics import (
    append_record,
    describe_time_split,
    reply_counts,
    tensorboard_writer,
    time_split,
    token_mean_advantage,
    truncate_after,
)
from train.regen import live_scorer, sample_replies, score_replies
from train.run_state import Followups, Progress, RoundEvaluation, RoundReplies, RunSetup, RunState

log = logging.getLogger(__name__)


def write_metrics(state: RunState, record: dict) -> None:
    """Append one metrics record with namespaced keys; rank 0 only."""
    if not state.setup.rank:
        append_record(state.setup.metrics_path, state.writer, record)


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up over `warmup` steps, then cosine from 1 to 0 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def setup_run(cfg: TrainConfig, interactions: pa.Table | None = None) -> RunState:
    """Load data, model, teachers and optimizer; resume from the newest complete checkpoint if any.

    `interactions`: train on these instead of the root's `interactions` table (the simulation's prompts).
    """
    rank, world, device = distributed.init_distributed(cfg)
    run_id = cfg.resolved_run_id()
    training_dir = storage.training_dir(cfg.root, run_id)
    if rank == 0:
        os.makedirs(training_dir, exist_ok=True)
    torch.manual_seed(cfg.seed)
    if cfg.regen.temperature != 1.0 and cfg.mode == "onpolicy":
        log.warning(
            "temperature=%s: stored student log-probs are not the behaviour log-probs; use 1.0", cfg.regen.temperature
        )
    interactions, train_ids, held_out, logged_scores = training_data(cfg, interactions)
    tokenizer = load_tokenizer(cfg.model)
    latest = checkpoint.latest_checkpoint(cfg.root, run_id)
    source, policy, reference, teacher = load_weights(cfg, latest, device)
    optimizer = torch.optim.AdamW(
        [p for p in policy.parameters() if p.requires_grad], lr=cfg.learning_rate, weight_decay=cfg.weight_decay
    )
    accumulation, steps_per_round, total_steps = step_plan(cfg, len(train_ids), logged_scores, world)
    warmup = round(cfg.warmup_fraction * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total_steps, warmup))

    setup = RunSetup(
        cfg=cfg,
        run_id=run_id,
        tokenizer=tokenizer,
        model_id=source.model_id,
        base_revision=source.revision,
        interactions=interactions,
        train_ids=train_ids,
        held_out=held_out,
        logged_scores=logged_scores,
        accumulation=accumulation,
        steps_per_round=steps_per_round,
        metrics_path=storage.metrics_path(cfg.root, run_id),
        rank=rank,
        world=world,
    )
    progress = Progress(revision=source.revision, weights_dir=latest or str(source.path))
    state = RunState(setup, progress, policy, reference, teacher, optimizer, scheduler)
    if latest:
        resume(state, latest, total_steps)
    if rank == 0:
        truncate_after(state.setup.metrics_path, state.progress.global_step, state.progress.completed_rounds)
    if cfg.tensorboard and rank == 0:
        state.writer = tensorboard_writer(training_dir)
    log.info(
        "run %s: %d train / %d held-out interactions; accumulation %d (derived: %s) × %d ranks, %d steps per round",
        run_id, len(train_ids), held_out.num_rows, accumulation, not cfg.accumulation_steps, world, steps_per_round,
    )  # fmt: skip
    if not os.path.exists(setup.metrics_path) or not os.path.getsize(setup.metrics_path):  # resumed: has one
        plan = {"optim/accumulation": accumulation, "optim/steps_per_round": steps_per_round}
        plan["optim/total_steps"] = total_steps
        write_metrics(state, {"step": progress.global_step, "round": progress.completed_rounds, **plan})
    return state


def training_data(
    cfg: TrainConfig, interactions: pa.Table | None
) -> tuple[pa.Table, list[str], pa.Table, pa.Table | None]:
    """(the interactions, the ids trained on, the held-out sample evaluated each round, the logged round-0 scores
    in logged mode): the root's nights unless `interactions` is given."""
    if interactions is None:
        interactions = data.read_interactions(cfg.root, cfg.limit, cfg.nights)
    train, held_out = data.split_interactions(interactions, cfg.eval_fraction)
    held_out = take_sample(held_out, cfg.eval_max_interactions) if cfg.eval_max_interactions else held_out.slice(0, 0)
    logged_scores = None
    train_ids = train["interaction_id"].to_pylist()
    if cfg.mode == "logged":
        logged_run = data.find_logged_run(cfg.root, cfg.scores_run_id, train_ids if cfg.nights else None)
        logged_scores = data.read_scores(cfg.root, logged_run, 0)
        scored = set(logged_scores["interaction_id"].to_pylist())
        train_ids = [i for i in train_ids if i in scored]
    return interactions, train_ids, held_out, logged_scores


def load_weights(cfg: TrainConfig, latest: str | None, device) -> tuple:
    """(the model's source, the policy, the frozen reference, the teacher) at the newest complete checkpoint
    `latest` (None: the starting weights). The reference is always the starting weights."""
    initial, source = load_model(cfg.model, device=device)
    reference = model.frozen_copy(initial)
    if latest and not cfg.lora_rank:
        initial, _ = load_model(latest, device=device)
    policy = model.prepare_policy(initial, cfg.lora_rank, cfg.lora_alpha, cfg.gradient_checkpointing)
    if latest and cfg.lora_rank:
        from peft import set_peft_model_state_dict
        from peft.utils import load_peft_weights

        set_peft_model_state_dict(policy, load_peft_weights(os.path.join(latest, checkpoint.ADAPTER_DIR)))
    teacher = {"ema": model.frozen_copy(policy), "frozen": reference}.get(cfg.teacher)
    if latest and cfg.teacher == "ema":
        checkpoint.load_ema(latest, teacher)
    return source, policy, reference, teacher


def step_plan(cfg: TrainConfig, n_train: int, logged_scores: pa.Table | None, world: int) -> tuple[int, int, int]:
    """(micro-batches accumulated per step, steps per round, steps in the run).

    Accumulation from a token target: replies are ~max_new_tokens long on-policy (an upper bound), and their
    measured mean length in logged mode. It counts micro-batches per rank: a step takes micro_batch_size ×
    accumulation × world replies."""
    if cfg.accumulation_steps:
        accumulation = cfg.accumulation_steps
    else:
        reply_tokens = cfg.regen.max_new_tokens
        if logged_scores is not None:
            reply_tokens = float(pc.mean(logged_scores["n_tokens"]).as_py() or 1)
        accumulation = max(1, round(cfg.target_tokens_per_step / (cfg.micro_batch_size * reply_tokens * world)))
    per_round = min(cfg.interactions_per_round, n_train) * cfg.epochs_per_round
    steps_per_round = math.ceil(math.ceil(per_round / cfg.micro_batch_size) / (accumulation * world))
    return accumulation, steps_per_round, steps_per_round * cfg.rounds


def resume(state: RunState, latest: str, total_steps: int) -> None:
    """Optimizer, schedule, random streams, data cursor and counters as the checkpoint `latest` left them."""
    saved = checkpoint.load_trainer_state(latest)
    state.optimizer.load_state_dict(saved["optimizer"])
    state.scheduler.load_state_dict(saved["scheduler"])
    checkpoint.restore_rng(saved["rng"])
    state.progress.cursor = data.Cursor(**saved["cursor"])
    state.progress.global_step, state.progress.completed_rounds = saved["global_step"], saved["round"]
    state.progress.revision = weights_revision(Path(latest))
    if saved["total_steps"] != total_steps:
        log.warning(
            "resuming with %d planned steps (was %d): the LR schedule changes", total_steps, saved["total_steps"]
        )
    log.info(
        "resuming %s after round %d (step %d) from %s",
        state.setup.run_id,
        state.progress.completed_rounds,
        state.progress.global_step,
        latest,
    )


def regenerate_round(
    state: RunState, round_index: int, followups: Followups | None = None
) -> tuple[list[data.TrainingRow], dict]:
    """This round's training replies: freshly sampled and scored (onpolicy) or logged; advances the cursor.

    `followups`: who answers the sampled replies; None = the logged follow-ups of their interactions.
    """
    # ----------------------------------------------------------------- eval/regen: data for the round
    cfg = state.cfg
    started = time.perf_counter()
    ids, state.progress.cursor = data.take_interactions(
        state.setup.train_ids, state.progress.cursor, cfg.interactions_per_round, cfg.seed
    )
    chosen = state.setup.interactions.filter(pc.is_in(state.setup.interactions["interaction_id"], pa.array(ids)))
    summary: dict = {"regen/replies": len(ids), "scores_path": None, "time/sample_s": 0.0, "time/score_s": 0.0}
    if cfg.mode == "logged":
        scores = state.setup.logged_scores.filter(pc.is_in(state.setup.logged_scores["interaction_id"], pa.array(ids)))
    else:
        path = storage.score_shard_path(cfg.root, state.setup.run_id, round_index, 0, 1)
        answered_path = followups.path(round_index) if followups else ""
        sampler_path = storage.sampler_logprobs_path(cfg.root, state.setup.run_id, round_index)
        if state.setup.rank or (os.path.exists(path) and (not followups or os.path.exists(answered_path))):
            # rank 0 samples and writes the shard; the others read it (same weights everywhere), as does a rerun
            # of an interrupted round (same weights and seed, same rows)
            if state.setup.rank:
                dist.barrier()
            scores = pq.read_table(path)
            answered = pq.read_table(answered_path) if followups else None
        else:
            paths = (path, answered_path, sampler_path)
            scores, answered = sample_and_score(state, round_index, chosen, followups, paths, summary)
        if state.setup.world > 1 and not state.setup.rank:
            dist.barrier()
        summary.update({"scores_path": path, "regen/mean_advantage": token_mean_advantage(scores)})
        # The table the scorer saw: its prefixes (and earlier reply) are rebuilt from the logged reply, its
        # follow-ups are the answering user's.
        chosen = answered if followups else chosen.append_column("logged_response", chosen["response"])
        summary.update(followups.metrics(answered) if followups else {})
    summary.update(reply_counts(scores))
    summary["time/regen_s"] = time.perf_counter() - started
    rows = data.build_rows(scores, chosen, state.setup.tokenizer, cfg.hindsight)
    if cfg.mode == "onpolicy":
        summary["sample_dtype"] = cfg.regen.dtype if summary.get("sample_engine", "torch") == "torch" else None
        rows = data.with_sampler_logprobs(rows, sampler_path)
    return rows, summary


def sample_and_score(
    state: RunState,
    round_index: int,
    chosen: pa.Table,
    followups: Followups | None,
    paths: tuple[str, str, str],
    summary: dict,
) -> tuple[pa.Table, pa.Table | None]:
    """Sample a reply per chosen interaction with the current weights, let `followups` answer them (or keep the
    logged follow-ups), score them with the same weights; writes the sampler's log-probs, the answered table and
    the score shard (`paths`, in that order: the shard last, as the round's replies are done only then) and adds
    the stage times to `summary`. Returns the scores and the answered table (None without `followups`)."""
    cfg = state.cfg
    shard_path, answered_path, sampler_path = paths
    score_run = ScoreRun(
        state.setup.run_id, state.setup.model_id, state.progress.revision, round_index, "regenerated", cfg.hindsight
    )
    seed, stage_started = sampling_seed(cfg, round_index), time.perf_counter()
    sampled = sample_replies(
        state.policy, state.setup.tokenizer, chosen, cfg.regen, cfg.hindsight, seed, state.progress.weights_dir
    )
    summary["sample_engine"] = sampled["sample_engine"][0].as_py() if sampled.num_rows else None
    write_table(sampled.select(["interaction_id", "response_sampler_logprobs"]), sampler_path)
    summary["time/sample_s"], stage_started = time.perf_counter() - stage_started, time.perf_counter()
    answered = None
    if followups:
        sampled = answered = followups.answer(sampled, round_index)
        write_table(answered, answered_path)
    scorer = in_groups(live_scorer(state.policy, cfg, cfg.stored_top_k), f"round {round_index}: scoring replies")
    scores = score_replies(state.policy, state.setup.tokenizer, sampled, score_run, scorer)
    summary["time/score_s"] = time.perf_counter() - stage_started
    write_table(scores, shard_path)
    return scores, answered


def sampling_seed(cfg: TrainConfig, round_index: int) -> int:
    """The seed of one round's sampling: it depends on the round, never on global RNG state."""
    return cfg.seed * 1_000_003 + round_index


def apply_step(state: RunState) -> float:
    """Clip, step the optimizer and schedule, update the EMA teacher; returns the pre-clip gradient norm."""
    parameters = [p for p in state.policy.parameters() if p.requires_grad]
    if state.setup.world > 1:
        distributed.sum_gradients(parameters)
    clip = state.cfg.grad_clip if state.cfg.grad_clip > 0 else float("inf")
    grad_norm = float(torch.nn.utils.clip_grad_norm_(parameters, clip))
    state.optimizer.step()
    state.scheduler.step()
    state.optimizer.zero_grad(set_to_none=True)
    if state.cfg.teacher == "ema":
        model.ema_update(state.teacher, state.policy, state.cfg.ema_rate)
    state.progress.global_step += 1
    return grad_norm


def train_round(state: RunState, round_index: int, rows: list[data.TrainingRow]) -> dict:
    """`epochs_per_round` passes over the round's replies, `accumulation` micro-batches per optimizer step.

    Under torchrun a step takes `accumulation × world` micro-batches of the same seeded order and rank r
    trains on the r-th, (r + world)-th, ... of them, so the ranks' slices are disjoint and together equal
    one process's step with `accumulation × world` micro-batches.
    """
    # ----------------------------------------------------------------- loop
    cfg = state.cfg
    state.policy.train()
    micro_batches = batches.micro_batches(rows, cfg.micro_batch_size, cfg.seed, round_index, cfg.epochs_per_round)
    started = time.perf_counter()
    rows, entropy = objective.with_behaviour_logprobs(cfg, state.policy, rows, micro_batches)
    mismatch = objective.sampler_mismatch(rows)
    train_seconds = time.perf_counter() - started
    per_step = state.setup.accumulation * state.setup.world
    steps = [micro_batches[i : i + per_step] for i in range(0, len(micro_batches), per_step)]
    judge = state.policy if cfg.teacher == "live" else state.teacher
    stat_names = ("tokens", "advantage", "weight", "clipped", "corrected", "end_advantage", "end_tokens")
    totals = {"loss": 0.0, "replies": 0, **dict.fromkeys(stat_names, 0.0)}
    for step_index, micro in enumerate(steps):
        started = time.perf_counter()
        n_replies = sum(len(m) for m in micro)
        step_loss, step_stats = 0.0, dict.fromkeys(stat_names, 0.0)
        for indices in micro[state.setup.rank :: state.setup.world]:
            batch = batches.collate([rows[i] for i in indices])
            loss, stats = objective.micro_batch_loss(state.cfg, state.policy, judge, batch, n_replies)
            loss.backward()
            step_loss += float(loss.detach())
            step_stats = {k: step_stats[k] + stats[k] for k in step_stats}
        grad_norm = apply_step(state)
        if state.setup.world > 1:
            step_loss, step_stats = distributed.sum_over_ranks(
                step_loss, step_stats, next(state.policy.parameters()).device
            )
        seconds = time.perf_counter() - started
        train_seconds += seconds
        tokens = max(step_stats["tokens"], 1.0)
        write_metrics(state, {
            "step": state.progress.global_step, "round": round_index, "loss/train": step_loss,
            "score/mean_advantage": step_stats["advantage"] / tokens,
            "score/importance_weight": step_stats["weight"] / tokens,
            "score/clipped_share": step_stats["clipped"] / tokens,
            "mismatch/corrected_share": step_stats["corrected"] / tokens,
            "optim/lr": state.scheduler.get_last_lr()[0], "optim/grad_norm": grad_norm,
            "time/step_s": seconds, "time/tokens_per_s": step_stats["tokens"] / max(seconds, 1e-9),
        })  # fmt: skip
        report(f"training round {round_index}: steps", step_index + 1, len(steps))
        totals["loss"] += step_loss
        totals["replies"] += n_replies
        for key in step_stats:
            totals[key] += step_stats[key]
    tokens = max(totals["tokens"], 1.0)
    return {
        "steps": len(steps),
        "replies": totals["replies"],
        "tokens": int(totals["tokens"]),
        "loss/train": totals["loss"] / max(len(steps), 1),
        "score/mean_advantage": totals["advantage"] / tokens,
        "score/importance_weight": totals["weight"] / tokens,
        "score/clipped_share": totals["clipped"] / tokens,
        "mismatch/corrected_share": totals["corrected"] / tokens,
        **mismatch,
        "score/end_advantage": totals["end_advantage"] / totals["end_tokens"] if totals["end_tokens"] else None,
        "score/student_entropy": entropy,
        "time/train_s": train_seconds,
        "time/tokens_per_s": totals["tokens"] / max(train_seconds, 1e-9),
    }


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
    row = {
        "run_id": setup.run_id, "round": round_index, "mode": cfg.mode, "model_id": setup.model_id,
        "model_revision": round_revision, "teacher": cfg.teacher, "loss_name": cfg.loss,
        "steps": metrics.get("steps", 0), "global_step": progress.global_step, "replies": metrics.get("replies", 0),
        "tokens": metrics.get("tokens", 0), "loss": metrics.get("loss/train"),
        "mean_advantage": metrics.get("score/mean_advantage"),
        "mean_importance_weight": metrics.get("score/importance_weight"),
        "learning_rate": state.scheduler.get_last_lr()[0], "approval": metrics.get("eval/approval"),
        "drift_kl": metrics.get("eval/drift_kl"), "eval_reply_tokens": metrics.get("eval/reply_tokens"),
        "truncated_share": metrics.get("regen/truncated_share"), "clipped_share": metrics.get("score/clipped_share"),
        "end_advantage": metrics.get("score/end_advantage"), "student_entropy": metrics.get("score/student_entropy"),
        "sample_engine": metrics.get("sample_engine"), "sample_dtype": metrics.get("sample_dtype"),
        "train_precision": cfg.precision, "mismatch_mean_abs_logp": metrics.get("mismatch/mean_abs_logp"),
        "mismatch_max_abs_logp": metrics.get("mismatch/max_abs_logp"), "mismatch_k3_kl": metrics.get("mismatch/k3_kl"),
        "rollout_corrected_share": metrics.get("mismatch/corrected_share"),
        "tokens_per_s": metrics.get("time/tokens_per_s"), "scores_path": metrics.get("scores_path"),
        "checkpoint_path": path, "started_at": started_at, "finished_at": datetime.now(UTC),
        **time_split(metrics),
    }  # fmt: skip
    log.info("round %d time split: %s", round_index, describe_time_split(row))
    # Columns a caller adds to the round's metrics under their own names (the simulation's evaluation).
    row.update({name: metrics[name] for name in training_rounds.SCHEMA.names if name not in row and name in metrics})
    table = pa.Table.from_pylist([row], schema=training_rounds.SCHEMA)
    write_table(table, storage.training_round_path(cfg.root, setup.run_id, round_index))
    numbers = {k: v for k, v in metrics.items() if "/" in k and isinstance(v, int | float)}
    write_metrics(state, {"step": progress.global_step, "round": round_index, **numbers})
    if setup.world > 1:
        dist.barrier()
    return row


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
