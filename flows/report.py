"""The report of a scoring run: its shards and the night's interactions → one self-contained HTML file.

Wiring only: pick the run (the given one, else the newest), read its shards and the interactions they
refer to, call `pipelines.report.render_report`, write `<root>/reports/<run_id>.html` atomically.
`afterword report --root R [--run ID]` calls it.
"""

import glob
import os

import pyarrow.dataset as ds

from pipelines import storage
from pipelines.io import write_text
from pipelines.report import ReportConfig, render_report
from schemas import interactions as interactions_schema


def latest_scoring_run(root: str) -> str:
    """The scoring run whose newest shard was written last."""
    shards = glob.glob(storage.table_glob(root, "scores"))
    if not shards:
        raise FileNotFoundError(f"no scores under {root}: run `afterword nightly` without --no-score first")
    newest = max(shards, key=os.path.getmtime)
    return os.path.basename(os.path.dirname(os.path.dirname(newest))).removeprefix("run_id=")


def write_run_report(root: str, run_id: str | None = None, out: str | None = None) -> str:
    """Render the report of one scoring run; returns the HTML file's path."""
    run_id = run_id or latest_scoring_run(root)
    run_folder = os.path.join(glob.escape(root), "scores", f"run_id={glob.escape(run_id)}")
    shard_files = sorted(glob.glob(os.path.join(run_folder, "round=*", "scores-*.parquet")))
    if not shard_files:
        raise FileNotFoundError(f"scoring run {run_id!r} has no shards under {root}/scores")
    scores = ds.dataset(shard_files, format="parquet").to_table()
    wanted = scores["interaction_id"].unique()
    interaction_files = storage.table_files(root, "interactions")
    if interaction_files:
        dataset = ds.dataset(interaction_files, format="parquet", schema=interactions_schema.SCHEMA)
        interactions = dataset.to_table(filter=ds.field("interaction_id").isin(wanted))
    else:
        interactions = interactions_schema.SCHEMA.empty_table()
    path = out or os.path.join(root, "reports", f"{run_id}.html")
    plots = glob.glob(os.path.join(glob.escape(os.path.dirname(os.path.abspath(path))), "simulate-*.png"))
    simulations = tuple(sorted(os.path.basename(p).removesuffix(".png") for p in plots))
    title = f"afterword — scoring run {run_id}"
    html = render_report(scores, interactions, ReportConfig(title=title, simulations=simulations))
    write_text(html, path)
    return path
