"""Time the prefix-shared transformers scorer against a naive scorer, on CPU (real data) or one GPU (synthetic).

cpu (default): SmolLM2-135M-Instruct (float32) scores `--n` real WildChat interactions built by the project's
own stages (sources → ingest → segment) from ../shared/data/wildchat_real_small.jsonl. Each side runs in its own
subprocess of this script so each gets its own peak RSS. Prints reply tokens/s, the speed ratio and the max
|Δ log p| between the two. gpu: randomly initialised Qwen3-0.6B- and Qwen3-4B-shaped models in bf16, synthetic
token sequences with WildChat's length mix, a bf16 matmul rate, useful MFU, peak CUDA memory and a naive padded
baseline; imports only torch, transformers, numpy and the two scoring modules (no duckdb/prefect/beam needed).
`--cpu`: the shipped scorer on the same interactions in float32 (the nightly default) and in bfloat16, turns in
alternation: reply tokens/s of each, the ratio, per-token |Δ| of student, teacher and advantage, and how many
interactions keep the sign of their mean advantage.
Run: python benchmarks/score_bench.py [--n 16] | --cpu --out F | --mode gpu --out results.json | --mode gpu --tiny
Longer than the house 500 lines on purpose: one self-contained script is what gets copied to a device machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # the GPU image runs the script from a plain checkout, not an install

from benchmarks.model_shapes import QWEN3_VOCAB, SHAPES, TINY_SHAPES, TINY_VOCAB  # noqa: E402

WILDCHAT_SMALL = Path("/work/shared/data/wildchat_real_small.jsonl")
INGEST_DATE = "2026-01-01"
TARGET_CPU_SPEEDUP = 4.0
TARGET_BF16_SPEEDUP = 3.0  # --cpu: bf16 scoring over float32 scoring, reply tokens/s
GIB = 1024**3
# Modules the GPU image does not have; the gpu path must not pull them in.
HEAVY_MODULES = ("duckdb", "prefect", "apache_beam", "vllm", "pyarrow", "datasets")

# Issue targets (useful MFU, peak GiB) and the naive baseline measured on one H200 (DESIGN.md §4).
GPU_TARGETS = {"qwen3-0.6b": (0.3, 24.0), "qwen3-4b": (0.5, 24.0)}
H200_BASELINE = {"qwen3-0.6b": "5.7k reply tok/s, MFU 0.03", "qwen3-4b": "2.1k reply tok/s, MFU 0.09, 89 GiB"}

# WildChat's length mix in tokens (DESIGN.md §4): (mean, median) of a lognormal, sigma = sqrt(2 ln(mean/median)).
LENGTH_MIX = {"x": (490.0, 340.0), "y": (285.0, 210.0), "o": (60.0, 21.0)}
HINDSIGHT_BLOCK_TOKENS = 30  # the `paper` template's text around o
TEMPLATE_SUFFIX_TOKENS = 5  # `<|im_end|>\n<|im_start|>assistant\n` after the last user message, in both prefixes
MAX_CONTEXT_TOKENS = MAX_REPLY_TOKENS = 2048  # HindsightConfig defaults


def count(value: float) -> str:
    """1234567 → '1.23M', 4.02e9 → '4.02B'."""
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def flop_rate(value: float) -> str:
    return f"{value / 1e12:.1f} TFLOP/s" if value >= 1e12 else f"{value / 1e9:.1f} GFLOP/s"


def log(start: float, message: str) -> None:
    print(f"[{time.perf_counter() - start:7.1f}s] {message}", flush=True)


def read_status_kib(field: str) -> int:
    """A `VmRSS`/`VmHWM` value of this process, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux clear_refs value 5), so the next peak belongs to one phase."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def count_work(model: torch.nn.Module, sequences: list, max_batch_tokens: int) -> dict:
    """Token slots and matmul FLOPs (attention scores left out) each scorer must run on `sequences`.

    naive: every position of both full sequences through all weights, vocabulary projection included.
    ours: the shared prefix once, both continuations, vocabulary projection only at the 2|y| reply positions;
    `ideal` without padding, `padded` as `batch_plans` actually groups them under `max_batch_tokens`.
    """
    from pipelines.backends.transformers_backend import batch_plans, plan_request

    head = model.get_output_embeddings().weight
    projection = head.numel()  # V·H multiply-adds per position with logits
    body = sum(p.numel() for p in model.get_decoder().parameters()) - model.get_input_embeddings().weight.numel()
    plans = [plan_request(s) for s in sequences]
    padded = 0
    for batch in batch_plans(plans, max_batch_tokens):
        shared = max(len(plans[i].shared_ids) for i in batch)
        continuation = max(plans[i].longest_continuation for i in batch)
        padded += len(batch) * shared + 2 * len(batch) * continuation
    ideal = sum(len(p.shared_ids) + len(p.student_ids) + len(p.teacher_ids) for p in plans)
    naive = sum(len(s.student_prefix_ids) + len(s.teacher_prefix_ids) + 2 * len(s.reply_ids) for s in sequences)
    scored = 2 * sum(len(s.reply_ids) for s in sequences)
    flops = {
        "naive": 2 * (body + projection) * naive,
        "ours_ideal": 2 * body * ideal + 2 * projection * scored,
        "ours_padded": 2 * body * padded + 2 * projection * scored,
    }
    return {
        "token_slots": {"naive": naive, "ours_ideal": ideal, "ours_padded": padded},
        "flops": flops,
        "flop_ratio_naive_over_ours_ideal": flops["naive"] / flops["ours_ideal"],
        "flop_ratio_naive_over_ours_padded": flops["naive"] / flops["ours_padded"],
    }


