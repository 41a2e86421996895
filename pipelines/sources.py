"""Input dumps → chunks of raw records, the unit of parallel work for ingest.

`plan_chunks` expands paths and globs, detects each file's format and splits files into chunks
(byte ranges of plain JSONL, row groups of Parquet, runs of batches of Arrow files, whole gzip/JSON files);
`read_chunk` reads one chunk into a raw-record table (source_file, source_record, raw JSON bytes, read_error),
or for Parquet and Arrow into Arrow rows (`pipelines/arrow_files.py`; no JSON is made). A Hugging Face
dataset (`hf:OWNER/NAME`, a `save_to_disk` folder, a dataset repository) stands for its split's data files
(`pipelines/hf_datasets.py`). Neither raises on
bad content: a file that can't be used at all (unreadable, empty, unknown type or format, broken Parquet
footer) becomes one chunk standing for the file, read as one row with `read_error` set, which ingest
rejects as `unreadable_input`; a broken container keeps the records before the damage. An input may be an
object-store URL or glob (`s3://bucket/dumps/*.jsonl.gz`): it is planned and read with ranged GETs
(`pipelines/objectstore.py`), never downloaded whole first.
"""

import glob
import hashlib
import json
import os
import stat
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import arrow_files, hf_datasets, objectstore
from pipelines.errors import InputError
from pipelines.formats import FORMATS, INPUTS_THAT_WORK, MAX_RECORD_BYTES, OVERSIZED_READ, TABULAR_TEXT, detect_format
from pipelines.gzip_members import GzipText, read_gzip, read_gzip_head

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
    path: str  # absolute path of the input file, or its URL
    container: str  # jsonl, jsonl.gz, json, json.gz, parquet or arrow
    source_format: str | None  # wildchat, lmsys, sharegpt or openai; None for a file that can't be read
    start: int  # jsonl: first byte; parquet: first row group; arrow: first row; else 0
    end: int  # jsonl: byte after the last; parquet: row group after the last; arrow: row after the last; else 0
    first_record: int  # first record's number: JSONL 1 (a line within the range, see line_offsets), else row/element
    problem: str = ""  # why the whole file can't be read (then container is "file"); "" = readable

    @property
    def key(self) -> str:
        """Stable name of the chunk's work: same file, range and format → same key."""
        payload = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:16]


BOM = b"\xef\xbb\xbf"
SNIFF_LINES = 10_000  # lines read from the top of a JSONL file looking for records whose format is known


def resolve_inputs(paths: list[str]) -> tuple[list[str], list[hf_datasets.DatasetInput]]:
    """Each Hugging Face dataset input replaced by its split's data files, the others kept; and the datasets
    resolved (resolved once: a branch read now names the commit the run records)."""
    datasets = [hf_datasets.resolve_dataset(path) for path in paths if hf_datasets.is_dataset_input(path)]
    plain = [path for path in paths if not hf_datasets.is_dataset_input(path)]
    return [*plain, *(name for dataset in datasets for name in dataset.files)], datasets


def expand_inputs(paths: list[str]) -> list[str]:
    """Expand datasets, globs and directories into a sorted list of files, each physical file once; raise if a
    path matches nothing."""
    paths, _ = resolve_inputs(paths)
    files: list[str] = []
    for url in [path for path in paths if objectstore.is_url(path)]:
        matches, prefix = objectstore.matching(url)  # a prefix stands for its objects of known types
        files.extend(found for found in matches if not prefix or _container(found))
        if not files or files[-1] not in matches:
            raise InputError(f"{url!r} matches no object (check the bucket, the prefix and the credentials)")
    for path in [path for path in paths if not objectstore.is_url(path)]:
        # A name that exists is taken literally, even with glob characters in it (`dump[1].jsonl`).
        literal = os.path.lexists(path) or not glob.has_magic(path)
        matches = [path] if literal else sorted(glob.glob(path, recursive=True))
        if not matches:
            raise InputError(f"{path!r} matches no file")
        for match in matches:
            if os.path.isdir(match):
                names = os.listdir(match)
                inside = sorted(os.path.join(match, name) for name in names if _container(name))
                if not inside:
                    tabular = [name for name in names if name.lower().endswith(TABULAR_TEXT)]
                    held = f" (it holds {len(tabular)} CSV/TSV file(s), e.g. {sorted(tabular)[0]!r})" if tabular else ""
                    raise InputError(
                        f"{match!r} holds no readable input{held}: no .jsonl, .json, .parquet or .arrow file (or .gz "
                        f"of the text ones), no save_to_disk dataset and no dataset repository; {INPUTS_THAT_WORK}"
                    )
                files.extend(inside)
            elif os.path.lexists(match):
                files.append(match)  # unreadable or dangling: planning turns it into a reject
            else:
                raise InputError(f"{match!r} does not exist")
    # A symlink loop under `**` reaches one file through many paths: keep the first path of each real file.
    unique: dict[str, str] = {}
    for name in sorted(os.path.abspath(f) for f in files if not objectstore.is_url(f)):
        unique.setdefault(os.path.realpath(name), name)
    return sorted([*unique.values(), *dict.fromkeys(url for url in files if objectstore.is_url(url))])


