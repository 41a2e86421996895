"""Sampling on a GPU: the in-process engine against plain HF `generate`, random Qwen3-shaped models, one run.

Needs only torch and transformers (the device image has no vLLM, weights or network): the models are random
Qwen3 decoders at the 0.6B and 4B shapes in bfloat16, the prompts random ids of 32–48 tokens, 128 new tokens
at T=1 with no stop id (every reply runs its full length, so tokens/s compare). For each shape and batch (8
and 64): `hf_generate` (benchmarks/sample_bench.py's baseline) and `torch` (`train.sampling.sampler.sample_tokens`),
tokens/s and their ratio. Runs in about 5 minutes on an H100/H200.
Run: python benchmarks/gpu_sample_check.py --out gpu.json | python benchmarks/gpu_sample_check.py --tiny (CPU)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.sample_bench import hf_generate  # noqa: E402
from train.sampling.sampler import sample_tokens  # noqa: E402

# Qwen3-0.6B and Qwen3-4B as their config.json give them; "tiny" keeps the family for a CPU run.
SHAPES = {
    "qwen3-0.6b": dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16),
    "qwen3-4b": dict(hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4),
}


def random_qwen3(shape: str, device: str, dtype: torch.dtype) -> torch.nn.Module:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tiny = shape == "tiny"
    config = Qwen3Config(
        vocab_size=512 if tiny else 151936, num_key_value_heads=2 if tiny else 8, head_dim=16 if tiny else 128,
        max_position_embeddings=4096, tie_word_embeddings=shape == "qwen3-0.6b", attn_implementation="sdpa",
        **SHAPES[shape],
    )  # fmt: skip
    torch.manual_seed(0)
    with torch.device(device):
        return Qwen3ForCausalLM(config).to(dtype).eval()


def sample_with(engine: str, model, prompts: list[list[int]], max_new_tokens: int, stop: int, batch: int) -> int:
    """Sample every prompt with `engine` ("hf_generate" or "torch"); returns the number of tokens drawn."""
    if engine == "hf_generate":
        return sum(len(ids) for ids in hf_generate(model, prompts, max_new_tokens, stop, batch, seed=0))
    replies = sample_tokens(
        model, prompts, temperature=1.0, max_new_tokens=max_new_tokens, stop_ids=[stop], seed=0, batch_size=batch
    )
    return sum(len(r.token_ids) for r in replies)


def timed(fn, *args) -> tuple[float, object]:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    out = fn(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started, out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="the tiny shape on CPU, float32: seconds")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--batches", default="8,64")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    shapes = ["tiny"] if args.tiny else ["qwen3-0.6b", "qwen3-4b"]
    rows = []
    for shape in shapes:
        model = random_qwen3(shape, device, dtype)
        vocab = model.config.vocab_size
        stop = vocab  # an id past the vocabulary: no reply stops, every one runs max_new_tokens
        for batch in [int(b) for b in args.batches.split(",")]:
            generator = torch.Generator().manual_seed(batch)
            lengths = torch.randint(32, 49, (batch,), generator=generator).tolist()
            prompts = [torch.randint(0, vocab, (n,), generator=generator).tolist() for n in lengths]
            row = {"shape": shape, "batch": batch, "device": device, "dtype": str(dtype)}
            for name in ("hf_generate", "torch"):
                sample_with(name, model, prompts, args.max_new_tokens, stop, batch)  # warm-up: kernels, allocator
                seconds, tokens = timed(sample_with, name, model, prompts, args.max_new_tokens, stop, batch)
                row[f"{name}_tokens_per_s"] = tokens / seconds
            row["speedup"] = row["torch_tokens_per_s"] / row["hf_generate_tokens_per_s"]
            print(json.dumps(row), flush=True)
            rows.append(row)
        if device == "cuda":
            model.cpu()  # the next shape's weights need the memory
            torch.cuda.empty_cache()
    summary = {"rows": rows, "gpu": torch.cuda.get_device_name() if device == "cuda" else None}
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()
