"""Hindsight self-distillation losses: pure torch functions over padded reply tokens.

Inputs are reply-aligned tensors (B replies × T reply tokens, right-padded, `mask_B_T` 1 on real tokens);
each loss returns a scalar whose gradient, summed over the micro-batches of one optimizer step, equals the
gradient of (token mean per reply, then mean over the step's `n_replies`). Two losses (DESIGN.md §1-2):
`sampled_token_loss`, the one-sample policy-gradient estimator −sg(A_i)·log p_θ(y_i), and `topk_tail_loss`,
an α-divergence over K support tokens plus one tail bucket, the support being the student's top-K (SDPO,
TRL's local teacher) or the teacher's (the only choice for a stored teacher), gathered in the LM head's
chunked pass (`train/model.py`), so no loss here sees a full-vocabulary tensor. Both
take a per-token weight, `importance_weights`: min(p_θ / p_behaviour, clip) for replies sampled by older weights.
"""

from __future__ import annotations

import math

import torch


def importance_weights(logp_B_T: torch.Tensor, behaviour_logp_B_T: torch.Tensor, clip: float) -> torch.Tensor:
    """min(p_θ / p_behaviour, clip) per token, gradient stopped (a weight, not a surrogate ratio)."""
    return torch.exp(logp_B_T.detach().float() - behaviour_logp_B_T.float()).clamp(max=clip)


def rollout_weights(
    trainer_logp_B_T: torch.Tensor, sampler_logp_B_T: torch.Tensor, mask_B_T: torch.Tensor, how: str, cap: float
) -> torch.Tensor:
    """Per-token weights that correct for the sampler drawing from another distribution than the trainer's
    forward (precision, kernels, temperature), with r = p_trainer / p_sampler per drawn token (DESIGN.md §8):

    - token_truncate: min(r, cap) (verl's token-level truncated IS, TRL's vllm_importance_sampling_correction);
    - sequence_mask: 1, or 0 for every token of a reply whose geometric-mean r is outside [1/cap, cap] (verl's
      geometric rejection: a reply the trainer would hardly have drawn leaves the loss whole).
    """
    log_ratio_B_T = (trainer_logp_B_T.float() - sampler_logp_B_T.float()) * mask_B_T
    if how == "token_truncate":
        return log_ratio_B_T.exp().clamp(max=cap)
    if how == "sequence_mask":
        mean_B = reply_means(log_ratio_B_T, mask_B_T)
        keep_B = mean_B.abs() <= math.log(cap)
        return keep_B[:, None].float().expand_as(log_ratio_B_T)
    raise ValueError(f"rollout correction {how!r}: use token_truncate or sequence_mask")


def skip_first_tokens(mask_B_T: torch.Tensor, n_skip: int) -> torch.Tensor:
    """The mask with each reply's first `n_skip` tokens removed (replies are left-aligned at position 0)."""
    if n_skip <= 0:
        return mask_B_T
    mask_B_T = mask_B_T.clone()
    mask_B_T[:, :n_skip] = 0
    return mask_B_T


def centre_advantages(advantage_B_T: torch.Tensor, mask_B_T: torch.Tensor) -> torch.Tensor:
    """Subtract each reply's mean advantage over its masked tokens (a per-reply baseline)."""
    mean_B = reply_means(advantage_B_T, mask_B_T)
    return (advantage_B_T - mean_B[:, None]) * mask_B_T


def reply_means(values_B_T: torch.Tensor, mask_B_T: torch.Tensor) -> torch.Tensor:
    """Token mean per reply over `mask_B_T`; 0 for a reply with no masked tokens."""
    mask_B_T = mask_B_T.to(values_B_T.dtype)
    return (values_B_T * mask_B_T).sum(dim=1) / mask_B_T.sum(dim=1).clamp(min=1)


