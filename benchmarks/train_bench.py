"""Training throughput on one GPU: a plain Hugging Face SFT step against the shipped trainer's step.

Randomly initialised Qwen3-0.6B- and Qwen3-4B-shaped models (tied embeddings) in bf16 with gradient
checkpointing and AdamW, a few optimizer steps each of
  baseline: one sample per row, right-padded to 2048 tokens, attention mask, `model(..., labels=...)`
            (full-vocabulary logits at every position + cross-entropy), as a plain HF trainer runs it;
  ours:     the trainer's own code on the same kind of samples (WildChat-like prompt x ≈ 490, reply
            y ≈ 285 tokens) as `TrainingRow`s: `train.batches.micro_batches` (length buckets under
            `--batch-tokens` padded tokens), `collate`, and `train.objective.micro_batch_loss` (decoder once,
            LM head only at reply positions in chunks recomputed in backward, `sampled_token_loss` with
            stored-teacher log-probs; `--live-teacher` adds the no-grad teacher forward over x ⊕ o ⊕ y).
This script implements no forward or loss of its own (tests/test_benchmarks_import.py checks it).
Reports tokens/s (real and padded), padding slots per useful token (buckets vs shuffled rows), peak CUDA
memory, MFU = 6·params·tokens/s / bf16 matmul rate measured in this run (8192³), and the ratio to the
baseline and to the reference numbers. Imports torch, transformers, numpy and the torch-only trainer
modules (a subprocess checks that no pyarrow/duckdb/prefect/beam comes along). `--tiny`: same code on CPU.
`--cpu`: the default model on this CPU, one shipped training step in float32 against bf16 autocast
(benchmarks/train_precision.py). Run: python benchmarks/train_bench.py --out results.json | --tiny | --cpu --out F
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # the GPU image runs the script from a plain checkout, not an install

from benchmarks.model_shapes import QWEN3_VOCAB, SHAPES, TINY_SHAPES, TINY_VOCAB  # noqa: E402
from pipelines.backends.length_buckets import length_buckets, padded_slots  # noqa: E402
from train import batches, objective  # noqa: E402  (torch, transformers, numpy: no pyarrow)
from train import model as train_model  # noqa: E402
from train.batches import TrainingRow  # noqa: E402
from train.config import TrainConfig  # noqa: E402

GIB = 1024**3
HEAVY_MODULES = ("duckdb", "prefect", "apache_beam", "vllm", "pyarrow", "datasets")
# The reference plain-HF numbers (tokens/s, MFU) and the target: at least 1.5x them.
REFERENCE = {"qwen3-0.6b": (39.6e3, 0.18), "qwen3-4b": (10.0e3, 0.33)}
TARGET_RATIO = 1.5
# WildChat-like lengths in tokens: (mean, median) of a lognormal, sigma = sqrt(2 ln(mean/median)).
LENGTHS = {"x": (490.0, 340.0), "y": (285.0, 210.0), "o": (60.0, 21.0)}
MAX_PROMPT, MAX_REPLY, BASELINE_ROW = 2048, 2048, 2048


def log(start: float, message: str) -> None:
    print(f"[{time.perf_counter() - start:7.1f}s] {message}", flush=True)


def lognormal(rng: np.random.Generator, n: int, mean: float, median: float, low: int, high: int) -> np.ndarray:
    sigma = float(np.sqrt(2.0 * np.log(mean / median)))
    return np.clip(np.rint(rng.lognormal(np.log(median), sigma, n)), low, high).astype(int)


def make_samples(n: int, vocab: int, seed: int, scale: float, row_limit: int) -> list[dict]:
    """`n` synthetic (prompt, reply, follow-up) token lists with WildChat-like lengths (× `scale` for --tiny)."""
    rng = np.random.default_rng(seed)
    mean_median = {k: (m * scale, d * scale) for k, (m, d) in LENGTHS.items()}
    x = lognormal(rng, n, *mean_median["x"], low=4, high=MAX_PROMPT)
    y = lognormal(rng, n, *mean_median["y"], low=2, high=MAX_REPLY)
    o = lognormal(rng, n, *mean_median["o"], low=1, high=256)
    samples = []
    for i in range(n):
        reply_len = int(min(y[i], row_limit - 4))
        prompt_len = int(min(x[i], row_limit - reply_len))  # the baseline's row must hold x + y
        samples.append(
            {
                "prompt": rng.integers(0, vocab, prompt_len).tolist(),
                "reply": rng.integers(0, vocab, reply_len).tolist(),
                "followup": rng.integers(0, vocab, int(o[i])).tolist(),
                "teacher_logp": (-rng.exponential(2.0, reply_len)).astype(np.float32),
            }
        )
    return samples


def build_model(shape: dict[str, int], vocab: int, dtype: torch.dtype, device: str, seed: int):
    """Random Qwen3ForCausalLM (tied embeddings, SDPA) created in `dtype` on `device`, in train mode with
    non-reentrant gradient checkpointing."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=vocab, tie_word_embeddings=True, max_position_embeddings=40960, attn_implementation="sdpa", **shape
    )
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Qwen3ForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    model.config.use_cache = False
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    return model