# ================================================================ cpu mode: SmolLM2 on real WildChat


def build_wildchat_interactions(n: int) -> list[dict]:
    """The first `n` kept interactions of the real sample, through the project's own ingest and segment stages."""
    import pyarrow.compute as pc

    from pipelines.ingest import ingest_records
    from pipelines.ingest_config import IngestConfig
    from pipelines.segment import SegmentConfig, segment_turns
    from pipelines.sources import plan_chunks, read_chunk

    rows: list[dict] = []
    for chunk in plan_chunks([str(WILDCHAT_SMALL)]):
        raw = read_chunk(chunk).records
        conversations = ingest_records(raw, chunk.source_format, INGEST_DATE, IngestConfig()).conversations
        candidates = segment_turns(conversations, SegmentConfig())
        kept = candidates.filter(pc.is_null(candidates["drop_reason"]))
        rows.extend(kept.select(["interaction_id", "context", "response", "followup"]).to_pylist())
    if len(rows) < n:
        print(f"warning: the sample yields {len(rows)} interactions, fewer than --n {n}; using all", flush=True)
    return rows[:n]


@torch.inference_mode()
def naive_single_logprobs(model: torch.nn.Module, prefix: list[int], reply: list[int]) -> np.ndarray:
    """One reply alone: a full forward over prefix + reply, float32 log-softmax over every position."""
    logits_L_V = model(input_ids=torch.tensor([prefix + reply])).logits[0]
    logp_L_V = torch.log_softmax(logits_L_V.float(), dim=-1)
    rows_T_V = logp_L_V[len(prefix) - 1 : len(prefix) - 1 + len(reply)]
    return rows_T_V.gather(1, torch.tensor(reply)[:, None])[:, 0].numpy()


def run_cpu_phase(args: argparse.Namespace) -> None:
    """Child process: build the data, load SmolLM2, score with one side, write timings and log-probs as JSON."""
    from pipelines.backends.model_loading import DEFAULT_MODEL, load_model, load_tokenizer
    from pipelines.backends.transformers_backend import TransformersBackendConfig, make_scorer
    from pipelines.hindsight import HindsightConfig, build_sequences

    interactions = build_wildchat_interactions(args.n)
    tokenizer = load_tokenizer(DEFAULT_MODEL)
    hindsight = HindsightConfig()
    sequences = [
        build_sequences(r["context"], r["response"], r["followup"], tokenizer, hindsight) for r in interactions
    ]
    model, source = load_model(DEFAULT_MODEL, dtype=args.dtype, device="cpu")

    if args.phase == "ours":
        backend = TransformersBackendConfig(max_batch_tokens=args.max_batch_tokens)
        scorer = make_scorer(model, backend, top_k=0)

        def score_all(batch):
            return [(r.student_T, r.teacher_T) for r in scorer(batch)]

    else:
        backend = None

        def score_all(batch):
            return [
                (
                    naive_single_logprobs(model, s.student_prefix_ids, s.reply_ids),
                    naive_single_logprobs(model, s.teacher_prefix_ids, s.reply_ids),
                )
                for s in batch
            ]

    score_all(sequences[:1])  # warm-up: first-call allocations and kernel selection stay out of the timing
    rss_before_kib = read_status_kib("VmRSS")
    peak_reset = reset_peak_rss()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    scored = score_all(sequences)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "phase": args.phase,
        "dtype": args.dtype,
        "model_id": source.model_id,
        "model_revision": source.revision,
        "backend_config": asdict(backend) if backend else None,
        "torch_threads": torch.get_num_threads(),
        "interactions": len(sequences),
        "reply_tokens": sum(len(s.reply_ids) for s in sequences),
        "student_prefix_tokens": sum(len(s.student_prefix_ids) for s in sequences),
        "teacher_prefix_tokens": sum(len(s.teacher_prefix_ids) for s in sequences),
        "seconds": seconds,
        # CPU time of all threads: steadier than wall time when other work shares the cores.
        "cpu_seconds": after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime,
        "work": count_work(model, sequences, args.max_batch_tokens),
        "rss_before_scoring_kib": rss_before_kib,
        # With the reset, VmHWM is the peak while scoring; without it, the peak since process start.
        "rss_peak_scoring_kib": read_status_kib("VmHWM") if peak_reset else None,
        "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "student": [s.tolist() for s, _ in scored],
        "teacher": [t.tolist() for _, t in scored],
    }
    Path(args.result).write_text(json.dumps(result))


def run_phase(args: argparse.Namespace, phase: str, dtype: str, tmp: str, start: float) -> dict:
    """One side in a subprocess of this script: its timings and per-token log-probs."""
    log(start, f"{phase} {dtype}: scoring {args.n} interactions in a subprocess")
    path = Path(tmp) / f"{phase}-{dtype}.json"
    command = [sys.executable, __file__, "--mode", "cpu", "--phase", phase, "--dtype", dtype, "--n", str(args.n)]
    command += ["--max-batch-tokens", str(args.max_batch_tokens), "--result", str(path)]
    subprocess.run(command, check=True)
    result = json.loads(path.read_text())
    log(start, f"{phase} {dtype}: {result['seconds']:.1f} s")
    return result


