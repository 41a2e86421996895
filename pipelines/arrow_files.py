"""Arrow-native input files (Parquet, and the Arrow files `datasets` writes) → row ranges and record tables.

`pipelines/sources.py` plans a Parquet file by row groups and an Arrow file (an IPC stream of record batches, what
`save_to_disk` and the `datasets` cache hold) by runs of whole batches of about `chunk_bytes`; a chunk is then
read as an Arrow table, memory-mapped where the file is local, so only its own batches are touched and a
dataset larger than memory streams through chunk by chunk. Records stay Arrow: no JSON text is made for them.
"""

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import objectstore


def arrow_schema(path: str) -> pa.Schema:
    """The schema of an Arrow stream (or IPC file)."""
    with _open_arrow(path) as reader:
        return reader.schema


def arrow_ranges(path: str, chunk_bytes: int) -> list[tuple[int, int]]:
    """Row ranges [start, end) cut at batch boundaries once a range holds about `chunk_bytes` of Arrow data."""
    ranges: list[tuple[int, int]] = []
    start = rows = size = 0
    with _open_arrow(path) as reader:
        for batch in _batches(reader):
            rows += batch.num_rows
            size += batch.nbytes  # memory-mapped: reads the batch's metadata, not its data
            if size >= chunk_bytes:
                ranges.append((start, rows))
                start, size = rows, 0
    if rows > start:
        ranges.append((start, rows))
    return ranges


def read_arrow_rows(path: str, start: int, end: int) -> pa.Table:
    """Rows [start, end) of an Arrow file as one table (zero-copy slices of the mapped batches)."""
    pieces: list[pa.RecordBatch] = []
    first = 0
    with _open_arrow(path) as reader:
        schema = reader.schema
        for batch in _batches(reader):
            last = first + batch.num_rows
            if last > start and first < end:
                pieces.append(batch.slice(max(start - first, 0), min(end, last) - max(start, first)))
            first = last
            if first >= end:
                break
    return pa.Table.from_batches(pieces, schema=schema)


def read_parquet_rows(handle, group: int) -> pa.Table:
    """One row group of a Parquet file, opened through `handle` (a binary reader)."""
    return pq.ParquetFile(handle).read_row_group(group)


class _open_arrow:
    """A reader over an Arrow stream or IPC file: memory-mapped when local, streamed through fsspec for a URL."""

    def __init__(self, path: str):
        self.source = objectstore.open_random_access(path)

    def __enter__(self):
        try:
            return pa.ipc.open_stream(self.source)
        except pa.ArrowInvalid:
            self.source.seek(0)
            return pa.ipc.open_file(self.source)  # the random-access format (Feather v2), also read

    def __exit__(self, *exc_info):
        self.source.close()


def _batches(reader):
    if isinstance(reader, pa.ipc.RecordBatchFileReader):
        return (reader.get_batch(index) for index in range(reader.num_record_batches))
    return reader
