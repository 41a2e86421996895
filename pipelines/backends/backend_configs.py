"""Each scoring backend's own options: `[score.transformers]` and `[score.vllm]` (and `[train.transformers]`).

Settings both backends share (model, dtype, top-K) are `ScoringConfig`'s; these hold only what one engine
reads. Plain dataclasses with no torch or vLLM import, so a config can be built and checked on any machine.
"""

from dataclasses import dataclass

from pipelines.backends import MAX_BATCH_TOKENS


@dataclass(frozen=True)
class TransformersBackendConfig:
    max_batch_tokens: int = MAX_BATCH_TOKENS  # padded KV slots per forward (2 rows × longest row); bounds memory
    logits_chunk_tokens: int = 256  # reply positions with live full-vocab logits; 256 × 49k vocab × 4 B ≈ 50 MB

    def __post_init__(self) -> None:
        if self.max_batch_tokens < 2:
            raise ValueError(f"max_batch_tokens={self.max_batch_tokens} must be >= 2 (one student+teacher pair)")
        if self.logits_chunk_tokens < 1:
            raise ValueError(f"logits_chunk_tokens={self.logits_chunk_tokens} must be >= 1")


@dataclass(frozen=True)
class VllmEngineConfig:
    """What every vLLM engine here is started with, the scorer's (`[score.vllm]`) and the sampler's
    (`[train.regen.vllm]`): one meaning per field; each subclass sets the defaults its job needs."""

    max_model_len: int = 0  # longest prompt (+ reply) vLLM accepts, tokens; 0 = the model's own limit
    kv_cache_gib: float = 0.0  # KV cache size, GiB; 0 = sized by vLLM from gpu_memory_utilization
    gpu_memory_utilization: float = 0.92  # share of GPU memory vLLM may take (of RAM on CPU); vLLM's default
    enforce_eager: bool = False  # True skips torch.compile and CUDA graphs: start-up in seconds, slower steps
    tensor_parallel_size: int = 1  # GPUs one model is split over

    def __post_init__(self) -> None:
        if self.max_model_len < 0:
            raise ValueError(f"max_model_len={self.max_model_len} must be >= 0 (0 = the model's own limit)")
        if self.kv_cache_gib < 0:
            raise ValueError(f"kv_cache_gib={self.kv_cache_gib} must be >= 0 (0 = vLLM sizes the KV cache)")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError(f"gpu_memory_utilization={self.gpu_memory_utilization} must be in (0, 1]")
        if self.tensor_parallel_size < 1:
            raise ValueError("tensor_parallel_size must be >= 1")


@dataclass(frozen=True)
class VllmBackendConfig(VllmEngineConfig):
    """The scoring engine's options (`[score.vllm]`); dtype and top_k are `ScoringConfig`'s, shared by both
    backends."""

    max_num_batched_tokens: int = 0  # prompt tokens per engine step, bounds prompt-logit memory; 0 = vLLM's
    requests_per_call: int = 256  # interactions per LLM.generate call; bounds the per-position log-prob dicts

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_num_batched_tokens < 0:
            raise ValueError(f"max_num_batched_tokens={self.max_num_batched_tokens} must be >= 0 (0 = vLLM's)")
        if self.requests_per_call < 1:
            raise ValueError("requests_per_call must be >= 1")
