"""A round's optimizer steps: `train_round` runs `epochs_per_round` passes over the round's replies.

Takes the run's state and the round's `TrainingRow`s; changes the policy (and the EMA teacher) in place, writes
one metrics line per step and returns the round's training metrics. Each step accumulates `accumulation`
micro-batches per rank (`objective.micro_batch_loss`), sums the gradients across ranks under torchrun, clips
and applies one AdamW update (`apply_step`).
"""

from __future__ import annotations

import time

import torch

from pipelines.progress import report
from train import batches, data, distributed, model, objective
from train.run_state import RunState

# Token-summed statistics of a step (objective.micro_batch_loss), summed again over the round.
STEP_STATS = ("tokens", "advantage", "weight", "clipped", "corrected", "end_advantage", "end_tokens")


def train_round(state: RunState, round_index: int, rows: list[data.TrainingRow]) -> dict:
    """`epochs_per_round` passes over the round's replies, `accumulation` micro-batches per optimizer step.

    Under torchrun a step takes `accumulation × world` micro-batches of the same seeded order and rank r
    trains on the r-th, (r + world)-th, ... of them, so the ranks' slices are disjoint and together equal
    one process's step with `accumulation × world` micro-batches.
    """
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
    totals = {"loss": 0.0, "replies": 0, **dict.fromkeys(STEP_STATS, 0.0)}
    for step_index, micro in enumerate(steps):
        step_loss, step_stats, seconds = train_step(state, round_index, rows, micro, judge)
        train_seconds += seconds
        report(f"training round {round_index}: steps", step_index + 1, len(steps))
        totals["loss"] += step_loss
        totals["replies"] += sum(len(m) for m in micro)
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


def train_step(
    state: RunState,
    round_index: int,
    rows: list[data.TrainingRow],
    micro: list[list[int]],
    judge: torch.nn.Module | None,
) -> tuple[float, dict, float]:
    """One optimizer step over the micro-batches `micro` (this rank trains on its share of them) and its metrics
    line; returns the step's loss, its statistics summed over ranks and its seconds."""
    started = time.perf_counter()
    n_replies = sum(len(m) for m in micro)
    step_loss, step_stats = 0.0, dict.fromkeys(STEP_STATS, 0.0)
    for indices in micro[state.setup.rank :: state.setup.world]:
        batch = batches.collate([rows[i] for i in indices])
        loss, stats = objective.micro_batch_loss(state.cfg, state.policy, judge, batch, n_replies)
        loss.backward()
        step_loss += float(loss.detach())
        step_stats = {k: step_stats[k] + stats[k] for k in step_stats}
    grad_norm = apply_step(state)
    if state.setup.world > 1:
        device = next(state.policy.parameters()).device
        step_loss, step_stats = distributed.sum_over_ranks(step_loss, step_stats, device)
    seconds = time.perf_counter() - started
    tokens = max(step_stats["tokens"], 1.0)
    state.write_metrics({
        "step": state.progress.global_step, "round": round_index, "loss/train": step_loss,
        "score/mean_advantage": step_stats["advantage"] / tokens,
        "score/importance_weight": step_stats["weight"] / tokens,
        "score/clipped_share": step_stats["clipped"] / tokens,
        "mismatch/corrected_share": step_stats["corrected"] / tokens,
        "optim/lr": state.scheduler.get_last_lr()[0], "optim/grad_norm": grad_norm,
        "time/step_s": seconds, "time/tokens_per_s": step_stats["tokens"] / max(seconds, 1e-9),
    })  # fmt: skip
    return step_loss, step_stats, seconds


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