def run_precisions(args: argparse.Namespace) -> dict:
    """`--cpu`: the shipped scorer in float32 (the nightly default) and in bfloat16 on the same interactions,
    `--repeats` turns each in alternation (fastest counts): speed, per-token agreement, and how many
    interactions keep the sign of their mean advantage."""
    if not WILDCHAT_SMALL.is_file():
        sys.exit(f"{WILDCHAT_SMALL} is missing: cpu mode scores that real WildChat sample (../shared/data/)")
    from pipelines.backends.precision import measure_bf16_speedup

    start = time.perf_counter()
    probe = measure_bf16_speedup()
    log(start, f"bf16 probe matmul: {probe:.2f}x float32")
    turns: dict[str, list[dict]] = {"float32": [], "bfloat16": []}
    with tempfile.TemporaryDirectory(prefix="score-bench-") as tmp:
        for _ in range(args.repeats):
            for dtype in turns:
                turns[dtype].append(run_phase(args, "ours", dtype, tmp, start))
    best = {dtype: min(runs, key=lambda r: r["seconds"]) for dtype, runs in turns.items()}
    rates = {dtype: r["reply_tokens"] / r["seconds"] for dtype, r in best.items()}
    fp32, bf16 = best["float32"], best["bfloat16"]
    gaps = {"student": [], "teacher": [], "advantage": []}
    signs_kept = 0
    for s32, t32, s16, t16 in zip(fp32["student"], fp32["teacher"], bf16["student"], bf16["teacher"], strict=True):
        s32, t32, s16, t16 = (np.asarray(v, np.float64) for v in (s32, t32, s16, t16))
        gaps["student"].append(np.abs(s32 - s16))
        gaps["teacher"].append(np.abs(t32 - t16))
        gaps["advantage"].append(np.abs((t32 - s32) - (t16 - s16)))
        signs_kept += int(np.sign((t32 - s32).mean()) == np.sign((t16 - s16).mean()))
    agreement = {
        side: {"mean": float(np.concatenate(v).mean()), "max": float(np.concatenate(v).max())}
        for side, v in gaps.items()
    }
    n = fp32["interactions"]
    speedup = rates["bfloat16"] / rates["float32"]
    print(
        f"\nSmolLM2-135M-Instruct on CPU ({fp32['torch_threads']} threads), {n} WildChat interactions, "
        f"{fp32['reply_tokens']} reply tokens, best of {args.repeats} turns each"
    )
    for dtype, rate in rates.items():
        print(f"  {dtype:<9} {best[dtype]['seconds']:7.2f} s  {rate:8.1f} reply tok/s")
    print(f"  bf16 / fp32: {speedup:.2f}x (target {TARGET_BF16_SPEEDUP}x)")
    for side, a in agreement.items():
        print(f"  |Δ {side}| per token: mean {a['mean']:.4f}, max {a['max']:.4f} nats")
    print(f"  interactions whose mean advantage keeps its sign: {signs_kept} of {n}")
    for runs in turns.values():
        for r in runs:
            del r["student"], r["teacher"]
    return {
        "mode": "cpu-precision",
        "bf16_probe_speedup": probe,
        "turns": turns,
        "reply_tokens_per_s": rates,
        "speedup": speedup,
        "target_speedup": TARGET_BF16_SPEEDUP,
        "per_token_abs_diff": agreement,
        "sign_kept": signs_kept,
        "sign_kept_share": signs_kept / n,
        "interactions": n,
    }


