"""The loss of one micro-batch: student and teacher log-probs at reply positions, then the configured loss.

Takes a `Batch` (`train/batches.py`), the policy, the judge (the teacher model; unused for a stored
teacher) and the step's reply count; returns the loss, whose gradient summed over a step's micro-batches
is the step's, and token-summed statistics. Log-probs come from `train.model.reply_logprobs`: the LM
head only at reply positions, in chunks recomputed in backward, so memory does not grow with reply
length × vocabulary. Called by `train/steps.py` for every micro-batch; benchmarks time this very function.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from train import batches, losses, model
from train.batches import Batch, TrainingRow
from train.config import TrainConfig


def micro_batch_loss(
    cfg: TrainConfig, policy: torch.nn.Module, judge: torch.nn.Module | None, batch: Batch, n_replies: int
) -> tuple[torch.Tensor, dict]:
    """The configured loss of one micro-batch and its token-summed statistics.

    Args:
        judge: the teacher's weights (the policy itself for a live teacher); None for a stored teacher.
        n_replies: replies in the whole optimizer step (all micro-batches, all ranks).
    """
    device = next(policy.parameters()).device
    real_B_T = batch.mask_B_T.to(device)
    with precision(cfg, device):
        mine, teacher_B_T, teacher_support_B_T_K = student_and_teacher(cfg, policy, judge, batch, device)
    logp_B_T = mine.token_B_T
    mask_B_T = losses.skip_first_tokens(real_B_T, cfg.ignore_first_tokens).float()
    if cfg.truncated == "mask":  # a reply cut at a length limit leaves the loss whole
        mask_B_T = mask_B_T * (~batch.truncated_B.to(device))[:, None]
    uncentred_B_T = (teacher_B_T - logp_B_T.detach()) * mask_B_T
    advantage_B_T = uncentred_B_T
    if cfg.center_advantages:  # what the loss uses (the published online trainer); the stats keep the uncentred
        advantage_B_T = losses.centre_advantages(uncentred_B_T, mask_B_T)
    weight_B_T, staleness_B_T, corrected_B_T = token_weights(cfg, logp_B_T, batch, real_B_T, mask_B_T)
    if cfg.loss == "sft":  # cross-entropy: every reply token as it was sampled, weight 1, advantage 1
        ones_B_T = torch.ones_like(logp_B_T)
        loss = losses.sampled_token_loss(logp_B_T, ones_B_T, mask_B_T, ones_B_T, n_replies)
    elif cfg.loss == "sampled_token":
        loss = losses.sampled_token_loss(logp_B_T, advantage_B_T, mask_B_T, weight_B_T, n_replies)
    else:
        loss = losses.topk_tail_loss(
            mine.support_B_T_K, teacher_support_B_T_K, mask_B_T, weight_B_T, cfg.alpha, n_replies
        )
    # The end-of-turn token is a finished reply's last token: the advantage it is trained with, summed.
    end_B_T = end_of_turn_mask(real_B_T, batch.truncated_B.to(device)) * mask_B_T
    stats = {
        "tokens": float(mask_B_T.sum()),
        "advantage": float((uncentred_B_T * mask_B_T).sum()),
        "weight": float((weight_B_T * mask_B_T).sum()),
        "clipped": float(((staleness_B_T >= cfg.importance_clip) * mask_B_T).sum()),
        "corrected": float(corrected_B_T.sum()),
        "end_advantage": float((advantage_B_T * end_B_T).sum()),
        "end_tokens": float(end_B_T.sum()),
    }
    return loss, stats


def student_and_teacher(
    cfg: TrainConfig, policy: torch.nn.Module, judge: torch.nn.Module | None, batch: Batch, device: torch.device
) -> tuple[model.ReplyLogprobs, torch.Tensor, torch.Tensor | None]:
    """The student's reply log-probs (with grad), then the teacher's at the same tokens [B, T] and, for the
    top-K loss, at the support ids [B, T, K]: read from the shards (stored) or computed by `judge` (no grad)."""
    student = (batch.student_ids_B_L.to(device), batch.student_mask_B_L.to(device), batch.student_first_B.to(device))
    reply_B_T, real_B_T = batch.reply_ids_B_T.to(device), batch.mask_B_T.to(device)
    top_k = cfg.top_k if cfg.loss == "topk" else 0
    if cfg.teacher == "stored":
        teacher_B_T, teacher_support_B_T_K = batch.stored_teacher_B_T.to(device), None
        support_ids_B_T_K = None
        if top_k:
            if batch.topk_ids_B_T_K is None:
                raise ValueError("teacher='stored' with loss='topk' needs shards scored with top_k > 0")
            support_ids_B_T_K = batch.topk_ids_B_T_K.to(device)
            teacher_support_B_T_K = batch.topk_logp_B_T_K.to(device)
        mine = model.reply_logprobs(policy, *student, reply_B_T, real_B_T, support_ids_B_T_K)
        return mine, teacher_B_T, teacher_support_B_T_K
    teacher_args = (
        batch.teacher_ids_B_L.to(device),
        batch.teacher_mask_B_L.to(device),
        batch.teacher_first_B.to(device),
    )
    # The support's owner runs first and picks its top-K ids in its own pass; the other gathers there.
    if top_k and cfg.topk_support == "student":
        mine = model.reply_logprobs(policy, *student, reply_B_T, real_B_T, top_k=top_k)
        with torch.no_grad():
            theirs = model.reply_logprobs(judge, *teacher_args, reply_B_T, real_B_T, mine.support_ids_B_T_K)
    else:
        with torch.no_grad():
            theirs = model.reply_logprobs(judge, *teacher_args, reply_B_T, real_B_T, top_k=top_k)
        mine = model.reply_logprobs(policy, *student, reply_B_T, real_B_T, theirs.support_ids_B_T_K)
    return mine, theirs.token_B_T, theirs.support_B_T_K


def token_weights(
    cfg: TrainConfig, logp_B_T: torch.Tensor, batch: Batch, real_B_T: torch.Tensor, mask_B_T: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(each token's loss weight, its staleness part, 1 where the rollout correction clipped or masked it).

    Staleness: min(p_θ / p_behaviour, importance_clip), p_behaviour = the trainer's forward at the round's
    start (exactly 1 on its first step). Rollout correction (`cfg.rollout_correction`): min(p_behaviour /
    p_sampler, cap) per token or a reply-level mask, for the sampler drawing in another precision or
    temperature than the trainer computes in. Logged replies: all ones (the paper uses no weights).
    """
    if batch.behaviour_logp_B_T is None:
        ones_B_T = torch.ones_like(logp_B_T)
        return ones_B_T, ones_B_T, torch.zeros_like(mask_B_T)
    behaviour_B_T = batch.behaviour_logp_B_T.to(logp_B_T.device)
    staleness_B_T = losses.importance_weights(logp_B_T, behaviour_B_T, cfg.importance_clip)
    if cfg.rollout_correction == "none" or batch.sampler_logp_B_T is None:
        return staleness_B_T, staleness_B_T, torch.zeros_like(mask_B_T)
    sampler_B_T = batch.sampler_logp_B_T.to(logp_B_T.device)
    cap = cfg.rollout_correction_cap
    rollout_B_T = losses.rollout_weights(behaviour_B_T, sampler_B_T, real_B_T, cfg.rollout_correction, cap)
    corrected_B_T = ((rollout_B_T >= cap) | (rollout_B_T == 0)).float() * mask_B_T
    return staleness_B_T * rollout_B_T, staleness_B_T, corrected_B_T


