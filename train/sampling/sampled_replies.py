"""What either sampling engine returns per prompt (`SampledReply`), the seed of each prompt's own stream and
the rule sampling settings obey (`check_sampling`).

Shared by the in-process engine (train/sampling/sampler.py) and the vLLM worker (train/sampling/vllm_sampler.py),
which runs in an interpreter of its own: no torch import here, so the worker reads it without the trainer's stack.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class SampledReply:
    token_ids: list[int]  # the ids drawn, in order; ends with a stop id iff finished
    logprobs: list[float]  # log p_θ(token | prompt, earlier drawn tokens) = log_softmax(logits / T), float32
    finished: bool  # True = drew a stop id; False = cut at max_new_tokens (no stop id appended, ever)


def check_sampling(temperature: float, max_new_tokens: int, batch_size: int) -> None:
    """The one rule for sampling settings: `[train.regen]` checks it when parsed, the engine when called."""
    if temperature <= 0 or max_new_tokens < 1 or batch_size < 1:
        raise ValueError("temperature must be > 0, max_new_tokens >= 1 and batch_size >= 1")


def prompt_seed(seed: int, index: int) -> int:
    """The seed of prompt `index`'s own random stream (both engines use it)."""
    digest = hashlib.blake2b(f"{seed}/{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1  # 63 bits: torch.Generator and vLLM take it
