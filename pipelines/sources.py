"""Input dumps → chunks of raw records, the unit of parallel work for ingest.

`plan_chunks` expands paths and globs, detects each file's format and splits files into chunks
(byte ranges of plain JSONL, row groups of Parquet, whole gzip/JSON files); `read_chunk` reads one
chunk into a raw-record table (source_file, source_record, raw JSON bytes, read_error). Reading never
raises on bad content: a broken container becomes a row with `read_error` set, which ingest rejects.
"""

import glob
import gzip
import hashlib
import json
import os
import zlib
from dataclasses import asdict, dataclass

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.ingest import FORMATS, detect_format

RAW_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("source_record", pa.int64()),
        ("raw", pa.binary()),
        ("read_error", pa.string()),
    ]
)

CHUNK_BYTES = 32 * 1024 * 1024  # plain JSONL is split into ranges of about this size
FORMAT_SNIFF_RECORDS = 50  # records read from the top of a file to detect its format


@dataclass(frozen=True)
class Chunk:
    path: str  # absolute path of the input file
    container: str  # jsonl, jsonl.gz, json, json.gz or parquet
    source_format: str  # wildchat, lmsys, sharegpt or openai
    start: int  # jsonl: first byte; parquet: first row group; else 0
    end: int  # jsonl: byte after the last; parquet: row group after the last; else 0
    first_record: int  # source_record of the chunk's first record (1-based line, 0-based row/element)

    @property
    def key(self) -> str:
        """Stable name of the chunk's work: same file, range and format → same key."""
        payload = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:16]


class InputError(ValueError):
    """An input path can't be used at all (missing file, unknown container, undetectable format)."""


def expand_inputs(paths: list[str]) -> list[str]:
    """Expand globs and directories into a sorted list of files; raise if something matches nothing."""
    files: list[str] = []
    for path in paths:
        matches = sorted(glob.glob(path, recursive=True)) if glob.has_magic(path) else [path]
        if not matches:
            raise InputError(f"{path!r} matches no file")
        for match in matches:
            if os.path.isdir(match):
                files.extend(sorted(os.path.join(match, name) for name in os.listdir(match) if _container(name)))
            elif os.path.isfile(match):
                files.append(os.path.abspath(match))
            else:
                raise InputError(f"{match!r} does not exist")
    return sorted(dict.fromkeys(os.path.abspath(f) for f in files))


def plan_chunks(paths: list[str], input_format: str | None = None, chunk_bytes: int = CHUNK_BYTES) -> list[Chunk]:
    """Split the input files into chunks, detecting each file's format unless one is forced."""
    chunks: list[Chunk] = []
    for path in expand_inputs(paths):
        container = _container(path)
        if container is None:
            raise InputError(f"{path!r}: unknown file type; use .jsonl, .json, .parquet (or .jsonl.gz/.json.gz)")
        source_format = input_format or _sniff_format(path, container)
        if source_format not in FORMATS:
            raise InputError(f"{path!r}: format {source_format!r} unknown; use one of {FORMATS}")
        if container == "jsonl":
            chunks.extend(_plan_jsonl(path, source_format, chunk_bytes))
        elif container == "parquet":
            metadata = pq.ParquetFile(path).metadata
            first_row = 0
            for group in range(metadata.num_row_groups):
                chunks.append(Chunk(path, container, source_format, group, group + 1, first_row))
                first_row += metadata.row_group(group).num_rows
        else:
            chunks.append(Chunk(path, container, source_format, 0, 0, 1 if container.startswith("jsonl") else 0))
    return chunks


def read_chunk(chunk: Chunk) -> tuple[pa.Table, int]:
    """Read one chunk into raw records; also returns how many blank lines were skipped."""
    rows: list[tuple[int, bytes, str | None]] = []
    blank = 0
    if chunk.container == "jsonl":
        with open(chunk.path, "rb") as handle:
            handle.seek(chunk.start)
            data = handle.read(chunk.end - chunk.start)
        blank = _split_lines(data, chunk.first_record, rows)
    elif chunk.container == "jsonl.gz":
        try:
            with gzip.open(chunk.path, "rb") as handle:
                data = handle.read()
        except (OSError, EOFError, zlib.error) as error:
            # Keep what decompressed before the damage, then one row standing for the unreadable rest.
            data = _read_gzip_prefix(chunk.path)
            blank = _split_lines(data, 1, rows)
            rows.append((chunk.first_record + len(rows) + blank, b"", f"gzip stream broken: {error}"))
            return _to_table(chunk.path, rows), blank
        blank = _split_lines(data, 1, rows)
    elif chunk.container in ("json", "json.gz"):
        _read_json_document(chunk.path, chunk.container, rows)
    else:
        _read_parquet_group(chunk, rows)
    return _to_table(chunk.path, rows), blank


