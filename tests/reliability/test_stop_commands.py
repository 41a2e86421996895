"""SIGTERM and Ctrl-C at a random moment of `score`, `refresh`, `simulate` and `nightly`, start-up included (issue
30, item 2): exit 143 / 130, at most two lines on stderr and no traceback, the root unlocked, and the rerun
completes (for `score`, with the rows of an uninterrupted run). Each is a real `afterword` in a child process
with the tiny test model; the moment is drawn from a seeded generator and named in every failure."""

import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.store.lock import writer_lock
from tests.conftest import NIGHT, wildchat_record, write_jsonl
from tests.reliability.test_hostile_inputs import REPO, afterword, nightly

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

SIGNALS = [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGINT, id="SIGINT")]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from tests.helpers.scoring import make_model, make_tokenizer

    path = tmp_path_factory.mktemp("model") / "tiny"
    make_model().save_pretrained(path)
    make_tokenizer().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """A root with one published night of 8 conversations, not scored."""
    work = tmp_path_factory.mktemp("published")
    dump = write_jsonl(work / "dump.jsonl", [wildchat_record(i) for i in range(8)])
    done = nightly(work, work / "root", dump)
    assert done.returncode == 0, done.stderr[-3000:]
    return work / "root"


def score_args(root: Path, model: Path) -> tuple[str, ...]:
    return ("score", "--root", str(root), "--night", NIGHT, "--shard", "0/1", "--score-limit", "4",
            "--score.model", str(model))  # fmt: skip


def refresh_args(root: Path, model: Path) -> tuple[str, ...]:
    return ("refresh", "--root", str(root), "--rounds", "1", "--limit", "4", "--train.model", str(model),
            "--train.regen.max_new_tokens", "8")  # fmt: skip


def stopped_at_random(tmp_path: Path, args: tuple[str, ...], signal_number: int, seed: int, span_s: float):
    """Run `afterword ARGS`, send the signal after a random moment in [0.1 s, span_s], and check how it ended;
    returns (stopped, what) — stopped is False when the command finished before the signal came."""
    moment = random.Random(seed).uniform(0.1, span_s)
    env = {"PYTHONPATH": str(REPO), "PREFECT_HOME": str(tmp_path / "prefect-home")}
    command = [sys.executable, str(REPO / "afterword_cli.py"), *args]
    child = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(moment)
    child.send_signal(signal_number)
    try:
        _, stderr = child.communicate(timeout=120)
    finally:
        child.kill()
    what = f"{args[0]} with {signal_number.name} at {moment:.2f} s (seed {seed}), exit {child.returncode}:\n{stderr}"
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) <= 2, what
    if child.returncode == 0:
        return False, what
    assert child.returncode == 128 + signal_number, what
    assert stderr.strip().splitlines()[-1].startswith(f"afterword {args[0]}: stopped by {signal_number.name}"), what
    return True, what


def unlocked(root: Path) -> None:
    with writer_lock(str(root), "test"):  # released: a writer gets it at once
        pass


def shard_rows(root: Path):
    (path,) = root.glob("scores/run_id=*/round=0000/*.parquet")
    return pq.read_table(path).sort_by("interaction_id")


@pytest.fixture(scope="module")
def straight_scores(tmp_path_factory, published, tiny_model):
    """The rows an uninterrupted scoring run writes."""
    work = tmp_path_factory.mktemp("straight")
    shutil.copytree(published, work / "root")
    done = afterword(work, *score_args(work / "root", tiny_model))
    assert done.returncode == 0, done.stderr[-3000:]
    return shard_rows(work / "root")


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("signal_number", SIGNALS)
def test_score_stopped_at_a_random_moment_then_rerun_equals_a_straight_run(
    tmp_path, published, tiny_model, straight_scores, signal_number, seed
):
    root = tmp_path / "root"
    shutil.copytree(published, root)
    stopped, what = stopped_at_random(tmp_path, score_args(root, tiny_model), signal_number, seed, span_s=6)
    unlocked(root)
    rerun = afterword(tmp_path, *score_args(root, tiny_model))
    assert rerun.returncode == 0, what + rerun.stderr[-3000:]
    assert shard_rows(root).equals(straight_scores), what


# Seeds whose moments fall one in the work (7.95 s) and one in start-up (1.16 s).
@pytest.mark.parametrize(
    ("signal_number", "seed"),
    [pytest.param(signal.SIGTERM, 6, id="SIGTERM"), pytest.param(signal.SIGINT, 14, id="SIGINT")],
)
def test_refresh_stopped_at_a_random_moment_then_rerun_completes(tmp_path, published, tiny_model, signal_number, seed):
    root = tmp_path / "root"
    shutil.copytree(published, root)
    stopped, what = stopped_at_random(tmp_path, refresh_args(root, tiny_model), signal_number, seed, span_s=10)
    unlocked(root)
    rerun = afterword(tmp_path, *refresh_args(root, tiny_model))
    assert rerun.returncode == 0, what + rerun.stderr[-3000:]
    rows = sum(pq.read_metadata(path).num_rows for path in root.glob("training_rounds/**/*.parquet"))
    assert rows == 1, what
    assert not list(root.glob("checkpoints/*/round-*.tmp*")), what


@pytest.mark.parametrize("signal_number", SIGNALS)
def test_simulate_and_nightly_stopped_while_starting_or_working(tmp_path, tiny_model, signal_number):
    prompts = REPO / "data" / "prompts" / "everyday_requests.jsonl"
    args = ("simulate", "--root", str(tmp_path / "sim"), "--users", "concise", "--rounds", "1", "--prompts",
            str(prompts), "--train.model", str(tiny_model), "--train.regen.max_new_tokens", "8")  # fmt: skip
    stopped, what = stopped_at_random(tmp_path, args, signal_number, 4, span_s=12)
    assert stopped, what
    unlocked(tmp_path / "sim")
    dump = write_jsonl(tmp_path / "dump.jsonl", [wildchat_record(i) for i in range(8)])
    args = ("nightly", "--input", str(dump), "--root", str(tmp_path / "root"), "--date", NIGHT, "--no-score")
    for seed in (14, 6):  # moments 0.52 s (start-up: imports) and 3.19 s (the work)
        stopped, what = stopped_at_random(tmp_path, args, signal_number, seed, span_s=4)
        if (tmp_path / "root").exists():
            unlocked(tmp_path / "root")
    rerun = nightly(tmp_path, tmp_path / "root", dump)
    assert rerun.returncode == 0, what + rerun.stderr[-3000:]
