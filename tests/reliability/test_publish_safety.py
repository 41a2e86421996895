"""A night is published all or nothing, staging belongs to its root, and the lock is checked before publishing
(issue 21, cases 2 and 3). Real runs: `afterword nightly` in child processes, kill -9 at a real rename.
"""

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.store import layout as storage
from pipelines.store.lock import LOCK_FILE
from tests.conftest import NIGHT, wildchat_record, write_jsonl
from tests.reliability.test_hostile_inputs import REPO, nightly

pytestmark = [pytest.mark.reliability, pytest.mark.slow]


def child_run(tmp_path: Path, root: Path, dump: Path, kill_at: str = "", pause: str = "", replace: bool = False):
    """tests/reliability/nightly_child.py: the real flow in-process in a child, killed at a rename or paused."""
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env |= {"PYTHONPATH": str(REPO), "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env |= {"NIGHTLY_CHILD_REPLACE": "1"} if replace else {}
    command = [sys.executable, "-m", "tests.reliability.nightly_child", str(root), NIGHT, kill_at, pause, str(dump)]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def ids(root: Path, table: str, night: str = NIGHT) -> list[str]:
    path = storage.published_night_file(str(root), table, date.fromisoformat(night))
    return sorted(set(pq.read_table(path)["conversation_id"].to_pylist()) - {None})


def test_case_2_a_replace_killed_after_its_first_table_leaves_the_old_night_and_the_next_writer_sweeps(tmp_path):
    root = tmp_path / "root"
    old = write_jsonl(tmp_path / "old.jsonl", [wildchat_record(i) for i in range(4)] + [b"{broken old"])
    new = write_jsonl(tmp_path / "new.jsonl", [wildchat_record(i) for i in range(10, 16)] + [b"{broken", b"[1]"])
    assert nightly(tmp_path, root, old).returncode == 0
    old_ids = [f"hash{i:04d}" for i in range(4)]

    killed = child_run(tmp_path, root, new, kill_at="rejects/ingest_date=", replace=True)
    output, _ = killed.communicate(timeout=120)
    assert killed.returncode == -9, output[-3000:]
    # Killed storing its second table: the new conversations are stored, but no manifest names them yet.
    assert ids(root, "conversations") == old_ids and ids(root, "interactions") == old_ids
    assert len(list((root / "conversations" / f"ingest_date={NIGHT}").iterdir())) == 2

    # The next writer of the root, whatever it runs (here another night), sweeps the unpublished version.
    other = write_jsonl(tmp_path / "other.jsonl", [wildchat_record(i) for i in range(30, 32)])
    next_run = afterword_night(tmp_path, root, other, "2026-11-21")
    assert next_run.returncode == 0, next_run.stderr[-3000:]

    assert ids(root, "conversations") == old_ids and ids(root, "interactions") == old_ids
    assert len(list((root / "conversations" / f"ingest_date={NIGHT}").iterdir())) == 1
    manifest = json.loads(Path(storage.night_manifest(str(root), date.fromisoformat(NIGHT))).read_text())
    assert list(manifest["inputs"]) == [str(old)]


def afterword_night(tmp_path: Path, root: Path, dump: Path, night: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env |= {"PYTHONPATH": str(REPO), "PREFECT_HOME": str(tmp_path / "prefect-home")}
    command = [sys.executable, str(REPO / "afterword_cli.py"), "nightly", "--input", str(dump), "--root", str(root)]
    command += ["--date", night, "--no-score"]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def paused_child(tmp_path: Path, root: Path, dump: Path) -> tuple[subprocess.Popen, Path]:
    """A nightly child holding `root`'s lock, paused after its first write until the returned file is removed."""
    pause = tmp_path / f"pause-{root.name}"
    pause.touch()
    child = child_run(tmp_path, root, dump, pause=str(pause))
    deadline = time.monotonic() + 120
    while not Path(f"{pause}.reached").exists():
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()[0][-3000:]
        time.sleep(0.1)
    return child, pause


def test_case_3_two_roots_sharing_one_staging_folder_the_second_is_refused_and_the_first_finishes(tmp_path):
    shared = tmp_path / "shared-staging"
    shared.mkdir()
    first_root, second_root = tmp_path / "first", tmp_path / "second"
    for root in (first_root, second_root):
        root.mkdir()
        os.symlink(shared, root / "_staging")
    first_dump = write_jsonl(tmp_path / "first.jsonl", [wildchat_record(i) for i in range(12)])
    second_dump = write_jsonl(tmp_path / "second.jsonl", [wildchat_record(i) for i in range(20, 24)])

    first, pause = paused_child(tmp_path, first_root, first_dump)
    try:
        second = nightly(tmp_path, second_root, second_dump)
    finally:
        pause.unlink()
    output, _ = first.communicate(timeout=120)

    assert first.returncode == 0, output[-3000:]
    assert ids(first_root, "conversations") == [f"hash{i:04d}" for i in range(12)]
    assert second.returncode == 2, second.stderr[-3000:]
    (line,) = second.stderr.strip().splitlines()[-1:]
    assert line.startswith("afterword nightly: error: ") and f"staging folder of the root {first_root}" in line
    assert not (second_root / "conversations").exists()


def test_case_3_a_lock_file_removed_by_hand_lets_no_run_publish_beside_another(tmp_path):
    root = tmp_path / "root"
    dump = write_jsonl(tmp_path / "dump.jsonl", [wildchat_record(i) for i in range(12)])
    first, pause = paused_child(tmp_path, root, dump)
    try:
        (root / LOCK_FILE).unlink()  # by hand, while the first run holds it
        other = write_jsonl(tmp_path / "other.jsonl", [wildchat_record(i) for i in range(30, 33)])
        second = afterword_night(tmp_path, root, other, "2026-11-21")  # gets in: the lock file is a new one
    finally:
        pause.unlink()
    output, _ = first.communicate(timeout=120)

    assert second.returncode == 0, second.stderr[-3000:]
    assert first.returncode != 0 and "writer.lock was removed or replaced while this run held it" in output
    assert not os.path.exists(storage.night_manifest(str(root), date.fromisoformat(NIGHT)))
    assert storage.published_night_file(str(root), "conversations", date.fromisoformat(NIGHT)) is None
