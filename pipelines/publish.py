"""Publish: the storage root's Parquet tables → `<root>/catalog.duckdb`, the catalog analysts open.

Views (stable names): conversations, rejects, interactions, filter_report, runs, scores, training_rounds, and
over them advantages (one row per scored reply) and token_advantages (one row per token). Table views read every
file through a glob, so the catalog stays correct as nights and scoring runs are added; a table with no
files yet is an empty view with the right columns. The file is rebuilt under a temporary name and
renamed into place. Run at the end of every nightly run; `afterword query --root R "select ..."` reads it.
"""

import glob
import os
import tempfile

import duckdb

from pipelines import storage
from pipelines.io import read_sql
from schemas import conversations, filter_report, interactions, rejects, runs, scores, training_rounds

SCHEMAS = {
    "conversations": conversations.SCHEMA,
    "rejects": rejects.SCHEMA,
    "interactions": interactions.SCHEMA,
    "filter_report": filter_report.SCHEMA,
    "runs": runs.SCHEMA,
    "scores": scores.SCHEMA,
    "training_rounds": training_rounds.SCHEMA,
}
DERIVED_VIEWS = ("advantages", "token_advantages")  # defined in pipelines/sql/<name>.sql over the table views


def publish_catalog(root: str) -> str:
    """(Re)create the catalog's views over the tables under `root`; returns the catalog path."""
    path = storage.catalog_path(root)
    handle, tmp = tempfile.mkstemp(dir=root, prefix=".catalog.", suffix=".duckdb")
    os.close(handle)
    os.unlink(tmp)  # DuckDB must create the file itself
    try:
        with duckdb.connect(tmp) as con:
            for table, schema in SCHEMAS.items():
                pattern = storage.table_glob(root, table)
                if glob.glob(pattern):
                    # DDL takes no bound parameters; the view name is ours and the path a quoted literal.
                    literal = "'" + pattern.replace("'", "''") + "'"
                    con.execute(
                        f"create view {table} as select * from read_parquet({literal}, "
                        "hive_partitioning = false, union_by_name = true)"
                    )
                else:
                    con.from_arrow(schema.empty_table()).create(f"empty_{table}")
                    con.execute(f"create view {table} as select * from empty_{table}")
            for view in DERIVED_VIEWS:
                con.execute(f"create view {view} as {read_sql(view)}")
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp + ".wal"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return path


def query_catalog(root: str, sql: str) -> tuple[list[str], list[tuple]]:
    """Run one query read-only against the catalog; returns column names and rows."""
    path = storage.catalog_path(root)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no catalog at {path}: run `afterword nightly --root {root} ...` first")
    with duckdb.connect(path, read_only=True) as con:
        relation = con.sql(sql)
        if relation is None:
            return [], []
        return relation.columns, relation.fetchall()
