"""Flows without a Prefect server: in-process, no temporary server, nothing written to the working directory."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.progress_bars import progress_bars
from pipelines.progress import polling, report
from tests.conftest import SHARED_DATA, wildchat_record, write_jsonl

REPO = Path(__file__).resolve().parents[2]


def cli(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    env["PYTHONPATH"] = str(REPO)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "afterword_cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    return done, time.perf_counter() - started


@pytest.mark.slow
def test_nightly_without_a_prefect_api_runs_in_process_and_writes_nothing_here(tmp_path):
    real = SHARED_DATA / "wildchat_real_small.jsonl"
    dump = real if real.exists() else write_jsonl(tmp_path / "dump.jsonl", [wildchat_record(i) for i in range(40)])
    here = tmp_path / "here"
    here.mkdir()
    done, seconds = cli(["nightly", "--input", str(dump), "--root", str(tmp_path / "root"), "--no-score"], here)
    assert done.returncode == 0, done.stderr
    assert "records in 40 = conversations" in done.stdout and "ingest chunks" in done.stdout
    assert os.listdir(here) == []  # no .prefect/ (no temporary server) and nothing else
    print(f"nightly --no-score, 40 records: {seconds:.1f} s wall")
    # A temporary Prefect server alone took 35-40 s on the 2-core build machine; the whole run is well under.
    assert seconds < 30


def test_loading_bars_of_model_libraries_are_off_under_the_cli():
    code = (
        "import afterword_cli; afterword_cli.configure_environment(); "
        "from transformers.utils import logging; print(logging.is_progress_bar_enabled())"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_DISABLE_PROGRESS_BARS", "TQDM_DISABLE")}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_progress_bars_show_counts_of_each_stage():
    from io import StringIO

    from rich.console import Console

    out = StringIO()
    console = Console(file=out, width=120, force_terminal=False)
    done = []
    with progress_bars(console, "nightly"):
        report("scoring shard 1/1", 0, 64)
        report("scoring shard 1/1", 32, 64)
        with polling("ingest chunks", 3, lambda: len(done), interval_s=0.01):
            done.extend([1, 2, 3])
    text = out.getvalue()
    assert "scoring shard 1/1" in text and "32/64" in text
    assert "ingest chunks" in text and "3/3" in text


def test_a_finished_stage_leaves_the_screen_when_the_next_starts():
    from io import StringIO

    from rich.console import Console

    console = Console(file=StringIO(), width=120)
    with progress_bars(console, "refresh") as bars:
        report("sampling replies", 2, 4)
        report("scoring replies", 0, 4)
        assert [task.description for task in bars.tasks if task.visible] == [
            "refresh",
            "sampling replies",
            "scoring replies",
        ], "an unfinished stage stays"
        report("sampling replies", 4, 4)
        report("training round 1: steps", 1, 8)
        shown = [task.description for task in bars.tasks if task.visible]
    assert shown == ["refresh", "scoring replies", "training round 1: steps"], shown


def test_progress_is_silent_without_the_bars(caplog):
    report("scoring", 1, 2)  # no handler installed: nothing drawn, nothing raised
    assert "scoring" not in caplog.text


def test_a_stop_during_duckdb_work_is_still_a_stop():
    """DuckDB turns the handler's exception into its own ("Query interrupted"): the run still ends in RunStopped."""
    import threading

    import duckdb

    from flows.runtime import RunStopped, stopping_on_signals

    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
    with pytest.raises(RunStopped) as stopped, stopping_on_signals():
        duckdb.sql("select sum(hash(range)) from range(1_000_000_000)").fetchall()  # seconds of work
    assert stopped.value.signal_number == signal.SIGTERM and not stopped.value.after_work
    assert "interrupted" in str(stopped.value.__cause__)  # DuckDB's own exception, kept as the cause
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # put back


def test_a_stop_after_the_work_says_so_and_exits_at_once(tmp_path):
    """Outside the run (start-up, or the work done and its report printing) a stop is one line and 128 + signal."""
    script = (
        "import signal, time\n"
        "from flows.runtime import exit_on_stop_signals, work_finished\n"
        "exit_on_stop_signals(lambda number, after: f'stopped by {signal.Signals(number).name} after={after}')\n"
        "work_finished()\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], env=os.environ | {"PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout.readline() == "ready\n"
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=30)
    assert child.returncode == 130 and stderr == "stopped by SIGINT after=True\n"
