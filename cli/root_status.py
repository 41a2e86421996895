"""What a storage root holds and what is left to do there: nights, scoring runs, training runs, models.

`root_status(root)` reads the root only through the layout helpers (`pipelines/store/layout.py`) and files'
Parquet footers (row counts), never the rows themselves, so it answers in a second on any size of root and
writes nothing. Each unfinished piece of work comes with the command that finishes it (a night never scored,
a scoring run with shards missing, a checkpoint left incomplete, an interrupted nightly run's staging).
`print_status` prints it as tables. `afterword status --root R [--json]` calls them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date

import pyarrow.parquet as pq
from rich import box
from rich.console import Console
from rich.table import Table

from pipelines import objectstore, registry
from pipelines.store import layout as storage
from pipelines.store.night_commit import published_stagings
from pipelines.store.staging import RUN_ID


@dataclass(frozen=True)
class NightRow:
    night: str  # YYYY-MM-DD
    conversations: int  # rows of the published night's tables (their Parquet footers)
    rejects: int
    interactions: int
    scoring_runs: int  # nightly scoring runs of this night (round 0)
    complete_scoring_runs: int  # of them, those with every shard written
    shards_done: int  # shards written, over this night's scoring runs
    shards: int  # shards those runs have in all


@dataclass(frozen=True)
class ScoringRow:
    run_id: str
    night: str  # from the run id (`<night>-<template>-<digest>`); "?" when it does not start with one
    shards_done: int
    shards: int  # the run's shard count, from its shard file names (-of-NNNNN)
    missing: tuple[int, ...]  # shard indices not written yet


@dataclass(frozen=True)
class TrainingRow:
    run_id: str
    rounds: int  # `training_rounds` rows stored (one per finished round)
    checkpoints: int  # complete round checkpoints (meta.json written)
    incomplete_checkpoints: int  # round folders without meta.json (a killed save, or pruned state)


@dataclass(frozen=True)
class Todo:
    what: str  # what is missing, in words
    command: str  # the command that finishes it


@dataclass(frozen=True)
class RootStatus:
    root: str
    nights: list[NightRow]
    scoring_runs: list[ScoringRow]
    training_runs: list[TrainingRow]
    models: list[dict] = field(default_factory=list)  # `models_section`: filled once models are registered
    todo: list[Todo] = field(default_factory=list)


def models_section(root: str) -> list[dict]:
    """The root's registered models (`pipelines/registry.py`), oldest first; `current` marks the promoted one.
    Object-store roots hold none (learning takes local roots)."""
    models = registry.read_models(root)
    current = registry.promoted(root) if models else None
    return [
        {
            "model": model.model_id,
            "parent": model.parent_id or "base",
            "nights": ", ".join(model.nights),
            "status": model.status,
            "current": "*" if current and current.model_id == model.model_id else "",
        }
        for model in models
    ]


def root_status(root: str) -> RootStatus:
    """Everything `afterword status` shows for `root` (see the module docstring)."""
    scoring = scoring_rows(root)
    nights = night_rows(root, scoring)
    training = training_rows(root)
    models = models_section(root)
    todo = todo_rows(root, nights, scoring, training) + learning_todo(root, nights, models)
    return RootStatus(root, nights, scoring, training, models, todo)


def learning_todo(root: str, nights: list[NightRow], models: list[dict]) -> list[Todo]:
    """Once a root learns (it has a model), each published night no model was trained on yet."""
    if not models:
        return []
    learned = {night for model in models for night in model["nights"].split(", ")}
    return [
        Todo(f"night {row.night} is not learned yet", f"afterword learn --root {root} --night {row.night}")
        for row in nights
        if row.interactions and row.night not in learned
    ]


def night_rows(root: str, scoring: list[ScoringRow]) -> list[NightRow]:
    """One row per published night, oldest first, counted from its tables' Parquet footers."""
    counts: dict[str, dict[str, int]] = {}
    for table in ("conversations", "rejects", "interactions"):
        for path in storage.table_files(root, table):
            night = _night_folder(path)
            counts.setdefault(night, {})[table] = _row_count(path)
    rows = []
    for night, tables in sorted(counts.items()):
        runs = [row for row in scoring if row.night == night]
        complete = sum(1 for row in runs if not row.missing)
        rows.append(
            NightRow(
                night,
                tables.get("conversations", 0),
                tables.get("rejects", 0),
                tables.get("interactions", 0),
                len(runs),
                complete,
                sum(row.shards_done for row in runs),
                sum(row.shards for row in runs),
            )
        )
    return rows


def scoring_rows(root: str) -> list[ScoringRow]:
    """Every nightly scoring run (a run with a round 0 of logged replies) and its shards."""
    rows = []
    for run_id in storage.scoring_runs_with_round(root, 0):
        parsed = [storage.shard_of(path) for path in storage.score_shard_files(root, run_id, 0)]
        done = {shard for _, shard, _ in filter(None, parsed)}
        shards = max((total for _, _, total in filter(None, parsed)), default=0)
        missing = tuple(index for index in range(shards) if index not in done)
        rows.append(ScoringRow(run_id, _night_of_run(run_id), len(done), shards, missing))
    return rows


