"""The `refresh` flow: the trainer's own round loop (`train.loop.main`), tracked by Prefect, plus a markdown
artifact per round.

Wiring only: `train.loop.main` loads the model once, holds the root's writer lock, runs every round
(regenerate → train → evaluate → checkpoint, the catalog republished after each) and resumes after the newest
complete checkpoint; the flow adds the per-round artifact. Tracked by a Prefect server when one is
configured, else run in-process (`flows/runtime.py`). `run_refresh(cfg)` is what
`afterword refresh --root R --rounds N [--mode M] [--limit L] [--config FILE] [--train.KEY VALUE]` calls with the
TrainConfig it built.
"""

from __future__ import annotations

from dataclasses import replace

from prefect import flow

from flows.runtime import artifact_key, publish_artifact, run_flow
from pipelines import registry
from train import loop
from train.config import TrainConfig, load_train_config


@flow(name="refresh", log_prints=False)
def refresh(config: dict | str) -> dict:
    """Run training rounds until `rounds` are complete; `config` is `TrainConfig.to_dict()` (or any subset with
    root and rounds), or the path of a TOML file whose [train] table holds them (a deployment parameter)."""
    cfg = load_train_config(config) if isinstance(config, str) else TrainConfig.from_dict(config)

    def artifact(row: dict) -> None:
        key = artifact_key("refresh", cfg.root, f"{row['run_id']}-round-{row['round']}")
        publish_artifact(key, round_markdown(row), row["run_id"])

    # `promoted` names the root's current model: resolved here, so the run id hashes the weights trained from.
    cfg = replace(cfg, model=registry.resolve_model(cfg.model, cfg.root))
    return loop.main(cfg, after_round=artifact)


def round_markdown(row: dict) -> str:
    """A round's training_rounds row as a small markdown table."""
    lines = [f"# refresh `{row['run_id']}` round {row['round']}", "", "| field | value |", "|---|---|"]
    for key, value in row.items():
        if key in ("run_id", "started_at", "finished_at"):
            continue
        shown = f"{value:.4g}" if isinstance(value, float) else value
        lines.append(f"| {key} | {shown} |")
    return "\n".join(lines) + "\n"


def run_refresh(cfg: TrainConfig) -> dict:
    """What the CLI calls with the TrainConfig it built: the flow, tracked by Prefect when a server is set."""
    return run_flow(refresh, config=cfg.to_dict())