def make_optimizer(model: torch.nn.Module, device: str) -> torch.optim.Optimizer:
    fused = {"fused": True} if device.startswith("cuda") else {"foreach": True}
    return torch.optim.AdamW(model.parameters(), lr=1e-6, weight_decay=0.0, **fused)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure_matmul_rate(device: str, dtype: torch.dtype, size: int, iterations: int) -> float:
    """Best of 3 timed loops of size³ matmuls, FLOP/s: the MFU denominator on this very machine."""
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    c = torch.empty(size, size, device=device, dtype=dtype)
    for _ in range(3):
        torch.matmul(a, b, out=c)
    best = float("inf")
    for _ in range(3):
        sync(device)
        started = time.perf_counter()
        for _ in range(iterations):
            torch.matmul(a, b, out=c)
        sync(device)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 * iterations / best


# ================================================================ baseline: plain HF SFT step


def baseline_batches(samples: list[dict], rows: int, row_len: int, device: str) -> list[tuple]:
    """One sample per row, right-padded to `row_len`; labels −100 on padding (the loss covers x and y)."""
    out = []
    for i in range(0, len(samples) - rows + 1, rows):
        ids = torch.zeros((rows, row_len), dtype=torch.long)
        mask = torch.zeros((rows, row_len), dtype=torch.long)
        for r, sample in enumerate(samples[i : i + rows]):
            tokens = (sample["prompt"] + sample["reply"])[:row_len]
            ids[r, : len(tokens)] = torch.tensor(tokens)
            mask[r, : len(tokens)] = 1
        labels = ids.masked_fill(mask == 0, -100)
        out.append((ids.to(device), mask.to(device), labels.to(device), int(mask.sum())))
    return out


def baseline_step(model, optimizer, micro_batches: list[tuple]) -> dict:
    for ids, mask, labels, _ in micro_batches:
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss / len(micro_batches)
        loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return {
        "padded_tokens": sum(ids.numel() for ids, *_ in micro_batches),
        "real_tokens": sum(m[3] for m in micro_batches),
        "loss": float(loss),
    }


# ================================================================ ours: length-sorted reply batches, reply-only head


def training_rows(samples: list[dict]) -> list[TrainingRow]:
    """The samples as the trainer's rows: student prefix x, teacher prefix x ⊕ o, stored-teacher log-probs."""
    return [
        TrainingRow(
            interaction_id=f"s{i}",
            student_prefix_ids=s["prompt"],
            teacher_prefix_ids=s["prompt"] + s["followup"],
            reply_ids=s["reply"],
            behaviour_logp_T=None,
            teacher_logp_T=s["teacher_logp"],
            topk_ids_T_K=None,
            topk_logp_T_K=None,
        )
        for i, s in enumerate(samples)
    ]


def ours_step(model, optimizer, rows: list[TrainingRow], args: argparse.Namespace, step: int) -> dict:
    """One optimizer step of the shipped trainer over `rows`: `train.batches.micro_batches` (length buckets
    under `--batch-tokens`), `collate`, and `train.objective.micro_batch_loss` per micro-batch."""
    cfg = TrainConfig(
        root="-", mode="logged", teacher="live" if args.live_teacher else "stored", ignore_first_tokens=2,
        grad_clip=1.0,
    )  # fmt: skip
    micro = batches.micro_batches(rows, len(rows), args.seed, step, 1, max_tokens=args.batch_tokens)
    stats = {"real_tokens": 0, "padded_tokens": 0, "reply_tokens": 0, "teacher_tokens": 0, "micro_batches": 0}
    total = 0.0
    for indices in micro:
        batch = batches.collate([rows[i] for i in indices])
        loss, loss_stats = objective.micro_batch_loss(cfg, model, model, batch, len(rows))
        loss.backward()
        total += float(loss)
        stats["real_tokens"] += int(batch.student_mask_B_L.sum())
        stats["padded_tokens"] += batch.student_ids_B_L.numel()
        stats["reply_tokens"] += int(batch.mask_B_T.sum())
        stats["teacher_tokens"] += int(batch.teacher_mask_B_L.sum()) if args.live_teacher else 0
        stats["micro_batches"] += 1
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return {**stats, "loss": total}