def sampler_mismatch(rows: list[TrainingRow]) -> dict:
    """How far the sampler's distribution is from the trainer's, over every sampled token whose sampler
    log-prob was kept: `mismatch/*` metrics (verl's guide: mean |Δ log p| under 0.005 is healthy, over 0.01 an
    engine problem). Δ = log p_trainer − log p_sampler; k3 = E[e^Δ − 1 − Δ] estimates KL(sampler ‖ trainer).
    `rows` must carry the trainer's recomputed behaviour log-probs (`with_behaviour_logprobs`)."""
    deltas = [
        r.behaviour_logp_T.astype(np.float64) - r.sampler_logp_T[: len(r.behaviour_logp_T)].astype(np.float64)
        for r in rows
        if r.behaviour_logp_T is not None and r.sampler_logp_T is not None
    ]
    if not deltas:
        return {}
    delta = np.concatenate(deltas)
    return {
        "mismatch/mean_abs_logp": float(np.abs(delta).mean()),
        "mismatch/max_abs_logp": float(np.abs(delta).max()),
        "mismatch/k3_kl": float((np.exp(delta) - 1.0 - delta).mean()),
        "mismatch/tokens": int(delta.size),
    }


def precision(cfg: TrainConfig, device: torch.device) -> torch.autocast:
    """The training forward's autocast: bfloat16 when `cfg.precision` says so, else plain float32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bfloat16")


def end_of_turn_mask(real_B_T: torch.Tensor, truncated_B: torch.Tensor) -> torch.Tensor:
    """1 at the last real token of every reply that was not cut at a length limit (its end-of-turn marker)."""
    last_B = real_B_T.sum(dim=1).long() - 1
    end_B_T = torch.zeros_like(real_B_T, dtype=torch.float32)
    rows_B = torch.arange(real_B_T.shape[0], device=real_B_T.device)
    keep_B = (~truncated_B) & (last_B >= 0)
    end_B_T[rows_B[keep_B], last_B[keep_B]] = 1.0
    return end_B_T


@torch.no_grad()
def behaviour_logprobs(cfg: TrainConfig, policy: torch.nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p of each reply token, entropy of p at each reply position) under the weights as they are now.

    Computed by the training forward itself (`model.reply_logprobs`, same precision, same micro-batch), so
    a round's first optimizer step sees importance weights of exactly 1 whatever the precision: sampler,
    scorer and trainer may round differently, and that difference is not a change of policy.
    """
    device = next(policy.parameters()).device
    args = (batch.student_ids_B_L.to(device), batch.student_mask_B_L.to(device), batch.student_first_B.to(device))
    reply_B_T, real_B_T = batch.reply_ids_B_T.to(device), batch.mask_B_T.to(device)
    with precision(cfg, device):
        logp_B_T = model.reply_logprobs(policy, *args, reply_B_T, real_B_T).token_B_T.float()
        logp_B_T_V = model.reply_logits(policy, *args, reply_B_T.shape[1])
    entropy_B_T = -(logp_B_T_V.exp() * logp_B_T_V).sum(-1) * real_B_T
    return logp_B_T, entropy_B_T


