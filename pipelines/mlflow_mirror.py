"""The model registry mirrored in MLflow, for teams that already keep their models there.

`sync(root)` brings one MLflow registered model (`[registry] mlflow_model_name`) in line with the root's
registry (`pipelines/registry.py`): each model gets a run holding its gate figures and one model version whose
source is its checkpoint folder (the weights are not copied), tagged with its `model_id` and `status`; the
alias `promoted` names the version of the promoted model (no alias while the base is current). The root's
`models` rows stay the truth: MLflow is written after them, and a failure there only warns. `afterword learn`
remembers the settings in `<root>/models/mlflow.json`, so `afterword models promote|rollback|sync` mirror too.
MLflow is imported only when a root mirrors (`pip install 'afterword[mlflow]'`).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipelines import registry
from pipelines.io import write_json

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

log = logging.getLogger(__name__)

ALIAS = "promoted"  # the MLflow alias that follows models/promoted.json
METRICS = (
    "gain", "gain_low", "gain_high", "worst_retention_drop", "drift_base_kl", "drift_parent_kl", "reply_tokens",
    "ended_share",
)  # fmt: skip


@dataclass(frozen=True)
class RegistryConfig:
    mlflow_tracking_uri: str = ""  # MLflow tracking (and registry) URI every candidate is mirrored to; "" = none
    mlflow_model_name: str = "afterword"  # the registered model (and experiment) the candidates land in

    def __post_init__(self) -> None:
        if not self.mlflow_model_name or "'" in self.mlflow_model_name:
            raise ValueError("[registry] mlflow_model_name must be a non-empty name without quotes")
        if self.mlflow_tracking_uri and importlib.util.find_spec("mlflow") is None:
            raise ValueError(
                "[registry] mlflow_tracking_uri needs MLflow: pip install 'afterword[mlflow]' (or unset the URI)"
            )


def settings_path(root: str) -> str:
    return os.path.join(root, "models", "mlflow.json")


def remember(root: str, cfg: RegistryConfig) -> None:
    """Store the MLflow settings in the root when `cfg` names a tracking URI (nothing otherwise: a root
    mirrored once keeps mirroring; delete models/mlflow.json to stop)."""
    if not cfg.mlflow_tracking_uri:
        return
    # A relative sqlite path means the working directory's: fixed now, so later commands run anywhere.
    uri = cfg.mlflow_tracking_uri
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + os.path.abspath(uri.removeprefix("sqlite:///"))
    settings = {"mlflow_tracking_uri": uri, "mlflow_model_name": cfg.mlflow_model_name}
    if read_settings(root) != settings:
        write_json(settings, settings_path(root))


def read_settings(root: str) -> dict | None:
    """The root's remembered MLflow settings (RegistryConfig's fields); None when it is not mirrored."""
    if not os.path.exists(settings_path(root)):
        return None
    with open(settings_path(root), encoding="utf-8") as handle:
        return json.load(handle)


def sync(root: str) -> bool:
    """Mirror the root's registry in MLflow (missing versions, status tags, the alias); False when the root is
    not mirrored or MLflow failed (a warning says so: the registry under `root` is written either way)."""
    settings = read_settings(root)
    if settings is None:
        return False
    # Any failure, not only MlflowException: store drivers (sqlalchemy, requests) can raise their own, and MLflow
    # may be missing here; the registry rows, already written, are the truth a later sync catches MLflow up with.
    try:
        cfg = RegistryConfig(**settings)
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=cfg.mlflow_tracking_uri, registry_uri=cfg.mlflow_tracking_uri)
        versions = mirror_models(client, cfg.mlflow_model_name, registry.read_models(root))
        move_alias(client, cfg.mlflow_model_name, registry.read_pointer(root), versions)
    except Exception as error:
        log.warning(
            "MLflow at %s was not updated (%s): the registry under %s is; `afterword models sync --root %s` "
            "catches MLflow up (delete %s to stop mirroring)",
            settings.get("mlflow_tracking_uri"), error, root, root, settings_path(root),
        )  # fmt: skip
        return False
    return True


def mirror_models(client: MlflowClient, name: str, models: list[registry.ModelRecord]) -> dict[str, str]:
    """A version per model (created with its run when missing), its status tags current; model_id → version."""
    if not client.search_registered_models(f"name='{name}'"):
        client.create_registered_model(name, description="afterword candidates (source: the checkpoint folder)")
    existing = {version.tags.get("model_id"): version for version in all_versions(client, name)}
    versions = {}
    for model in models:
        version = existing.get(model.model_id) or create_version(client, name, model)
        if version.tags.get("status") != model.status:
            client.set_model_version_tag(name, version.version, "status", model.status)
            client.set_model_version_tag(name, version.version, "reason", model.reason)
            if version.run_id:
                client.set_tag(version.run_id, "status", model.status)
                client.set_tag(version.run_id, "reason", model.reason)
        versions[model.model_id] = str(version.version)
    return versions


def all_versions(client: MlflowClient, name: str) -> list[ModelVersion]:
    versions, token = [], None
    while True:
        page = client.search_model_versions(f"name='{name}'", page_token=token)
        versions.extend(page)
        token = page.token
        if not token:
            return versions


def create_version(client: MlflowClient, name: str, model: registry.ModelRecord) -> ModelVersion:
    """The model's run (gate figures as metrics, lineage as params) and its version, sourced at its checkpoint.
    The status tags are set by the caller, so a new version reads as 'candidate' until then."""
    from mlflow.entities import Metric, Param

    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    run = client.create_run(
        experiment_id,
        run_name=model.model_id,
        tags={"model_id": model.model_id, "afterword.run_id": model.run_id, "status": "candidate"},
    )
    # MLflow metric timestamps are milliseconds; the gate decided at decided_at.
    stamp = int(model.decided_at.timestamp() * 1000)
    metrics = [Metric(key, getattr(model, key), stamp, 0) for key in METRICS if getattr(model, key) is not None]
    params = {
        "model_id": model.model_id,
        "parent_id": model.parent_id or "base",
        "base_model": model.base_model,
        "nights": ",".join(model.nights),
        "lineage_nights": ",".join(model.lineage_nights),
        "run_id": model.run_id,
        "worst_retention_set": model.worst_retention_set or "",
    }
    client.log_batch(run.info.run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()])
    client.set_terminated(run.info.run_id)
    return client.create_model_version(
        name, source=model.checkpoint_path, run_id=run.info.run_id, tags={"model_id": model.model_id}
    )


def move_alias(client: MlflowClient, name: str, pointer: dict | None, versions: dict[str, str]) -> None:
    """The alias on the promoted model's version; removed while the base model is current."""
    current = client.get_registered_model(name).aliases.get(ALIAS)
    wanted = versions[pointer["model_id"]] if pointer else None
    if wanted is not None and str(current) != wanted:
        client.set_registered_model_alias(name, ALIAS, wanted)
    elif wanted is None and current is not None:
        client.delete_registered_model_alias(name, ALIAS)
