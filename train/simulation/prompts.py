"""The simulation's prompts: a JSON-lines file stored under the root once, split into the requests trained on
(`train`), those where satisfaction is measured (`held_out`) and unrelated questions where drift and
correctness are measured (`unrelated`, with the words a correct reply holds in `answers`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.io import write_table
from pipelines.score import take_sample
from pipelines.store import layout as storage
from schemas import interactions as interactions_schema

BUNDLED_PROMPTS = Path(__file__).resolve().parents[2] / "data" / "prompts" / "everyday_requests.jsonl"
SPLITS = ("train", "held_out", "unrelated")
PROMPTS_SCHEMA = pa.schema(
    [
        ("prompt_id", pa.string()),
        ("split", pa.string()),
        ("category", pa.string()),
        ("text", pa.string()),
        ("answers", pa.list_(pa.string())),  # unrelated prompts: words a correct reply holds (any one)
    ]
)


def import_prompts(root: str, source: str) -> str:
    """Store a prompts file (JSON lines: prompt_id, split, category, text, optional answers) under the root;
    returns its path."""
    with open(source, encoding="utf-8") as handle:
        rows = [{"answers": [], **json.loads(line)} for line in handle if line.strip()]
    table = pa.Table.from_pylist(
        [{name: row.get(name) for name in PROMPTS_SCHEMA.names} for row in rows], schema=PROMPTS_SCHEMA
    )
    check_prompts(table, source)
    write_table(table, storage.prompts_path(root))
    return storage.prompts_path(root)


def check_prompts(table: pa.Table, where: str) -> None:
    """Every split present, ids unique, and no request text in two splits."""
    splits = table["split"].to_pylist()
    missing = [s for s in SPLITS if s not in splits]
    if missing:
        raise ValueError(f"{where}: no prompts in split(s) {missing}; each of {list(SPLITS)} needs some")
    if len(set(table["prompt_id"].to_pylist())) != table.num_rows:
        raise ValueError(f"{where}: prompt_id values are not unique")
    seen: dict[str, str] = {}
    for text, split in zip(table["text"].to_pylist(), splits, strict=True):
        if seen.setdefault(text, split) != split:
            raise ValueError(f"{where}: the request {text!r} is in both {seen[text]} and {split}")


def read_prompts(root: str) -> pa.Table:
    """The root's stored prompts, or a one-line error saying how to add them."""
    path = storage.prompts_path(root)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"no prompts under {root} ({path} is missing): pass --prompts {os.path.relpath(BUNDLED_PROMPTS)} "
            "(the bundled set, made by data/generate_prompts.py) or your own JSON-lines file"
        )
    table = pq.read_table(path)
    if "answers" not in table.column_names:  # stored before prompts had answers
        table = table.append_column("answers", pa.array([[]] * table.num_rows, pa.list_(pa.string())))
    check_prompts(table, path)
    return table


def prompt_interactions(prompts: pa.Table, split: str, limit: int = 0) -> pa.Table:
    """One split as single-turn interactions (context = the request; reply and follow-up filled in later)."""
    chosen = prompts.filter(pc.equal(prompts["split"], split))
    rows = [
        {"interaction_id": row["prompt_id"], "conversation_id": row["prompt_id"], "turn_index": 1,
         "context": [{"role": "user", "content": row["text"]}], "response": "", "followup": "",
         "model": None, "language": "English", "timestamp": None, "source_format": "simulation",
         "content_hash": row["prompt_id"], "ingest_date": None}
        for row in chosen.to_pylist()
    ]  # fmt: skip
    table = pa.Table.from_pylist(rows, schema=interactions_schema.SCHEMA).sort_by("interaction_id")
    return take_sample(table, limit) if limit else table
