"""Training metrics: one JSON line per record in `training/<run>/metrics.jsonl`, TensorBoard scalars when installed.

Keys are namespaced (loss/…, score/…, regen/…, optim/…, eval/…, time/…) and documented in train/README.md.
A resumed run first drops the lines written after the checkpoint it resumes from, so each step appears once.
"""

from __future__ import annotations

import json
import logging
import os

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.io import write_text

log = logging.getLogger(__name__)


def append_record(path: str, writer, record: dict) -> None:
    """Append one JSON line, and the numeric namespaced values as TensorBoard scalars when a writer is given."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
    if writer is not None:
        for key, value in record.items():
            if "/" in key and isinstance(value, int | float):
                writer.add_scalar(key, value, record["step"])


def truncate_after(path: str, global_step: int, completed_rounds: int) -> None:
    """Drop lines a crashed round wrote after the checkpoint being resumed (and a line cut off by a kill),
    so each step appears once. The file is rewritten atomically."""
    if not os.path.exists(path):
        return
    kept = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # the half-written last line of a killed run
            if line.endswith("\n") and record["round"] <= completed_rounds and record["step"] <= global_step:
                kept.append(line)
    write_text("".join(kept), path)


def tensorboard_writer(log_dir: str):
    """A SummaryWriter when the optional `tensorboard` package is installed; otherwise None (JSONL only)."""
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        log.info("tensorboard is not installed; metrics go to metrics.jsonl only (pip install tensorboard)")
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=log_dir)


def token_mean_advantage(scores: pa.Table) -> float:
    """Mean advantage per scored token over a scores table (nats)."""
    tokens = pc.sum(scores["n_tokens"]).as_py() or 0
    return float((pc.sum(scores["sum_advantage"]).as_py() or 0.0) / max(tokens, 1))


def reply_counts(scores: pa.Table) -> dict:
    """Mean and total reply tokens of a round, and the share of replies cut at a length limit."""
    return {
        "regen/reply_tokens": float(pc.mean(scores["n_tokens"]).as_py() or 0.0),
        "regen/round_tokens": int(pc.sum(scores["n_tokens"]).as_py() or 0),
        "regen/truncated_share": float(pc.mean(scores["reply_truncated"].cast(pa.float64())).as_py() or 0.0),
    }


def time_split(metrics: dict) -> dict:
    """The round's seconds and tokens/s per stage (training_rounds columns); a stage that did not run has 0 s.

    Sampling, scoring and saving are rated by the round's reply tokens; training's rate is `tokens_per_s`.
    """
    round_tokens = metrics.get("regen/round_tokens", 0)
    split = {"train_s": metrics.get("time/train_s")}
    for stage in ("sample", "score", "save"):
        seconds = split[f"{stage}_s"] = metrics.get(f"time/{stage}_s")
        split[f"{stage}_tokens_per_s"] = round_tokens / seconds if seconds and round_tokens else None
    return split


def describe_time_split(row: dict) -> str:
    """'sample 1.2 s (340 tok/s), score …, train …, save …' from a training_rounds row."""
    parts = []
    for stage in ("sample", "score", "train", "save"):
        rate = row.get("tokens_per_s" if stage == "train" else f"{stage}_tokens_per_s")
        engine = f", {row['sample_engine']}" if stage == "sample" and row.get("sample_engine") else ""
        parts.append(f"{stage} {row.get(f'{stage}_s') or 0.0:.3g} s" + (f" ({rate:.3g} tok/s{engine})" if rate else ""))
    return ", ".join(parts)
