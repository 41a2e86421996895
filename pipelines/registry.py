"""The model registry of a root: which models `afterword learn` made, which one is promoted, and rollback.

`<root>/models/model_id=<id>/data.parquet` holds one model's row (`schemas/models.py`): its lineage, where its
weights are, every figure the gate read and its status. `<root>/models/promoted.json` names the current model:
the one the next night trains from and `promoted` stands for wherever a model is asked for (`--score.model
promoted`, `--train.model promoted`). Both are written whole (temporary file, then rename), so a reader sees the
old row or the new one. Writers (learn, promote, rollback) hold the root's writer lock.

A status says what was decided about a model: `candidate` (trained, not yet decided), `promoted` (passed the
gate, or promoted by hand), `rejected` (the gate said no), `rolled_back` (was current, then rolled back). The
current model is the one the pointer names; rolling it back moves the pointer to its parent (none: the base).
The commands that write it (learn, models) then mirror it in MLflow where the root asks (pipelines/mlflow_mirror.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.errors import InputError
from pipelines.io import write_json, write_table
from pipelines.store import layout
from schemas import models as schema

PROMOTED = "promoted"  # the model name that stands for the root's current model


class UnknownModelError(InputError):
    """A model id the registry does not hold, or `promoted` on a root with none."""


class NothingToRollBackError(InputError):
    """Rollback with no promoted model."""


@dataclass(frozen=True, kw_only=True)
class ModelRecord:
    """One `models` row (see schemas/models.py for every field's meaning)."""

    model_id: str
    parent_id: str | None
    base_model: str
    nights: list[str]
    lineage_nights: list[str]
    run_id: str
    checkpoint_path: str
    status: str
    reason: str
    gain: float | None
    gain_low: float | None
    gain_high: float | None
    worst_retention_drop: float | None
    worst_retention_set: str | None
    drift_base_kl: float | None
    drift_parent_kl: float | None
    reply_tokens: float | None
    ended_share: float | None
    created_at: datetime
    decided_at: datetime

    def __post_init__(self) -> None:
        if self.status not in schema.STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {schema.STATUSES}")


def model_path(root: str, model_id: str) -> str:
    return os.path.join(root, "models", f"model_id={model_id}", "data.parquet")


def pointer_path(root: str) -> str:
    return os.path.join(root, "models", "promoted.json")


def register(root: str, record: ModelRecord) -> None:
    """Write (or rewrite) one model's row."""
    write_table(pa.Table.from_pylist([asdict(record)], schema=schema.SCHEMA), model_path(root, record.model_id))


def get_model(root: str, model_id: str) -> ModelRecord | None:
    """The row of `model_id`, or None when the registry has no such model."""
    path = model_path(root, model_id)
    if not os.path.exists(path):
        return None
    return ModelRecord(**pq.read_table(path, schema=schema.SCHEMA).to_pylist()[0])


def read_models(root: str) -> list[ModelRecord]:
    """Every model of the root, oldest first."""
    found = [get_model(root, model_id) for model_id in layout.model_ids(root)]
    return sorted((model for model in found if model), key=lambda model: (model.created_at, model.model_id))


def read_pointer(root: str) -> dict | None:
    """promoted.json: {model_id, checkpoint_path, promoted_at, reason}; None while the base model is current."""
    path = pointer_path(root)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def promoted(root: str) -> ModelRecord | None:
    """The current model; None while the base model is current."""
    pointer = read_pointer(root)
    return get_model(root, pointer["model_id"]) if pointer else None


def set_status(root: str, model_id: str, status: str, reason: str) -> ModelRecord:
    """Rewrite one model's status and reason (decided now)."""
    record = require(root, model_id)
    updated = replace(record, status=status, reason=reason, decided_at=datetime.now(UTC))
    register(root, updated)
    return updated


def promote(root: str, model_id: str, reason: str) -> ModelRecord:
    """Make `model_id` the current model: its status, then the pointer (the one step a reader follows)."""
    record = set_status(root, model_id, "promoted", reason)
    _write_pointer(root, record, reason)
    return record


def rollback(root: str, reason: str) -> ModelRecord | None:
    """Roll the current model back: it becomes `rolled_back`, its parent current again (None: the base).
    Returns the model now current."""
    current = promoted(root)
    if current is None:
        raise NothingToRollBackError(f"nothing to roll back under {root}: the base model is current")
    set_status(root, current.model_id, "rolled_back", reason)
    parent = get_model(root, current.parent_id) if current.parent_id else None
    if parent is None:
        os.unlink(pointer_path(root))
        return None
    _write_pointer(root, parent, f"{current.model_id} rolled back: {reason}")
    return parent


def _write_pointer(root: str, record: ModelRecord, reason: str) -> None:
    pointer = {
        "model_id": record.model_id,
        "checkpoint_path": record.checkpoint_path,
        "promoted_at": datetime.now(UTC).isoformat(),
        "reason": reason,
    }
    write_json(pointer, pointer_path(root))


def require(root: str, model_id: str) -> ModelRecord:
    """The row of `model_id`; an UnknownModelError naming the models there are when it has none."""
    record = get_model(root, model_id)
    if record is None:
        known = ", ".join(model.model_id for model in read_models(root)) or "none yet"
        raise UnknownModelError(f"no model {model_id!r} under {root} (models: {known}; see afterword models)")
    return record


def resolve_model(model: str, root: str | None) -> str:
    """The weights a model setting names: `promoted` → the root's current model's checkpoint; anything else
    as given (a Hugging Face id, a local folder, the built-in default)."""
    if model != PROMOTED:
        return model
    current = promoted(root) if root else None
    if current is None:
        where = f"under {root}" if root else "without a root"
        raise UnknownModelError(f"no promoted model {where}: run `afterword learn --root ROOT` first, or name a model")
    return current.checkpoint_path