def refuse_unusable(chunks: list[Chunk]) -> None:
    """Raise InputError when the planned inputs can yield no record: a CSV/TSV among them (never a conversation
    format), or every file unusable (unknown type, empty, unreadable, no known format). Mixed inputs pass: an
    unusable file beside readable ones is one `unreadable_input` reject and the night goes on."""
    tabular = sorted({c.path for c in chunks if c.path.lower().endswith(TABULAR_TEXT)})
    if tabular:
        more = f" (and {len(tabular) - 1} more)" if len(tabular) > 1 else ""
        raise InputError(f"{tabular[0]!r}{more}: CSV/TSV is not an input format; {INPUTS_THAT_WORK}")
    if chunks and all(chunk.problem for chunk in chunks):
        first = chunks[0]
        more = f" (and {len(chunks) - 1} more unusable)" if len(chunks) > 1 else ""
        raise InputError(f"no readable input: {first.path!r}: {first.problem}{more}; {INPUTS_THAT_WORK}")


def plan_chunks(paths: list[str], input_format: str | None = None, chunk_bytes: int = CHUNK_BYTES) -> list[Chunk]:
    """Split the input files into chunks, detecting each file's format unless one is forced."""
    chunks: list[Chunk] = []
    for path in expand_inputs(paths):
        try:
            chunks.extend(_plan_file(path, input_format, chunk_bytes))
        except _Unusable as problem:
            chunks.append(Chunk(path, "file", None, 0, 0, 0, str(problem)))
        except OSError as error:
            chunks.append(Chunk(path, "file", None, 0, 0, 0, f"can't read the file: {error.strerror or error}"))
    return chunks


class _Unusable(Exception):
    """The whole file can't be ingested; the message says why."""


def _plan_file(path: str, input_format: str | None, chunk_bytes: int) -> list[Chunk]:
    # Before any open: opening a FIFO blocks until a writer comes, and /dev/zero never ends.
    if not objectstore.is_url(path) and (kind := special_file_kind(path)):
        raise _Unusable(f"not a regular file but {kind}; only regular files are read")
    container = _container(path)
    if container is None:
        raise _Unusable("unknown file type; use .jsonl, .json, .parquet, .arrow (or .jsonl.gz/.json.gz)")
    with objectstore.open_binary(path) as handle:  # raises for a missing, unreadable or dangling path
        if not handle.read(1):
            raise _Unusable("the file is empty")
    if container == "parquet":
        try:
            with objectstore.open_binary(path) as handle:
                metadata = pq.ParquetFile(handle).metadata
        except (pa.ArrowException, ValueError) as error:
            raise _Unusable(f"not a readable Parquet file: {error}") from None
    if container == "arrow":
        try:
            arrow_files.arrow_schema(path)
        except (pa.ArrowException, ValueError) as error:
            raise _Unusable(f"not a readable Arrow file: {error}") from None
    source_format = input_format or _sniff_format(path, container)
    if container == "jsonl":
        return _plan_jsonl(path, source_format, chunk_bytes)
    if container == "arrow":
        try:
            ranges = arrow_files.arrow_ranges(path, chunk_bytes)
        except (pa.ArrowException, ValueError) as error:
            raise _Unusable(f"not a readable Arrow file: {error}") from None
        if not ranges:
            raise _Unusable("the Arrow file holds no rows")
        return [Chunk(path, container, source_format, start, end, start) for start, end in ranges]
    if container == "parquet":
        chunks, first_row = [], 0
        for group in range(metadata.num_row_groups):
            chunks.append(Chunk(path, container, source_format, group, group + 1, first_row))
            first_row += metadata.row_group(group).num_rows
        if not chunks:
            raise _Unusable("the Parquet file holds no rows")
        return chunks
    return [Chunk(path, container, source_format, 0, 0, 1 if container.startswith("jsonl") else 0)]


