"""Publish: the storage root's Parquet tables → `<root>/catalog.duckdb`, the catalog analysts open.

Views (stable names): conversations, rejects, interactions, filter_report, runs. Each reads every
night's Parquet files through a glob, so the catalog stays correct as nights are added without being
rebuilt. The file is rebuilt under a temporary name and renamed into place, so readers never see it
half-made. Run at the end of every nightly run; `afterword query --root R "select ..."` reads it.
"""

import os
import tempfile

import duckdb

from pipelines import storage


def publish_catalog(root: str) -> str:
    """(Re)create the catalog's views over the tables under `root`; returns the catalog path."""
    path = storage.catalog_path(root)
    handle, tmp = tempfile.mkstemp(dir=root, prefix=".catalog.", suffix=".duckdb")
    os.close(handle)
    os.unlink(tmp)  # DuckDB must create the file itself
    try:
        with duckdb.connect(tmp) as con:
            for table in (*storage.TABLES, "runs"):
                pattern = (
                    os.path.join(os.path.abspath(root), "runs", "*", "run.parquet")
                    if table == "runs"
                    else storage.table_glob(root, table)
                )
                # DDL takes no bound parameters; the view name is ours and the path is quoted as a literal.
                literal = "'" + pattern.replace("'", "''") + "'"
                con.execute(
                    f"create view {table} as select * from read_parquet({literal}, "
                    "hive_partitioning = false, union_by_name = true)"
                )
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
