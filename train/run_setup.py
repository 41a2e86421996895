"""Setting up a training run: data, weights, teachers, optimizer and step plan, resumed where a checkpoint left off.

Takes a `TrainConfig` (and optionally the interactions to train on); returns the `RunState` the round loop
(train/loop.py) threads through its rounds. The step plan is derived from a token target per optimizer step
(`step_plan`), and resuming is loading the newest complete checkpoint's trainer state (`resume`).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import torch

from pipelines.backends.model_loading import load_model, load_tokenizer, weights_revision
from pipelines.score import take_sample
from pipelines.store import layout as storage
from train import checkpoint, data, distributed, model
from train.config import TrainConfig
from train.metrics import tensorboard_writer, truncate_after
from train.run_state import Progress, RunSetup, RunState

log = logging.getLogger(__name__)


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up over `warmup` steps, then cosine from 1 to 0 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def optimizer_and_schedule(cfg: TrainConfig, policy: torch.nn.Module, total_steps: int) -> tuple:
    """AdamW over the trainable weights, and its learning-rate schedule over the run's `total_steps`."""
    optimizer = torch.optim.AdamW(
        [p for p in policy.parameters() if p.requires_grad],
        lr=cfg.learning_rate,
        betas=(0.9, cfg.adam_beta2),
        weight_decay=cfg.weight_decay,
    )
    warmup = round(cfg.warmup_fraction * total_steps)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total_steps, warmup))


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
    accumulation, steps_per_round, total_steps = step_plan(cfg, len(train_ids), logged_scores, world)
    optimizer, scheduler = optimizer_and_schedule(cfg, policy, total_steps)

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
        state.write_metrics({"step": progress.global_step, "round": progress.completed_rounds, **plan})
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
