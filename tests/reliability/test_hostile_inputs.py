"""Inputs and disks that once hung or crashed a night (issue 21, cases 4 and 5), each through the real command.

Every test runs `afterword nightly` in a child process on a fresh root (in-process flow, no Prefect server) with
a few tiny records, so a hang shows as a timeout rather than a stuck suite.
"""

import json
import os
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines import storage
from pipelines.ingest import UNREADABLE_INPUT
from tests.conftest import NIGHT, wildchat_record, write_jsonl

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def afterword(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`afterword ARGS` from this checkout, as an operator runs it (no PREFECT_API_URL: the flow runs in-process)."""
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env |= {"PYTHONPATH": str(REPO), "PREFECT_HOME": str(tmp_path / "prefect-home")}
    command = [sys.executable, str(REPO / "afterword_cli.py"), *args]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)


def nightly(tmp_path: Path, root: Path, *inputs: Path | str, extra: tuple[str, ...] = (), timeout: float = 120):
    return afterword(
        tmp_path, "nightly", "--input", *map(str, inputs), "--root", str(root), "--date", NIGHT, "--no-score", *extra,
        timeout=timeout,
    )  # fmt: skip


def night_table(root: Path, table: str):
    return pq.read_table(storage.night_file(str(root), table, date.fromisoformat(NIGHT)))


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
    assert not [name for _, _, files in os.walk(root) for name in files if storage.is_leftover(name)]
