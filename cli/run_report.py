"""The report of a scoring run: its shards and the night's interactions → one self-contained HTML file.

Wiring only: pick the run (the given one, else the newest nightly scoring run, i.e. one with a round 0 of
logged replies; training runs hold only regenerated rounds), read its shards and the interactions they refer
to, call `pipelines.report.render_report` with the run's shard completeness in the title, write
`<root>/reports/<run_id>.html` atomically.
`afterword report --root R [--run ID]` calls it; `--ledger` writes the forgetting ledger of the root's models
(`pipelines/ledger_report.py`) to `<root>/reports/ledger.html` instead.
"""

import os
from datetime import UTC, datetime

import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pipelines import objectstore
from pipelines.errors import InputError
from pipelines.io import write_text
from pipelines.report import ReportConfig, render_report
from pipelines.store import layout as storage
from schemas import interactions as interactions_schema


def latest_scoring_run(root: str) -> str:
    """The nightly scoring run (one with round 0) whose newest shard was written last."""
    if not objectstore.is_folder(root):
        raise InputError(f"storage root {root!r} does not exist: pass the --root a nightly run wrote")
    shards = storage.score_shard_files(root, round_index=0)
    if not shards:
        raise InputError(
            f"nothing scored under {root}: run `afterword nightly` without --no-score, or `afterword score`"
        )
    newest = max(shards, key=objectstore.modified)
    return storage.scoring_run_of(newest)


def shard_completeness(shard_files: list[str]) -> str:
    """'all 8 shards' or '1 of 8 shards' per round, from the shard file names (-NNNNN-of-NNNNN)."""
    per_round: dict[str, tuple[set[int], int]] = {}
    for path in shard_files:
        parsed = storage.shard_of(path)
        if parsed:
            round_folder, shard, shards = parsed
            done, total = per_round.setdefault(round_folder, (set(), shards))
            done.add(shard)
    parts = []
    for round_name, (done, total) in sorted(per_round.items()):
        noun = "shard" if total == 1 else "shards"
        state = f"all {total} {noun}" if len(done) == total else f"PARTIAL: {len(done)} of {total} {noun}"
        parts.append(f"{round_name.replace('=', ' ')}: {state}" if len(per_round) > 1 else state)
    return "; ".join(parts)


def _row_count(path: str) -> int:
    """Rows of a table file, from its Parquet footer."""
    with objectstore.open_binary(path) as handle:
        return pq.read_metadata(handle).num_rows


def write_run_report(root: str, run_id: str | None = None, out: str | None = None) -> tuple[str, str]:
    """Render the report of one scoring run; returns the HTML file's path and its shard completeness."""
    run_id = run_id or latest_scoring_run(root)
    shard_files = storage.score_shard_files(root, run_id)
    if not shard_files:
        raise InputError(f"scoring run {run_id!r} has no shards under {root}/scores: check --run")
    completeness = shard_completeness(shard_files)
    scores = objectstore.parquet_dataset(shard_files).to_table()
    wanted = scores["interaction_id"].unique()
    interaction_files = storage.table_files(root, "interactions")
    if interaction_files:
        dataset = objectstore.parquet_dataset(interaction_files, interactions_schema.SCHEMA)
        interactions = dataset.to_table(filter=ds.field("interaction_id").isin(wanted))
    else:
        interactions = interactions_schema.SCHEMA.empty_table()
    path = out or storage.report_path(root, run_id)
    folder = os.path.dirname(objectstore.absolute(path))
    plots = objectstore.glob_in(folder, "simulate-*.png")
    simulations = tuple(sorted(os.path.basename(p).removesuffix(".png") for p in plots))
    title = f"afterword — scoring run {run_id} ({completeness})"
    nights = sorted({night.isoformat() for night in interactions["ingest_date"].to_pylist() if night is not None})
    cfg = ReportConfig(
        title=title,
        simulations=simulations,
        night=", ".join(nights),
        made_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        replies_in_night=sum(
            _row_count(path) for path in interaction_files if storage.night_of(path).isoformat() in nights
        ),
    )
    html = render_report(scores, interactions, cfg)
    write_text(html, path)
    return path, completeness


def write_ledger_report(root: str, out: str | None = None) -> tuple[str, int]:
    """Render the forgetting ledger of a root's models; returns the HTML file's path and the number of models."""
    from dataclasses import asdict

    import pyarrow.parquet as pq

    from pipelines import registry
    from pipelines.ledger_report import render_ledger

    stored = registry.read_models(root)
    if not stored:
        raise InputError(f"no models under {root}: `afterword learn --root {root}` trains and evaluates the first")
    files = storage.stored_files(root, "model_evals")
    evaluations = [row for path in files for row in pq.read_table(path).to_pylist()]
    models = [asdict(model) for model in stored]
    html = render_ledger(models, evaluations, f"afterword — forgetting ledger of {root}")
    path = out or storage.report_path(root, "ledger")
    write_text(html, path)
    return path, len(models)
