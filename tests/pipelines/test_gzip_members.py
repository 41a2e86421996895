"""Gzip reading in bounded memory: oversized lines cut out with true line numbers, every member, any step size."""

import gzip
import random

import pytest

from pipelines import gzip_members
from pipelines.gzip_members import OversizedLine, read_gzip


def test_lines_over_the_cap_become_empty_lines_with_their_number_size_and_head():
    text = read_gzip(gzip.compress(b"ok\n" + b"x" * 10 + b"\nfine\n" + b"y" * 7), max_line_bytes=5)
    assert text.data == b"ok\n\nfine\n\n"
    assert text.oversized == [OversizedLine(2, 10, b"x" * 10), OversizedLine(4, 7, b"y" * 7)]
    assert text.problem == ""


@pytest.mark.parametrize("output_step", [1, 3, 1000])
def test_any_step_size_gives_the_lines_a_whole_read_gives(monkeypatch, output_step):
    monkeypatch.setattr(gzip_members, "OUTPUT_STEP", output_step)
    monkeypatch.setattr(gzip_members, "INFLATE_STEP", 7)
    rng = random.Random(output_step)
    for _ in range(200):
        lines = [b"a" * rng.choice([0, 2, 4, 9]) for _ in range(rng.randint(1, 8))]
        whole = b"\n".join(lines) + b"\n"
        compressed = gzip.compress(whole[: len(whole) // 2]) + gzip.compress(whole[len(whole) // 2 :])
        text = read_gzip(compressed, max_line_bytes=4)
        assert text.data == b"".join(b"\n" if len(line) > 4 else line + b"\n" for line in lines)
        assert [line.line for line in text.oversized] == [i + 1 for i, line in enumerate(lines) if len(line) > 4]
        assert read_gzip(compressed).data == whole


def test_a_bad_crc_or_a_cut_stream_keeps_what_came_before():
    data = bytearray(gzip.compress(b"one\ntwo\n"))
    data[-8] ^= 1
    assert read_gzip(bytes(data)) == (
        b"one\ntwo\n",
        "gzip stream broken: CRC check failed (the data may be damaged)",
        [],
    )
    cut = read_gzip(gzip.compress(b"one\ntwo\n" * 1000)[:-20])
    assert cut.problem.startswith("gzip stream broken") and cut.data.startswith(b"one\ntwo\n")