class RawChunk(NamedTuple):
    records: pa.Table  # RAW_SCHEMA rows
    blank_lines: int  # blank lines skipped
    lines: int  # JSONL: lines in the chunk, which the file's later chunks add to their line numbers; else 0
    rows: pa.Table | None = None  # Parquet and Arrow: the records as read, numbered from chunk.first_record

    @property
    def record_count(self) -> int:
        """Records read: raw records (read errors among them) and Arrow rows."""
        return self.records.num_rows + (0 if self.rows is None else self.rows.num_rows)


def read_chunk(chunk: Chunk, max_record_bytes: int = MAX_RECORD_BYTES) -> RawChunk:
    """Read one chunk into raw records, through Beam's FileSystems (local paths, or gs:// and s3:// where
    Beam's extras for them are installed).

    A JSONL range is numbered from its first_record (1 for every range: planning does not count lines);
    `line_offsets` gives what to add to a range's numbers once every earlier range of its file is read.
    A decompressed line longer than `max_record_bytes` (IngestConfig's) is not held: its row carries its head
    and a read_error ingest rejects as oversized_record.
    """
    rows: list[tuple[int, bytes, str | None]] = []
    lines = None
    blank = line_count = 0
    if chunk.problem:
        rows.append((0, b"", chunk.problem))
    elif chunk.container == "jsonl":
        try:
            with open_input(chunk.path) as handle:
                handle.seek(chunk.start)
                data = _read_range(handle, chunk.end - chunk.start)
                at_end = not handle.read(1)  # one byte more tells whether the file ends here
        except OSError as error:
            rows.append((chunk.first_record, b"", f"can't read the file: {error.strerror or error}"))
            return RawChunk(_to_table(chunk.path, rows), 0, 0)
        if chunk.start == 0 and data[: len(BOM)].tobytes() == BOM:
            data = data[len(BOM) :]
        lines, blank, line_count = split_lines(data, chunk.first_record)
        if not len(lines) and chunk.start == 0 and at_end:
            rows.append((0, b"", "no records: the file holds only blank lines"))
    elif chunk.container == "jsonl.gz":
        # A line over the cap is never held: it is left as an empty line (numbers stay true) and its reject.
        text = _read_gzip(chunk.path, max_record_bytes)
        data, problem = text.data, text.problem
        if problem:
            data = data[: data.rfind(b"\n") + 1]  # the last line may be cut mid-way: it goes with the error row
        lines, blank, _ = split_lines(np.frombuffer(data.removeprefix(BOM), np.uint8).copy(), 1)
        blank -= len(text.oversized)
        for line in text.oversized:
            detail = f"record is {line.size} bytes decompressed, cap is {max_record_bytes}"
            rows.append((line.line, line.head, OVERSIZED_READ + detail))
        if problem:
            rows.append((1 + data.count(b"\n"), b"", problem))
        elif not len(lines) and not text.oversized:
            rows.append((0, b"", "no records: the file holds only blank lines"))
    elif chunk.container in ("json", "json.gz"):
        _read_json_document(chunk.path, chunk.container, rows)
    else:
        records = _read_rows(chunk, rows)
        return RawChunk(_to_table(chunk.path, rows), 0, 0, records)
    table = _to_table(chunk.path, rows)
    if lines is not None:
        table = pa.concat_tables([_lines_table(chunk.path, lines), table])
    return RawChunk(table, blank, line_count)


