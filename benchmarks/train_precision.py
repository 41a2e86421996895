"""`train_bench.py --cpu`: a training step of the shipped trainer on the default model, float32 vs bf16 autocast.

SmolLM2-135M-Instruct (float32 master weights and AdamW state in both arms), the simulation's workload: the
first `--replies-per-step` train-split requests of data/prompts/everyday_requests.jsonl rendered as the trainer
renders them, replies of WildChat-like length capped at the simulation's 128 tokens (random ids of the
vocabulary: a step's cost does not depend on which ids), the live teacher over prompt ⊕ a hindsight block.
Each arm is the trainer's own code: `train.batches.micro_batches` / `collate` and
`train.objective.micro_batch_loss` (its `precision` context) under a `TrainConfig(precision=...)`, then clip and
AdamW. Both arms start from the same weights; steps alternate between the arms (a burst of other load hits
both), the first step of each is untimed and its losses are compared (relative difference), and `speedup` is
float32's median step time over bf16's.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from pipelines.backends.precision import measure_bf16_speedup
from train import batches, objective
from train.batches import TrainingRow
from train.config import TrainConfig

PROMPTS_FILE = Path(__file__).resolve().parents[1] / "data" / "prompts" / "everyday_requests.jsonl"
TARGET_SPEEDUP = 2.5
LOSS_TOLERANCE = 1e-2  # relative difference of the first step's losses
REPLY_MEAN, REPLY_MEDIAN, REPLY_CAP = 80.0, 60.0, 128  # reply tokens: lognormal, capped at max_new_tokens
HINDSIGHT_TOKENS = 40  # the `paper` block plus a short follow-up


def workload(n: int, seed: int) -> tuple[torch.nn.Module, list[TrainingRow], str]:
    """The default model (float32) and `n` training rows of the simulation's shape."""
    from pipelines.backends import DEFAULT_MODEL
    from pipelines.backends.model_loading import load_model, load_tokenizer
    from pipelines.hindsight import HindsightConfig, build_sequences

    model, source = load_model(DEFAULT_MODEL, dtype="float32", device="cpu")
    tokenizer = load_tokenizer(source)
    rows = [json.loads(line) for line in PROMPTS_FILE.read_text().splitlines() if line.strip()]
    texts = [row["text"] for row in rows if row["split"] == "train"][:n]
    rng = np.random.default_rng(seed)
    sigma = np.sqrt(2 * np.log(REPLY_MEAN / REPLY_MEDIAN))
    lengths = np.clip(rng.lognormal(np.log(REPLY_MEDIAN), sigma, len(texts)).round(), 8, REPLY_CAP).astype(int)
    vocab = model.config.vocab_size
    out = []
    for i, (text, length) in enumerate(zip(texts, lengths, strict=True)):
        prefix = build_sequences([{"role": "user", "content": text}], "", "", tokenizer, HindsightConfig())
        prompt = prefix.student_prefix_ids
        reply = rng.integers(3, vocab, int(length)).tolist()
        out.append(
            TrainingRow(
                interaction_id=f"r{i}",
                student_prefix_ids=prompt,
                teacher_prefix_ids=prompt + rng.integers(3, vocab, HINDSIGHT_TOKENS).tolist(),
                reply_ids=reply,
                behaviour_logp_T=None,
                teacher_logp_T=np.zeros(len(reply), np.float32),
                topk_ids_T_K=None,
                topk_logp_T_K=None,
            )
        )
    return model, out, source.model_id


def train_step(cfg: TrainConfig, model, optimizer, rows: list[TrainingRow], step: int) -> float:
    """One optimizer step over `rows` with the trainer's micro-batching and loss; returns the step's loss."""
    total = 0.0
    for indices in batches.micro_batches(rows, cfg.micro_batch_size, cfg.seed, step, 1):
        batch = batches.collate([rows[i] for i in indices])
        loss, _ = objective.micro_batch_loss(cfg, model, model, batch, len(rows))
        loss.backward()
        total += float(loss.detach())
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return total


def run_cpu(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    probe = measure_bf16_speedup()
    base, rows, model_id = workload(args.replies_per_step, args.seed)
    arms = {}
    for name in ("float32", "bfloat16"):
        model = copy.deepcopy(base).train()
        cfg = TrainConfig(root="-", mode="logged", teacher="live", precision=name, seed=args.seed)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate)
        arms[name] = {"cfg": cfg, "model": model, "optimizer": optimizer, "seconds": [], "losses": []}
    del base
    tokens = sum(len(r.reply_ids) for r in rows)
    print(f"bf16 probe {probe:.2f}x; {len(rows)} replies, {tokens} reply tokens per step", flush=True)
    for step in range(args.steps + 1):  # step 0: untimed, its losses compared
        for name, arm in arms.items():
            step_started = time.perf_counter()
            arm["losses"].append(train_step(arm["cfg"], arm["model"], arm["optimizer"], rows, step))
            seconds = time.perf_counter() - step_started
            if step:
                arm["seconds"].append(seconds)
            print(f"[{time.perf_counter() - started:6.1f}s] {name:9s} step {step}: {seconds:6.2f} s", flush=True)
    median = {name: statistics.median(arm["seconds"]) for name, arm in arms.items()}
    first = {name: arm["losses"][0] for name, arm in arms.items()}
    relative = abs(first["bfloat16"] - first["float32"]) / max(abs(first["float32"]), 1e-12)
    speedup = median["float32"] / median["bfloat16"]
    print(f"median step: float32 {median['float32']:.2f} s, bfloat16 {median['bfloat16']:.2f} s: {speedup:.2f}x")
    print(f"first-step loss: float32 {first['float32']:.6f}, bfloat16 {first['bfloat16']:.6f} ({relative:.2e})")
    return {
        "mode": "cpu",
        "model": model_id,
        "torch_threads": torch.get_num_threads(),
        "bf16_probe_speedup": probe,
        "replies_per_step": len(rows),
        "reply_tokens_per_step": tokens,
        "micro_batch_size": arms["float32"]["cfg"].micro_batch_size,
        "step_seconds": {name: arm["seconds"] for name, arm in arms.items()},
        "median_step_seconds": median,
        "tokens_per_s": {name: tokens / seconds for name, seconds in median.items()},
        "speedup": speedup,
        "first_step_loss": first,
        "first_step_loss_relative_diff": relative,
        "losses_ok": relative <= LOSS_TOLERANCE,
        "targets": {"speedup": TARGET_SPEEDUP, "loss_relative": LOSS_TOLERANCE},
        "wall_s": time.perf_counter() - started,
    }
