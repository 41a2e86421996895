"""Inputs and disks that once hung or crashed a night (issue 21, cases 4 and 5), each through the real command.

Every test runs `afterword nightly` in a child process on a fresh root (in-process flow, no Prefect server) with
a few tiny records, so a hang shows as a timeout rather than a stuck suite.
"""

import json
import os
import socket
import subprocess
import sys
import zlib
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.rejects import MALFORMED_JSON, OVERSIZED_RECORD, UNREADABLE_INPUT
from pipelines.store import layout as storage
from pipelines.store.leftovers import is_leftover
from tests.conftest import NIGHT, wildchat_record, write_jsonl

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def afterword(tmp_path: Path, *args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """`afterword ARGS` from this checkout, as an operator runs it (no PREFECT_API_URL unless `env` sets one: the
    flow runs in-process)."""
    environment = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    environment |= {"PYTHONPATH": str(REPO), "PREFECT_HOME": str(tmp_path / "prefect-home"), **(env or {})}
    command = [sys.executable, str(REPO / "afterword_cli.py"), *args]
    return subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=timeout)


def nightly(tmp_path: Path, root: Path, *inputs: Path | str, extra: tuple[str, ...] = (), timeout: float = 120):
    return afterword(
        tmp_path, "nightly", "--input", *map(str, inputs), "--root", str(root), "--date", NIGHT, "--no-score", *extra,
        timeout=timeout,
    )  # fmt: skip


def night_table(root: Path, table: str):
    return pq.read_table(storage.published_night_file(str(root), table, date.fromisoformat(NIGHT)))


def counts(root: Path) -> tuple[int, int, int]:
    """(records in, conversations, rejects) as the night's run recorded them."""
    (manifest,) = Path(root, "runs").glob("*/manifest.json")
    summary = json.loads(manifest.read_text())
    return summary["records_in"], summary["conversations"], summary["rejects"]


def test_case_4_fifos_devices_and_sockets_are_rejects_naming_their_type(tmp_path):
    dump = tmp_path / "dump"
    dump.mkdir()
    write_jsonl(dump / "good.jsonl", [wildchat_record(i) for i in range(3)])
    os.mkfifo(dump / "fifo.jsonl")  # nobody ever writes it: opening it for reading would block forever
    os.symlink("/dev/zero", dump / "zero.jsonl")  # endless
    os.symlink("/dev/null", dump / "null.jsonl.gz")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(dump / "sock.json"))
    try:
        done = nightly(tmp_path, tmp_path / "root", dump, timeout=90)
    finally:
        listener.close()
    assert done.returncode == 0, done.stderr[-3000:]

    assert counts(tmp_path / "root") == (3 + 4, 3, 4)  # records in = conversations + rejects
    rejects = night_table(tmp_path / "root", "rejects").to_pylist()
    causes = {os.path.basename(row["source_file"]): row["detail"] for row in rejects}
    assert {row["reason"] for row in rejects} == {UNREADABLE_INPUT}
    assert "a FIFO" in causes["fifo.jsonl"]
    assert "a character device (a symlink to /dev/zero)" in causes["zero.jsonl"]
    assert "a character device (a symlink to /dev/null)" in causes["null.jsonl.gz"]
    assert "a socket" in causes["sock.json"]
    assert all("only regular files are read" in detail for detail in causes.values())


