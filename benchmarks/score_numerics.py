"""Numerical noise of the hindsight advantage: the same interactions scored in two batch compositions, two dtypes.

Scores `--n` real WildChat interactions (the project's own ingest and segment stages, as `score_bench.py`)
with the shipped transformers scorer, in each of `--dtypes`, once with every request alone
(`max_batch_tokens` 2) and once length-bucketed (`--max-batch-tokens`, default 8192), and prints mean and
p99 |Δ advantage| per reply token (advantage = teacher − student log-prob, nats) for the batch composition
in each dtype and for bfloat16 against float32. `--model default` is SmolLM2-135M-Instruct; `--model tiny`
a 2-layer random Llama of the same vocabulary (wide init), for CPUs without native bf16 matmuls, where
bfloat16 runs ~50x slower than float32.
Run: python benchmarks/score_numerics.py [--model default|tiny] [--dtypes float32,bfloat16] [--n 8] [--out F]
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

from pipelines.backends.model_loading import DEFAULT_MODEL, load_model, load_tokenizer  # noqa: E402
from pipelines.backends.transformers_backend import TransformersBackendConfig, make_scorer  # noqa: E402
from pipelines.hindsight import HindsightConfig, build_sequences  # noqa: E402


def advantages(model: torch.nn.Module, sequences: list, max_batch_tokens: int) -> np.ndarray:
    """Every reply token's teacher − student log-prob, concatenated over the requests, float64."""
    scored = make_scorer(model, TransformersBackendConfig(max_batch_tokens=max_batch_tokens), top_k=0)(sequences)
    return np.concatenate([r.teacher_T.astype(np.float64) - r.student_T.astype(np.float64) for r in scored])


def tiny(tokenizer) -> torch.nn.Module:
    """2-layer, width-64 random Llama over the tokenizer's vocabulary, tied head, wide init (peaked log-probs)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, initializer_range=0.3, tie_word_embeddings=True,
    )  # fmt: skip
    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval()


def spread(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    delta = np.abs(a - b)
    return {"mean": float(delta.mean()), "p99": float(np.quantile(delta, 0.99)), "max": float(delta.max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="interactions scored")
    parser.add_argument("--max-batch-tokens", type=int, default=8192, help="the bucketed composition's budget")
    parser.add_argument("--model", choices=("default", "tiny"), default="default")
    parser.add_argument("--dtypes", default="float32,bfloat16", help="comma-separated torch dtypes")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    dtypes = args.dtypes.split(",")
    if not WILDCHAT_SMALL.exists():
        sys.exit(f"needs {WILDCHAT_SMALL}")
    tokenizer = load_tokenizer(DEFAULT_MODEL)
    sequences = [
        build_sequences(r["context"], r["response"], r["followup"], tokenizer, HindsightConfig())
        for r in build_wildchat_interactions(args.n)
    ]
    model = load_model(DEFAULT_MODEL, dtype="float32", device="cpu")[0] if args.model == "default" else tiny(tokenizer)
    runs: dict[str, np.ndarray] = {}
    results: dict = {"model": DEFAULT_MODEL if args.model == "default" else "tiny random Llama, SmolLM2 vocabulary"}
    for dtype in dtypes:
        model = model.to(getattr(torch, dtype))
        for name, budget in (("alone", 2), ("bucketed", args.max_batch_tokens)):
            started = time.perf_counter()
            runs[f"{dtype}/{name}"] = advantages(model, sequences, budget)
            results[f"seconds_{dtype}_{name}"] = time.perf_counter() - started
            print(f"{dtype} {name}: {results[f'seconds_{dtype}_{name}']:.1f}s", flush=True)
        results[f"composition_{dtype}"] = spread(runs[f"{dtype}/alone"], runs[f"{dtype}/bucketed"])
    if {"float32", "bfloat16"} <= set(dtypes):
        results["bfloat16_vs_float32"] = spread(runs["bfloat16/bucketed"], runs["float32/bucketed"])
    results.update(
        interactions=len(sequences),
        reply_tokens=int(runs[f"{dtypes[0]}/alone"].size),
        max_batch_tokens=args.max_batch_tokens,
        load_average=os.getloadavg(),
    )
    print(json.dumps(results, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
