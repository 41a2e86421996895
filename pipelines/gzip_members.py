"""Gzip files → their decompressed text, every member, with damage and oversized lines named, in bounded memory.

`read_gzip` inflates member after member (RFC 1952), checking each CRC here, so a bad checksum or a cut tail
costs only what follows the damage. With `max_line_bytes` set (JSONL) it streams: a line longer than the cap
is never held — it leaves an empty line in its place (line numbers stay true) and its number, size and head —
so a 3 MB file holding one 3 GiB line costs the cap, not 3 GiB. `read_gzip_head` inflates only the top of
the first member, for format detection; `read_gzip_file` reads a whole input file and inflates it.
`pipelines/sources.py` and `pipelines/format_sniffing.py` call them per file.
"""

import zlib
from typing import NamedTuple

import numpy as np

from pipelines import objectstore
from pipelines.store.input_files import open_input_file

INFLATE_STEP = 1 << 20  # compressed bytes inflated per step
OUTPUT_STEP = 16 << 20  # most decompressed bytes one step yields (a bomb inflates 1000x)
HEAD_BYTES = 64 << 10  # bytes of an oversized line kept for its reject


class OversizedLine(NamedTuple):
    line: int  # 1-based line number in the decompressed text
    size: int  # the line's length in bytes, newline excluded
    head: bytes  # its first HEAD_BYTES


class GzipText(NamedTuple):
    data: bytes  # the decompressed text (each oversized line left as an empty line, newline included)
    problem: str  # why the rest of the file was lost ("" = every member intact)
    oversized: list[OversizedLine]


def read_gzip_file(path: str, max_line_bytes: int | None = None) -> GzipText:
    """Every gzip member of the input file `path` decompressed, lines over `max_line_bytes` cut out; a file
    that can't be read is its problem."""
    try:
        with open_input_file(path) as handle:
            compressed = handle.read()
    except OSError as error:
        return GzipText(b"", f"can't read the file: {error.strerror or error}", [])
    return read_gzip(compressed, max_line_bytes)


def read_gzip(compressed: bytes, max_line_bytes: int | None = None) -> GzipText:
    """Decompress every gzip member of `compressed`; on damage, what decompressed before it and the cause."""
    sink = _LineSink(max_line_bytes)
    position = 0
    while position < len(compressed):
        try:
            start = gzip_header_end(compressed, position)
        except ValueError as error:
            if position and not compressed[position:].strip(b"\0"):
                break  # zero padding after the last member
            return sink.finish(f"gzip stream broken: {error}")
        problem, position = _inflate_member(compressed, start, sink)
        if problem:
            return sink.finish(problem)
    return sink.finish("")


def _inflate_member(compressed: bytes, start: int, sink: "_LineSink") -> tuple[str, int]:
    """Inflate the member whose deflate data starts at `start` into `sink`; (problem, where the next starts)."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    crc = size = 0
    cursor = start
    pending = b""  # compressed input the last step left unconsumed (output was capped)
    while not inflater.eof:
        if not pending and cursor >= len(compressed):
            piece = inflater.flush()  # all input taken: what zlib still holds is under a window
            crc, size = zlib.crc32(piece, crc), size + len(piece)
            sink.feed(piece)
            if not inflater.eof:
                return "gzip stream broken: the file ends before the compressed data does", cursor
            break
        if not pending:
            pending = compressed[cursor : cursor + INFLATE_STEP]
            cursor += len(pending)
        saved = inflater.copy()
        try:
            piece = inflater.decompress(pending, OUTPUT_STEP)
        except zlib.error as error:
            # What the damaged step yields before the damage, fed in small pieces.
            sink.feed(_inflate_prefix(saved, pending))
            return f"gzip stream broken: {error}", cursor
        pending = inflater.unconsumed_tail
        crc, size = zlib.crc32(piece, crc), size + len(piece)
        sink.feed(piece)
    trailer = (inflater.unused_data + compressed[cursor : cursor + 8])[:8]
    after = cursor - len(inflater.unused_data) + 8  # where the next member's header starts
    if len(trailer) < 8:
        return "gzip stream broken: the file ends inside the gzip trailer", after
    if int.from_bytes(trailer[:4], "little") != crc or int.from_bytes(trailer[4:], "little") != size & 0xFFFFFFFF:
        return "gzip stream broken: CRC check failed (the data may be damaged)", after
    return "", after


def _inflate_prefix(inflater, deflated: bytes) -> bytes:
    out = []
    for offset in range(0, len(deflated), 4096):
        try:
            out.append(inflater.decompress(deflated[offset : offset + 4096], OUTPUT_STEP))
        except zlib.error:
            break
    return b"".join(out)


def gzip_header_end(data: bytes, position: int) -> int:
    """Offset of the deflate data after the gzip member header at `position` (RFC 1952)."""
    if data[position : position + 3] != b"\x1f\x8b\x08":
        raise ValueError("not a gzip file (bad magic number)")
    if len(data) < position + 10:
        raise ValueError("the file ends inside the gzip header")
    flags = data[position + 3]
    cursor = position + 10
    if flags & 4:  # FEXTRA
        cursor += 2 + int.from_bytes(data[cursor : cursor + 2], "little")
    for bit in (8, 16):  # FNAME, FCOMMENT: zero-terminated
        if flags & bit:
            cursor = data.index(b"\0", cursor) + 1
    if flags & 2:  # FHCRC
        cursor += 2
    if cursor > len(data):
        raise ValueError("the file ends inside the gzip header")
    return cursor


def read_gzip_head(path: str, limit: int) -> bytes:
    """Up to `limit` bytes of the first gzip member, or what inflates before damage (no checksum needed)."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    out: list[bytes] = []
    size = 0
    with objectstore.open_binary(path) as handle:
        block = handle.read(1 << 20)
        try:
            block = block[gzip_header_end(block, 0) :]
        except ValueError:
            return b""
        while block and size < limit and not inflater.eof:
            try:
                piece = inflater.decompress(block, limit - size)
            except zlib.error:
                break
            out.append(piece)
            size += len(piece)
            block = handle.read(1 << 20)
    return b"".join(out)


