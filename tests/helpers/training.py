"""Trainer fixtures: a tiny local model directory and a storage root holding a few interactions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.store import layout as storage
from schemas import interactions as interactions_schema
from tests.helpers.scoring import make_model, make_tokenizer
from train.config import TrainConfig

NIGHT = date(2026, 11, 20)
QUESTIONS = ["Is water wet?", "Sort [3,1,2].", "Name a prime.", "Say hi.", "2+2?", "Capital of France?"]
FOLLOWUPS = ["YES or NO only", "shorter please", "that's wrong", "thanks", "again", "in French"]


def write_tiny_model(path: Path) -> Path:
    """The 2-layer random Llama and byte-level ChatML tokenizer, saved as a local model directory."""
    make_model().save_pretrained(path)
    make_tokenizer().save_pretrained(path)
    return path


def interactions_table(n: int) -> pa.Table:
    """`n` hand-made interactions with short texts (the byte tokenizer makes one token per byte)."""
    rows = []
    for i in range(n):
        rows.append(
            {
                "interaction_id": f"c{i:03d}:1",
                "conversation_id": f"c{i:03d}",
                "turn_index": 1,
                "context": [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}],
                "response": f"Reply {i}.",
                "followup": FOLLOWUPS[i % len(FOLLOWUPS)],
                "model": "gpt-4",
                "language": "English",
                "timestamp": None,
                "source_format": "wildchat",
                "content_hash": f"h{i}",
                "ingest_date": NIGHT,
            }
        )
    return pa.Table.from_pylist(rows, schema=interactions_schema.SCHEMA)


def write_interactions(root: Path, n: int) -> pa.Table:
    """Store `n` interactions under `<root>/interactions/ingest_date=.../data.parquet`."""
    table = interactions_table(n)
    path = Path(storage.night_file(str(root), "interactions", NIGHT))
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)
    return table


def tiny_config(root: Path, model_dir: Path, **overrides) -> TrainConfig:
    """A trainer config small enough for a few seconds on 2 CPU cores."""
    values = dict(
        root=str(root),
        model=str(model_dir),
        interactions_per_round=4,
        eval_fraction=0.25,
        eval_max_interactions=2,
        # Float32 sampling and training: the invariants these tests hold (resume = one go, two ranks = one process)
        # are compared to 1e-5; the bfloat16 path has tests of its own (tests/train/test_precision.py).
        precision="float32",
        regen=dict(max_new_tokens=6, dtype="float32"),
        micro_batch_size=2,
        accumulation_steps=1,
        learning_rate=1e-3,
        warmup_fraction=0.0,
        hindsight=dict(max_context_tokens=256, max_reply_tokens=32),
        tensorboard=False,
    )
    regen = {**values["regen"], **overrides.pop("regen", {})}
    values.update(overrides, regen=regen)
    return TrainConfig.from_dict(values)