def _container(path: str) -> str | None:
    name = path.lower()
    for suffix in ("jsonl.gz", "json.gz", "jsonl", "json", "parquet"):
        if name.endswith("." + suffix):
            return suffix
    if name.endswith(".ndjson"):
        return "jsonl"
    return None


def _sniff_format(path: str, container: str) -> str:
    if container == "parquet":
        names = pq.read_schema(path).names
        found = detect_format(dict.fromkeys(names))
    else:
        found = None
        for record in _sniff_records(path, container):
            found = detect_format(record)
            if found:
                break
    if found is None:
        raise InputError(
            f"{path!r}: can't tell the format from its first records; pass --format (one of {', '.join(FORMATS)})"
        )
    return found


def _sniff_records(path: str, container: str):
    opener = gzip.open if container.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            if container.startswith("jsonl"):
                for count, line in enumerate(handle):
                    if count >= FORMAT_SNIFF_RECORDS:
                        return
                    try:
                        record = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        continue
                    if isinstance(record, dict):
                        yield record
            else:
                document = orjson.loads(handle.read())
                items = document if isinstance(document, list) else [document]
                yield from (item for item in items[:FORMAT_SNIFF_RECORDS] if isinstance(item, dict))
    except (OSError, EOFError, zlib.error, orjson.JSONDecodeError):
        return


def _plan_jsonl(path: str, source_format: str, chunk_bytes: int) -> list[Chunk]:
    """Cut at the first line start after every chunk_bytes, counting lines to keep 1-based line numbers."""
    size = os.path.getsize(path)
    chunks: list[Chunk] = []
    start, line = 0, 1
    with open(path, "rb") as handle:
        while start < size:
            handle.seek(start)
            block = handle.read(chunk_bytes)
            end = start + len(block)
            if end < size:
                rest = handle.readline()  # finish the line the block cut through
                end += len(rest)
                block += rest
            chunks.append(Chunk(path, "jsonl", source_format, start, end, line))
            line += block.count(b"\n")
            start = end
    return chunks


def _split_lines(data: bytes, first_line: int, rows: list) -> int:
    blank = 0
    for offset, line in enumerate(data.split(b"\n")):
        if not line.strip():
            blank += 1
            continue
        rows.append((first_line + offset, line.rstrip(b"\r"), None))
    # A trailing newline leaves one empty piece that is not a line.
    return blank - 1 if data.endswith(b"\n") or not data else blank


def _read_gzip_prefix(path: str) -> bytes:
    decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
    out = []
    with open(path, "rb") as handle:
        try:
            while block := handle.read(1 << 20):
                out.append(decompressor.decompress(block))
        except zlib.error:
            pass
    data = b"".join(out)
    # The last line may be cut mid-way: leave it to the error row.
    return data[: data.rfind(b"\n") + 1]


def _read_json_document(path: str, container: str, rows: list) -> None:
    opener = gzip.open if container == "json.gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError, zlib.error) as error:
        rows.append((0, b"", f"can't read {container} file: {error}"))
        return
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        rows.append((0, data, None))  # one record: ingest names the defect (malformed_json / invalid_utf8)
        return
    items = document if isinstance(document, list) else [document]
    rows.extend((index, orjson.dumps(item), None) for index, item in enumerate(items))


def _read_parquet_group(chunk: Chunk, rows: list) -> None:
    try:
        table = pq.ParquetFile(chunk.path).read_row_group(chunk.start)
    except (OSError, pa.ArrowException) as error:
        rows.append((chunk.first_record, b"", f"can't read row group {chunk.start}: {error}"))
        return
    for offset, record in enumerate(table.to_pylist()):
        rows.append((chunk.first_record + offset, orjson.dumps(record, default=str), None))


def _to_table(path: str, rows: list) -> pa.Table:
    return pa.table(
        {
            "source_file": pa.array([path] * len(rows), pa.string()),
            "source_record": pa.array([r[0] for r in rows], pa.int64()),
            "raw": pa.array([r[1] for r in rows], pa.binary()),
            "read_error": pa.array([r[2] for r in rows], pa.string()),
        },
        schema=RAW_SCHEMA,
    )
