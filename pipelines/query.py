"""Analyst queries against the catalog: one read-only statement, no access outside the root's tables.

Opens `<root>/catalog.duckdb` read-only, rebuilds its views over the files the root holds now (so a moved
root, or a table written since the last publish, reads right), then locks the connection down: file access
only under the table folders (`allowed_directories` + `enable_external_access = false`) and the
configuration locked. Only SELECT-like statements run (`copy`, `export`, `pragma`, `set`, `attach`, DDL
and DML are refused before anything executes). `afterword query --root R "select ..."` calls it.
"""

import glob
import os

import duckdb

from pipelines import storage
from pipelines.publish import TABLES, create_views
from pipelines.sources import InputError

READ_STATEMENTS = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)  # describe/show/summarize are SELECT


def query_catalog(root: str, sql: str, max_rows: int = 0) -> tuple[list[str], list[tuple], bool]:
    """Run one read-only query; returns column names, at most `max_rows` rows (0 = all) and whether more exist."""
    con = open_catalog(root)
    try:
        statements = con.extract_statements(sql)
        if len(statements) != 1:
            raise InputError(f"expected one SQL statement, got {len(statements)}: run them one at a time")
        if statements[0].type not in READ_STATEMENTS:
            raise InputError(f"only queries run here (select, with, describe, explain), not {statements[0].type.name}")
        cursor = con.execute(sql)
        columns = [column[0] for column in cursor.description or []]
        rows = cursor.fetchmany(max_rows + 1) if max_rows else cursor.fetchall()
        more = bool(max_rows) and len(rows) > max_rows
        return columns, rows[:max_rows] if more else rows, more
    except duckdb.Error as error:
        raise InputError(f"query failed: {_first_line(error)}") from error
    finally:
        con.close()


def open_catalog(root: str) -> duckdb.DuckDBPyConnection:
    """The catalog read-only, views rebuilt over the root's files, file access confined to its tables."""
    if not os.path.isdir(root):
        raise InputError(f"storage root {root!r} does not exist: pass the --root a nightly run wrote")
    path = storage.catalog_path(root)
    if not os.path.exists(path):
        raise InputError(f"no catalog at {path}: run `afterword nightly --root {root} ...` first")
    absolute_root = os.path.abspath(root)
    con = duckdb.connect(path, read_only=True)
    try:
        # Temporary views shadow the published ones and read the files under this root as it is now.
        create_views(con, root, prefix=glob.escape(absolute_root) + os.sep, temporary=True)
        # The views name the root with its glob characters escaped (`root[1]` is `root[[]1]`): both spellings.
        roots = {absolute_root, glob.escape(absolute_root)}
        folders = sorted({_table_folder(r, table) for r in roots for table in TABLES})
        con.execute("set allowed_directories = ?", [folders])
        con.execute("set enable_external_access = false")
        con.execute("set lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def _table_folder(absolute_root: str, table: str) -> str:
    """The folder under which every file of `table` lives (the part of its glob before the first wildcard)."""
    return os.path.join(absolute_root, storage.table_pattern(table).split(os.sep)[0]) + os.sep


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0]