def training_rows(root: str) -> list[TrainingRow]:
    """Every training run (refresh, simulate, learn) with stored rounds or checkpoints; local roots only."""
    run_ids = storage.training_run_ids(root)
    if not run_ids:
        return []
    from train.checkpoint import round_checkpoints  # loads torch: only for a root with training runs

    rows = []
    for run_id in run_ids:
        complete = len(round_checkpoints(root, run_id))
        folders = len(storage.checkpoint_dirs(root, run_id))
        rows.append(TrainingRow(run_id, len(storage.training_round_files(root, run_id)), complete, folders - complete))
    return rows


def todo_rows(root: str, nights: list[NightRow], scoring: list[ScoringRow], training: list[TrainingRow]) -> list[Todo]:
    """What is missing under `root`, each with the command that finishes it."""
    todo = [
        Todo(
            f"night {night}: an interrupted nightly run left its staged work",
            f"rerun the same afterword nightly ... --root {root} --date {night} (it resumes under its run id)",
        )
        for night in _interrupted_nights(root)
    ]
    for row in nights:
        if row.interactions and not row.scoring_runs:
            todo.append(
                Todo(
                    f"night {row.night} is not scored ({row.interactions} interactions)",
                    f"afterword score --root {root} --night {row.night} --shard 0/1  (or --shard I/N on N workers)",
                )
            )
    for run in scoring:
        for shard in run.missing:
            todo.append(
                Todo(
                    f"scoring run {run.run_id}: shard {shard} of {run.shards} missing",
                    f"afterword score --root {root} --night {run.night} --shard {shard}/{run.shards}  "
                    "(with the --config and --score-limit of its other shards)",
                )
            )
    for run in training:
        if run.incomplete_checkpoints:
            todo.append(
                Todo(
                    f"training run {run.run_id}: {run.incomplete_checkpoints} round checkpoint(s) without meta.json",
                    f"rerun its command (afterword refresh --root {root} --rounds N ...): it resumes from the "
                    "newest complete checkpoint",
                )
            )
    return todo


def print_status(status: RootStatus, console: Console) -> None:
    """The status as tables, then the work left with its commands (or that nothing is left)."""
    nights = Table(title=f"nights under {status.root}", box=box.SIMPLE_HEAD)
    for column in ("night", "conversations", "rejects", "interactions", "scoring runs", "shards"):
        nights.add_column(column, justify="left" if column == "night" else "right", min_width=len(column))
    for row in status.nights:
        nights.add_row(
            row.night,
            *(str(value) for value in (row.conversations, row.rejects, row.interactions)),
            f"{row.complete_scoring_runs} of {row.scoring_runs} done" if row.scoring_runs else "none",
            f"{row.shards_done}/{row.shards}" if row.scoring_runs else "—",
        )
    console.print(nights if status.nights else "no published night yet")
    if status.scoring_runs:
        runs = Table(title="scoring runs (nightly, round 0)", box=box.SIMPLE_HEAD)
        for column in ("run id", "night", "shards done"):
            runs.add_column(column, min_width=len(column))
        for row in status.scoring_runs:
            runs.add_row(row.run_id, row.night, f"{row.shards_done}/{row.shards}")
        console.print(runs)
    if status.training_runs:
        training = Table(title="training runs", box=box.SIMPLE_HEAD)
        for column in ("run id", "rounds", "complete checkpoints"):
            training.add_column(column, justify="left" if column == "run id" else "right", min_width=len(column))
        for row in status.training_runs:
            training.add_row(row.run_id, str(row.rounds), str(row.checkpoints))
        console.print(training)
    if status.models:
        models = Table(title="models", box=box.SIMPLE_HEAD)
        for column in status.models[0]:
            models.add_column(column)
        for row in status.models:
            models.add_row(*(str(value) for value in row.values()))
        console.print(models)
    if not status.todo:
        console.print("nothing left to do: every night is scored and every scoring run complete")
        return
    console.print(f"left to do ({len(status.todo)}):")
    for item in status.todo:
        console.print(f"  {item.what}\n    → {item.command}", markup=False, highlight=False, soft_wrap=True)


def _row_count(path: str) -> int:
    with objectstore.open_binary(path) as handle:
        return pq.read_metadata(handle).num_rows


def _night_folder(path: str) -> str:
    """The night a table file belongs to: its `ingest_date=` folder (local) or that folder in its URL."""
    return os.path.basename(os.path.dirname(path)).removeprefix("ingest_date=")


def _night_of_run(run_id: str) -> str:
    try:
        return date.fromisoformat(run_id[:10]).isoformat()
    except ValueError:
        return "?"


def _interrupted_nights(root: str) -> list[str]:
    """Nights whose staging folder is still there and whose run has not published it (an interrupted run's
    resumable work; a night is published in one step, so none is ever half published)."""
    markers = objectstore.glob_in(root, os.path.join("_staging", "*", RUN_ID))
    unpublished = {os.path.basename(os.path.dirname(marker)) for marker in markers} - {
        os.path.basename(folder) for folder in published_stagings(root)
    }
    return sorted({name[:10] for name in unpublished if _night_of_run(name) != "?"})