def sampled_token_loss(
    logp_B_T: torch.Tensor,
    advantage_B_T: torch.Tensor,
    mask_B_T: torch.Tensor,
    weight_B_T: torch.Tensor,
    n_replies: int,
) -> torch.Tensor:
    """Σ_replies mean_i[−sg(w_i·A_i)·log p_θ(y_i | x, y_<i)] / n_replies.

    Args:
        logp_B_T: student log-probs of the reply tokens, with gradient.
        advantage_B_T: teacher minus student log-prob, nats (detached here in any case).
        weight_B_T: per-token importance weight (ones when the replies are on-policy or logged).
        n_replies: replies in the whole optimizer step (all micro-batches), the batch-mean denominator.
    """
    coefficient_B_T = (weight_B_T * advantage_B_T).detach()
    return reply_means(-coefficient_B_T * logp_B_T, mask_B_T).sum() / n_replies


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 − exp(x)) for x < 0, stable at both ends (Mächler 2012)."""
    x = x.clamp(max=-1e-10)  # full-support top-K sums to 1 up to rounding: the tail gets ~1e-10, not log 0
    return torch.where(x > -math.log(2), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def topk_with_tail(logp_B_T_K: torch.Tensor) -> torch.Tensor:
    """K log-probs plus the tail bucket log(1 − Σ p_K): a proper distribution over K + 1 outcomes."""
    tail_B_T = log1mexp(torch.logsumexp(logp_B_T_K, dim=-1))
    return torch.cat([logp_B_T_K, tail_B_T[..., None]], dim=-1)


def alpha_divergence(student_B_T_K: torch.Tensor, teacher_B_T_K: torch.Tensor, alpha: float) -> torch.Tensor:
    """Per-token divergence between two log-distributions: α=0 KL(teacher‖student), α=1 KL(student‖teacher).

    In between, the generalized JSD of GKD/SDPO: α·KL(teacher‖M) + (1−α)·KL(student‖M) with
    M = α·teacher + (1−α)·student (α = 0.5 is the symmetric JSD). The endpoints are the KLs themselves
    (the mixture form vanishes there), as in TRL's `generalized_jsd_loss`.
    """
    if alpha == 0.0:
        return (teacher_B_T_K.exp() * (teacher_B_T_K - student_B_T_K)).sum(-1)
    if alpha == 1.0:
        return (student_B_T_K.exp() * (student_B_T_K - teacher_B_T_K)).sum(-1)
    mixture_B_T_K = torch.logsumexp(
        torch.stack([teacher_B_T_K + math.log(alpha), student_B_T_K + math.log(1 - alpha)]), dim=0
    )
    kl_teacher_B_T = (teacher_B_T_K.exp() * (teacher_B_T_K - mixture_B_T_K)).sum(-1)
    kl_student_B_T = (student_B_T_K.exp() * (student_B_T_K - mixture_B_T_K)).sum(-1)
    return alpha * kl_teacher_B_T + (1 - alpha) * kl_student_B_T


def topk_tail_loss(
    student_support_logp_B_T_K: torch.Tensor,
    teacher_support_logp_B_T_K: torch.Tensor,
    mask_B_T: torch.Tensor,
    weight_B_T: torch.Tensor,
    alpha: float,
    n_replies: int,
) -> torch.Tensor:
    """Σ_replies mean_i[w_i·D_α(student ‖ teacher) on K support tokens + tail] / n_replies.

    Args:
        student_support_logp_B_T_K: student log-probs at the K support ids, with gradient.
        teacher_support_logp_B_T_K: teacher log-probs at the same ids, nats (no gradient flows to the teacher).

    The support is the student's or the teacher's top-K (`topk_support` in the config). The bias differs
    (train/README.md): the student's support holds the mass the student actually puts down, where reverse
    KL (α = 1) is summed, so over-confident student tokens the teacher rejects are penalised one by one;
    teacher tokens the student misses only count through the tail bucket. The teacher's support is the
    mirror image, the natural one for forward KL (α = 0).
    """
    student_B_T_K1 = topk_with_tail(student_support_logp_B_T_K.float())
    teacher_B_T_K1 = topk_with_tail(teacher_support_logp_B_T_K.detach().float())
    divergence_B_T = alpha_divergence(student_B_T_K1, teacher_B_T_K1, alpha)
    return reply_means(weight_B_T.detach() * divergence_B_T, mask_B_T).sum() / n_replies