def line_offsets(chunks: list[Chunk], lines: dict[str, int]) -> dict[str, int]:
    """Per chunk key, in input order (by file, then position), what to add to its record numbers: the lines of
    its file's earlier JSONL ranges (`lines` holds each chunk's RawChunk.lines by key); 0 for every other chunk."""
    offsets: dict[str, int] = {}
    seen: dict[str, int] = {}
    for chunk in sorted(chunks, key=lambda c: (c.path, c.start)):
        offsets[chunk.key] = seen.get(chunk.path, 0) if chunk.container == "jsonl" else 0
        seen[chunk.path] = offsets[chunk.key] + lines[chunk.key]
    return offsets


def special_file_kind(path: str) -> str:
    """What a local path is when it is not a regular file ("a FIFO", "a character device", ...); "" for a
    regular file. Follows symlinks; raises OSError for a missing or dangling path."""
    mode = os.stat(path).st_mode
    if stat.S_ISREG(mode):
        return ""
    kinds = {stat.S_ISFIFO: "a FIFO", stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device"}
    kinds |= {stat.S_ISSOCK: "a socket", stat.S_ISDIR: "a directory"}
    kind = next((name for test, name in kinds.items() if test(mode)), "a special file")
    return f"{kind} (a symlink to {os.path.realpath(path)})" if os.path.islink(path) else kind


def open_input(path: str):
    """A binary reader for `path` through Beam's FileSystems, bytes as stored (no decompression)."""
    # Beam's import takes seconds: only when a chunk is really read.
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    if "://" not in path and (kind := special_file_kind(path)):  # replaced since planning: never block on it
        raise OSError(f"not a regular file but {kind}")
    if objectstore.is_url(path):
        return objectstore.open_binary(path)  # fsspec: the store's settings from the environment, as everywhere
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _container(path: str) -> str | None:
    name = path.lower()
    for suffix in ("jsonl.gz", "json.gz", "jsonl", "json", "parquet", "arrow"):
        if name.endswith("." + suffix):
            return suffix
    if name.endswith(".ndjson"):
        return "jsonl"
    return None


def _sniff_format(path: str, container: str) -> str:
    if container in ("parquet", "arrow"):
        if container == "arrow":
            names = arrow_files.arrow_schema(path).names
        else:
            with objectstore.open_binary(path) as handle:
                names = pq.read_schema(handle).names
        found = detect_format(dict.fromkeys(names))
        what = f"its columns {names[:8]}"
    else:
        # A megabyte nearly always holds a record of known format; the long read is for files that start
        # with junk.
        for limit in (QUICK_SNIFF_BYTES, SNIFF_BYTES):
            head = read_gzip_head(path, limit) if container.endswith(".gz") else _read_head(path, limit)
            found = next(filter(None, map(detect_format, _sniff_records(head, container))), None)
            if found or len(head) < limit:
                break
        if not head.removeprefix(BOM).strip():
            problem = _read_gzip(path, SNIFF_BYTES).problem if container.endswith(".gz") else ""
            raise _Unusable(problem or "no records: the file holds only blank lines")
        what = "its first records"
    if found is None:
        raise _Unusable(f"can't tell the format from {what}; pass --format (one of {', '.join(FORMATS)})")
    return found


def _sniff_records(data: bytes, container: str):
    """JSON objects from the top of a file; junk lines before the first record are skipped here
    (ingest rejects them one by one)."""
    if container.startswith("jsonl"):
        candidates = data.removeprefix(BOM).split(b"\n")[:SNIFF_LINES]
    else:
        candidates = _parse_json_document(data.removeprefix(BOM))[0][:FORMAT_SNIFF_RECORDS]
    for item in candidates:
        try:
            record = orjson.loads(item)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict):
            yield record


SNIFF_BYTES = 64 * 1024 * 1024  # most (decompressed) bytes read to detect a file's format
QUICK_SNIFF_BYTES = 1024 * 1024  # read first; the rest of SNIFF_BYTES only when no known record is in it


def _read_head(path: str, limit: int) -> bytes:
    with objectstore.open_binary(path) as handle:
        return handle.read(limit)


