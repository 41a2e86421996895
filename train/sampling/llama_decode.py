"""One decode step of a Llama-family decoder (Llama, Qwen2, Qwen3) for the in-process sampler.

The sampler's decode steps feed one token per row through the model. Through `model.forward` every linear is
`x @ W.T` with x = [rows, features]; on CPU that product leaves half the matrix unit idle at decode shapes
(64 rows: 92 GFLOP/s for a 576 → 1536 projection against 147 for `W @ x.T` on the 2-core build machine,
benchmarks/README.md). This step keeps activations feature-major ([features, rows]), so each projection is
`W @ x`, and runs attention as two batched matmuls over the cache's grouped heads (no repeated keys). It
reads the model's own modules and weights (norm epsilons, rotary embedding, biases, Qwen3's per-head norms),
so what it computes is the model's forward at the last position, up to float rounding: tests hold its
log-probs to the trainer's float32 forward within 1e-4. With bf16 `weights` it computes as the trainer's bf16
autocast does (bf16 products, float32 residual stream and norms). Models of other families take
`model.forward`.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache

FAMILIES = ("llama", "qwen2", "qwen3")  # pre-norm decoders: q/k/v/o + SiLU-gated MLP, RMSNorm, RoPE, no scaling


def supported(model: torch.nn.Module) -> bool:
    """True when `model` is a causal LM of a family this step reproduces."""
    config = model.config.get_text_config()
    inner = getattr(model, "model", None)
    return (
        getattr(config, "model_type", None) in FAMILIES
        and getattr(config, "hidden_act", None) == "silu"
        and inner is not None
        and all(hasattr(inner, name) for name in ("embed_tokens", "layers", "norm", "rotary_emb"))
        and isinstance(getattr(model, "lm_head", None), torch.nn.Linear)
    )


def projected(linear: torch.nn.Linear, x_I_B: torch.Tensor, weights: Weights | None = None) -> torch.Tensor:
    """`linear` applied to feature-major x: [in, rows] → [out, rows]; with `weights` (bf16 copies), a bf16
    product whose bf16 output the float32 residual stream takes up, as under bf16 autocast."""
    weight = linear.weight if weights is None else weights[linear]
    out_O_B = weight @ x_I_B.to(weight.dtype)
    return out_O_B if linear.bias is None else out_O_B.add_(linear.bias[:, None].to(out_O_B.dtype))


Weights = dict[torch.nn.Module, torch.Tensor]  # a Linear → its weight in the matmul precision


def bfloat16_weights(model: torch.nn.Module) -> Weights:
    """Every Linear's weight cast to bfloat16 once (what autocast would cast at every call)."""
    return {m: m.weight.detach().to(torch.bfloat16) for m in model.modules() if isinstance(m, torch.nn.Linear)}


def rms_normed(norm: torch.nn.Module, x_D_B: torch.Tensor) -> torch.Tensor:
    """The model's RMSNorm over the feature axis of feature-major x (float32 statistics, as the module)."""
    x32_D_B = x_D_B.float()
    x32_D_B = x32_D_B * torch.rsqrt(x32_D_B.pow(2).mean(0, keepdim=True) + norm.variance_epsilon)
    return norm.weight[:, None] * x32_D_B.to(x_D_B.dtype)


def rotated(x_B_H_E: torch.Tensor, cos_B_1_E: torch.Tensor, sin_B_1_E: torch.Tensor) -> torch.Tensor:
    """RoPE as transformers applies it: x·cos + rotate_half(x)·sin."""
    half = x_B_H_E.shape[-1] // 2
    turned_B_H_E = torch.cat((-x_B_H_E[..., half:], x_B_H_E[..., :half]), dim=-1)
    return x_B_H_E * cos_B_1_E + turned_B_H_E * sin_B_1_E


