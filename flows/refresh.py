"""The `refresh` flow: N training rounds as Prefect tasks, one per stage, and a markdown artifact per round.

Wiring only: the stages are `train/loop.py`'s functions (regenerate/score, train, evaluate, checkpoint) over
one in-memory `RunState`, run one at a time in this process (the model stays loaded between tasks).
Rerunning resumes after the newest complete checkpoint. Tracked by a Prefect server when one is configured,
else run in-process (`flows/runtime.py`); the catalog is republished after every round. `run_refresh(...)` is what
`afterword refresh --root R --rounds N [--mode M] [--limit L] [--config FILE]` calls.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.task_runners import ThreadPoolTaskRunner

from flows.runtime import call, publish_artifact, run_flow
from pipelines.lock import writer_lock
from pipelines.publish import publish_catalog
from train import loop
from train.config import TrainConfig, load_train_config


@task(cache_policy=NONE)
def setup(cfg: TrainConfig) -> loop.RunState:
    """Load data, model, teachers, optimizer; resume from the newest checkpoint."""
    return loop.setup_run(cfg)


@task(cache_policy=NONE)
def regenerate_and_score(state: loop.RunState, round_index: int) -> tuple[list, dict]:
    """Sample and score this round's replies (on-policy) or take the logged ones."""
    return loop.regenerate_round(state, round_index)


@task(cache_policy=NONE)
def train(state: loop.RunState, round_index: int, rows: list) -> dict:
    """Optimizer steps over the round's replies."""
    return loop.train_round(state, round_index, rows)


@task(cache_policy=NONE)
def evaluate(state: loop.RunState, round_index: int) -> dict:
    """Held-out approval, drift and length."""
    return loop.evaluate_round(state, round_index)


@task(cache_policy=NONE)
def checkpoint(state: loop.RunState, round_index: int, metrics: dict, started_at: datetime) -> dict:
    """Write the round's checkpoint and training_rounds row."""
    return loop.checkpoint_round(state, round_index, metrics, started_at)


@flow(name="refresh", log_prints=False, task_runner=ThreadPoolTaskRunner(max_workers=1))
def refresh(config: dict) -> dict:
    """Run training rounds until `config["rounds"]` are complete; `config` holds TrainConfig fields."""
    cfg = TrainConfig(**config)
    # The whole run holds the root's writer lock: a nightly run or a second refresh on this root fails fast.
    with writer_lock(cfg.root, "refresh"):
        state = call(setup, cfg)
        rows_out = []
        for round_index in range(state.completed_rounds + 1, cfg.rounds + 1):
            started_at = datetime.now(UTC)
            rows, regen_metrics = call(regenerate_and_score, state, round_index)
            train_metrics = call(train, state, round_index, rows)
            eval_metrics = call(evaluate, state, round_index)
            row = call(checkpoint, state, round_index, {**regen_metrics, **train_metrics, **eval_metrics}, started_at)
            rows_out.append(row)
            if not state.rank:
                publish_catalog(cfg.root)  # the round's shards and training_rounds row, visible to analysts now
            publish_artifact(f"refresh-round-{round_index}", round_markdown(row), state.run_id)
        return loop.summarize(state, rows_out)


def round_markdown(row: dict) -> str:
    """A round's training_rounds row as a small markdown table."""
    lines = [f"# refresh `{row['run_id']}` round {row['round']}", "", "| field | value |", "|---|---|"]
    for key, value in row.items():
        if key in ("run_id", "started_at", "finished_at"):
            continue
        shown = f"{value:.4g}" if isinstance(value, float) else value
        lines.append(f"| {key} | {shown} |")
    return "\n".join(lines) + "\n"


def run_refresh(
    root: str, rounds: int, mode: str | None = None, limit: int | None = None, config_file: str | None = None
) -> dict:
    """What the CLI calls: TrainConfig from `config_file` ([train] table) plus these arguments, then the flow."""
    cfg = load_train_config(config_file, root=root, rounds=rounds, mode=mode, limit=limit)
    return run_flow(refresh, config=_plain(cfg))


def _plain(cfg: TrainConfig) -> dict:
    """TrainConfig as flow parameters (plain JSON-ready values)."""
    from dataclasses import asdict

    return asdict(cfg)
