"""Publish: the storage root's Parquet tables → `<root>/catalog.duckdb`, the catalog analysts open.

Views (stable names): conversations, rejects, interactions, filter_report, runs, scores, training_rounds, and
over them advantages (one row per scored reply) and token_advantages (one row per token); every column
carries the description from `schemas/` (`select * from duckdb_columns()`). Table views read their files
through a glob *relative to the root*, so a copied or moved root works: open it from the root
(`cd ROOT && duckdb -readonly catalog.duckdb`) or set `file_search_path`. A table with no files yet is an
empty view with the right columns, so every writer republishes (nightly, score workers, the trainer). The
file is rebuilt under a temporary name and renamed into place. `afterword query --root R "select ..."`
(`pipelines/query.py`) builds the same views, over the files as they are now, on a connection of its own.
"""

import glob
import logging
import os
import tempfile

import duckdb

from pipelines import storage
from pipelines.io import damaged_parquet_files, read_sql
from schemas import conversations, filter_report, interactions, rejects, runs, scores, training_rounds

TABLES = {
    "conversations": conversations,
    "rejects": rejects,
    "interactions": interactions,
    "filter_report": filter_report,
    "runs": runs,
    "scores": scores,
    "training_rounds": training_rounds,
}
DERIVED_VIEWS = ("advantages", "token_advantages")  # defined in pipelines/sql/<name>.sql over the table views
DERIVED_DESCRIPTIONS = {
    "source_model": "who wrote the reply: the logged model (round 0) or '<model_id> round <k>' (regenerated)",
    "logged_model": "model that wrote the logged reply according to the source metadata",
    "last_user_message": "the last user message of x (the prompt the reply answers)",
    "logged_response": "the reply as logged (differs from response for regenerated replies)",
    "position": "0-based index of the token in the scored reply",
    "token": "the token decoded on its own (see scores.token_texts)",
    "token_id": "the token id (see scores.token_ids)",
    "student_logprob": "log p(y_i | x, y_<i), nats",
    "teacher_logprob": "log p(y_i | x ⊕ o, y_<i), nats",
    "advantage": "teacher minus student log-prob of the token, nats: negative = hindsight disowns it",
}
log = logging.getLogger(__name__)


def publish_catalog(root: str) -> str:
    """(Re)create the catalog's views over the tables under `root`; returns the catalog path.

    The catalog is derived: it is built anew beside the old one and renamed over it, so a damaged old
    catalog, or one another client holds open, never stops a writer. A damaged table file is logged by
    name and its view still reads it (queries of that table fail naming it); the other tables publish."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"storage root {root!r} does not exist")
    path = storage.catalog_path(root)
    handle, tmp = tempfile.mkstemp(dir=root, prefix=".catalog.", suffix=".duckdb")
    os.close(handle)
    os.unlink(tmp)  # DuckDB must create the file itself
    try:
        with duckdb.connect(tmp) as con:
            # Relative globs resolve against the root now and wherever the root is opened later.
            con.execute("set file_search_path = ?", [os.path.abspath(root)])
            create_views(con, root)
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp + ".wal"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return path


def create_views(con: duckdb.DuckDBPyConnection, root: str) -> None:
    """Every catalog view over the files under `root`, their globs relative to the root."""
    for table, module in TABLES.items():
        pattern = storage.table_pattern(table)
        found = glob.glob(storage.table_glob(root, table))
        con.execute(f"create or replace view {table} as {_table_select(con, module.SCHEMA, pattern, found)}")
    for view in DERIVED_VIEWS:
        con.execute(f"create or replace view {view} as {read_sql(view)}")
    comment_columns(con)


def _table_select(con: duckdb.DuckDBPyConnection, schema, pattern: str, found: list[str]) -> str:
    """SQL reading a table's files with exactly the schema's columns (absent ones null; no files: no rows)."""
    types = dict(zip(schema.names, con.from_arrow(schema.empty_table()).dtypes, strict=True))
    present: set[str] = set()
    source = "(select 1) as nothing where false"
    if found:
        # DDL takes no bound parameters; the view names are ours and the path a quoted literal.
        literal = "'" + pattern.replace("'", "''") + "'"
        source = f"read_parquet({literal}, hive_partitioning = false, union_by_name = true)"
        present = _columns_present(con, source, found)
    columns = [name if name in present else f"cast(null as {types[name]}) as {name}" for name in schema.names]
    return f"select {', '.join(columns)} from {source}"


def _columns_present(con: duckdb.DuckDBPyConnection, source: str, found: list[str]) -> set[str]:
    """The columns the files behind `source` hold; damaged files are logged and left out of the count."""
    try:
        return {row[0] for row in con.sql(f"describe select * from {source}").fetchall()}
    except duckdb.Error:
        damaged = damaged_parquet_files(found)
        if not damaged:
            raise
    for path, reason in damaged.items():
        log.warning("%s is damaged (%s): restore it, or move it out of the root and rerun what wrote it", path, reason)
    readable = [path for path in found if path not in damaged]
    if not readable:
        return set()
    relation = con.read_parquet(readable, hive_partitioning=False, union_by_name=True)
    return set(relation.columns)


def comment_columns(con: duckdb.DuckDBPyConnection) -> None:
    """COMMENT ON every view column: the table's schema description, else the derived views' own."""
    by_column = {}
    for module in TABLES.values():
        for column, text in module.DESCRIPTIONS.items():
            by_column.setdefault(column, text)
    for table, module in TABLES.items():
        for column, text in module.DESCRIPTIONS.items():
            con.execute(f"comment on column {table}.{column} is {_literal(text)}")
    for view in DERIVED_VIEWS:
        for (column,) in con.sql(f"select column_name from (describe {view})").fetchall():
            text = DERIVED_DESCRIPTIONS.get(column) or TABLES["scores"].DESCRIPTIONS.get(column) or by_column[column]
            con.execute(f"comment on column {view}.{column} is {_literal(text)}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