def run_cpu(args: argparse.Namespace) -> dict:
    """Parent: run both sides in turn as subprocesses, then compare them."""
    if not WILDCHAT_SMALL.is_file():
        sys.exit(f"{WILDCHAT_SMALL} is missing: cpu mode scores that real WildChat sample (../shared/data/)")
    start = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory(prefix="score-bench-") as tmp:
        for phase in ("ours", "naive"):
            results[phase] = run_phase(args, phase, "float32", tmp, start)

    ours, naive = results["ours"], results["naive"]
    diffs = {
        side: max(
            float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)), initial=0.0))
            for a, b in zip(ours[side], naive[side], strict=True)
        )
        for side in ("student", "teacher")
    }
    rates = {phase: r["reply_tokens"] / r["seconds"] for phase, r in results.items()}
    ratio = rates["ours"] / rates["naive"]
    n = ours["interactions"]
    print()
    print(
        f"SmolLM2-135M-Instruct float32 on CPU ({ours['torch_threads']} torch threads), {n} WildChat interactions: "
        f"reply {ours['reply_tokens']} tokens (mean {ours['reply_tokens'] / n:.0f}), student prefix mean "
        f"{ours['student_prefix_tokens'] / n:.0f}, teacher prefix mean {ours['teacher_prefix_tokens'] / n:.0f}"
    )
    header = (
        f"{'side':<34}{'seconds':>9}{'reply tok/s':>13}{'CPU s':>8}{'RSS before':>12}{'peak scoring':>14}"
        f"{'max RSS':>10}"
    )
    print(header)
    print("-" * len(header))
    names = {"ours": "ours (prefix-shared, batched)", "naive": "naive (one reply, 2 full fwd)"}
    for phase, r in results.items():
        peak = f"{r['rss_peak_scoring_kib'] / 1024:.0f} MiB" if r["rss_peak_scoring_kib"] else "n/a"
        print(
            f"{names[phase]:<34}{r['seconds']:>9.2f}{rates[phase]:>13.1f}{r['cpu_seconds']:>8.1f}"
            f"{r['rss_before_scoring_kib'] / 1024:>8.0f} MiB{peak:>14}{r['ru_maxrss_kib'] / 1024:>6.0f} MiB"
        )
    verdict = "meets" if ratio >= TARGET_CPU_SPEEDUP else "below"
    cpu_ratio = naive["cpu_seconds"] / ours["cpu_seconds"]
    print(
        f"speed-up (reply tok/s): {ratio:.2f}x ({verdict} the {TARGET_CPU_SPEEDUP:.0f}x target); "
        f"by CPU time {cpu_ratio:.2f}x"
    )
    work = ours["work"]
    print(
        f"work (matmul FLOPs): naive / ours = {work['flop_ratio_naive_over_ours_ideal']:.2f}x without padding, "
        f"{work['flop_ratio_naive_over_ours_padded']:.2f}x as batched; token slots naive "
        f"{work['token_slots']['naive']}, ours {work['token_slots']['ours_ideal']} "
        f"(+{work['token_slots']['ours_padded'] - work['token_slots']['ours_ideal']} padding)"
    )
    print(f"max |Δ log p| ours vs naive: student {diffs['student']:.2e}, teacher {diffs['teacher']:.2e} nats")
    for r in results.values():
        del r["student"], r["teacher"]
    return {
        "mode": "cpu",
        "phases": results,
        "reply_tokens_per_s": rates,
        "speedup": ratio,
        "speedup_cpu_time": cpu_ratio,
        "max_abs_diff": diffs,
    }


# ================================================================ gpu mode: Qwen3 shapes, synthetic sequences


def lognormal_lengths(rng: np.random.Generator, n: int, mean: float, median: float, low: int, high: int) -> np.ndarray:
    """Token counts from a lognormal with the given mean and median, clipped to [low, high]."""
    sigma = float(np.sqrt(2.0 * np.log(mean / median)))
    return np.clip(np.rint(rng.lognormal(np.log(median), sigma, n)), low, high).astype(int)


def synthetic_sequences(n: int, vocab_size: int, seed: int) -> tuple[list, dict[str, list[int]]]:
    """`n` HindsightSequences laid out as real ones: teacher = x body + hindsight block + o + template suffix."""
    from pipelines.hindsight import HindsightSequences

    rng = np.random.default_rng(seed)
    x = lognormal_lengths(rng, n, *LENGTH_MIX["x"], low=TEMPLATE_SUFFIX_TOKENS + 8, high=8192)
    y = lognormal_lengths(rng, n, *LENGTH_MIX["y"], low=1, high=8192)
    # Capped so the teacher's own part (block + o) always leaves student context after left truncation.
    o = lognormal_lengths(rng, n, *LENGTH_MIX["o"], low=1, high=1024)
    suffix = rng.integers(0, vocab_size, TEMPLATE_SUFFIX_TOKENS).tolist()
    block = rng.integers(0, vocab_size, HINDSIGHT_BLOCK_TOKENS).tolist()
    end_of_turn = vocab_size - 1
    sequences, lengths = [], {"x": [], "y": [], "o": []}
    for i in range(n):
        body = rng.integers(0, vocab_size, x[i] - TEMPLATE_SUFFIX_TOKENS).tolist()
        student = body + suffix
        teacher = body + block + rng.integers(0, vocab_size, o[i]).tolist() + suffix
        reply = rng.integers(0, vocab_size, y[i] - 1).tolist() + [end_of_turn]
        # As build_sequences' default: each prefix keeps its last tokens, replies lose their tail.
        student_cut = max(0, len(student) - MAX_CONTEXT_TOKENS)
        teacher_cut = max(0, len(teacher) - MAX_CONTEXT_TOKENS)
        sequences.append(
            HindsightSequences(
                student_prefix_ids=student[student_cut:],
                teacher_prefix_ids=teacher[teacher_cut:],
                reply_ids=reply[:MAX_REPLY_TOKENS],
                student_context_truncated=student_cut > 0,
                teacher_context_truncated=teacher_cut > 0,
                reply_truncated=len(reply) > MAX_REPLY_TOKENS,
            )
        )
        lengths["x"].append(len(student) - student_cut)
        lengths["y"].append(min(len(reply), MAX_REPLY_TOKENS))
        lengths["o"].append(int(o[i]))
    return sequences, lengths


