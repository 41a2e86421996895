"""`afterword models`: the registry's lineage table; `models promote ID` and `models rollback` move the pointer;
`models sync` catches the root's MLflow mirror up (promote and rollback mirror on their own)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from pipelines import mlflow_mirror, registry
from pipelines.errors import InputError


def run_models_command(root: str | None, action: str, model_id: str | None, reason: str | None) -> None:
    """List the models (action `list`), promote one by hand, roll the current one back or sync the MLflow mirror;
    all but `list` under the lock."""
    from cli import preflight
    from pipelines.store.lock import writer_lock
    from pipelines.store.publish import publish_catalog

    console = Console()
    if not root:
        raise InputError(f"afterword models {action} needs --root ROOT")
    preflight.existing_root(preflight.local_root(root, "models"))
    if action == "list":
        print_models(console, root)
        return
    with writer_lock(root, f"models {action}"):
        if action == "promote":
            record = registry.promote(root, model_id, f"promoted by hand: {reason or 'no reason given'}")
            console.print(f"{record.model_id} is now the promoted model ({record.checkpoint_path})")
        elif action == "rollback":
            current = registry.rollback(root, f"rolled back by hand: {reason or 'no reason given'}")
            now = f"{current.model_id} ({current.checkpoint_path})" if current else "the base model"
            console.print(f"rolled back: the promoted model is now {now}")
        if action != "sync":
            publish_catalog(root)
        mirror = mlflow_mirror.read_settings(root)
        if mirror and mlflow_mirror.sync(root):
            console.print(f"mirrored in MLflow at {mirror['mlflow_tracking_uri']}")
        elif mirror is None and action == "sync":
            console.print(f"{root} is not mirrored: `afterword learn --registry.mlflow_tracking_uri URI` sets it up")
    print_models(console, root)


def print_models(console: Console, root: str) -> None:
    """One row per model, oldest first; the current one marked."""
    models = registry.read_models(root)
    if not models:
        console.print(f"no models under {root} yet: `afterword learn --root {root}` trains the first")
        return
    current = registry.promoted(root)
    table = Table(title=f"models under {root} (gain: held-out approval vs parent, nats/token)")
    for column in ("model", "parent", "nights", "status", "gain [interval]", "worst retention", "drift", "reason"):
        table.add_column(column, justify="right" if column in ("drift",) else "left")
    for model in models:
        mark = " *" if current and model.model_id == current.model_id else ""
        interval = (
            f"{_number(model.gain, '+.4f')} [{_number(model.gain_low, '+.3f')}, {_number(model.gain_high, '+.3f')}]"
        )
        retention = f"{_number(model.worst_retention_drop, '+.4f')} {model.worst_retention_set or ''}".strip()
        table.add_row(
            model.model_id + mark, model.parent_id or "base", ", ".join(model.nights), model.status, interval,
            retention, _number(model.drift_parent_kl, ".4f"), model.reason,
        )  # fmt: skip
    console.print(table)
    console.print("* the promoted model (models/promoted.json): `--score.model promoted` scores with it")


def _number(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)
