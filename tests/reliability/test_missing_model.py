"""A model that is not here (issue 30, item 3): `score`, `refresh`, `simulate` and `nightly` stop before any work
with one line naming the fix (the Hugging Face CLI download, or a local folder), exit 2, and create nothing.
Each is a real `afterword` command in a child process; no hub is reachable, with HF_HUB_OFFLINE set or not."""

import os
from pathlib import Path

import pytest

from tests.conftest import NIGHT, wildchat_record, write_jsonl
from tests.reliability.test_hostile_inputs import REPO, afterword, nightly

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

MISSING = "no-such-org/no-such-model"


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under the root with its size and modification time: what "nothing created or changed" compares."""
    found = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            stat = os.lstat(os.path.join(folder, name))
            found[os.path.relpath(os.path.join(folder, name), root)] = (stat.st_size, stat.st_mtime_ns)
    return found


def one_line_naming_the_fix(done, command: str, setting: str) -> str:
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-3000:]
    assert lines[0].startswith(f"afterword {command}: error: --{setting} '{MISSING}' is not a local folder")
    assert f"`hf download {MISSING}`" in lines[0] and "local model folder" in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """A root with one published night (no scores): what `score` and `refresh` start from."""
    work = tmp_path_factory.mktemp("published")
    dump = write_jsonl(work / "dump.jsonl", [wildchat_record(i) for i in range(4)])
    done = nightly(work, work / "root", dump)
    assert done.returncode == 0, done.stderr[-3000:]
    return work / "root"


@pytest.mark.parametrize("offline", ["1", None])
def test_score_with_a_missing_model_is_one_line_and_changes_nothing(tmp_path, published, offline):
    before = tree(published)
    env = {"HF_HOME": str(tmp_path / "hf")} | ({"HF_HUB_OFFLINE": offline} if offline else {})
    done = afterword(
        tmp_path, "score", "--root", str(published), "--night", NIGHT, "--shard", "0/1", "--score.model", MISSING,
        env=env,
    )  # fmt: skip
    one_line_naming_the_fix(done, "score", "score.model")
    assert tree(published) == before and not (tmp_path / "hf").exists()


def test_refresh_with_a_missing_model_is_one_line_and_changes_nothing(tmp_path, published):
    before = tree(published)
    args = ("refresh", "--root", str(published), "--rounds", "1", "--train.model", MISSING)
    one_line_naming_the_fix(afterword(tmp_path, *args, env={"HF_HUB_OFFLINE": "1"}), "refresh", "train.model")
    assert tree(published) == before and not (published / "training").exists()


def test_simulate_with_a_missing_model_creates_no_root_and_stores_no_prompts(tmp_path):
    prompts = REPO / "data" / "prompts" / "everyday_requests.jsonl"
    args = ("simulate", "--root", str(tmp_path / "root"), "--users", "concise", "--rounds", "1")
    done = afterword(tmp_path, *args, "--prompts", str(prompts), "--train.model", MISSING)
    one_line_naming_the_fix(done, "simulate", "train.model")
    assert not (tmp_path / "root").exists()


def test_nightly_that_scores_checks_its_model_before_creating_the_root(tmp_path):
    dump = write_jsonl(tmp_path / "dump.jsonl", [wildchat_record(1)])
    args = ("nightly", "--input", str(dump), "--root", str(tmp_path / "root"), "--date", NIGHT)
    one_line_naming_the_fix(afterword(tmp_path, *args, "--score.model", MISSING), "nightly", "score.model")
    assert not (tmp_path / "root").exists()
