"""Publish: the storage root's Parquet tables → `<root>/catalog.duckdb`, the catalog analysts open.

Views (stable names): conversations, rejects, interactions, filter_report, runs, scores, training_rounds, the
learner's models, eval_sets, model_evals and model_eval_replies, and
over them advantages (one row per scored reply) and token_advantages (one row per token); every column
carries the description from `schemas/` (`select * from duckdb_columns()`). A night table's view lists the
files the nights' manifests name (the root also holds versions no manifest names yet, `published.py`), other
tables' views a glob; on a local root both *relative to the root*, so a copied or moved root works: open it
from the root (`cd ROOT && duckdb -readonly catalog.duckdb`) or set `file_search_path`. A table with no files
yet is an empty view with the right columns, so every writer republishes (nightly, score workers, the
trainer). The file is rebuilt under a temporary name and renamed into place. `afterword query --root R
"select ..."` (`pipelines/store/query.py`) builds the same views, over the files as they are now, on a
connection of its own. On an object-store root the views list URLs; a DuckDB that reads the store (its
httpfs, or fsspec registered) opens them.
"""

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pyarrow.parquet as pq

from pipelines import objectstore
from pipelines.io import damaged_parquet_files, read_sql
from pipelines.store import layout as storage
from schemas import (
    conversations,
    eval_replies,
    eval_sets,
    filter_report,
    interactions,
    model_eval_replies,
    model_evals,
    models,
    rejects,
    runs,
    scores,
    simulation_nights,
    training_rounds,
)

TABLES = {
    "conversations": conversations,
    "rejects": rejects,
    "interactions": interactions,
    "filter_report": filter_report,
    "runs": runs,
    "scores": scores,
    "training_rounds": training_rounds,
    "models": models,
    "eval_sets": eval_sets,
    "model_evals": model_evals,
    "model_eval_replies": model_eval_replies,
    "eval_replies": eval_replies,
    "simulation_nights": simulation_nights,
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
    name and the catalog still published: its view reads the file, so reading that table names it."""
    if objectstore.is_url(root):
        return _publish_store_catalog(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"storage root {root!r} does not exist")
    path = storage.catalog_path(root)
    handle, tmp = tempfile.mkstemp(dir=root, prefix=".catalog.", suffix=".duckdb")
    os.close(handle)
    os.unlink(tmp)  # DuckDB must create the file itself
    try:
        try:
            # Relative globs resolve against the root now and wherever the root is opened later.
            _build_catalog(tmp, root, os.path.abspath(root))
        except duckdb.Error:
            damaged = damaged_parquet_files(catalog_files(root))
            if not damaged:
                raise
            for file, reason in damaged.items():
                log.warning(
                    "%s is damaged (%s): the catalog is published and reading its table names the file; restore "
                    "it from a copy, or rerun what wrote it (a night's table: that night's nightly --replace)",
                    file,
                    reason,
                )
            _remove_database(tmp)
            with _stand_in_root(root, damaged) as stand_in:
                _build_catalog(tmp, root, stand_in)
        os.replace(tmp, path)
    finally:
        _remove_database(tmp)
    return path


def _publish_store_catalog(root: str) -> str:
    """The catalog of an object-store root: built in a local folder, then stored with one upload."""
    if not objectstore.is_folder(root):
        raise FileNotFoundError(f"storage root {root!r} does not exist")
    path = storage.catalog_path(objectstore.absolute(root))
    with tempfile.TemporaryDirectory(prefix="afterword-catalog-") as folder:
        local = os.path.join(folder, "catalog.duckdb")
        with duckdb.connect(local) as con:
            objectstore.register_store(con, root)  # DuckDB reads every footer as a view is made
            create_views(con, root)
        objectstore.upload(local, path)
    return path


def catalog_files(root: str) -> list[str]:
    """Every Parquet file the catalog's tables read under `root`."""
    return sorted(path for table in TABLES for path in storage.stored_files(root, table))


def _build_catalog(path: str, root: str, bind_root: str) -> None:
    """The catalog's views in a new database at `path`, bound against the files under `bind_root`."""
    with duckdb.connect(path) as con:
        con.execute("set file_search_path = ?", [bind_root])
        create_views(con, root)


@contextmanager
def _stand_in_root(root: str, damaged: dict[str, str]) -> Iterator[str]:
    """A folder laid out like `root`'s tables: links to its readable files, an empty file of the table's
    schema for each damaged one. The views bind there (DuckDB reads every footer when a view is made) and
    keep their root-relative globs, so they read the real root, the damaged file included."""
    absolute_root = os.path.abspath(root)
    with tempfile.TemporaryDirectory(prefix="afterword-publish-") as folder:
        for table, module in TABLES.items():
            for file in storage.stored_files(root, table):
                stand_in = os.path.join(folder, os.path.relpath(file, absolute_root))
                os.makedirs(os.path.dirname(stand_in), exist_ok=True)
                if file in damaged:
                    pq.write_table(module.SCHEMA.empty_table(), stand_in)
                else:
                    os.symlink(file, stand_in)
        yield folder


def _remove_database(path: str) -> None:
    for leftover in (path, path + ".wal"):
        if os.path.exists(leftover):
            os.unlink(leftover)


def create_views(con: duckdb.DuckDBPyConnection, root: str) -> None:
    """Every catalog view over the files under `root`, their globs relative to the root."""
    for table, module in TABLES.items():
        found = storage.stored_files(root, table)
        source = storage.catalog_source(root, table)
        con.execute(f"create or replace view {table} as {_table_select(con, module.SCHEMA, source, found)}")
    for view in DERIVED_VIEWS:
        con.execute(f"create or replace view {view} as {read_sql(view)}")
    comment_columns(con)


def _table_select(con: duckdb.DuckDBPyConnection, schema, pattern: str | list[str], found: list[str]) -> str:
    """SQL reading a table's files with exactly the schema's columns (absent ones null; no files: no rows)."""
    types = dict(zip(schema.names, con.from_arrow(schema.empty_table()).dtypes, strict=True))
    present: set[str] = set()
    source = "(select 1) as nothing where false"
    if found:
        # DDL takes no bound parameters; the view names are ours and the path a quoted literal.
        literal = _literal(pattern) if isinstance(pattern, str) else "[" + ", ".join(map(_literal, pattern)) + "]"
        source = f"read_parquet({literal}, hive_partitioning = false, union_by_name = true)"
        present = {row[0] for row in con.sql(f"describe select * from {source}").fetchall()}
    columns = [name if name in present else f"cast(null as {types[name]}) as {name}" for name in schema.names]
    return f"select {', '.join(columns)} from {source}"


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