def build_qwen3(shape: dict[str, int], vocab_size: int, dtype: torch.dtype, device: str, seed: int):
    """A randomly initialised Qwen3ForCausalLM with tied embeddings, created directly in `dtype` on `device`."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=vocab_size,
        tie_word_embeddings=True,
        max_position_embeddings=40960,
        attn_implementation="sdpa",
        **shape,
    )
    torch.manual_seed(seed)
    # Creating in the target dtype avoids a transient float32 copy (16 GB for the 4B shape).
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Qwen3ForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


class Meter:
    """Synchronised wall time and peak memory of one phase: CUDA allocator peak on a GPU, VmHWM on CPU."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def start(self) -> float:
        self.sync()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        else:
            reset_peak_rss()
        return time.perf_counter()

    def stop(self, started: float) -> tuple[float, float]:
        """(seconds, peak GiB) since `start`."""
        self.sync()
        seconds = time.perf_counter() - started
        peak = torch.cuda.max_memory_allocated() if self.cuda else read_status_kib("VmHWM") * 1024
        return seconds, peak / GIB


def measure_matmul_rate(device: str, dtype: torch.dtype, size: int, iterations: int, meter: Meter) -> float:
    """Best of 3 timed loops of size³ matmuls, in FLOP/s: the denominator of MFU on this very machine."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    c = torch.empty(size, size, device=device, dtype=dtype)
    for _ in range(3):
        torch.matmul(a, b, out=c)
    best = float("inf")
    for _ in range(3):
        started = meter.start()
        for _ in range(iterations):
            torch.matmul(a, b, out=c)
        best = min(best, meter.stop(started)[0])
    del a, b, c
    return 2 * size**3 * iterations / best


class NaivePaddedScorer:
    """Baseline: batches of `batch_size` in input order, two right-padded full forwards (student, teacher),
    float32 log-softmax over the whole [B, L, V] logits. A batch that runs out of memory is split in halves."""

    def __init__(self, model: torch.nn.Module, batch_size: int, device: str) -> None:
        self.model, self.batch_size, self.device = model, batch_size, device
        self.oom_splits = 0

    @torch.inference_mode()
    def score_pass(self, prefixes: list[list[int]], replies: list[list[int]]) -> list[np.ndarray]:
        """One padded forward over prefix + reply rows; halves the rows and retries when out of memory."""
        try:
            return self._forward(prefixes, replies)
        except torch.OutOfMemoryError:
            if len(prefixes) == 1:
                raise
        # Retried after the handler, once the failed attempt's frame (and its tensors) is gone.
        self.oom_splits += 1
        torch.cuda.empty_cache()
        half = len(prefixes) // 2
        return self.score_pass(prefixes[:half], replies[:half]) + self.score_pass(prefixes[half:], replies[half:])

    def _forward(self, prefixes: list[list[int]], replies: list[list[int]]) -> list[np.ndarray]:
        rows = [p + r for p, r in zip(prefixes, replies, strict=True)]
        width = max(len(r) for r in rows)
        ids_B_L = torch.zeros((len(rows), width), dtype=torch.long)
        mask_B_L = torch.zeros((len(rows), width), dtype=torch.long)
        for b, row in enumerate(rows):
            ids_B_L[b, : len(row)] = torch.tensor(row)
            mask_B_L[b, : len(row)] = 1
        logits_B_L_V = self.model(input_ids=ids_B_L.to(self.device), attention_mask=mask_B_L.to(self.device)).logits
        logp_B_L_V = torch.log_softmax(logits_B_L_V.float(), dim=-1)
        out = []
        for b, (prefix, reply) in enumerate(zip(prefixes, replies, strict=True)):
            rows_T_V = logp_B_L_V[b, len(prefix) - 1 : len(prefix) - 1 + len(reply)]
            target_T = torch.tensor(reply, device=rows_T_V.device)
            out.append(rows_T_V.gather(1, target_T[:, None])[:, 0].cpu().numpy())
        return out

    def __call__(self, sequences: list, deadline: float = float("inf")) -> list[tuple[np.ndarray, np.ndarray]]:
        """Scores batches in order until `deadline` (perf_counter seconds) passes; returns the finished prefix."""
        out = []
        for start in range(0, len(sequences), self.batch_size):
            if time.perf_counter() > deadline:
                break
            batch = sequences[start : start + self.batch_size]
            replies = [s.reply_ids for s in batch]
            student = self.score_pass([s.student_prefix_ids for s in batch], replies)
            teacher = self.score_pass([s.teacher_prefix_ids for s in batch], replies)
            out.extend(zip(student, teacher, strict=True))
        return out


def useful_tokens(sequences: list, followup_lengths: list[int]) -> int:
    """Σ(|x| + |o| + 2|y|): the least a scorer must run (x once, o once, y under both contexts).

    The ~30 hindsight-template tokens are not counted, so this slightly understates the work done."""
    x = sum(len(s.student_prefix_ids) for s in sequences)
    y = sum(len(s.reply_ids) for s in sequences)
    return x + sum(followup_lengths) + 2 * y


def rate_row(sequences: list, followups: list[int], seconds: float, peak_gib: float, params: dict, matmul: float):
    """Throughput and MFU of one timed phase."""
    reply = sum(len(s.reply_ids) for s in sequences)
    useful = useful_tokens(sequences, followups)
    # DESIGN.md counting: 2·(all parameters, tied embedding once) per useful token, as for its H200 numbers.
    design_flops = 2 * params["total"] * useful
    # Strict: transformer blocks for every useful token, the vocabulary projection only where log-probs are read.
    strict_flops = 2 * params["non_embedding"] * useful + 2 * params["embedding"] * 2 * reply
    return {
        "interactions": len(sequences),
        "reply_tokens": reply,
        "useful_tokens": useful,
        "seconds": seconds,
        "reply_tokens_per_s": reply / seconds,
        "useful_tokens_per_s": useful / seconds,
        "useful_mfu": design_flops / seconds / matmul,
        "strict_mfu": strict_flops / seconds / matmul,
        "peak_gib": peak_gib,
    }


def max_abs_diff(a: list[tuple[np.ndarray, np.ndarray]], b: list) -> dict[str, float]:
    """Largest |Δ log p| over all reply tokens, student and teacher separately."""
    out = {}
    for side, index in (("student", 0), ("teacher", 1)):
        out[side] = max(
            (
                float(np.max(np.abs(x[index].astype(np.float64) - y[index].astype(np.float64))))
                for x, y in zip(a, b, strict=True)
            ),
            default=0.0,
        )
    return out


def preflight(device: str, start: float) -> str | None:
    """Our backend vs the naive scorer on a tiny float32 Qwen3 on the target device; the error text if it fails."""
    from pipelines.backends.transformers_backend import TransformersBackendConfig, make_scorer

    model = build_qwen3(TINY_SHAPES["tiny-a"], TINY_VOCAB, torch.float32, device, seed=1)
    sequences, _ = synthetic_sequences(6, TINY_VOCAB, seed=1)
    try:
        ours = [(r.student_T, r.teacher_T) for r in make_scorer(model, TransformersBackendConfig(), top_k=0)(sequences)]
    except (RuntimeError, TypeError, ValueError) as error:
        log(start, f"PREFLIGHT FAILED: our backend raised {type(error).__name__}: {error}")
        return f"{type(error).__name__}: {error}"
    diff = max_abs_diff(ours, NaivePaddedScorer(model, 16, device)(sequences))
    log(start, f"preflight: tiny float32 Qwen3, ours vs naive max |Δ log p| {max(diff.values()):.1e}")
    if max(diff.values()) > 1e-3:
        return f"ours and naive disagree by {max(diff.values()):.2e} nats on a float32 model"
    return None


def bench_shape(name: str, shape: dict, args: argparse.Namespace, setup: dict, start: float) -> dict:
    """Build one model shape and time ours, the batch-budget sweep and the naive baseline on it."""
    from pipelines.backends.transformers_backend import TransformersBackendConfig, make_scorer

    device, dtype, meter, matmul = setup["device"], setup["dtype"], setup["meter"], setup["matmul_flops"]
    n, n_baseline = (
        (args.n_small, args.n_baseline_small)
        if name.endswith(("0.6b", "-a"))
        else (args.n_large, args.n_baseline_large)
    )
    vocab = TINY_VOCAB if args.tiny else QWEN3_VOCAB
    log(start, f"{name}: building model ({setup['dtype_name']}, {device})")
    model = build_qwen3(shape, vocab, dtype, device, seed=0)
    embedding = model.get_input_embeddings().weight.numel()
    total = sum(p.numel() for p in model.parameters())  # a tied weight is one Parameter, counted once
    params = {"total": total, "embedding": embedding, "non_embedding": total - embedding}
    weights_gib = sum(p.numel() * p.element_size() for p in model.parameters()) / GIB
    sequences, lengths = synthetic_sequences(max(n, n_baseline), vocab, seed=0)
    result: dict = {
        "shape": shape,
        "vocab_size": vocab,
        "params": params,
        "weights_gib": weights_gib,
        "lengths": {k: {"mean": float(np.mean(v)), "median": float(np.median(v))} for k, v in lengths.items()},
    }
    log(
        start,
        f"{name}: {count(total)} params ({count(params['non_embedding'])} without embeddings), "
        f"{weights_gib:.1f} GiB weights; lengths "
        + ", ".join(f"{k} mean {v['mean']:.0f} median {v['median']:.0f}" for k, v in result["lengths"].items()),
    )

    ours = None
    if setup["backend_error"] is None:
        backend = TransformersBackendConfig(
            max_batch_tokens=args.max_batch_tokens, logits_chunk_tokens=args.logits_chunk
        )
        scorer = make_scorer(model, backend, top_k=0)
        scorer(sequences[:16])  # warm-up
        log(start, f"{name}: ours on {n} interactions (max_batch_tokens={args.max_batch_tokens})")
        started = meter.start()
        ours = [(r.student_T, r.teacher_T) for r in scorer(sequences[:n])]
        seconds, peak = meter.stop(started)
        result["ours"] = rate_row(sequences[:n], lengths["o"][:n], seconds, peak, params, matmul)
        result["ours"]["backend_config"] = asdict(backend)
        result["work"] = count_work(model, sequences[:n], args.max_batch_tokens)
        log(start, f"{name}: ours {result['ours']['reply_tokens_per_s']:.0f} reply tok/s, {seconds:.1f} s")

        result["sweep"] = []
        n_sweep = min(n, args.n_sweep)
        for budget in args.sweep:
            if time.perf_counter() - start > args.time_budget_s:
                log(start, f"{name}: time budget spent, sweep stopped")
                break
            swept = make_scorer(
                model,
                TransformersBackendConfig(max_batch_tokens=budget, logits_chunk_tokens=args.logits_chunk),
                top_k=0,
            )
            try:
                started = meter.start()
                swept(sequences[:n_sweep])
                seconds, peak = meter.stop(started)
            except torch.OutOfMemoryError:
                torch.cuda.empty_cache()
                result["sweep"].append({"max_batch_tokens": budget, "error": "out of memory"})
                log(start, f"{name}: sweep max_batch_tokens={budget}: out of memory")
                continue
            row = rate_row(sequences[:n_sweep], lengths["o"][:n_sweep], seconds, peak, params, matmul)
            result["sweep"].append({"max_batch_tokens": budget, **row})
            log(start, f"{name}: sweep max_batch_tokens={budget}: {row['reply_tokens_per_s']:.0f} reply tok/s")

    if args.skip_baseline or time.perf_counter() - start > args.time_budget_s:
        log(start, f"{name}: naive baseline skipped")
    else:
        naive = NaivePaddedScorer(model, args.baseline_batch, device)
        naive(sequences[:2])  # warm-up
        log(start, f"{name}: naive padded baseline on up to {n_baseline} interactions (≤ {args.baseline_max_s:.0f} s)")
        started = meter.start()
        scored = naive(sequences[:n_baseline], deadline=time.perf_counter() + args.baseline_max_s)
        seconds, peak = meter.stop(started)
        done = len(scored)
        result["naive"] = rate_row(sequences[:done], lengths["o"][:done], seconds, peak, params, matmul)
        result["naive"].update(batch_size=args.baseline_batch, oom_splits=naive.oom_splits)
        log(start, f"{name}: naive {result['naive']['reply_tokens_per_s']:.0f} reply tok/s on {done}, {seconds:.1f} s")
        if ours is not None:
            result["speedup"] = result["ours"]["reply_tokens_per_s"] / result["naive"]["reply_tokens_per_s"]
            result["max_abs_diff"] = max_abs_diff(ours[:done], scored)

    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return result


def print_shape_table(name: str, result: dict, setup: dict) -> None:
    params = result["params"]
    print()
    print(
        f"== {name}: {count(params['total'])} params, {setup['dtype_name']} on {setup['device_name']}; "
        f"matmul rate {flop_rate(setup['matmul_flops'])} =="
    )
    header = (
        f"{'side':<28}{'inter.':>7}{'reply tok':>10}{'seconds':>9}{'reply tok/s':>12}"
        f"{'useful tok/s':>13}{'useful MFU':>11}{'strict MFU':>11}{'peak GiB':>9}"
    )
    print(header)
    print("-" * len(header))
    rows = [("ours (prefix-shared)", result.get("ours"))]
    rows += [(f"  max_batch_tokens={s['max_batch_tokens']}", s) for s in result.get("sweep", [])]
    rows.append((f"naive padded (bs {result.get('naive', {}).get('batch_size', '-')})", result.get("naive")))
    for label, row in rows:
        if row is None:
            print(f"{label:<28}{'(not run)':>10}")
        elif "error" in row:
            print(f"{label:<28}{row['error']:>20}")
        else:
            print(
                f"{label:<28}{row['interactions']:>7}{row['reply_tokens']:>10}{row['seconds']:>9.2f}"
                f"{row['reply_tokens_per_s']:>12.0f}{row['useful_tokens_per_s']:>13.0f}{row['useful_mfu']:>11.3f}"
                f"{row['strict_mfu']:>11.3f}{row['peak_gib']:>9.2f}"
            )
    if "speedup" in result:
        diff = result["max_abs_diff"]
        print(f"speed-up (reply tok/s): {result['speedup']:.1f}x")
        print(f"max |Δ log p| ours vs naive: student {diff['student']:.2e}, teacher {diff['teacher']:.2e} nats")
    if "work" in result:
        work = result["work"]
        slots = work["token_slots"]
        print(
            f"work: naive / ours matmul FLOPs {work['flop_ratio_naive_over_ours_ideal']:.2f}x without padding, "
            f"{work['flop_ratio_naive_over_ours_padded']:.2f}x as batched (ours: {slots['ours_ideal']} token slots "
            f"+ {slots['ours_padded'] - slots['ours_ideal']} padding)"
        )
    if name in GPU_TARGETS and "ours" in result:
        mfu_target, peak_target = GPU_TARGETS[name]
        ok_mfu = result["ours"]["useful_mfu"] >= mfu_target
        ok_peak = result["ours"]["peak_gib"] <= peak_target
        print(
            f"targets: useful MFU ≥ {mfu_target} {'met' if ok_mfu else 'MISSED'}, peak ≤ {peak_target:.0f} GiB "
            f"{'met' if ok_peak else 'MISSED'}; DESIGN's H200 naive baseline: {H200_BASELINE[name]}"
        )


def run_gpu(args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    import transformers

    import pipelines.backends.transformers_backend  # noqa: F401  (checked below for what it pulls in)
    import pipelines.hindsight  # noqa: F401

    heavy = sorted(m for m in HEAVY_MODULES if m in sys.modules)
    if heavy:
        log(start, f"WARNING: the scoring modules imported {heavy}; the GPU image lacks duckdb/prefect/beam/vllm")
    if args.tiny:
        device, dtype, dtype_name, shapes = "cpu", torch.float32, "float32", TINY_SHAPES
    else:
        if not torch.cuda.is_available():
            sys.exit("--mode gpu needs CUDA; use --tiny to run the same code path on CPU")
        device, dtype, dtype_name, shapes = "cuda", torch.bfloat16, "bfloat16", SHAPES
    meter = Meter(device)
    device_name = torch.cuda.get_device_name() if device == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    log(
        start,
        f"torch {torch.__version__}, transformers {transformers.__version__}, numpy {np.__version__}, {device_name}",
    )

    backend_error = preflight(device, start)
    size, iterations = (512, 10) if args.tiny else (8192, 100)
    matmul = measure_matmul_rate(device, dtype, size, iterations, meter)
    log(start, f"matmul rate ({size}³ {dtype_name}): {flop_rate(matmul)}")
    setup = {
        "device": device,
        "dtype": dtype,
        "dtype_name": dtype_name,
        "device_name": device_name,
        "meter": meter,
        "matmul_flops": matmul,
        "backend_error": backend_error,
    }
    shapes_out = {}
    for name, shape in shapes.items():
        shapes_out[name] = bench_shape(name, shape, args, setup, start)
    for name, result in shapes_out.items():
        print_shape_table(name, result, setup)
    if backend_error:
        print(f"\nOUR BACKEND DID NOT RUN: {backend_error}")
    log(start, "done")
    return {
        "mode": "gpu",
        "tiny": args.tiny,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": device_name,
        "dtype": dtype_name,
        "matmul_size": size,
        "matmul_flops_per_s": matmul,
        "heavy_modules_imported": heavy,
        "backend_error": backend_error,
        "mfu_counting": "useful MFU = 2·(all params, tied embedding once)·Σ(|x|+|o|+2|y|) / seconds / matmul rate; "
        "strict MFU counts non-embedding params per useful token plus the vocabulary projection at 2|y| positions",
        "shapes": shapes_out,
        "wall_s": time.perf_counter() - start,
    }


# ================================================================ entry point


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--max-batch-tokens", type=int, help="our backend's budget (default: 8192 cpu, 32768 gpu)")
    cpu = parser.add_argument_group("cpu mode")
    cpu.add_argument("--n", type=int, default=16, help="WildChat interactions to score")
    cpu.add_argument(
        "--cpu",
        action="store_true",
        help="the shipped scorer in float32 vs bfloat16 on the same interactions (speed and agreement)",
    )
    cpu.add_argument("--repeats", type=int, default=2, help="--cpu: turns per precision, in alternation")
    cpu.add_argument("--phase", choices=("ours", "naive"), help=argparse.SUPPRESS)  # internal: one side, in a child
    cpu.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)  # internal: the child's precision
    cpu.add_argument("--result", help=argparse.SUPPRESS)
    gpu = parser.add_argument_group("gpu mode")
    gpu.add_argument("--tiny", action="store_true", help="tiny float32 shapes on CPU: exercises the gpu code path")
    gpu.add_argument("--n-small", type=int, help="interactions for the 0.6B shape (default 512; --tiny 8)")
    gpu.add_argument("--n-large", type=int, help="interactions for the 4B shape (default 256; --tiny 8)")
    gpu.add_argument("--n-baseline-small", type=int, help="naive baseline interactions, 0.6B (default 128; --tiny 8)")
    gpu.add_argument("--n-baseline-large", type=int, help="naive baseline interactions, 4B (default 64; --tiny 8)")
    gpu.add_argument("--baseline-batch", type=int, default=16, help="naive baseline batch size")
    gpu.add_argument("--baseline-max-s", type=float, default=120.0, help="stop the baseline after this many seconds")
    gpu.add_argument("--logits-chunk", type=int, default=1024, help="our backend's logits_chunk_tokens")
    gpu.add_argument("--sweep", default="8192,65536", help="extra max_batch_tokens values to time ('' = none)")
    gpu.add_argument("--n-sweep", type=int, default=256, help="interactions per sweep point")
    gpu.add_argument("--skip-baseline", action="store_true")
    gpu.add_argument("--time-budget-s", type=float, default=420.0, help="skip sweeps/baselines once past this")
    args = parser.parse_args()
    args.sweep = [int(v) for v in args.sweep.split(",") if v.strip()]
    defaults = (8, 8, 8, 8) if args.tiny else (512, 256, 128, 64)
    for key, value in zip(("n_small", "n_large", "n_baseline_small", "n_baseline_large"), defaults, strict=True):
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.max_batch_tokens is None:
        args.max_batch_tokens = 32768 if args.mode == "gpu" and not args.tiny else 8192
    if args.tiny:
        args.mode = "gpu"
        args.sweep = args.sweep[:1]
        args.n_sweep = min(args.n_sweep, 8)
    return args


def main() -> None:
    args = parse_args()
    if args.phase:
        run_cpu_phase(args)
        return
    runner = run_precisions if args.cpu else run_cpu if args.mode == "cpu" else run_gpu
    results = runner(args)
    results["argv"] = sys.argv[1:]
    results["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"results written to {args.out}")
    sys.exit(1 if results.get("backend_error") else 0)


if __name__ == "__main__":
    main()
