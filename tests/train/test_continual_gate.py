"""The gate on the real default model (SmolLM2-135M-Instruct), through `afterword learn` in a subprocess: a night
that teaches a preference is promoted; a night whose users ask the opposite, and a night trained at 100× the
default learning rate, are both rejected with their reasons, and the promoted model stays where it was.

Nights are written as the nightly flow writes them (one `interactions` file per night) from the bundled
everyday prompts, each answered by a follow-up that states a preference (the teacher reads it appended to the
request: the simulation's instruction arm, whose effect this model shows; README "Does it learn?")."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.store import layout as storage
from schemas import interactions as interactions_schema
from tests.helpers.scoring import need_smollm2

REPO = Path(__file__).resolve().parents[2]
PROMPTS = REPO / "data" / "prompts" / "everyday_requests.jsonl"
CONCISE = "Answer in one short sentence of at most 20 words."
VERBOSE = "Answer at length: at least three long paragraphs, with many details and examples."
# One round of 32 replies of at most 32 tokens per night, at the default learning rate (1e-5), up to 16 held-out
# prompts a set: the three nights took 29 minutes on a 2-core machine under load (2026-12-06).
CONFIG = """
[train]
interactions_per_round = 32
eval_fraction = 0.25
warmup_fraction = 0.0
micro_batch_size = 4
accumulation_steps = 1
[train.hindsight]
template = "appended"
[train.regen]
max_new_tokens = 32
[eval]
max_items = 16
general = false
"""


def write_night(root: Path, night: date, followup: str, prompts: list[str]) -> None:
    rows = [
        {
            "interaction_id": f"{night}-{i:03d}:1",
            "conversation_id": f"{night}-{i:03d}",
            "turn_index": 1,
            "context": [{"role": "user", "content": text}],
            "response": "Sure.",
            "followup": followup,
            "model": "gpt-4",
            "language": "English",
            "timestamp": None,
            "source_format": "wildchat",
            "content_hash": f"{night}-{i}",
            "ingest_date": night,
        }
        for i, text in enumerate(prompts)
    ]
    path = Path(storage.night_file(str(root), "interactions", night))
    path.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=interactions_schema.SCHEMA), path)


def afterword(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "afterword_cli", *args], cwd=REPO, capture_output=True, text=True, timeout=1800
    )


def models(root: Path) -> dict[str, dict]:
    done = afterword("query", "--root", str(root), "--format", "json", "select * from models")
    assert done.returncode == 0, done.stderr
    return {row["model_id"]: row for row in json.loads(done.stdout)}


def pointer(root: Path) -> str:
    return json.loads((root / "models" / "promoted.json").read_text())["model_id"]


@pytest.mark.slow
def test_the_gate_keeps_the_incumbent_against_an_opposite_night_and_a_runaway_learning_rate(tmp_path):
    need_smollm2()
    prompts = [json.loads(line)["text"] for line in PROMPTS.read_text().splitlines()]
    root, config = tmp_path / "root", tmp_path / "learn.toml"
    config.write_text(CONFIG)
    write_night(root, date(2026, 11, 27), CONCISE, prompts[0:48])
    write_night(root, date(2026, 11, 28), VERBOSE, prompts[48:96])
    write_night(root, date(2026, 11, 29), CONCISE, prompts[96:144])

    first = afterword("learn", "--root", str(root), "--night", "2026-11-27", "--config", str(config))
    assert first.returncode == 0, first.stdout + first.stderr
    (promoted,) = models(root).values()
    assert promoted["status"] == "promoted", promoted["reason"]
    assert promoted["gain_low"] > 0

    opposite = afterword("learn", "--root", str(root), "--night", "2026-11-28", "--config", str(config))
    assert opposite.returncode == 0, opposite.stdout + opposite.stderr
    runaway = afterword(  # 100× the default learning rate
        "learn", "--root", str(root), "--night", "2026-11-29", "--config", str(config), "--train.learning_rate", "1e-4"
    )
    assert runaway.returncode == 0, runaway.stdout + runaway.stderr

    rows = models(root)
    by_night = {tuple(row["nights"]): row for row in rows.values()}
    against = by_night[("2026-11-28",)]
    assert against["status"] == "rejected" and against["parent_id"] == promoted["model_id"]
    assert "night=2026-11-27 approval falls" in against["reason"], against["reason"]
    too_fast = by_night[("2026-11-29",)]
    assert too_fast["status"] == "rejected" and "drift" in too_fast["reason"], too_fast["reason"]
    assert pointer(root) == promoted["model_id"], "a rejected candidate never moves the pointer"
