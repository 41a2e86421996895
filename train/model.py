"""The policy and its teachers: loading (full or LoRA), reply log-probs, EMA updates.

`reply_logprobs` runs the decoder once over prefix + reply and applies the LM head only at real reply
positions, a chunk at a time, through `pipelines.backends.reply_head.gathered_logprobs`, the function the scorer in
`pipelines/backends/transformers_backend.py` uses, so trainer and scorer compute the same log-probs.
Used by `train/objective.py`.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel

from pipelines.backends.reply_head import gathered_logprobs

log = logging.getLogger(__name__)

LOGITS_CHUNK = 512  # reply positions with live full-vocabulary logits: 512 × 49,152 × 4 B ≈ 100 MB
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def prepare_policy(model: PreTrainedModel, lora_rank: int, lora_alpha: float, gradient_checkpointing: bool):
    """The trainable policy: the model itself, or a PEFT LoRA wrapper whose adapters alone train."""
    model.train()
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if not lora_rank:
        return model
    from peft import LoraConfig, get_peft_model  # optional dependency: pip install peft

    config = LoraConfig(r=lora_rank, lora_alpha=lora_alpha, lora_dropout=0.0, target_modules=LORA_TARGETS)
    policy = get_peft_model(model, config)
    trainable = sum(p.numel() for p in policy.parameters() if p.requires_grad)
    log.info("LoRA rank %d: %d trainable parameters", lora_rank, trainable)
    return policy


def merged_copy(policy) -> PreTrainedModel:
    """A plain transformers model with the policy's current weights (LoRA merged), for saving and generation."""
    if isinstance(policy, PreTrainedModel):
        return policy
    return copy.deepcopy(policy).merge_and_unload()


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A no-grad eval copy (the frozen and EMA teachers, the evaluation reference)."""
    teacher = copy.deepcopy(model).eval()
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return teacher


@torch.no_grad()
def ema_update(teacher: torch.nn.Module, policy: torch.nn.Module, rate: float) -> None:
    """θ_teacher ← (1 − rate)·θ_teacher + rate·θ, parameter by parameter (names must match)."""
    source = dict(policy.named_parameters())
    for name, parameter in teacher.named_parameters():
        parameter.lerp_(source[name].detach().to(parameter.dtype), rate)


def reply_hidden(
    model: torch.nn.Module, ids_B_L: torch.Tensor, mask_B_L: torch.Tensor, first_B: torch.Tensor, n_tokens: int
) -> torch.Tensor:
    """Final hidden states at the positions that predict reply tokens 0..T−1: [B, T, H]."""
    hidden_B_L_H = model.get_decoder()(input_ids=ids_B_L, attention_mask=mask_B_L).last_hidden_state
    positions_B_T = (first_B[:, None] + torch.arange(n_tokens, device=first_B.device)[None, :]).clamp(
        max=ids_B_L.shape[1] - 1
    )
    return hidden_B_L_H.gather(1, positions_B_T[..., None].expand(-1, -1, hidden_B_L_H.shape[-1]))


def reply_logits(
    model: torch.nn.Module, ids_B_L: torch.Tensor, mask_B_L: torch.Tensor, first_B: torch.Tensor, n_tokens: int
) -> torch.Tensor:
    """float32 log-softmax over the vocabulary at each reply position: [B, T, V] (evaluation only, no grad)."""
    hidden_B_T_H = reply_hidden(model, ids_B_L, mask_B_L, first_B, n_tokens)
    return torch.log_softmax(model.get_output_embeddings()(hidden_B_T_H).float(), dim=-1)


@dataclass(frozen=True)
class ReplyLogprobs:
    """Log-probs at reply positions, reply-aligned and zero on padding."""

    token_B_T: torch.Tensor  # log p of each reply token
    support_B_T_K: torch.Tensor | None  # log p at the K support ids (given ones, else the model's own top-K)
    support_ids_B_T_K: torch.Tensor | None  # those ids


def reply_logprobs(
    model: torch.nn.Module,
    ids_B_L: torch.Tensor,
    mask_B_L: torch.Tensor,
    first_B: torch.Tensor,
    reply_B_T: torch.Tensor,
    reply_mask_B_T: torch.Tensor,
    support_ids_B_T_K: torch.Tensor | None = None,
    top_k: int = 0,
) -> ReplyLogprobs:
    """Reply-token log-probs, plus log-probs at K support ids (given, or the model's own top-`top_k`).

    The LM head runs only at real reply positions, in chunks recomputed in backward
    (`pipelines.backends.reply_head.gathered_logprobs`): no [B, T, V] tensor exists, with or without grad.
    """
    flat_B_T = reply_mask_B_T.bool()
    hidden_N_H = reply_hidden(model, ids_B_L, mask_B_L, first_B, reply_B_T.shape[1])[flat_B_T]
    ids_N_J = reply_B_T[flat_B_T][:, None]
    if support_ids_B_T_K is not None:
        ids_N_J = torch.cat([ids_N_J, support_ids_B_T_K[flat_B_T].long()], dim=1)
        top_k = 0
    logp_N_M, topk_ids_N_K = gathered_logprobs(hidden_N_H, model.get_output_embeddings(), ids_N_J, top_k, LOGITS_CHUNK)
    logp_B_T_M = logp_N_M.new_zeros((*flat_B_T.shape, logp_N_M.shape[1])).index_put((flat_B_T,), logp_N_M)
    if support_ids_B_T_K is None and top_k:
        support_ids_B_T_K = topk_ids_N_K.new_zeros((*flat_B_T.shape, top_k)).index_put((flat_B_T,), topk_ids_N_K)
    has_support = support_ids_B_T_K is not None
    return ReplyLogprobs(logp_B_T_M[..., 0], logp_B_T_M[..., 1:] if has_support else None, support_ids_B_T_K)