def with_behaviour_logprobs(
    cfg: TrainConfig, policy: torch.nn.Module, rows: list[TrainingRow], micro_batches: list[list[int]]
) -> tuple[list[TrainingRow], float | None]:
    """The round's rows with behaviour log-probs from the training forward, and the student's mean entropy.

    Regenerated replies were sampled by the weights the round starts with; recomputing their log-probs
    here, micro-batch by micro-batch in the order the first step takes them, makes that step's importance
    weights exactly 1 (as verl recomputes old log-probs). Logged replies keep none (no weights, as the paper).
    """
    done: dict[int, TrainingRow] = {}
    entropy_sum = entropy_tokens = 0.0
    for indices in micro_batches:
        todo = [i for i in indices if i not in done]
        if not todo:
            continue
        batch = batches.collate([rows[i] for i in indices])
        logp_B_T, entropy_B_T = behaviour_logprobs(cfg, policy, batch)
        for b, i in enumerate(indices):
            if i in done:
                continue
            n = len(rows[i].reply_ids)
            behaviour = logp_B_T[b, :n].cpu().numpy() if rows[i].behaviour_logp_T is not None else None
            done[i] = replace(rows[i], behaviour_logp_T=behaviour)
            entropy_sum += float(entropy_B_T[b, :n].sum())
            entropy_tokens += n
    return [done.get(i, row) for i, row in enumerate(rows)], entropy_sum / entropy_tokens if entropy_tokens else None
