"""Peak RSS of one logged training round of the shipped trainer: micro-batches of long replies, default model.

`prepare` writes a storage root with `--replies` interactions whose replies are `--reply-tokens` tokens of
English text (this repository's README, repeated) and scores them as round 0 with the shipped scorer;
`measure` copies that root, runs `train.run_setup.setup_run` → `round_replies.regenerate_round` →
`steps.train_round` (logged mode,
live teacher, one micro-batch of `--replies`, gradient checkpointing so activations stay small next to the
LM head's share) and prints the process's peak RSS over `train_round` (VmHWM reset right before it).
`--code DIR` imports the trainer from another checkout, so the same script measures an older revision:
  python benchmarks/train_memory.py prepare --root /tmp/train-mem
  python benchmarks/train_memory.py measure --root /tmp/train-mem [--code /tmp/train-before]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
NIGHT = date(2026, 1, 1)
MIB = 1024**2


def read_status_kib(field: str) -> int:
    """A `VmRSS`/`VmHWM` value of this process, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def long_text(tokenizer, n_tokens: int, offset: int) -> str:
    """`n_tokens` tokens of README prose starting `offset` tokens in (wrapping around)."""
    ids = tokenizer((REPO_ROOT / "README.md").read_text(), add_special_tokens=False)["input_ids"]
    ids = (ids * (1 + (offset + n_tokens) // len(ids)))[offset : offset + n_tokens]
    return tokenizer.decode(ids)


def prepare(args: argparse.Namespace) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.backends.model_loading import load_model, load_tokenizer
    from pipelines.backends.transformers_backend import TransformersBackendConfig, make_scorer
    from pipelines.score import ScoreRun, score_interactions
    from pipelines.store import layout as storage
    from schemas import interactions as interactions_schema

    tokenizer = load_tokenizer(args.model)
    rows = [
        {
            "interaction_id": f"long{i:03d}:1", "conversation_id": f"long{i:03d}", "turn_index": 1,
            "context": [{"role": "user", "content": f"Explain part {i} of the project in detail."}],
            "response": long_text(tokenizer, args.reply_tokens, 97 * i),
            "followup": "Shorter next time, please.", "model": "gpt-4", "language": "English", "timestamp": None,
            "source_format": "wildchat", "content_hash": f"h{i}", "ingest_date": NIGHT,
        }
        for i in range(args.replies)
    ]  # fmt: skip
    interactions = pa.Table.from_pylist(rows, schema=interactions_schema.SCHEMA)
    path = Path(storage.night_file(args.root, "interactions", NIGHT))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(interactions, path)
    model, source = load_model(args.model)
    scorer = make_scorer(model, TransformersBackendConfig(), top_k=0)
    scores = score_interactions(interactions, scorer, tokenizer, ScoreRun("night", source.model_id, source.revision))
    shard = Path(storage.score_shard_path(args.root, "night", 0, 0, 1))
    shard.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(scores, shard)
    print(json.dumps({"root": args.root, "reply_tokens": scores["n_tokens"].to_pylist()}))


def measure(args: argparse.Namespace) -> None:
    from train import round_replies, run_setup, steps
    from train.config import TrainConfig

    with tempfile.TemporaryDirectory(prefix="train-memory-") as scratch:
        root = os.path.join(scratch, "root")
        shutil.copytree(args.root, root)
        cfg = TrainConfig(
            root=root, model=args.model, mode="logged", teacher="live", loss=args.loss, eval_fraction=0.0,
            eval_max_interactions=0, interactions_per_round=args.replies, micro_batch_size=args.replies,
            accumulation_steps=1, gradient_checkpointing=True, tensorboard=False,
        )  # fmt: skip
        state = run_setup.setup_run(cfg)
        rows, _ = round_replies.regenerate_round(state, 1)
        rss_before = read_status_kib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS, so the peak below is train_round's
        started = time.perf_counter()
        metrics = steps.train_round(state, 1, rows)
        seconds = time.perf_counter() - started
        peak = read_status_kib("VmHWM")
    print(
        json.dumps(
            {
                "code": args.code,
                "git_head": subprocess.run(
                    ["git", "-C", args.code, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
                ).stdout.strip(),
                "loss": args.loss,
                "replies": len(rows),
                "reply_tokens": [len(r.reply_ids) for r in rows],
                "rss_before_mib": round(rss_before / 1024),
                "peak_rss_mib": round(peak / 1024),
                "peak_over_before_mib": round((peak - rss_before) / 1024),
                "train_round_s": round(seconds, 1),
                "loss_value": metrics["loss/train"],
                "load_average": os.getloadavg(),
            }
        )
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=("prepare", "measure"))
    parser.add_argument("--root", required=True, help="the prepared storage root (measure copies it)")
    parser.add_argument("--code", default=str(REPO_ROOT), help="checkout whose trainer is imported")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--replies", type=int, default=4, help="replies, all in one micro-batch")
    parser.add_argument("--reply-tokens", type=int, default=2000)
    parser.add_argument("--loss", default="sampled_token", choices=("sampled_token", "topk"))
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    sys.path.insert(0, args.code)  # before any project import
    prepare(args) if args.phase == "prepare" else measure(args)


if __name__ == "__main__":
    main()
