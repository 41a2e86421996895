"""A root's fixed evaluation suite: sets drawn once, stored as `eval_sets`, never rewritten.

Every model `afterword learn` trains is evaluated on every set (train/continual/continual.py), so numbers are comparable
across nights: a night's set holds held-out interactions of that night (the trainer's own held-out split, a
stable hash of the id: never trained on), drawn the first time the night is learned; `general` holds the
bundled everyday prompts no night trains on (forgetting on unrelated requests); `prompts=<name>` holds a
prompts file a user adds. Prompt sets have no follow-up, so they measure drift, length and endings, not
approval. Written as `<root>/eval_sets/eval_set=<name>/data.parquet` (`schemas/eval_sets.py`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.io import write_table
from pipelines.score import take_sample
from schemas import eval_sets as schema
from train.data import split_interactions

# The simulation's prompts file: its `unrelated` split is never a training prompt anywhere
BUNDLED_PROMPTS = Path(__file__).resolve().parents[2] / "data" / "prompts" / "everyday_requests.jsonl"


@dataclass(frozen=True)
class EvalSuiteConfig:
    max_items: int = 24  # items per set (a stable hash sample of the night's held-out interactions / the prompts)
    general: bool = True  # evaluate on the bundled everyday prompts no night trains on
    prompts_file: str = ""  # a prompts set of your own: JSONL with a "prompt" (or "text") field, or one per line
    max_new_tokens: int = 0  # fresh reply limit, tokens; 0 = the trainer's [train.regen] max_new_tokens
    seed: int = 0  # sampling seed of the fresh replies (the same for every model: paired comparisons)

    def __post_init__(self) -> None:
        if self.max_items < 2 or self.max_new_tokens < 0:
            raise ValueError("max_items must be >= 2 (a bootstrap needs prompts) and max_new_tokens >= 0")


def night_set_name(night: date) -> str:
    """The name of a night's held-out set."""
    return f"night={night.isoformat()}"


def set_path(root: str, name: str) -> str:
    """Where one set is stored."""
    return os.path.join(root, "eval_sets", f"eval_set={name}", "data.parquet")


def stored_sets(root: str) -> list[str]:
    """The names of every stored set, night sets first (oldest first), then prompt sets."""
    folder = os.path.join(root, "eval_sets")
    names = [n.removeprefix("eval_set=") for n in os.listdir(folder)] if os.path.isdir(folder) else []
    return sorted(names, key=lambda n: (not n.startswith("night="), n))


def read_set(root: str, name: str) -> pa.Table:
    """One stored set."""
    return pq.read_table(set_path(root, name), schema=schema.SCHEMA)


def ensure_suite(root: str, interactions: pa.Table, eval_fraction: float, cfg: EvalSuiteConfig) -> list[str]:
    """Draw the sets this learning run adds (its nights' held-out sets, the general and prompts sets, once
    each) and return the name of every stored set. `interactions`: the nights being learned."""
    nights = sorted(set(interactions["ingest_date"].to_pylist()))
    for night in nights:
        name = night_set_name(night)
        if not os.path.exists(set_path(root, name)):
            of_night = interactions.filter(pc.equal(interactions["ingest_date"], night))
            _, held_out = split_interactions(of_night, eval_fraction)
            if held_out.num_rows < 2:
                raise ValueError(
                    f"night {night} has {held_out.num_rows} held-out interactions (eval_fraction {eval_fraction} of "
                    f"{of_night.num_rows}); evaluation needs at least 2: raise [train] eval_fraction or learn a "
                    "window of nights (--nights D1..D2)"
                )
            write_table(night_rows(name, night, take_sample(held_out, cfg.max_items)), set_path(root, name))
    if cfg.general and not os.path.exists(set_path(root, "general")):
        write_table(prompt_rows("general", general_prompts(), cfg.max_items), set_path(root, "general"))
    if cfg.prompts_file:
        name = f"prompts={Path(cfg.prompts_file).stem}"
        if not os.path.exists(set_path(root, name)):
            write_table(prompt_rows(name, read_prompts(cfg.prompts_file), cfg.max_items), set_path(root, name))
    return stored_sets(root)


def night_rows(name: str, night: date, held_out: pa.Table) -> pa.Table:
    """A night set's rows from held-out interactions."""
    n = held_out.num_rows
    return pa.table(
        {
            "eval_set": [name] * n,
            "kind": ["night"] * n,
            "night": [night] * n,
            "item_id": held_out["interaction_id"],
            "context": held_out["context"],
            "response": held_out["response"],
            "followup": held_out["followup"],
            "drawn_at": [datetime.now(UTC)] * n,
        },
        schema=schema.SCHEMA,
    )


def prompt_rows(name: str, prompts: list[str], max_items: int) -> pa.Table:
    """A prompts set's rows: each prompt a one-message context, no reply, no follow-up."""
    ids = pa.array([f"{name}:{i}" for i in range(len(prompts))], pa.string())
    table = pa.table({"interaction_id": ids, "prompt": prompts})
    chosen = take_sample(table, max_items)
    n = chosen.num_rows
    return pa.table(
        {
            "eval_set": [name] * n,
            "kind": ["general" if name == "general" else "prompts"] * n,
            "night": pa.nulls(n, pa.date32()),
            "item_id": chosen["interaction_id"],
            "context": [[{"role": "user", "content": text}] for text in chosen["prompt"].to_pylist()],
            "response": pa.nulls(n, pa.string()),
            "followup": pa.nulls(n, pa.string()),
            "drawn_at": [datetime.now(UTC)] * n,
        },
        schema=schema.SCHEMA,
    )


def general_prompts() -> list[str]:
    """The bundled everyday requests set apart from every training split (`unrelated`)."""
    with open(BUNDLED_PROMPTS, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [row["text"] for row in rows if row["split"] == "unrelated"]


def read_prompts(path: str) -> list[str]:
    """Prompts from a JSONL file (`prompt` or `text` field) or a text file (one prompt per line)."""
    with open(path, encoding="utf-8") as handle:
        lines = [line.strip() for line in handle if line.strip()]
    if not path.endswith((".jsonl", ".json")):
        return lines
    prompts = []
    for number, line in enumerate(lines, 1):
        row = json.loads(line)
        text = row.get("prompt", row.get("text")) if isinstance(row, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f'{path}:{number}: a prompts file line needs a non-empty "prompt" (or "text") field')
        prompts.append(text.strip())
    return prompts


def as_interactions(items: pa.Table) -> pa.Table:
    """A set's rows as the scorer's and sampler's interaction table (prompt sets get an empty follow-up)."""
    empty = pa.array([""] * items.num_rows, pa.string())
    return pa.table(
        {
            "interaction_id": items["item_id"],
            "conversation_id": items["item_id"],
            "context": items["context"],
            "response": pc.fill_null(items["response"], ""),
            "followup": pc.fill_null(items["followup"], "") if items.num_rows else empty,
        }
    )
