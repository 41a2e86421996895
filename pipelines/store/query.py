"""Analyst queries against the root's tables: one statement, on a connection that cannot open a file.

The analyst's SQL runs on a fresh in-memory DuckDB that holds the catalog's views (same names, columns and
comments as `<root>/catalog.duckdb`), but whose tables are read-only Arrow datasets over the Parquet files
the root holds now, handed over before file access is switched off entirely (`enable_external_access =
false`, no allowed directories; configuration locked). So no statement, whatever wraps it (`explain analyze
copy ...`, a pivot, a CTE), can write or read a file: DuckDB itself refuses, not a list of words. The
statement-type check only turns the plain mistakes (copy, set, attach, DDL, DML) into a clearer message.
`afterword query --root R "select ..."` calls it.
"""

import base64
import datetime
import json
import logging
import math
import os
import secrets
import tempfile
import uuid
from decimal import Decimal

import duckdb

from pipelines import objectstore
from pipelines.errors import InputError
from pipelines.io import damaged_parquet_error, read_sql
from pipelines.store import layout as storage
from pipelines.store.publish import DERIVED_VIEWS, TABLES, catalog_files, comment_columns

log = logging.getLogger(__name__)

# describe/show/summarize parse as SELECT; a pivot over values it has to look up first is a MULTI statement.
READ_STATEMENTS = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN, duckdb.StatementType.MULTI)
DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file (after the header's checksum)


def query_catalog(root: str, sql: str, max_rows: int = 0) -> tuple[list[str], list[tuple], bool]:
    """Run one query; returns column names, at most `max_rows` rows (0 = all) and whether more exist."""
    if max_rows < 0:
        raise InputError(f"--max-rows {max_rows}: expected 0 (every row) or a positive number of rows")
    listed = catalog_files(root)  # the files a writer replacing a night may remove while this query reads them
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
        gone = [file for file in listed if not objectstore.exists(file)]
        if gone:
            raise InputError(
                f"query failed: a writer replaced a night while this query read it ({gone[0]} is gone): run the "
                "query again, it reads the new night"
            ) from error
        # A damaged table file surfaces as a failed Arrow read: name the file and the fix, not the stream.
        damaged = (
            damaged_parquet_error(catalog_files(root)) if isinstance(error, duckdb.InvalidInputException) else None
        )
        denied = isinstance(error, duckdb.PermissionException)
        hint = " (no statement here reads or writes a file: query the views)" if denied else ""
        raise (damaged or InputError(f"query failed: {_first_line(error)}{hint}")) from error
    finally:
        con.close()


def open_catalog(root: str) -> duckdb.DuckDBPyConnection:
    """An in-memory connection holding the catalog's views over the root's files, unable to open any file.
    On an object-store root the Arrow datasets read the objects through fsspec, which DuckDB never sees."""
    if not objectstore.is_url(root) and os.path.exists(root) and not os.path.isdir(root):
        raise InputError(f"storage root {root!r} is a file, not a folder: pass the --root a nightly run wrote")
    if not objectstore.is_folder(root):
        raise InputError(f"storage root {root!r} does not exist: pass the --root a nightly run wrote")
    path = storage.catalog_path(root)
    # The tables are read from the files the nights' manifests name: a root killed before its catalog's upload
    # (or copied without it) still answers. Only a root with no table at all has nothing to query.
    if not objectstore.exists(path):
        if not catalog_files(root):
            raise InputError(f"no catalog at {path} and no tables: run `afterword nightly --root {root} ...` first")
    elif not _is_duckdb_file(path):
        # Queries here read the tables, not the catalog; other DuckDB clients open the catalog.
        log.warning(
            "%s is not a DuckDB database (damaged?): other DuckDB clients cannot open it; the next writer "
            "(`afterword nightly`, `afterword score`) rebuilds it",
            path,
        )
    # Spills go to a folder of this connection's own (DuckDB removes it on close), never the current folder.
    spill = os.path.join(tempfile.gettempdir(), f"afterword-query-{os.getpid()}-{secrets.token_hex(4)}")
    con = duckdb.connect(":memory:", config={"temp_directory": spill})
    try:
        for table, module in TABLES.items():
            # Files missing a column read it as null; the dataset opens no file until a query scans it.
            files = storage.stored_files(root, table)
            con.register(table, objectstore.parquet_dataset(files, module.SCHEMA))
        for view in DERIVED_VIEWS:
            con.execute(f"create temp view {view} as {read_sql(view)}")
        comment_columns(con)
        con.execute("set python_enable_replacements = false")  # no Python variable is a table either
        con.execute("set enable_external_access = false")  # with no allowed directories: no file at all
        con.execute("set lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def json_value(value: object) -> object:
    """A query result value as RFC 8259 JSON allows: NaN/±Infinity → null, blobs → base64, dates and times
    → ISO 8601, intervals → ISO 8601 durations, decimals → numbers, UUIDs → text, map keys → text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime.date | datetime.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return _iso_duration(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {_json_key(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    return value  # str, int (any size), bool, None


def _json_key(key: object) -> str:
    """A MAP key as an object member name: text as it is, anything else as its JSON text."""
    ready = json_value(key)
    return ready if isinstance(ready, str) else json.dumps(ready, allow_nan=False)


def _iso_duration(value: datetime.timedelta) -> str:
    """`P1DT3.5S`-style duration; DuckDB hands months over as 30 days."""
    micros = value // datetime.timedelta(microseconds=1)
    sign, micros = ("-" if micros < 0 else ""), abs(micros)
    days, micros = divmod(micros, 86_400_000_000)
    seconds, micros = divmod(micros, 1_000_000)
    fraction = f".{micros:06d}".rstrip("0") if micros else ""
    return f"{sign}P{days}DT{seconds}{fraction}S"


def _is_duckdb_file(path: str) -> bool:
    with objectstore.open_binary(path) as handle:
        return handle.read(12)[8:12] == DUCKDB_MAGIC


def _first_line(error: Exception) -> str:
    """The message's first line, without the opening of a Python traceback DuckDB appends to a stream's error, and
    DuckDB's own hint from the lines below (`Did you mean "interactions"?`, `Candidate bindings: ...`) after it."""
    lines = str(error).strip().splitlines()
    first = lines[0].split("Traceback (most recent call last):")[0].rstrip()
    hints = [line.strip() for line in lines[1:] if line.startswith(DUCKDB_HINTS)]
    return "; ".join([first, *hints])


DUCKDB_HINTS = ("Did you mean", "Candidate bindings")  # how DuckDB's errors name what a misspelt name meant