class _LineSink:
    """Decompressed pieces → the text, each line over the cap replaced by an empty line and noted."""

    def __init__(self, cap: int | None):
        self.cap = cap
        self.kept: list[bytes] = []  # text up to the start of the current line
        self.current: list[bytes] = []  # the current (unfinished) line, while under the cap
        self.current_size = 0
        self.skipping: list | None = None  # [line, size, head] of an oversized line being passed over
        self.newlines = 0
        self.oversized: list[OversizedLine] = []

    def feed(self, piece: bytes) -> None:
        if self.cap is None:
            self.kept.append(piece)
            return
        ends = np.flatnonzero(np.frombuffer(piece, np.uint8) == ord("\n"))
        # Lines that end in this piece (the first continues the current one): a long one among them is rare,
        # and the lines between long ones are kept wholesale.
        lengths = np.diff(ends, prepend=-1) - 1
        if len(ends):
            lengths[0] += self.current_size
        long_lines = set(np.flatnonzero(lengths > self.cap).tolist())
        if self.skipping is not None and len(ends):
            long_lines.add(0)
        start = 0
        for index in sorted(long_lines):
            line_start = int(ends[index - 1]) + 1 if index else 0
            if line_start > start:
                self._keep_lines(piece[start:line_start])
            end = int(ends[index])
            self._add(piece[line_start:end])
            self._end_line()
            start = end + 1
        last = int(ends[-1]) + 1 if len(ends) else 0
        if last > start:
            self._keep_lines(piece[start:last])
        self._add(piece[max(start, last) :])

    def _keep_lines(self, text: bytes) -> None:
        """Whole lines under the cap (the current line's end first)."""
        self.kept.extend(self.current)
        self.kept.append(text)
        self.current, self.current_size = [], 0
        self.newlines += text.count(b"\n")

    def _add(self, segment: bytes) -> None:
        """Append to the current line, switching to passing over it once it is over the cap."""
        if self.skipping is not None:
            self.skipping[1] += len(segment)
            if len(self.skipping[2]) < HEAD_BYTES:
                self.skipping[2] += segment[: HEAD_BYTES - len(self.skipping[2])]
            return
        if self.current_size + len(segment) <= self.cap:
            self.current.append(segment)
            self.current_size += len(segment)
            return
        head = (b"".join(self.current) + segment[:HEAD_BYTES])[:HEAD_BYTES]
        self.skipping = [self.newlines + 1, self.current_size + len(segment), head]
        self.current, self.current_size = [], 0

    def _end_line(self) -> None:
        if self.skipping is not None:
            self.oversized.append(OversizedLine(*self.skipping))
            self.skipping = None
        else:
            self.kept.extend(self.current)
            self.current, self.current_size = [], 0
        self.kept.append(b"\n")
        self.newlines += 1

    def finish(self, problem: str) -> GzipText:
        if self.skipping is not None:  # the file's last line, with no newline: its empty line gets one
            self._end_line()
        self.kept.extend(self.current)
        self.current = []
        return GzipText(b"".join(self.kept), problem, self.oversized)
