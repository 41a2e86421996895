"""The shared I/O helpers: atomic Parquet/JSON writes, DuckDB views over Parquet (a damaged file named with
its fix), running `.sql` files.

Every write goes through `objectstore.atomic_destination`: a temporary name in the destination folder, renamed
into place, so a reader never sees half a file and a killed run leaves either the old file or the new one; a
destination that is an object-store URL is written to a local temporary file and stored with one upload,
which is atomic in the same way.
"""

import json
import os
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import objectstore

SQL_DIR = Path(__file__).parent / "sql"
ROW_GROUP_ROWS = 50_000  # fixed row-group size: deterministic files, and row groups small enough to stream


def write_table(table: pa.Table, path: str | os.PathLike) -> None:
    """Write an Arrow table to Parquet atomically (zstd, fixed row groups)."""
    with objectstore.atomic_destination(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP_ROWS)


def write_query(relation: duckdb.DuckDBPyRelation, schema: pa.Schema, path: str | os.PathLike) -> int:
    """Stream a DuckDB relation to Parquet atomically in the table's exact schema; returns rows written."""
    return write_batches(relation.to_arrow_reader(ROW_GROUP_ROWS), schema, path)


def write_batches(batches: Iterable[pa.Table | pa.RecordBatch], schema: pa.Schema, path: str | os.PathLike) -> int:
    """Stream Arrow tables or batches to Parquet atomically, in the table's exact schema and row groups of
    ROW_GROUP_ROWS whatever size the pieces have; returns rows written."""
    pending: list[pa.Table] = []
    rows = 0
    with objectstore.atomic_destination(path) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for batch in batches:
            # DuckDB names list items and time zones its own way; the cast restores our schema.
            piece = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
            pending.append(piece.cast(schema))
            rows += piece.num_rows
            if sum(table.num_rows for table in pending) >= ROW_GROUP_ROWS:
                pending = _write_full_groups(writer, pa.concat_tables(pending))
        if pending:
            writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)
    return rows


def _write_full_groups(writer: pq.ParquetWriter, table: pa.Table) -> list[pa.Table]:
    """Write every whole row group of `table`; return the rest."""
    whole = table.num_rows - table.num_rows % ROW_GROUP_ROWS
    writer.write_table(table.slice(0, whole), row_group_size=ROW_GROUP_ROWS)
    return [table.slice(whole)] if whole < table.num_rows else []


def write_concurrently(jobs: dict[str, tuple[Iterable[pa.Table], pa.Schema, str | os.PathLike]]) -> dict[str, int]:
    """`write_batches` for several tables at once, one thread each (Parquet encoding and zstd release the GIL,
    so two large tables take about the time of one on two cores); rows written per table."""
    with ThreadPoolExecutor(max_workers=len(jobs) or 1) as pool:
        futures = {name: pool.submit(write_batches, *job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write a text file (UTF-8) atomically."""
    objectstore.write_atomically(path, text.encode("utf-8"))


def write_json(payload: dict, path: str | os.PathLike) -> None:
    """Write a JSON document atomically."""
    write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n", path)


class DamagedFileError(ValueError):
    """A stored Parquet file cannot be read (truncated, overwritten): the message names it and the fix."""


def damaged_parquet_files(paths: Iterable[str]) -> dict[str, str]:
    """The files among `paths` whose Parquet footer cannot be read, each with the reader's reason."""
    damaged = {}
    for path in paths:
        try:
            with objectstore.open_binary(path) as handle:
                pq.read_metadata(handle)
        except (OSError, pa.ArrowException) as error:  # ArrowInvalid for a cut footer, OSError for I/O
            damaged[path] = str(error).strip().splitlines()[0]
    return damaged


def damaged_parquet_error(paths: Iterable[str]) -> DamagedFileError | None:
    """A one-line error naming the first damaged file among `paths` and the fix; None when all read."""
    damaged = damaged_parquet_files(paths)
    if not damaged:
        return None
    path, reason = next(iter(damaged.items()))
    others = f" (and {len(damaged) - 1} more damaged file(s))" if len(damaged) > 1 else ""
    return DamagedFileError(
        f"{path} is damaged{others}: {reason.rstrip('.')}. Restore it from a copy, or rerun what wrote it "
        "(a night's table: that night's `afterword nightly ... --replace`, which rewrites it)"
    )


def parquet_view(con: duckdb.DuckDBPyConnection, name: str, files: list[str], schema: pa.Schema) -> None:
    """Create view `name` over Parquet files; with no files, an empty view with the table's schema."""
    if files:
        # Partition values are stored as columns in the files; no hive parsing of folder names.
        try:
            relation = con.read_parquet(sorted(files), hive_partitioning=False, union_by_name=True)
        except duckdb.Error as error:
            damaged = damaged_parquet_error(files)
            if damaged is None:
                raise
            raise damaged from error
        relation.create_view(name)
    else:
        con.from_arrow(schema.empty_table()).create_view(name)


def staged_view(
    con: duckdb.DuckDBPyConnection, name: str, files: list[str], schema: pa.Schema, record_offsets: dict[str, int]
) -> None:
    """Like `parquet_view`, over staged parts named `<chunk key>.parquet`, with each part's record numbers
    moved on by its chunk's offset (the lines of the file's earlier chunks; 0 when not listed)."""
    if not files:
        parquet_view(con, name, files, schema)
        return
    offsets = pa.table(
        {"part": list(record_offsets), "record_offset": list(record_offsets.values())},
        schema=pa.schema([("part", pa.string()), ("record_offset", pa.int64())]),
    )
    parts = con.read_parquet(sorted(files), hive_partitioning=False, union_by_name=True, filename=True)
    joined = parts.join(con.from_arrow(offsets), "parse_filename(filename, true) = part", how="left")
    joined.project(
        "* exclude (filename, part, record_offset) "
        "replace (source_record + coalesce(record_offset, 0) as source_record)"
    ).create_view(name)


def read_sql(name: str) -> str:
    """Text of `pipelines/sql/<name>.sql`."""
    return (SQL_DIR / f"{name}.sql").read_text()


def run_sql(con: duckdb.DuckDBPyConnection, name: str, params: dict | None = None) -> duckdb.DuckDBPyRelation:
    """Run a `.sql` file with bound parameters and return its result as a relation."""
    sql = read_sql(name)
    used = {key: value for key, value in (params or {}).items() if f"${key}" in sql}
    return con.sql(sql, params=used) if used else con.sql(sql)


def run_checks(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Run every data contract in `pipelines/sql/checks/`; returns failing rows per check (0 = holds)."""
    return {
        path.stem: con.sql(path.read_text()).aggregate("count(*)").fetchall()[0][0]
        for path in sorted((SQL_DIR / "checks").glob("*.sql"))
    }


def code_version() -> str:
    """Package version plus the git commit of the source tree when there is one."""
    try:
        package = version("afterword")
    except PackageNotFoundError:
        package = "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "no-git"
    return f"{package}+{commit}"
