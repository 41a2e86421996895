"""Operator mistakes a nightly run meets before any work (issue 21, case 9): one line naming the problem and the
fix, exit 2, nothing created. Each is a real `afterword nightly` in a child process."""

import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import wildchat_record, write_jsonl
from tests.reliability.test_hostile_inputs import afterword

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

CONFIGS = {
    "memory_word": ('[ingest]\nmemory = "lots"\n', "[ingest] has unknown keys ['memory']"),
    "memory_limit": ('duckdb_memory_limit = "lots"\n', "duckdb_memory_limit = 'lots': "),
    "runner": (
        'beam_args = ["--runner=NoSuchRunner"]\n',
        "beam_args --runner=NoSuchRunner: Unexpected pipeline runner",
    ),
    "beyond_int64": ("[ingest]\nmax_record_bytes = 99999999999999999999\n", "beyond a 64-bit integer"),
}


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("afterword nightly: error: "), done.stderr[-3000:]
    return lines[0]


def run_nightly(tmp_path: Path, root: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    dump = write_jsonl(tmp_path / "dump.jsonl", [wildchat_record(1)])
    args = ("nightly", "--input", str(dump), "--root", str(root), "--date", "2026-11-20", "--no-score", *extra)
    return afterword(tmp_path, *args, timeout=60, env=env)


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_case_9_bad_config_values_are_one_line_before_any_work(tmp_path, case):
    text, message = CONFIGS[case]
    (tmp_path / "night.toml").write_text(text)
    line = one_line_error(run_nightly(tmp_path, tmp_path / "root", "--config", str(tmp_path / "night.toml")))
    assert message in line
    assert not (tmp_path / "root").exists()


def test_case_9_a_root_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "root").write_text("not a folder")
    assert "is a file, not a folder" in one_line_error(run_nightly(tmp_path, tmp_path / "root"))
    assert "a file, not a folder" in one_line_error(run_nightly(tmp_path, tmp_path / "root" / "night"))


def test_case_9_a_read_only_root_is_one_line_before_any_work(tmp_path):
    mount = tmp_path / "ro"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(mount)], capture_output=True)
    if made.returncode:
        pytest.skip(f"can't mount a read-only tmpfs here: {made.stderr.decode().strip()}")
    try:
        for root in (mount, mount / "root"):
            line = one_line_error(run_nightly(tmp_path, root))
            assert "is on a read-only file system" in line and "another --root" in line
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_case_9_a_prefect_api_nobody_serves_is_one_line(tmp_path):
    with socket.socket() as probe:  # a port that was free a moment ago: closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    line = one_line_error(
        run_nightly(tmp_path, tmp_path / "root", env={"PREFECT_API_URL": f"http://127.0.0.1:{port}/api"})
    )
    assert f"PREFECT_API_URL=http://127.0.0.1:{port}/api: no Prefect server answers there" in line
    assert "unset PREFECT_API_URL" in line and not (tmp_path / "root").exists()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the CPU build of torch")
def test_a_cuda_device_on_a_cpu_torch_is_one_line_naming_the_gpu_setup(tmp_path):
    dump = write_jsonl(tmp_path / "dump.jsonl", [wildchat_record(1)])
    root = tmp_path / "root"
    args = ("nightly", "--input", str(dump), "--root", str(root), "--date", "2026-11-20", "--score.device", "cuda")
    line = one_line_error(afterword(tmp_path, *args, timeout=60))
    assert "--score.device cuda: this torch" in line and "CPU build" in line and "make setup-gpu" in line
    assert not root.exists()
    learn = afterword(tmp_path, "learn", "--root", str(tmp_path), "--night", "2026-11-20", "--train.device", "cuda:0")
    assert learn.returncode == 2 and "make setup-gpu" in learn.stderr, learn.stderr[-2000:]
