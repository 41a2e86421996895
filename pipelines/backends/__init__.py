"""Scoring backends: callables that turn hindsight token sequences into per-token log-probs.

A backend takes a list of `HindsightSequences` and returns one `ReplyLogprobs` per item, in order.
`pipelines/score.py` receives it as `score_fn`, so tests inject a tiny model and production a
transformers (`transformers_backend.py`) or vLLM backend. Heavy imports stay inside each backend module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pipelines.hindsight import HindsightSequences

DEFAULT_MODEL = "smollm2-135m-instruct"  # the built-in model: pipelines/backends/model_loading.py converts it once
# Padded tokens per forward of the transformers backend: the one default of every config that sets it.
MAX_BATCH_TOKENS = 8192
# Weight and activation precisions every backend accepts (`ScoringConfig.dtype`; the vLLM sampler's too).
DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class ReplyLogprobs:
    """Log-probs (nats, float32) of each reply token, aligned to `HindsightSequences.reply_ids` (T tokens)."""

    student_T: np.ndarray  # log p(y_i | x, y_<i)
    teacher_T: np.ndarray  # log p(y_i | x ⊕ o, y_<i)
    topk_ids_T_K: np.ndarray | None = None  # teacher's K most likely token ids per position; None when K = 0
    topk_teacher_T_K: np.ndarray | None = None  # their teacher log-probs, descending; None when K = 0


ScoreFn = Callable[[Sequence[HindsightSequences]], list[ReplyLogprobs]]