@pytest.fixture
def small_disk(tmp_path):
    """A 8 MiB tmpfs (needs root and mount); unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode:
        pytest.skip(f"can't mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_case_4_disk_full_mid_run_fails_fast_in_one_line_and_leaves_the_night_as_it_was(tmp_path, small_disk):
    root = small_disk / "root"
    first = write_jsonl(tmp_path / "first.jsonl", [wildchat_record(i) for i in range(4)])
    assert nightly(tmp_path, root, first).returncode == 0
    before = {table: night_table(root, table) for table in storage.TABLES}

    # ~13 MB of records in 7 chunks over two Beam worker processes: the staged parts outgrow the 8 MiB disk.
    def turns():  # distinct text: Parquet's dictionary encoding would shrink repeats
        return [("user", os.urandom(1000).hex()), ("assistant", os.urandom(1000).hex()), ("user", "shorter"),
                ("assistant", "ok")]  # fmt: skip

    big = write_jsonl(tmp_path / "big.jsonl", [wildchat_record(i, turns()) for i in range(100, 3100)])
    (tmp_path / "night.toml").write_text("chunk_bytes = 2000000\n")

    failed = nightly(tmp_path, root, big, extra=("--replace", "--config", str(tmp_path / "night.toml")), timeout=90)

    assert failed.returncode == 2, failed.stderr[-3000:]
    last = failed.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("afterword nightly: error: no space left on the device holding ") and "another --root" in last
    )
    assert "Traceback" not in failed.stderr
    for table, rows in before.items():
        assert night_table(root, table).equals(rows), table
    assert not [name for _, _, files in os.walk(root) for name in files if is_leftover(name)]


def test_case_5_a_gzip_bomb_line_is_an_oversized_reject_and_the_night_goes_on(tmp_path):
    # ~10 MB on disk; one line of 2.2 GiB decompressed (past the 2 GiB an Arrow binary column holds).
    first, last = (json.dumps(wildchat_record(i)).encode() + b"\n" for i in (1, 2))
    compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
    block = b"a" * (8 << 20)
    opening = b'{"conversation_hash": "bomb", "junk": "'
    parts = [compressor.compress(first + opening)]
    parts += [compressor.compress(block) for _ in range(275)]
    parts += [compressor.compress(b'"}\n' + last), compressor.flush()]
    bomb = tmp_path / "bomb.jsonl.gz"
    bomb.write_bytes(b"".join(parts))

    done = nightly(tmp_path, tmp_path / "root", bomb, timeout=150)

    assert done.returncode == 0, done.stderr[-3000:]
    assert counts(tmp_path / "root") == (3, 2, 1)
    (reject,) = night_table(tmp_path / "root", "rejects").to_pylist()
    assert (reject["reason"], reject["source_record"]) == (OVERSIZED_RECORD, 2)
    assert (
        reject["detail"]
        == f"record is {len(opening) + 275 * len(block) + 2} bytes decompressed, cap is {8 * 1024 * 1024}"
    )
    assert reject["raw"].startswith('{"conversation_hash": "bomb", "junk": "aaaa')


def test_case_5_a_json_array_element_nested_10k_deep_is_a_reject_and_its_neighbours_are_kept(tmp_path):
    deep = {"conversation_hash": "deep", "conversation": "__deep__"}
    text = json.dumps([wildchat_record(1), deep, wildchat_record(2)])
    array = tmp_path / "deep.json"
    array.write_text(text.replace('"__deep__"', "[" * 10_000 + "]" * 10_000))

    done = nightly(tmp_path, tmp_path / "root", array)

    assert done.returncode == 0, done.stderr[-3000:]
    assert counts(tmp_path / "root") == (3, 2, 1)
    (reject,) = night_table(tmp_path / "root", "rejects").to_pylist()
    assert (reject["reason"], reject["source_record"]) == (MALFORMED_JSON, 1) and "depth" in reject["detail"]
    conversations = night_table(tmp_path / "root", "conversations")
    assert conversations["conversation_id"].to_pylist() == ["hash0001", "hash0002"]


def test_case_5_a_file_name_that_is_not_utf8_is_carried_and_its_records_counted(tmp_path):
    dump = tmp_path / "dump"
    dump.mkdir()
    write_jsonl(Path(os.fsdecode(bytes(dump) + b"/latin1-\xe9\xff.jsonl")), [wildchat_record(i) for i in range(3)])

    done = nightly(tmp_path, tmp_path / "root", dump)

    assert done.returncode == 0, done.stderr[-3000:]
    assert counts(tmp_path / "root") == (3, 3, 0)
    stored = set(night_table(tmp_path / "root", "conversations")["source_file"].to_pylist())
    assert stored == {f"{dump}/latin1-\\xe9\\xff.jsonl"}  # the bytes that are not UTF-8, written as \xNN
    (run,) = Path(tmp_path / "root", "runs").glob("*/run.parquet")
    assert pq.read_table(run)["input_files"].to_pylist() == [sorted(stored)]
