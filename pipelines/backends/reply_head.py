"""Log-probs of chosen tokens at reply positions: the LM head and float32 log-softmax, a chunk of positions at a time.

Takes the final hidden states of the N positions that predict reply tokens ([N, H], every reply's rows
concatenated, no padding) and the output embedding; returns log-softmax values at J chosen ids per position
([N, J]) and, on request, at the position's own K most likely ids. Full-vocabulary logits exist for `chunk`
positions at a time, in forward and again in backward, where they are recomputed instead of stored, so
memory does not grow with reply length × vocabulary. The scorer (`pipelines/backends/transformers_backend.py`)
and the trainer (`train/model.py`) both go through `gathered_logprobs`.
"""

from __future__ import annotations

import torch

DEFAULT_CHUNK = 256  # positions per chunk: 256 × 49,152 vocabulary × 4 B ≈ 50 MB of float32 logits


def _chunk_logp(hidden_C_H: torch.Tensor, weight_V_H: torch.Tensor, bias_V: torch.Tensor | None) -> torch.Tensor:
    """float32 (or wider) log-softmax over the vocabulary for one chunk of positions: [C, V]."""
    logits_C_V = torch.nn.functional.linear(hidden_C_H, weight_V_H, bias_V)
    return torch.log_softmax(logits_C_V.to(torch.promote_types(logits_C_V.dtype, torch.float32)), dim=-1)


class _GatheredLogSoftmax(torch.autograd.Function):
    """log_softmax(h·Wᵀ + b) gathered at ids, chunked; backward recomputes each chunk's softmax.

    For gathered values g_j = log p(id_j) with upstream gradient G_j, the logits' gradient is
    scatter(G) − p·ΣG, the only [C, V] tensor of backward.
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda")
    def forward(ctx, hidden_N_H, weight_V_H, bias_V, ids_N_J, top_k: int, chunk: int):
        n, n_ids = ids_N_J.shape
        wide = torch.promote_types(hidden_N_H.dtype, torch.float32)
        logp_N_M = torch.empty((n, n_ids + top_k), dtype=wide, device=hidden_N_H.device)
        all_ids_N_M = torch.empty((n, n_ids + top_k), dtype=torch.long, device=hidden_N_H.device)
        for start in range(0, n, chunk):
            part = slice(start, start + chunk)
            logp_C_V = _chunk_logp(hidden_N_H[part], weight_V_H, bias_V)
            ids_C_M = ids_N_J[part].long()
            if top_k:
                ids_C_M = torch.cat([ids_C_M, logp_C_V.topk(top_k, dim=-1).indices], dim=1)
            all_ids_N_M[part] = ids_C_M
            logp_N_M[part] = logp_C_V.gather(1, ids_C_M).to(wide)
        ctx.save_for_backward(hidden_N_H, weight_V_H, bias_V, all_ids_N_M)
        ctx.chunk = chunk
        topk_ids_N_K = all_ids_N_M[:, n_ids:].clone()
        ctx.mark_non_differentiable(topk_ids_N_K)
        return logp_N_M, topk_ids_N_K

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, grad_N_M, _grad_ids):
        hidden_N_H, weight_V_H, bias_V, ids_N_M = ctx.saved_tensors
        wants_hidden, wants_weight, wants_bias = ctx.needs_input_grad[:3]
        grad_hidden = torch.empty_like(hidden_N_H) if wants_hidden else None
        wide = torch.promote_types(weight_V_H.dtype, torch.float32)
        grad_weight = torch.zeros(weight_V_H.shape, dtype=wide, device=weight_V_H.device) if wants_weight else None
        grad_bias = torch.zeros(bias_V.shape, dtype=wide, device=bias_V.device) if wants_bias else None
        for start in range(0, hidden_N_H.shape[0], ctx.chunk):
            part = slice(start, start + ctx.chunk)
            hidden_C_H = hidden_N_H[part]
            grad_C_M = grad_N_M[part]
            probs_C_V = _chunk_logp(hidden_C_H, weight_V_H, bias_V).exp_()
            grad_C_V = probs_C_V.mul_(-grad_C_M.sum(dim=1, keepdim=True).to(probs_C_V.dtype))
            grad_C_V.scatter_add_(1, ids_N_M[part], grad_C_M.to(grad_C_V.dtype))
            grad_C_V = grad_C_V.to(weight_V_H.dtype)  # autocast (if on) takes the matmuls below to bf16
            if wants_hidden:
                grad_hidden[part] = (grad_C_V @ weight_V_H).to(hidden_N_H.dtype)
            if wants_weight:
                grad_weight += (grad_C_V.T @ hidden_C_H.to(weight_V_H.dtype)).to(wide)
            if wants_bias:
                grad_bias += grad_C_V.sum(dim=0).to(wide)
        return (
            grad_hidden,
            None if grad_weight is None else grad_weight.to(weight_V_H.dtype),
            None if grad_bias is None else grad_bias.to(bias_V.dtype),
            None,
            None,
            None,
        )


def gathered_logprobs(
    hidden_N_H: torch.Tensor,
    head: torch.nn.Linear,
    ids_N_J: torch.Tensor,
    top_k: int = 0,
    chunk: int = DEFAULT_CHUNK,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(log-probs [N, J + K], top-K ids [N, K]): log p at `ids_N_J`, then at each position's K most likely ids.

    Differentiable in `hidden_N_H` and in the head's weight and bias where they require grad (a frozen
    head, as under LoRA, gets none); under CUDA autocast the head runs in bf16, the log-softmax in float32.
    The top-K ids come from the same pass (no second head call) and are sorted by decreasing log-prob.
    """
    if chunk < 1:
        raise ValueError(f"chunk={chunk} must be >= 1")
    return _GatheredLogSoftmax.apply(hidden_N_H, head.weight, head.bias, ids_N_J, top_k, chunk)