def _plan_jsonl(path: str, source_format: str, chunk_bytes: int) -> list[Chunk]:
    """Cut at the first line start after every chunk_bytes. Only the line under each cut is read: the
    ranges' lines are counted by the workers that read them (see `line_offsets`)."""
    size = objectstore.size(path)
    chunks: list[Chunk] = []
    start = 0
    with objectstore.open_binary(path) as handle:
        while start < size:
            end = min(start + chunk_bytes, size)
            if end < size:
                handle.seek(end - 1)
                end += len(handle.readline()) - 1  # finish the line the cut goes through
            chunks.append(Chunk(path, "jsonl", source_format, start, end, 1))
            start = end
    return chunks


def split_lines(buffer: np.ndarray, first_line: int) -> tuple[pa.Table, int, int]:
    """The non-blank lines of `buffer` (uint8, numbered from first_line, trailing CRs removed) as (source_record,
    raw) columns, and how many blank lines and newlines there were. numpy finds the lines; they are moved
    together in place (overwriting `buffer`) and handed to Arrow without a second copy of the chunk."""
    ends = np.flatnonzero(buffer == ord("\n"))
    newlines = len(ends)
    starts = np.concatenate(([0], ends + 1))
    ends = np.concatenate((ends, [len(buffer)]))
    if not len(buffer) or buffer[-1] == ord("\n"):  # a trailing newline leaves one empty piece, not a line
        starts, ends = starts[:-1], ends[:-1]
    numbers = np.arange(first_line, first_line + len(starts), dtype=np.int64)
    # Only a piece that starts with whitespace (or is empty) can be blank: those few are checked in Python.
    maybe_blank = np.flatnonzero(
        (starts == ends) | np.isin(buffer[np.minimum(starts, max(len(buffer) - 1, 0))], WHITESPACE)
    )
    blank = [i for i in maybe_blank if not buffer[starts[i] : ends[i]].tobytes().strip()]
    keep = np.ones(len(starts), bool)
    keep[blank] = False
    starts, ends, numbers = starts[keep], ends[keep], numbers[keep]
    while True:  # rstrip(b"\r")
        carriage = (ends > starts) & (buffer[np.maximum(ends - 1, 0)] == ord("\r"))
        if not carriage.any():
            break
        ends = ends - carriage
    view = memoryview(buffer)
    size = 0
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        view[size : size + end - start] = view[start:end]  # memmove: a line never moves right
        size += end - start
    offsets = np.concatenate(([0], np.cumsum(ends - starts))).astype(np.int64)
    raw = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(starts), [None, pa.py_buffer(offsets), pa.py_buffer(buffer[:size])]
    )
    return pa.table({"source_record": numbers, "raw": raw.cast(pa.binary())}), len(blank), newlines


def _read_range(handle, size: int) -> np.ndarray:
    """Up to `size` bytes from `handle` into a fresh (not zero-filled) uint8 array; fewer where the file ends."""
    buffer = np.empty(size, np.uint8)
    filled = 0
    while filled < size and (count := handle.readinto(memoryview(buffer)[filled:])):
        filled += count
    return buffer[:filled]


WHITESPACE = np.frombuffer(b" \t\n\r\x0b\x0c", np.uint8)  # what bytes.strip() removes


def _read_gzip(path: str, max_line_bytes: int | None = None) -> GzipText:
    """Every gzip member of `path` decompressed (`pipelines/gzip_members.py`), lines over `max_line_bytes` cut out."""
    try:
        with open_input(path) as handle:
            compressed = handle.read()
    except OSError as error:
        return GzipText(b"", f"can't read the file: {error.strerror or error}", [])
    return read_gzip(compressed, max_line_bytes)


def _read_json_document(path: str, container: str, rows: list) -> None:
    if container == "json.gz":
        data, problem, _ = _read_gzip(path)
    else:
        try:
            with open_input(path) as handle:
                data, problem = handle.read(), ""
        except OSError as error:
            data, problem = b"", f"can't read the file: {error.strerror or error}"
    if problem and not data:
        rows.append((0, b"", problem))
        return
    items, tail_problem = _parse_json_document(data.removeprefix(BOM))
    rows.extend((index, item, None) for index, item in enumerate(items))
    if problem or tail_problem:
        rows.append((len(items), b"", problem or tail_problem))


