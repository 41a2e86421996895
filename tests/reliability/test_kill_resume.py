"""kill -9 at five points of a nightly run, each resumed by the next run; a second writer while one runs.

The killed runs are real `nightly` runs in child processes (tests/reliability/nightly_child.py); the kill
replaces one atomic rename into the root, so the killed run leaves its temporary file behind as a real
crash would. The run that finally completes must equal an uninterrupted run, with one `runs` row and no
leftovers.
"""

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from flows.nightly import nightly
from pipelines.store import layout as storage
from pipelines.store.leftovers import is_leftover
from pipelines.store.lock import LOCK_FILE, RootLockedError
from pipelines.store.query import open_catalog
from tests.conftest import NIGHT, wildchat_record, write_jsonl
from tests.reliability.nightly_child import CONFIG

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
# Each child run dies at the first rename of a path containing this text (it resumes the one before), and
# whether that rename was of a temporary file (the commit moves finished tables, not temporary ones).
KILL_POINTS = [
    ("_done/", True),  # Beam: a chunk's parts written, its marker not
    ("publish/rejects.parquet", True),  # selection: the night's tables half written
    ("rejects/ingest_date=", False),  # commit: one table stored as a new version, none published
    ("runs/", True),  # night published, run not recorded
    ("catalog.duckdb", True),  # run recorded, catalog not refreshed, staging not removed
]


def run_child(root: Path, dump: Path, kill_at: str = "", pause_file: str = "") -> subprocess.Popen:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PYTHONPATH": str(REPO), "PREFECT_API_URL": PREFECT_API_URL.value() or ""}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.nightly_child", str(root), NIGHT, kill_at, pause_file, str(dump)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def night_tables(root: Path) -> dict:
    night = date.fromisoformat(NIGHT)
    return {table: pq.read_table(storage.published_night_file(str(root), table, night)) for table in storage.TABLES}


def leftovers(root: Path) -> list[str]:
    return [name for _, folders, files in os.walk(root) for name in folders + files if is_leftover(name)]


def test_kill_9_at_five_points_then_resume_equals_an_uninterrupted_run(tmp_path, prefect_harness):
    dump = write_jsonl(tmp_path / "dump.jsonl", [wildchat_record(i) for i in range(12)] + [b"{broken"])
    straight = tmp_path / "straight"
    expected = nightly(inputs=[str(dump)], root=str(straight), night=NIGHT, config=CONFIG, score=False)

    root = tmp_path / "killed"
    for point, leaves_temporary_file in KILL_POINTS:
        child = run_child(root, dump, kill_at=point)
        output, _ = child.communicate(timeout=300)
        assert child.returncode == -9, output[-3000:]
        assert bool(leftovers(root)) == leaves_temporary_file, point
        assert str(child.pid) in (root / LOCK_FILE).read_text()  # the dead run still names itself there
    resumed = nightly(inputs=[str(dump)], root=str(root), night=NIGHT, config=CONFIG, score=False)

    for table, rows in night_tables(straight).items():
        assert night_tables(root)[table].equals(rows), table
    for key in ("records_in", "conversations", "rejects", "interactions", "reject_reasons"):
        assert resumed[key] == expected[key], key
    assert leftovers(root) == [] and not os.listdir(root / "_staging")
    with open_catalog(str(root)) as con:
        assert con.sql("select count(*) from runs").fetchall() == [(1,)]
        assert con.sql("select count(*), count(distinct conversation_id) from conversations").fetchall() == [(12, 12)]


def test_failure_2_second_writer_fails_fast_and_the_first_run_is_untouched(tmp_path, prefect_harness):
    dump = write_jsonl(tmp_path / "dump.jsonl", [wildchat_record(i) for i in range(12)])
    root, pause = tmp_path / "root", tmp_path / "pause"
    pause.touch()
    first = run_child(root, dump, pause_file=str(pause))
    try:
        deadline = time.monotonic() + 240
        while not Path(f"{pause}.reached").exists():
            assert first.poll() is None and time.monotonic() < deadline, "the first run never reached its writes"
            time.sleep(0.1)
        started = time.monotonic()
        with pytest.raises(RootLockedError, match=rf"in use by nightly \(pid {first.pid} on "):
            nightly(inputs=[str(dump)], root=str(root), night=NIGHT, config=CONFIG, score=False)
        assert time.monotonic() - started < 30  # fails fast: no waiting on the first run
        with pytest.raises(RootLockedError):
            nightly(inputs=[str(dump)], root=str(root), night="2026-11-21", config=CONFIG, score=False)
    finally:
        pause.unlink()
    output, _ = first.communicate(timeout=300)
    assert first.returncode == 0, output[-3000:]
    tables = night_tables(root)
    assert tables["conversations"].num_rows == 12 and tables["interactions"].num_rows == 12
    assert not (root / "conversations" / "ingest_date=2026-11-21").exists()
