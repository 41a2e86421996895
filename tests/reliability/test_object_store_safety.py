"""Publish and lock guarantees on an object-store root (moto's S3 server on loopback, a bucket per test).

kill -9 at five points of a nightly run into a bucket root, each resumed by the next run, ends equal to an
uninterrupted run with nothing of the killed runs left; a second writer is refused while the first holds the
root's lease object, naming it; a lease that expired or whose holder died is taken over, a live one is not;
score workers share a root with each other but not with an exclusive writer.
"""

import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from flows.nightly import nightly
from pipelines import objectstore
from pipelines.store import layout as storage
from pipelines.store.lock import RootLockedError, check_writer_lock, writer_lock
from pipelines.store.object_lock import LOCK_OBJECT, LeaseLock, LockRefusedError
from tests.conftest import NIGHT, wildchat_record, write_jsonl
from tests.helpers.store import published_night_tables
from tests.reliability.nightly_child import CONFIG

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
# Each child run dies at the first object it stores whose name contains this text.
KILL_POINTS = [
    "_done/",  # Beam: a chunk's parts stored, its marker not
    "rejects/ingest_date=",  # commit: one table's new version stored, three not, no manifest
    "nights/",  # commit: every new version stored, the manifest (the pointer) not
    "runs/",  # night published, run not recorded
    "catalog.duckdb",  # run recorded, catalog not refreshed, staging not removed
]


def run_child(root: str, dump: str, kill_at: str = "", pause_file: str = "") -> subprocess.Popen:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PYTHONPATH": str(REPO), "PREFECT_API_URL": PREFECT_API_URL.value() or ""}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.nightly_child", root, NIGHT, kill_at, pause_file, dump],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def objects(root: str) -> list[str]:
    return [url.removeprefix(root + "/") for url in objectstore.list_files(root)]


def test_kill_9_at_five_points_then_resume_equals_an_uninterrupted_run(tmp_path, s3_bucket, prefect_harness):
    dump = str(tmp_path / "dump.jsonl")
    write_jsonl(Path(dump), [wildchat_record(i) for i in range(12)] + [b"{broken"])
    bucket_dump = f"{s3_bucket}/dumps/dump.jsonl"
    objectstore.upload(dump, bucket_dump)
    straight = f"{s3_bucket}/straight"
    expected = nightly(inputs=[bucket_dump], root=straight, night=NIGHT, config=CONFIG, score=False)

    root = f"{s3_bucket}/killed"
    for point in KILL_POINTS:
        child = run_child(root, bucket_dump, kill_at=point)
        output, _ = child.communicate(timeout=300)
        assert child.returncode == -9, output[-3000:]
        lock = json.loads(objectstore.read_bytes(f"{root}/{LOCK_OBJECT}"))
        assert lock["pid"] == child.pid  # the dead run's lease still names it; the next run takes it over
    resumed = nightly(inputs=[bucket_dump], root=root, night=NIGHT, config=CONFIG, score=False)

    for table, rows in published_night_tables(straight, NIGHT).items():
        assert published_night_tables(root, NIGHT)[table].equals(rows), table
    for key in ("records_in", "conversations", "rejects", "interactions", "reject_reasons"):
        assert resumed[key] == expected[key], key
    # One run recorded, no staging, no lease, and no table version the manifest does not name.
    left = objects(root)
    assert len([name for name in left if name.startswith("runs/") and name.endswith("run.parquet")]) == 1, left
    assert not [name for name in left if name.startswith(("_staging/", ".writer"))], left
    named = set(
        json.loads(objectstore.read_bytes(storage.night_manifest(root, date.fromisoformat(NIGHT))))["tables"].values()
    )
    assert {name for name in left if "/ingest_date=" in name and not name.startswith("nights/")} == named


