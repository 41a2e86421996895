"""The MLflow mirror of the model registry: a version per model sourced at its checkpoint, the `promoted` alias
following promote and rollback, the root remembering its settings for the CLI, and an MLflow that is down
costing a warning, never the registry row."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from mlflow import MlflowClient

from pipelines import mlflow_mirror, registry
from pipelines.mlflow_mirror import RegistryConfig
from tests.helpers.training import write_tiny_model
from tests.pipelines.test_registry import record
from tests.train.test_continual import NIGHTS, learn_config, write_nights
from train.continual.continual import learn, load_learn_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory) -> Path:
    """An MLflow sqlite store with its tables made (its migrations take ~7 s), copied by each test."""
    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(tmp_path, empty_store) -> tuple[str, MlflowClient]:
    """A sqlite tracking and registry store of this test's own: its URI and a client."""
    shutil.copy(empty_store, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    return uri, MlflowClient(tracking_uri=uri, registry_uri=uri)


def versions_by_model(client: MlflowClient) -> dict[str, object]:
    return {version.tags["model_id"]: version for version in client.search_model_versions("name='afterword'")}


def promoted_model_id(client: MlflowClient) -> str | None:
    aliases = client.get_registered_model("afterword").aliases
    if "promoted" not in aliases:
        return None
    return client.get_model_version_by_alias("afterword", "promoted").tags["model_id"]


def register_two(root: str, tmp_path: Path) -> tuple[registry.ModelRecord, registry.ModelRecord]:
    """m-a, then m-b trained from it, both promoted in turn (weights are not read: the source is a path)."""
    first = record("m-a", None, tmp_path / "checkpoints" / "a", 1)
    second = record("m-b", "m-a", tmp_path / "checkpoints" / "b", 2, gain=0.03, worst_retention_drop=-0.01)
    for model in (first, second):
        registry.register(root, model)
        mlflow_mirror.sync(root)
        registry.promote(root, model.model_id, "gate passed")
        mlflow_mirror.sync(root)
    return first, second


def test_promote_and_rollback_move_the_promoted_alias(tmp_path, store):
    root = str(tmp_path / "root")
    uri, client = store
    mlflow_mirror.remember(root, RegistryConfig(mlflow_tracking_uri=uri))
    first, second = register_two(root, tmp_path)

    versions = versions_by_model(client)
    assert versions["m-a"].source == first.checkpoint_path and versions["m-b"].source == second.checkpoint_path
    assert promoted_model_id(client) == "m-b"
    assert {model: v.tags["status"] for model, v in versions.items()} == {"m-a": "promoted", "m-b": "promoted"}
    run = client.get_run(versions["m-b"].run_id)
    assert run.data.metrics["gain"] == 0.03 and run.data.metrics["worst_retention_drop"] == -0.01
    assert "drift_parent_kl" in run.data.metrics and "worst_retention_set" not in run.data.metrics
    assert run.data.params["parent_id"] == "m-a" and run.data.params["nights"] == "2026-11-22"
    assert run.data.tags["afterword.run_id"] == "run-m-b" and run.data.tags["status"] == "promoted"

    registry.rollback(root, "regression seen in production")
    assert mlflow_mirror.sync(root)
    assert promoted_model_id(client) == "m-a"
    rolled = versions_by_model(client)["m-b"]
    assert rolled.tags["status"] == "rolled_back" and rolled.tags["reason"] == "regression seen in production"

    registry.rollback(root, "again")  # the base model is current: no alias
    assert mlflow_mirror.sync(root)
    assert promoted_model_id(client) is None
    assert len(client.search_model_versions("name='afterword'")) == 2  # syncs add no versions


def test_learn_logs_the_candidate_with_its_gate_figures_and_moves_the_alias(tmp_path, store):
    root = tmp_path / "root"
    write_nights(root, n_per_night=8)
    uri, client = store
    cfg = learn_config(root, write_tiny_model(tmp_path / "tiny-model"), NIGHTS[0])
    model = learn(replace(cfg, registry=RegistryConfig(mlflow_tracking_uri=uri)))["model"]

    assert mlflow_mirror.read_settings(str(root))["mlflow_tracking_uri"] == uri  # remembered for the CLI
    version = versions_by_model(client)[model["model_id"]]
    assert version.source == model["checkpoint_path"] and version.tags["status"] == "promoted"
    assert promoted_model_id(client) == model["model_id"]
    run = client.get_run(version.run_id)
    assert run.data.metrics["gain"] == pytest.approx(model["gain"])
    assert run.data.params["lineage_nights"] == "2026-11-20" and run.data.params["parent_id"] == "base"


def test_an_unreachable_mlflow_warns_and_the_registry_still_updates(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    root = str(tmp_path / "root")
    mlflow_mirror.remember(root, RegistryConfig(mlflow_tracking_uri="http://127.0.0.1:9"))
    with caplog.at_level(logging.WARNING, logger="pipelines.mlflow_mirror"):
        register_two(root, tmp_path)
    assert registry.promoted(root).model_id == "m-b"
    assert [model.status for model in registry.read_models(root)] == ["promoted", "promoted"]
    assert "MLflow at http://127.0.0.1:9 was not updated" in caplog.text
    assert "afterword models sync --root" in caplog.text


def test_an_unmirrored_root_writes_nothing_and_learn_flags_set_the_mirror(tmp_path, monkeypatch):
    root = str(tmp_path / "root")
    mlflow_mirror.remember(root, RegistryConfig())
    assert mlflow_mirror.read_settings(root) is None and not mlflow_mirror.sync(root)

    monkeypatch.chdir(tmp_path)  # a relative sqlite path is the working directory's, stored absolute
    flags = {"registry.mlflow_tracking_uri": "sqlite:///mlflow.db", "registry.mlflow_model_name": "chat"}
    cfg = load_learn_config(None, flags, root, "2026-11-20")
    assert cfg.registry == RegistryConfig("sqlite:///mlflow.db", "chat")
    assert type(cfg).from_dict(cfg.to_dict()) == cfg
    mlflow_mirror.remember(root, cfg.registry)
    assert mlflow_mirror.read_settings(root) == {
        "mlflow_tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
        "mlflow_model_name": "chat",
    }
    with pytest.raises(ValueError, match="mlflow_model_name"):
        RegistryConfig(mlflow_model_name="it's")


def test_cli_sync_catches_mlflow_up_and_rollback_mirrors_without_being_told(tmp_path, store):
    root = str(tmp_path / "root")
    register_two(root, tmp_path)  # learned before the root was mirrored
    uri, client = store
    mlflow_mirror.remember(root, RegistryConfig(mlflow_tracking_uri=uri))

    synced = afterword("models", "sync", "--root", root)
    assert synced.returncode == 0, synced.stderr
    assert "mirrored in MLflow at" in synced.stdout
    assert promoted_model_id(client) == "m-b"

    rolled = afterword("models", "rollback", "--root", root, "--reason", "bad replies")
    assert rolled.returncode == 0, rolled.stderr
    assert promoted_model_id(client) == "m-a"
    assert versions_by_model(client)["m-b"].tags["status"] == "rolled_back"


def afterword(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "afterword_cli", *args], cwd=REPO, capture_output=True, text=True, timeout=600
    )


def test_without_mlflow_the_project_imports_and_a_mirror_setting_names_the_extra():
    script = """
import sys
sys.modules["mlflow"] = None  # as where the extra is not installed
import afterword_cli
from train.continual.continual import load_learn_config
afterword_cli.build_parser("learn")
load_learn_config(None, {}, "root", "2026-11-20")
try:
    load_learn_config(None, {"registry.mlflow_tracking_uri": "sqlite:///mlflow.db"}, "root", "2026-11-20")
except ValueError as error:
    print(error)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "pip install 'afterword[mlflow]'" in done.stdout
