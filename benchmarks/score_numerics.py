"""Numerical noise of the hindsight advantage: the same interactions scored in two batch compositions, two dtypes.

Scores `--n` real WildChat interactions (the project's own ingest and segment stages, as `score_bench.py`)
with the shipped transformers scorer and the default model, in float32 and in bfloat16, each once with every
request alone (`max_batch_tokens` 2) and once length-bucketed (`--max-batch-tokens`, default 8192), and prints
mean and p99 |Δ advantage| per reply token (advantage = teacher − student log-prob, nats) for: batch
composition in float32, batch composition in bfloat16, and bfloat16 against float32.
Run: python benchmarks/score_numerics.py [--n 8] [--out results.json]   (CPU, ~5-10 min on 2 busy cores)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from score_bench import WILDCHAT_SMALL, build_wildchat_interactions  # noqa: E402

from pipelines.backends.transformers_backend import TransformersBackendConfig, make_scorer  # noqa: E402
from pipelines.hindsight import HindsightConfig, build_sequences  # noqa: E402
from pipelines.models import DEFAULT_MODEL, load_model, load_tokenizer  # noqa: E402


def advantages(model: torch.nn.Module, sequences: list, max_batch_tokens: int) -> np.ndarray:
    """Every reply token's teacher − student log-prob, concatenated over the requests, float64."""
    scored = make_scorer(model, TransformersBackendConfig(max_batch_tokens=max_batch_tokens))(sequences)
    return np.concatenate([r.teacher_T.astype(np.float64) - r.student_T.astype(np.float64) for r in scored])


def spread(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    delta = np.abs(a - b)
    return {"mean": float(delta.mean()), "p99": float(np.quantile(delta, 0.99)), "max": float(delta.max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="interactions scored")
    parser.add_argument("--max-batch-tokens", type=int, default=8192, help="the bucketed composition's budget")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    if not WILDCHAT_SMALL.exists():
        sys.exit(f"needs {WILDCHAT_SMALL}")
    tokenizer = load_tokenizer(DEFAULT_MODEL)
    sequences = [
        build_sequences(r["context"], r["response"], r["followup"], tokenizer, HindsightConfig())
        for r in build_wildchat_interactions(args.n)
    ]
    model, _ = load_model(DEFAULT_MODEL, dtype="float32", device="cpu")
    runs: dict[str, np.ndarray] = {}
    for dtype in (torch.float32, torch.bfloat16):
        model = model.to(dtype)
        for name, budget in (("alone", 2), ("bucketed", args.max_batch_tokens)):
            started = time.perf_counter()
            runs[f"{str(dtype).removeprefix('torch.')}/{name}"] = advantages(model, sequences, budget)
            print(f"{dtype} {name}: {time.perf_counter() - started:.1f}s", flush=True)
    results = {
        "model": DEFAULT_MODEL,
        "interactions": len(sequences),
        "reply_tokens": int(runs["float32/alone"].size),
        "max_batch_tokens": args.max_batch_tokens,
        "composition_float32": spread(runs["float32/alone"], runs["float32/bucketed"]),
        "composition_bfloat16": spread(runs["bfloat16/alone"], runs["bfloat16/bucketed"]),
        "bfloat16_vs_float32": spread(runs["bfloat16/bucketed"], runs["float32/bucketed"]),
        "load_average": os.getloadavg(),
    }
    print(json.dumps(results, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
