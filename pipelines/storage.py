"""Where every table lives under the storage root.

`<root>/<table>/ingest_date=YYYY-MM-DD/data.parquet` holds one night of one table (replaced whole by a
rerun of that night); `<root>/scores/run_id=<run>/round=NNNN/` holds a scoring run's shards;
`<root>/runs/<run_id>/` holds a run's manifest; `<root>/_staging/` holds the
resumable work of unfinished nights; `<root>/catalog.duckdb` holds the analyst views.
"""

import glob
import os
from datetime import date

TABLES = ("conversations", "rejects", "interactions", "filter_report")


def night_file(root: str, table: str, night: date) -> str:
    """The Parquet file holding `table` for one night."""
    return os.path.join(root, table, f"ingest_date={night.isoformat()}", "data.parquet")


def table_files(root: str, table: str) -> list[str]:
    """Every night's file of `table`, oldest night first."""
    return sorted(glob.glob(os.path.join(glob.escape(root), table, "ingest_date=*", "data.parquet")))


def table_glob(root: str, table: str) -> str:
    """Glob over every file of `table` (what the catalog's views read)."""
    root = os.path.abspath(root)
    if table == "runs":
        return os.path.join(root, "runs", "*", "run.parquet")
    if table == "training_rounds":
        return os.path.join(root, "training_rounds", "run_id=*", "round-*.parquet")
    if table == "scores":
        return os.path.join(root, "scores", "run_id=*", "round=*", "scores-*.parquet")
    return os.path.join(root, table, "ingest_date=*", "data.parquet")


def night_of(path: str) -> date:
    """The night a table file belongs to, from its folder name."""
    return date.fromisoformat(os.path.basename(os.path.dirname(path)).removeprefix("ingest_date="))


def staging_dir(root: str, night: date, plan_key: str) -> str:
    """Resumable per-chunk work of one night's run over one input plan."""
    return os.path.join(root, "_staging", f"{night.isoformat()}-{plan_key}")


def run_dir(root: str, run_id: str) -> str:
    """Manifest and summary row of one run."""
    return os.path.join(root, "runs", run_id)


def catalog_path(root: str) -> str:
    """The DuckDB catalog analysts open."""
    return os.path.join(root, "catalog.duckdb")
