"""The policy and its teachers: loading (full or LoRA), reply log-probs, EMA updates.

`reply_logp` runs the decoder once over prefix + reply and applies the LM head only at reply positions
(full-vocabulary logits exist for B × T rows, never B × L), so its log-probs are the ones the scorer in
`pipelines/backends/transformers_backend.py` computes for the same tokens. Used by `train/loop.py`.
"""

from __future__ import annotations

import copy
import logging

import torch
from transformers import PreTrainedModel

log = logging.getLogger(__name__)

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
    """float32 log-softmax over the vocabulary at each reply position: [B, T, V]."""
    hidden_B_T_H = reply_hidden(model, ids_B_L, mask_B_L, first_B, n_tokens)
    return torch.log_softmax(model.get_output_embeddings()(hidden_B_T_H).float(), dim=-1)


def token_logp(logp_B_T_V: torch.Tensor, reply_ids_B_T: torch.Tensor) -> torch.Tensor:
    """log p of each reply token: [B, T]."""
    return logp_B_T_V.gather(-1, reply_ids_B_T[..., None])[..., 0]
