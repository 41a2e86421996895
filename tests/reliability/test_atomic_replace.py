"""A `--replace` of a published night killed at every step of its selection and commit (issue 30, item 1): after
each kill -9, `afterword query` counts exactly the old night or exactly the new one, never a mix; a rerun then
publishes the new night and the `runs` table holds the row of the run that published it. A run killed after its
commit gets its `runs` row from the next writer, whatever that writer runs.

The killed runs are real `nightly` runs in child processes (tests/reliability/nightly_child.py), each started
from a copy of the root holding the old night and killed at its Nth atomic rename into the root.
"""

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

import afterword_cli
from flows.nightly import nightly
from pipelines.store import layout as storage
from tests.conftest import NIGHT
from tests.reliability.nightly_child import CONFIG

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
REAL_SMALL = REPO.parent / "shared" / "data" / "wildchat_real_small.jsonl"
SAMPLE = REPO / "data" / "sample" / "wildchat_sample.jsonl"
CHUNK_BYTES = 1 << 20  # the 2.9 MB sample in 3 chunks: each killed run takes seconds
RUN_CONFIG = CONFIG | {"chunk_bytes": CHUNK_BYTES}  # what the children run: a rerun resumes their plan
COUNTS = (
    "select (select count(*) from conversations), (select count(*) from rejects), (select count(*) from interactions)"
)


def old_dump(tmp_path: Path) -> Path:
    """The old night's input: the real WildChat sample when ../shared holds it, else the sample's first lines."""
    if REAL_SMALL.exists():
        return REAL_SMALL
    dump = tmp_path / "old.jsonl"
    dump.write_text("".join(SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)[:40]), encoding="utf-8")
    return dump


def replace_child(tmp_path: Path, root: Path, kill_at: str = "") -> subprocess.CompletedProcess:
    """`nightly --replace` of NIGHT from the sample in a child process, killed at its `kill_at` rename."""
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env |= {"PYTHONPATH": str(REPO), "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env |= {"NIGHTLY_CHILD_REPLACE": "1", "NIGHTLY_CHILD_CHUNK_BYTES": str(CHUNK_BYTES)}
    command = [sys.executable, "-m", "tests.reliability.nightly_child", str(root), NIGHT, kill_at, "", str(SAMPLE)]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def night_counts(root: Path, capsys) -> tuple[int, ...]:
    """(conversations, rejects, interactions) as `afterword query` counts them."""
    capsys.readouterr()
    assert afterword_cli.main(["query", "--root", str(root), "--format", "csv", COUNTS]) == 0
    (row,) = capsys.readouterr().out.strip().splitlines()[1:]
    return tuple(int(count) for count in row.split(","))


def published_run(root: Path) -> str:
    return json.loads(Path(storage.night_manifest(str(root), date.fromisoformat(NIGHT))).read_text())["run_id"]


def recorded_runs(root: Path, capsys) -> list[str]:
    capsys.readouterr()
    assert afterword_cli.main(["query", "--root", str(root), "--format", "csv", "select run_id from runs"]) == 0
    return sorted(capsys.readouterr().out.strip().splitlines()[1:])


def test_a_replace_killed_at_every_step_leaves_the_old_night_or_the_new_one(tmp_path, prefect_harness, capsys):
    old_root = tmp_path / "old"
    nightly(inputs=[str(old_dump(tmp_path))], root=str(old_root), night=NIGHT, config=RUN_CONFIG, score=False)
    old = night_counts(old_root, capsys)
    straight = tmp_path / "straight"
    shutil.copytree(old_root, straight)
    done = replace_child(tmp_path, straight)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    new = night_counts(straight, capsys)
    assert new != old
    renames = [line.removeprefix("rename ") for line in done.stdout.splitlines() if line.startswith("rename ")]
    # From the first table selection writes to the catalog: every step that touches what readers see.
    first = next(n for n, name in enumerate(renames, 1) if "/publish/" in name)
    assert any(name.startswith("nights/") for name in renames[first:])

    for kill in range(first, len(renames) + 1):
        root = tmp_path / f"killed-{kill}"
        shutil.copytree(old_root, root)
        killed = replace_child(tmp_path, root, kill_at=f"#{kill}")
        assert killed.returncode == -9, (renames[kill - 1], killed.stderr[-3000:])
        assert night_counts(root, capsys) in (old, new), renames[kill - 1]

        rerun = nightly(inputs=[str(SAMPLE)], root=str(root), night=NIGHT, config=RUN_CONFIG, score=False, replace=True)
        assert night_counts(root, capsys) == new, renames[kill - 1]
        assert published_run(root) == rerun["run_id"] and rerun["run_id"] in recorded_runs(root, capsys)
        assert len(recorded_runs(root, capsys)) == 2, renames[kill - 1]  # the old night's run and this one
        assert not os.listdir(root / "_staging")


def test_a_run_killed_after_its_commit_is_recorded_by_the_next_writer_of_another_night(
    tmp_path, prefect_harness, capsys
):
    root = tmp_path / "root"
    nightly(inputs=[str(old_dump(tmp_path))], root=str(root), night=NIGHT, config=RUN_CONFIG, score=False)
    killed = replace_child(tmp_path, root, kill_at="runs/")  # published, not recorded
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert published_run(root) not in recorded_runs(root, capsys)

    nightly(inputs=[str(old_dump(tmp_path))], root=str(root), night="2026-11-21", config=RUN_CONFIG, score=False)
    assert published_run(root) in recorded_runs(root, capsys)
    assert len(recorded_runs(root, capsys)) == 3
    assert not os.listdir(root / "_staging")
