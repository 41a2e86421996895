"""SIGTERM and SIGINT to a nightly run mid-ingest (issue 21, case 6): the run stops with every process it
started, leaves nothing half-written, releases the root, and the rerun completes the night.

The run is a real `afterword nightly` in a child process; the signal goes to it alone, as `prefect`, systemd and
Kubernetes send it (not to its process group, as a terminal's Ctrl-C would), while both Beam SDK worker processes
are busy with a chunk each.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import psutil
import pytest

from pipelines.store import layout as storage
from pipelines.store.leftovers import is_leftover
from pipelines.store.lock import writer_lock
from tests.conftest import NIGHT, wildchat_record
from tests.reliability.test_hostile_inputs import REPO, counts, nightly

pytestmark = [pytest.mark.reliability, pytest.mark.slow]


@pytest.fixture(scope="module")
def two_busy_chunks(tmp_path_factory) -> list[Path]:
    """Two files of 40k records without language metadata (detected per record): a few seconds of work each."""
    folder = tmp_path_factory.mktemp("dump")
    paths = []
    for part in range(2):
        lines = (json.dumps(wildchat_record(part * 100_000 + i, language=None)) for i in range(40_000))
        paths.append(folder / f"part-{part}.jsonl")
        paths[-1].write_text("\n".join(lines) + "\n")
    return paths


def beam_workers(process: psutil.Process) -> list[psutil.Process]:
    workers = []
    for child in process.children(recursive=True):
        try:
            if "sdk_worker_main" in " ".join(child.cmdline()):
                workers.append(child)
        except psutil.NoSuchProcess:
            continue
    return workers


def still_running(processes: list[psutil.Process]) -> list[int]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process.pid)
        except psutil.NoSuchProcess:
            continue
    return alive


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_case_6_a_signal_stops_the_run_and_every_process_it_started_and_the_rerun_resumes(
    tmp_path, two_busy_chunks, signal_number
):
    root = tmp_path / "root"
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env |= {"PYTHONPATH": str(REPO), "PREFECT_HOME": str(tmp_path / "prefect-home")}
    command = [sys.executable, str(REPO / "afterword_cli.py"), "nightly", "--input", *map(str, two_busy_chunks)]
    command += ["--root", str(root), "--date", NIGHT, "--no-score"]
    with open(tmp_path / "out.txt", "w") as out, open(tmp_path / "err.txt", "w") as err:
        child = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=err)
    run, started = psutil.Process(child.pid), []
    try:
        deadline = time.monotonic() + 90
        while len(beam_workers(run)) < 2:
            assert child.poll() is None and time.monotonic() < deadline, (tmp_path / "err.txt").read_text()[-3000:]
            time.sleep(0.1)
        time.sleep(1)  # both workers inside a chunk
        started = run.children(recursive=True)
        child.send_signal(signal_number)
        returncode = child.wait(timeout=30)
        time.sleep(1)
        alive = still_running(started)
    finally:  # whatever happened, nothing of the run outlives the test
        for process in [*started, *(run.children(recursive=True) if child.poll() is None else [])]:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        child.kill()

    stderr = (tmp_path / "err.txt").read_text()
    assert returncode == 128 + signal_number, stderr[-3000:]
    assert stderr.strip().splitlines()[-1].startswith(f"afterword nightly: stopped by {signal_number.name}: ")
    assert alive == [], f"processes of the stopped run still running: {alive}"
    assert not [name for _, _, files in os.walk(root) for name in files if is_leftover(name)]
    assert not os.path.exists(storage.night_manifest(str(root), date.fromisoformat(NIGHT)))
    with writer_lock(str(root), "test"):  # released: a writer gets it at once
        pass

    rerun = nightly(tmp_path, root, *two_busy_chunks)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert counts(root) == (80_000, 80_000, 0)