def padding_per_useful_token(rows: list[TrainingRow], batch_tokens: int, seed: int) -> dict[str, float]:
    """Padded slots per useful prefix+reply token: the shipped length buckets vs the same number of
    micro-batches cut from a seeded shuffle of the rows (how the trainer batched before buckets)."""
    widths = [(len(r.student_prefix_ids) + len(r.reply_ids),) for r in rows]
    buckets = length_buckets(widths, max_tokens=batch_tokens)
    size = -(-len(rows) // len(buckets))
    order = np.random.default_rng(seed).permutation(len(rows)).tolist()
    shuffled = [order[i : i + size] for i in range(0, len(order), size)]
    out = {}
    for name, grouping in (("buckets", buckets), ("shuffled_rows", shuffled)):
        padded, useful = padded_slots(widths, grouping)
        out[name] = (padded - useful) / useful
    return out


@torch.no_grad()
def check_reply_logp(model, rows: list[TrainingRow], device: str) -> float:
    """max |Δ log p| between the shipped reply log-probs and full-logits log-softmax (padded rows, 2 samples)."""
    batch = batches.collate(rows[:2])
    ids_B_L, mask_B_L = batch.student_ids_B_L.to(device), batch.student_mask_B_L.to(device)
    reply_B_T, real_B_T = batch.reply_ids_B_T.to(device), batch.mask_B_T.to(device)
    ours_B_T = train_model.reply_logprobs(
        model, ids_B_L, mask_B_L, batch.student_first_B.to(device), reply_B_T, real_B_T
    ).token_B_T
    full_B_L_V = torch.log_softmax(model(input_ids=ids_B_L, attention_mask=mask_B_L).logits.float(), dim=-1)
    positions_B_T = batch.student_first_B.to(device)[:, None] + torch.arange(reply_B_T.shape[1], device=device)
    positions_B_T = positions_B_T.clamp(max=ids_B_L.shape[1] - 1)
    reference_B_T = full_B_L_V.gather(1, positions_B_T[..., None].expand(-1, -1, full_B_L_V.shape[-1]))
    reference_B_T = reference_B_T.gather(-1, reply_B_T[..., None])[..., 0]
    return float(((ours_B_T - reference_B_T) * real_B_T).abs().max())


# ================================================================ timing


def timed_steps(name: str, step, n_steps: int, warmup: int, device: str, start: float, budget_s: float) -> dict:
    """Run `warmup` + `n_steps` calls of `step()`; time the latter (stopping early past `budget_s`)."""
    for i in range(warmup):
        step(i)
        sync(device)
        log(start, f"  {name}: warm-up step {i + 1}/{warmup} done")
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    totals: dict = {}
    seconds, done = 0.0, 0
    for i in range(n_steps):
        sync(device)
        began = time.perf_counter()
        out = step(warmup + i)
        sync(device)
        seconds += time.perf_counter() - began
        done += 1
        for key, value in out.items():
            totals[key] = totals.get(key, 0) + value
        log(start, f"  {name}: step {i + 1}/{n_steps} {time.perf_counter() - began:.2f}s")
        if seconds > budget_s:
            break
    peak = torch.cuda.max_memory_allocated() / GIB if device.startswith("cuda") else None
    return {"steps": done, "seconds": seconds, "peak_gib": peak, **totals}


def rates(result: dict, params: int, matmul: float) -> dict:
    seconds = max(result["seconds"], 1e-9)
    real, padded = result["real_tokens"] / seconds, result["padded_tokens"] / seconds
    return {
        "real_tokens_per_s": real,
        "padded_tokens_per_s": padded,
        "mfu_real": 6 * params * real / matmul,
        "mfu_padded": 6 * params * padded / matmul,
    }


def bench_shape(name: str, shape: dict, args: argparse.Namespace, setup: dict, start: float) -> dict:
    device, dtype, vocab = setup["device"], setup["dtype"], setup["vocab"]
    scale, row_len = (0.1, 256) if args.tiny else (1.0, BASELINE_ROW)
    log(start, f"{name}: building the model ({dtype})")
    model = build_model(shape, vocab, dtype, device, args.seed)
    params = sum(p.numel() for p in model.parameters())  # tied embedding counted once
    log(start, f"{name}: {params / 1e6:.1f}M parameters")
    optimizer = make_optimizer(model, device)
    n_steps = args.steps + args.warmup
    out: dict = {"params": params, "shape": shape}

    # baseline: `baseline_rows` × `baseline_accumulation` padded rows per step
    per_step = args.baseline_rows * args.baseline_accumulation
    samples = make_samples(per_step * n_steps, vocab, args.seed + 1, scale, row_len)
    micro = baseline_batches(samples, args.baseline_rows, row_len, device)
    groups = [micro[i : i + args.baseline_accumulation] for i in range(0, len(micro), args.baseline_accumulation)]
    log(start, f"{name}: baseline, {per_step} rows × {row_len} tokens per step")
    try:
        result = timed_steps(
            "baseline", lambda i: baseline_step(model, optimizer, groups[i]), args.steps, args.warmup, device,
            start, args.phase_budget_s,
        )  # fmt: skip
        out["baseline"] = {**result, **rates(result, params, setup["matmul"])}
    except torch.OutOfMemoryError as error:
        out["baseline"] = {"error": f"out of memory: {str(error)[:200]}"}
        log(start, f"{name}: baseline ran out of memory")
    micro = groups = None  # free the baseline batches
    optimizer.zero_grad(set_to_none=True)
    if device.startswith("cuda"):
        torch.cuda.empty_cache()

    # ours: `replies_per_step` samples per step, length-sorted micro-batches of ≤ batch_tokens padded tokens
    rows = training_rows(
        make_samples(args.replies_per_step * n_steps, vocab, args.seed + 2, scale, MAX_PROMPT + MAX_REPLY)
    )
    steps = [rows[i : i + args.replies_per_step] for i in range(0, len(rows), args.replies_per_step)]
    out["padding_per_useful_token"] = padding_per_useful_token(steps[0], args.batch_tokens, args.seed)
    log(start, f"{name}: padding slots per useful token {out['padding_per_useful_token']}")
    model.eval()  # no dropout either way; eval only for the check below
    out["max_abs_logp_diff"] = check_reply_logp(model, rows, device)
    model.train()
    log(start, f"{name}: reply-only log-probs vs full logits: max |Δ| {out['max_abs_logp_diff']:.2e}")
    log(start, f"{name}: ours, {args.replies_per_step} replies per step, ≤ {args.batch_tokens} tokens per micro-batch")
    try:
        result = timed_steps(
            "ours", lambda i: ours_step(model, optimizer, steps[i], args, i), args.steps, args.warmup, device,
            start, args.phase_budget_s,
        )  # fmt: skip
        out["ours"] = {**result, **rates(result, params, setup["matmul"])}
        if args.live_teacher:  # the teacher forward is 2·params per token on top
            seconds = max(result["seconds"], 1e-9)
            flops = 6 * params * result["real_tokens"] + 2 * params * result["teacher_tokens"]
            out["ours"]["mfu_with_teacher"] = flops / seconds / setup["matmul"]
    except torch.OutOfMemoryError as error:
        out["ours"] = {"error": f"out of memory: {str(error)[:200]}"}
        log(start, f"{name}: ours ran out of memory")
    base, ours = out.get("baseline", {}), out.get("ours", {})
    if "real_tokens_per_s" in base and "real_tokens_per_s" in ours:
        out["ratio_real_tokens"] = ours["real_tokens_per_s"] / base["real_tokens_per_s"]
        out["ratio_vs_baseline_padded"] = ours["real_tokens_per_s"] / base["padded_tokens_per_s"]
    if name in REFERENCE and "real_tokens_per_s" in ours:
        out["ratio_vs_reference"] = ours["real_tokens_per_s"] / REFERENCE[name][0]
    model = optimizer = None  # free before the next shape
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return out


def fmt(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def print_table(name: str, result: dict) -> None:
    print(f"\n{name} ({result['params'] / 1e6:.0f}M params)")
    print("| path | steps | s/step | real tok/s | padded tok/s | MFU (real) | MFU (padded) | peak GiB | reply tokens |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in ("baseline", "ours"):
        r = result.get(path, {})
        if "error" in r or not r:
            print(f"| {path} | {r.get('error', 'not run')} |")
            continue
        print(
            f"| {path} | {r['steps']} | {r['seconds'] / max(r['steps'], 1):.2f} | {r['real_tokens_per_s']:,.0f} | "
            f"{r['padded_tokens_per_s']:,.0f} | {r['mfu_real']:.3f} | {r['mfu_padded']:.3f} | "
            f"{fmt(r['peak_gib'], '.1f')} | {r.get('reply_tokens', '—')} |"
        )
    if "ratio_real_tokens" in result:
        print(
            f"ours / baseline: {result['ratio_real_tokens']:.2f}x real tokens/s, "
            f"{result['ratio_vs_baseline_padded']:.2f}x against the baseline's padded tokens/s"
        )
    if name in REFERENCE and "ratio_vs_reference" in result:
        tokens, mfu = REFERENCE[name]
        verdict = "met" if result["ratio_vs_reference"] >= TARGET_RATIO else "NOT met"
        print(
            f"ours / reference ({tokens / 1e3:.1f}k tok/s, MFU {mfu}): {result['ratio_vs_reference']:.2f}x; "
            f"target {TARGET_RATIO}x {verdict}"
        )


def heavy_modules_on_import() -> list[str]:
    """Import this script (and so the trainer modules it uses) in a fresh interpreter; list the heavy modules."""
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('train_bench', {str(Path(__file__).resolve())!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "import transformers.models.qwen3.modeling_qwen3\n"
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode:
        return [f"check failed: {done.stderr.strip()[-300:]}"]
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    import transformers

    if args.tiny:
        setup = {"device": "cpu", "dtype": torch.float32, "vocab": TINY_VOCAB}
        shapes, size, iterations = TINY_SHAPES, 256, 10
    else:
        if not torch.cuda.is_available():
            sys.exit("needs CUDA; use --tiny to run the same code path on CPU")
        setup = {"device": "cuda", "dtype": torch.bfloat16, "vocab": QWEN3_VOCAB}
        shapes, size, iterations = SHAPES, 8192, 100
    shapes = {k: v for k, v in shapes.items() if not args.shapes or k in args.shapes}
    device = setup["device"]
    device_name = torch.cuda.get_device_name() if device == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    log(start, f"torch {torch.__version__}, transformers {transformers.__version__}, {device_name}")
    heavy = heavy_modules_on_import()
    log(start, f"heavy modules pulled in by the imports: {heavy or 'none'}")
    setup["matmul"] = measure_matmul_rate(device, setup["dtype"], size, iterations)
    log(start, f"matmul rate ({size}³ {setup['dtype']}): {setup['matmul'] / 1e12:.1f} TFLOP/s")
    results = {name: bench_shape(name, shape, args, setup, start) for name, shape in shapes.items()}
    for name, result in results.items():
        print_table(name, result)
    log(start, "done")
    return {
        "tiny": args.tiny,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": device_name,
        "dtype": str(setup["dtype"]),
        "matmul_size": size,
        "matmul_flops_per_s": setup["matmul"],
        "heavy_modules_imported": heavy,
        "heavy_modules_in_this_process": [m for m in HEAVY_MODULES if m in sys.modules],
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "mfu": "6 · params (tied embedding once) · tokens/s / matmul rate; 'real' counts non-padding tokens, "
        "'padded' every token slot run (the baseline's 2048 per row)",
        "packing": "train.batches.micro_batches: length buckets, rows right-padded to the bucket's longest, with mask",
        "reference": {k: {"tokens_per_s": t, "mfu": m} for k, (t, m) in REFERENCE.items()},
        "shapes": results,
        "wall_s": time.perf_counter() - start,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shapes on CPU in float32 (exercises the code)")
    parser.add_argument(
        "--cpu", action="store_true", help="the default model on CPU: a step in float32 vs bf16 autocast"
    )
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--shapes", nargs="*", default=None, help="subset of shapes to run (default all)")
    parser.add_argument("--steps", type=int, default=4, help="timed optimizer steps per path")
    parser.add_argument("--warmup", type=int, default=1, help="untimed optimizer steps per path first")
    parser.add_argument("--baseline-rows", type=int, default=8, help="baseline rows per micro-batch")
    parser.add_argument("--baseline-accumulation", type=int, default=2, help="baseline micro-batches per step")
    parser.add_argument("--replies-per-step", type=int, default=64, help="ours: replies per optimizer step")
    parser.add_argument("--batch-tokens", type=int, default=16384, help="ours: padded tokens per micro-batch")
    parser.add_argument("--live-teacher", action="store_true", help="ours: add the no-grad teacher forward")
    parser.add_argument("--phase-budget-s", type=float, default=60.0, help="stop a path's timed steps after this")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.tiny or args.cpu:
        defaults = {"steps": 2, "baseline_rows": 4, "replies_per_step": 16, "batch_tokens": 1024}
        defaults |= {"steps": 3} if args.cpu else {}
        for key, value in defaults.items():
            if getattr(args, key) == parser.get_default(key):
                setattr(args, key, value)
    return args


def main() -> None:
    args = parse_args()
    if args.cpu:
        from train_precision import run_cpu  # this folder is on sys.path: the script's own

        results = run_cpu(args)
    else:
        results = run(args)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2, default=str))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