def _parse_json_document(data: bytes) -> tuple[list[bytes], str]:
    """A JSON array's elements (or one document) as raw JSON; for a broken array, its intact elements and
    why the rest was lost."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        if not text.lstrip().startswith("["):
            return [data], ""  # one record: ingest names the defect (malformed_json / invalid_utf8)
        return _json_array_prefix(text)
    items = document if isinstance(document, list) else [document]
    return [orjson.dumps(item) for item in items], ""


def _json_array_prefix(text: str) -> tuple[list[bytes], str]:
    decoder = json.JSONDecoder()
    items: list[bytes] = []
    cursor = text.index("[") + 1
    while True:
        while cursor < len(text) and text[cursor] in " \t\r\n,":
            cursor += 1
        if cursor >= len(text):
            return items, f"JSON array cut off after element {len(items) - 1}: the rest of the file is lost"
        if text[cursor] == "]":
            return items, "JSON array followed by extra data" if text[cursor + 1 :].strip() else ""
        try:
            item, cursor = decoder.raw_decode(text, cursor)
        except json.JSONDecodeError as error:
            return items, f"JSON array broken at element {len(items)}: {error}"
        except RecursionError:
            # Nested deeper than Python's parser goes: the element as written, which ingest rejects (orjson
            # names the depth); the elements after it are read on.
            end = _value_end(text, cursor)
            if end < 0:
                return items, f"JSON array cut off in element {len(items)}: the rest of the file is lost"
            items.append(text[cursor:end].encode())
            cursor = end
            continue
        items.append(orjson.dumps(item))


def _value_end(text: str, cursor: int) -> int:
    """Where the JSON value starting at `cursor` ends, found without recursion (brackets counted, strings
    skipped); -1 when the text ends first."""
    depth = 0
    position = cursor
    while position < len(text):
        char = text[position]
        if char == '"':
            position += 1
            while position < len(text) and text[position] != '"':
                position += 2 if text[position] == "\\" else 1
            if depth == 0:
                return position + 1
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return position + 1
        elif depth == 0 and char == ",":
            return position
        position += 1
    return -1


def _read_rows(chunk: Chunk, rows: list) -> pa.Table | None:
    """A Parquet row group or a range of Arrow rows as a table; None (and a read-error row) when it breaks."""
    try:
        if chunk.container == "arrow":
            return arrow_files.read_arrow_rows(chunk.path, chunk.start, chunk.end)
        return arrow_files.read_parquet_rows(open_input(chunk.path), chunk.start)
    except (OSError, pa.ArrowException, ValueError) as error:
        what = f"rows {chunk.start}-{chunk.end - 1}" if chunk.container == "arrow" else f"row group {chunk.start}"
        rows.append((chunk.first_record, b"", f"can't read {what}: {error}"))
        return None


def text_path(path: str) -> str:
    """A path as table text: as it is when its name is UTF-8, else with the bytes that are not written as
    `\\xNN` (Python carries them as surrogate escapes, which no UTF-8 column can hold)."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _to_table(path: str, rows: list) -> pa.Table:
    return pa.table(
        {
            "source_file": pa.array([text_path(path)] * len(rows), pa.string()),
            "source_record": pa.array([r[0] for r in rows], pa.int64()),
            "raw": pa.array([r[1] for r in rows], pa.binary()),
            "read_error": pa.array([r[2] for r in rows], pa.string()),
        },
        schema=RAW_SCHEMA,
    )


def _lines_table(path: str, lines: pa.Table) -> pa.Table:
    """`split_lines`' columns as raw records of `path`."""
    return pa.table(
        {
            "source_file": pa.array([text_path(path)] * lines.num_rows, pa.string()),
            "source_record": lines.column("source_record"),
            "raw": lines.column("raw"),
            "read_error": pa.nulls(lines.num_rows, pa.string()),
        },
        schema=RAW_SCHEMA,
    )
