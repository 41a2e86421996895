"""The loss of one micro-batch: student and teacher log-probs at reply positions, then the configured loss.

Takes a `Batch` (`train/batches.py`), the policy, the judge (the teacher model; unused for a stored
teacher) and the step's reply count; returns the loss, whose gradient summed over a step's micro-batches
is the step's, and token-summed statistics. Log-probs come from `train.model.reply_logprobs`: the LM
head only at reply positions, in chunks recomputed in backward, so memory does not grow with reply
length × vocabulary. Called by `train/loop.py` for every micro-batch; benchmarks time this very function.
"""

from __future__ import annotations

import torch

from train import losses, model
from train.batches import Batch
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
    student = (batch.student_ids_B_L.to(device), batch.student_mask_B_L.to(device), batch.student_first_B.to(device))
    reply_B_T, real_B_T = batch.reply_ids_B_T.to(device), batch.mask_B_T.to(device)
    top_k = cfg.top_k if cfg.loss == "topk" else 0
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
        if cfg.teacher == "stored":
            teacher_B_T, teacher_support_B_T_K = batch.stored_teacher_B_T.to(device), None
            support_ids_B_T_K = None
            if top_k:
                if batch.topk_ids_B_T_K is None:
                    raise ValueError("teacher='stored' with loss='topk' needs shards scored with top_k > 0")
                support_ids_B_T_K = batch.topk_ids_B_T_K.to(device)
                teacher_support_B_T_K = batch.topk_logp_B_T_K.to(device)
            mine = model.reply_logprobs(policy, *student, reply_B_T, real_B_T, support_ids_B_T_K)
        else:
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
            teacher_B_T, teacher_support_B_T_K = theirs.token_B_T, theirs.support_B_T_K
    logp_B_T = mine.token_B_T
    mask_B_T = losses.skip_first_tokens(real_B_T, cfg.ignore_first_tokens).float()
    advantage_B_T = (teacher_B_T - logp_B_T.detach()) * mask_B_T
    if cfg.center_advantages:
        advantage_B_T = losses.centre_advantages(advantage_B_T, mask_B_T)
    if batch.behaviour_logp_B_T is None:  # logged replies: the paper uses no importance weights
        weight_B_T = torch.ones_like(logp_B_T)
    else:
        weight_B_T = losses.importance_weights(logp_B_T, batch.behaviour_logp_B_T.to(device), cfg.importance_clip)
    if cfg.loss == "sampled_token":
        loss = losses.sampled_token_loss(logp_B_T, advantage_B_T, mask_B_T, weight_B_T, n_replies)
    else:
        loss = losses.topk_tail_loss(
            mine.support_B_T_K, teacher_support_B_T_K, mask_B_T, weight_B_T, cfg.alpha, n_replies
        )
    stats = {
        "tokens": float(mask_B_T.sum()),
        "advantage": float((advantage_B_T * mask_B_T).sum()),
        "weight": float((weight_B_T * mask_B_T).sum()),
        "clipped": float(((weight_B_T >= cfg.importance_clip) * mask_B_T).sum()),
    }
    return loss, stats
