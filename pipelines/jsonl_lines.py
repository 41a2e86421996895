"""JSONL bytes → numbered lines, found by numpy and handed to Arrow without a copy per line.

`read_range` reads a chunk's byte range into one buffer and `split_lines` cuts it into its non-blank lines
(numbered, trailing CRs removed) as Arrow columns, moving the lines together in place. `pipelines/sources.py`
reads every plain and gzipped JSONL chunk through them.
"""

import numpy as np
import pyarrow as pa

WHITESPACE = np.frombuffer(b" \t\n\r\x0b\x0c", np.uint8)  # what bytes.strip() removes


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


def read_range(handle, size: int) -> np.ndarray:
    """Up to `size` bytes from `handle` into a fresh (not zero-filled) uint8 array; fewer where the file ends."""
    buffer = np.empty(size, np.uint8)
    filled = 0
    while filled < size and (count := handle.readinto(memoryview(buffer)[filled:])):
        filled += count
    return buffer[:filled]
