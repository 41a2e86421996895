"""Input dumps → chunks of raw records, the unit of parallel work for ingest.

`plan_chunks` expands paths and globs (the files each names: `pipelines/store/input_files.py`), detects each
file's format (`pipelines/format_sniffing.py`) and splits files into chunks (byte ranges of plain JSONL, row
groups of Parquet, runs of batches of Arrow files, whole gzip/JSON files); `read_chunk` reads one chunk into a
raw-record table (source_file, source_record, raw JSON bytes, read_error): JSONL lines through
`pipelines/jsonl_lines.py`, JSON arrays through `pipelines/json_documents.py`, gzip members through
`pipelines/gzip_members.py`, and for Parquet and Arrow Arrow rows (`pipelines/arrow_files.py`; no JSON is
made). A Hugging Face dataset (`hf:OWNER/NAME`, a `save_to_disk` folder, a dataset repository) stands for its
split's data files (`pipelines/hf_datasets.py`). Neither raises on bad content: a file that can't be used at
all (unreadable, empty, unknown type or format, broken Parquet footer) becomes one chunk standing for the file,
read as one row with `read_error` set, which ingest rejects as `unreadable_input`; a broken container keeps the
records before the damage. An input may be an object-store URL or glob (`s3://bucket/dumps/*.jsonl.gz`): it is
planned and read with ranged GETs (`pipelines/objectstore.py`), never downloaded whole first.
"""

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import arrow_files, hf_datasets, objectstore
from pipelines.errors import InputError
from pipelines.format_sniffing import UnusableFileError, sniff_format
from pipelines.formats import INPUTS_THAT_WORK, MAX_RECORD_BYTES, OVERSIZED_READ, TABULAR_TEXT
from pipelines.gzip_members import read_gzip_file
from pipelines.json_documents import BOM, parse_json_document
from pipelines.jsonl_lines import read_range, split_lines
from pipelines.store import input_files

RAW_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("source_record", pa.int64()),
        ("raw", pa.binary()),
        ("read_error", pa.string()),
    ]
)

CHUNK_BYTES = 32 * 1024 * 1024  # plain JSONL is split into ranges of about this size


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
    for path in paths:
        try:
            files.extend(input_files.files_named(path, _container))
        except input_files.NoInputInFolderError as empty:
            raise InputError(_no_input_in_folder(empty.folder, empty.names)) from None
    return input_files.distinct_files(files)


def _no_input_in_folder(folder: str, names: list[str]) -> str:
    """Why a folder given as an input is refused, naming the CSV/TSV files it holds instead (a common mix-up)."""
    tabular = [name for name in names if name.lower().endswith(TABULAR_TEXT)]
    held = f" (it holds {len(tabular)} CSV/TSV file(s), e.g. {sorted(tabular)[0]!r})" if tabular else ""
    return (
        f"{folder!r} holds no readable input{held}: no .jsonl, .json, .parquet or .arrow file (or .gz "
        f"of the text ones), no save_to_disk dataset and no dataset repository; {INPUTS_THAT_WORK}"
    )


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
        except UnusableFileError as problem:
            chunks.append(Chunk(path, "file", None, 0, 0, 0, str(problem)))
        except OSError as error:
            chunks.append(Chunk(path, "file", None, 0, 0, 0, f"can't read the file: {error.strerror or error}"))
    return chunks


def _plan_file(path: str, input_format: str | None, chunk_bytes: int) -> list[Chunk]:
    # Before any open: opening a FIFO blocks until a writer comes, and /dev/zero never ends.
    if kind := input_files.special_file_kind(path):
        raise UnusableFileError(f"not a regular file but {kind}; only regular files are read")
    container = _container(path)
    if container is None:
        raise UnusableFileError("unknown file type; use .jsonl, .json, .parquet, .arrow (or .jsonl.gz/.json.gz)")
    with objectstore.open_binary(path) as handle:  # raises for a missing, unreadable or dangling path
        if not handle.read(1):
            raise UnusableFileError("the file is empty")
    if container == "parquet":
        try:
            with objectstore.open_binary(path) as handle:
                metadata = pq.ParquetFile(handle).metadata
        except (pa.ArrowException, ValueError) as error:
            raise UnusableFileError(f"not a readable Parquet file: {error}") from None
    if container == "arrow":
        try:
            arrow_files.arrow_schema(path)
        except (pa.ArrowException, ValueError) as error:
            raise UnusableFileError(f"not a readable Arrow file: {error}") from None
    source_format = input_format or sniff_format(path, container)
    if container == "jsonl":
        return _plan_jsonl(path, source_format, chunk_bytes)
    if container == "arrow":
        try:
            ranges = arrow_files.arrow_ranges(path, chunk_bytes)
        except (pa.ArrowException, ValueError) as error:
            raise UnusableFileError(f"not a readable Arrow file: {error}") from None
        if not ranges:
            raise UnusableFileError("the Arrow file holds no rows")
        return [Chunk(path, container, source_format, start, end, start) for start, end in ranges]
    if container == "parquet":
        chunks, first_row = [], 0
        for group in range(metadata.num_row_groups):
            chunks.append(Chunk(path, container, source_format, group, group + 1, first_row))
            first_row += metadata.row_group(group).num_rows
        if not chunks:
            raise UnusableFileError("the Parquet file holds no rows")
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
    """Read one chunk into raw records, from a local file or an object alike (`input_files.open_input_file`).

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
            with input_files.open_input_file(chunk.path) as handle:
                handle.seek(chunk.start)
                data = read_range(handle, chunk.end - chunk.start)
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
        text = read_gzip_file(chunk.path, max_record_bytes)
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


def _container(path: str) -> str | None:
    name = path.lower()
    for suffix in ("jsonl.gz", "json.gz", "jsonl", "json", "parquet", "arrow"):
        if name.endswith("." + suffix):
            return suffix
    if name.endswith(".ndjson"):
        return "jsonl"
    return None


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


def _read_json_document(path: str, container: str, rows: list) -> None:
    if container == "json.gz":
        data, problem, _ = read_gzip_file(path)
    else:
        try:
            with input_files.open_input_file(path) as handle:
                data, problem = handle.read(), ""
        except OSError as error:
            data, problem = b"", f"can't read the file: {error.strerror or error}"
    if problem and not data:
        rows.append((0, b"", problem))
        return
    items, tail_problem = parse_json_document(data.removeprefix(BOM))
    rows.extend((index, item, None) for index, item in enumerate(items))
    if problem or tail_problem:
        rows.append((len(items), b"", problem or tail_problem))


def _read_rows(chunk: Chunk, rows: list) -> pa.Table | None:
    """A Parquet row group or a range of Arrow rows as a table; None (and a read-error row) when it breaks."""
    try:
        if chunk.container == "arrow":
            return arrow_files.read_arrow_rows(chunk.path, chunk.start, chunk.end)
        return arrow_files.read_parquet_rows(input_files.open_input_file(chunk.path), chunk.start)
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
