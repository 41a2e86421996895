"""A deployment's mistakes are caught as the command line's are: one error naming the Prefect parameter the user
set, before the root is touched (the flows' own functions, as a worker runs them)."""

import re

import pytest

from flows.nightly import nightly
from flows.runtime import artifact_key
from flows.scoring import score_shard_flow
from pipelines.errors import InputError
from tests.conftest import wildchat_record, write_jsonl


@pytest.fixture
def dump(tmp_path):
    return str(write_jsonl(tmp_path / "dump.jsonl", [wildchat_record(1)]))


def test_a_night_that_is_no_date_names_the_night_parameter(tmp_path, dump):
    root = tmp_path / "root"
    with pytest.raises(InputError, match=r"^night '2026-13-01': use YYYY-MM-DD"):
        nightly.fn(inputs=[dump], root=str(root), night="2026-13-01")
    assert not root.exists()


def test_inputs_that_match_nothing_create_no_root_and_no_lock(tmp_path):
    root = tmp_path / "root"
    with pytest.raises(InputError, match=r"^inputs: .*nothing-\*\.jsonl"):
        nightly.fn(inputs=[str(tmp_path / "nothing-*.jsonl")], root=str(root), night="2026-11-20")
    assert not root.exists()


def test_a_root_that_is_a_file_names_the_root_parameter(tmp_path, dump):
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match=r"^root '.*file' is a file, not a folder"):
        nightly.fn(inputs=[dump], root=str(tmp_path / "file"), night="2026-11-20")


def test_scoring_a_night_not_published_says_so_and_touches_nothing(tmp_path):
    root = tmp_path / "root"
    with pytest.raises(InputError, match="no interactions for night 2026-11-20 .*run the nightly flow for night="):
        score_shard_flow.fn(root=str(root), shard=0, shards=1, night="2026-11-20")
    assert not root.exists()
    with pytest.raises(InputError, match="shard=2, shards=2"):
        score_shard_flow.fn(root=str(root), shard=2, shards=2, night="2026-11-20")


def test_artifact_keys_name_the_root_and_the_night():
    first = artifact_key("nightly", "/data/Afterword/root_A", "2026-11-20")
    assert first == "nightly-data-afterword-root-a-2026-11-20"
    assert re.fullmatch(r"[a-z0-9-]+", artifact_key("score", "s3://bucket/x y", "2026-11-20-shard-0-of-2"))
    assert first != artifact_key("nightly", "/data/afterword/root_b", "2026-11-20")


def test_the_refresh_deployment_takes_a_config_file_path(tmp_path):
    from flows.refresh import refresh

    config = tmp_path / "refresh.toml"
    config.write_text(f'[train]\nroot = "{tmp_path}"\nrounds = 1\nlearning_rat = 1e-5\n')
    with pytest.raises(ValueError, match="learning_rat"):  # read from the file: its typo is named
        refresh.fn(config=str(config))