def test_a_second_writer_is_refused_while_the_first_holds_the_bucket_root(tmp_path, s3_bucket, prefect_harness):
    dump = f"{s3_bucket}/dump.jsonl"
    objectstore.upload(str(write_jsonl(tmp_path / "d.jsonl", [wildchat_record(i) for i in range(4)])), dump)
    root = f"{s3_bucket}/afterword"
    pause = tmp_path / "pause"
    pause.touch()
    first = run_child(root, dump, pause_file=str(pause))
    try:
        deadline = time.monotonic() + 120
        while not Path(str(pause) + ".reached").exists():
            assert first.poll() is None and time.monotonic() < deadline, first.stdout.read()
            time.sleep(0.1)
        with pytest.raises(RootLockedError, match=rf"in use by nightly \(pid {first.pid} on "):
            nightly(inputs=[dump], root=root, night=NIGHT, config=CONFIG, score=False)
        with pytest.raises(RootLockedError, match="in use by nightly"), writer_lock(root, "score worker", shared=True):
            pass
    finally:
        pause.unlink()
    output, _ = first.communicate(timeout=300)
    assert first.returncode == 0, output[-3000:]
    assert nightly(inputs=[dump], root=root, night=NIGHT, config=CONFIG, score=False)["conversations"] == 4


def lease_document(host: str, pid: int, expires_in_s: float) -> bytes:
    expires = datetime.now(UTC) + timedelta(seconds=expires_in_s)
    return json.dumps(
        {
            "command": "nightly",
            "pid": pid,
            "host": host,
            "since": "then",
            "token": "other",
            "lease_expires": expires.isoformat(),
        }
    ).encode()


def test_a_live_lease_is_refused_and_an_expired_or_dead_one_taken_over(s3_bucket):
    root = f"{s3_bucket}/afterword"
    lock_url = f"{root}/{LOCK_OBJECT}"
    objectstore.write_bytes(lock_url, lease_document("elsewhere", 1, expires_in_s=300))
    with pytest.raises(RootLockedError, match=r"in use by nightly \(pid 1 on elsewhere"), writer_lock(root, "refresh"):
        pass
    objectstore.write_bytes(lock_url, lease_document("elsewhere", 1, expires_in_s=-1))  # expired
    with writer_lock(root, "refresh"):
        assert json.loads(objectstore.read_bytes(lock_url))["command"] == "refresh"
        check_writer_lock(root)
    assert not objectstore.exists(lock_url)  # released
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    objectstore.write_bytes(lock_url, lease_document(socket.gethostname(), int(dead.stdout), expires_in_s=300))
    with writer_lock(root, "refresh"):  # its holder ran here and is gone: no need to wait out the lease
        pass


def test_two_takers_of_one_root_exactly_one_wins_and_renewal_keeps_it(s3_bucket):
    root = f"{s3_bucket}/afterword"
    holder = {"command": "nightly", "pid": os.getpid(), "host": socket.gethostname(), "since": "now"}
    first = LeaseLock(root, holder, lease_s=4).acquire()
    try:
        with pytest.raises(LockRefusedError):
            LeaseLock(root, holder).acquire()  # the same process, another lease: the object decides
        time.sleep(8)  # two lease lengths: renewals (every 1.3 s) keep it
        first.check()
        with pytest.raises(LockRefusedError):
            LeaseLock(root, holder).acquire()
    finally:
        first.release()
    LeaseLock(root, holder).acquire().release()


def test_score_workers_share_a_root_but_never_with_an_exclusive_writer(s3_bucket):
    root = f"{s3_bucket}/afterword"
    holder = {"command": "score worker", "pid": os.getpid(), "host": "elsewhere", "since": "now"}
    one, two = LeaseLock(root, holder, shared=True).acquire(), LeaseLock(root, holder, shared=True).acquire()
    with pytest.raises(LockRefusedError, match="score worker"):
        LeaseLock(root, {**holder, "command": "nightly"}).acquire()
    one.release()
    two.release()
    writer = LeaseLock(root, {**holder, "command": "nightly"}).acquire()
    with pytest.raises(LockRefusedError, match="nightly"):
        LeaseLock(root, holder, shared=True).acquire()
    writer.release()
    assert not objectstore.exists(f"{root}/{LOCK_OBJECT}")