@torch.no_grad()
def decode_logits(
    model: torch.nn.Module,
    cache: Cache,
    input_ids_B: torch.Tensor,
    positions_B: torch.Tensor,
    mask_B_L: torch.Tensor,
    weights: Weights | None = None,
) -> torch.Tensor:
    """Logits [B, V] of the next token after `input_ids_B`; writes their keys and values into `cache`.

    `mask_B_L` marks the cache's real positions (1) and padding (0), the new token's column included;
    `positions_B` are the new tokens' position ids; `weights`: bf16 copies for bf16 products over a float32
    residual stream (the trainer's bf16 autocast), None = the weights as they are.
    """
    inner = model.model
    n_rows = input_ids_B.shape[0]
    h_D_B = inner.embed_tokens.weight[input_ids_B].t().contiguous()
    cos_B_1_E, sin_B_1_E = inner.rotary_emb(h_D_B, positions_B[:, None])  # [B, 1, head_dim] each
    # Additive mask over the cache: 0 where a row attends, -inf on its padding.
    bias_B_1_1_L = torch.zeros(mask_B_L.shape, dtype=torch.float32, device=mask_B_L.device)
    bias_B_1_1_L = bias_B_1_1_L.masked_fill_(mask_B_L == 0, float("-inf"))[:, None, None, :]
    for layer, cache_layer in zip(inner.layers, cache.layers, strict=True):
        attention = layer.self_attn
        head_dim = attention.head_dim
        x_D_B = rms_normed(layer.input_layernorm, h_D_B)
        q_B_H_E = projected(attention.q_proj, x_D_B, weights).view(-1, head_dim, n_rows).permute(2, 0, 1)
        k_B_K_E = projected(attention.k_proj, x_D_B, weights).view(-1, head_dim, n_rows).permute(2, 0, 1)
        v_B_K_E = projected(attention.v_proj, x_D_B, weights).view(-1, head_dim, n_rows).permute(2, 0, 1)
        if hasattr(attention, "q_norm"):  # Qwen3 normalises each head before RoPE
            q_B_H_E, k_B_K_E = attention.q_norm(q_B_H_E), attention.k_norm(k_B_K_E)
        # float32 cos/sin take bf16 projections up to float32, as in the model's forward under autocast
        q_B_H_E = rotated(q_B_H_E, cos_B_1_E, sin_B_1_E)
        k_B_K_E = rotated(k_B_K_E, cos_B_1_E, sin_B_1_E).to(cache_layer.key_buffer.dtype)
        v_B_K_E = v_B_K_E.to(cache_layer.value_buffer.dtype)
        keys_B_K_L_E, values_B_K_L_E = cache_layer.update(k_B_K_E[:, :, None], v_B_K_E[:, :, None])
        n_kv = keys_B_K_L_E.shape[1]
        # Query head h reads key head h // groups (transformers' repeat_kv), so heads group without copies.
        q_B_K_G_E = q_B_H_E.reshape(n_rows, n_kv, -1, head_dim)
        scores_B_K_G_L = torch.matmul(q_B_K_G_E, keys_B_K_L_E.transpose(-1, -2)).mul_(attention.scaling)
        weights_B_K_G_L = (scores_B_K_G_L.float() + bias_B_1_1_L).softmax(-1).to(values_B_K_L_E.dtype)
        heads_B_K_G_E = torch.matmul(weights_B_K_G_L, values_B_K_L_E)
        h_D_B = h_D_B + projected(attention.o_proj, heads_B_K_G_E.reshape(n_rows, -1).t(), weights)
        x_D_B = rms_normed(layer.post_attention_layernorm, h_D_B)
        mlp = layer.mlp
        gated_I_B = torch.nn.functional.silu(projected(mlp.gate_proj, x_D_B, weights))
        gated_I_B = gated_I_B.mul_(projected(mlp.up_proj, x_D_B, weights))
        h_D_B = h_D_B + projected(mlp.down_proj, gated_I_B, weights)
    # Contiguous rows: `draw` reads the logits five times over, faster along rows than across a transpose.
    return projected(model.lm_head, rms_normed(inner.norm, h_D_B), weights).t().contiguous()
