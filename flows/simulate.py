"""The `simulate` flow: one arm of the simulated-user experiment as Prefect tasks, and the experiment's report.

Wiring only: one task runs the arm, `train.loop.main` with the simulated user plugged in
(`train.simulation.simulation.run_arm`: prompts, simulated follow-ups, evaluation, round 0), one task compares
the arms. With several users, one night each, in order, each from the previous night's weights
(`train.simulation.nights.run_nights`). After the last round it writes `reports/<experiment>.png` and `.md`
(every arm and seed run so far, train/simulation/simulation_report.py) and a Prefect markdown artifact.
Rerunning resumes after the newest complete checkpoint. `run_simulate(...)` runs one arm and seed; `run_grid(...)`,
what `afterword simulate --root R --users U[,U2,...] --rounds N [--arm A[,A2,...]] [--seeds S[,S2,...]]
[--config F] [--prompts FILE]` calls, runs every seed's arms in turn, each a `simulate` flow run of its own.
"""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.task_runners import ThreadPoolTaskRunner

from flows.runtime import call, publish_artifact, run_flow
from pipelines.backends.model_files import missing_model
from pipelines.config_loading import build_config
from pipelines.errors import InputError
from pipelines.store.lock import writer_lock
from pipelines.store.publish import publish_catalog
from train.config import TrainConfig
from train.simulation import prompts as simulation_prompts
from train.simulation import simulation as sim_stages
from train.simulation.nights import run_nights
from train.simulation.nights_report import write_nights_report
from train.simulation.simulation_report import write_report


class BadInput(InputError):
    """The command's input is unusable (unknown user, no rounds, no prompts, bad config): a one-line error."""


@task(cache_policy=NONE)
def train_arm(cfg: TrainConfig, sim: sim_stages.SimulateConfig) -> list[dict]:
    """Night by night (one night per preference): round 0, then each round: sample, the simulated user answers,
    score, train, evaluate, checkpoint; after each night, the `simulation_nights` rows."""
    return run_nights(cfg, sim)


@task(cache_policy=NONE)
def compare(root: str, experiment: str, several_nights: bool) -> tuple[str, str, str, str | None]:
    """Plot and tabulate every arm and seed of the experiment from their stored rows; with several nights, the
    night-by-night table too."""
    png, md, markdown = write_report(root, experiment)
    if not several_nights:
        return png, md, markdown, None
    nights_path, nights_markdown = write_nights_report(root, experiment)
    return png, md, markdown + "\n" + nights_markdown, nights_path


@flow(name="simulate", log_prints=False, task_runner=ThreadPoolTaskRunner(max_workers=1))
def simulate(train_config: dict, simulate_config: dict) -> dict:
    """Run one arm until `train_config["rounds"]` rounds are complete, then compare it with the other arm."""
    cfg = TrainConfig.from_dict(train_config)
    sim = build_config(sim_stages.SimulateConfig, simulate_config, "[simulate]")
    experiment = sim_stages.experiment_of(cfg.run_id)
    # A simulation writes checkpoints and training_rounds rows: it holds the root's writer lock like refresh.
    with writer_lock(cfg.root, "simulate"):
        nights = call(train_arm, cfg, sim)
        png, md, markdown, nights_table = call(compare, cfg.root, experiment, bool(sim.nights))
        publish_catalog(cfg.root)  # the arm's training_rounds rows, visible to analysts now
    publish_artifact(experiment, markdown, f"simulated user {sim.user}: every arm and seed")
    return {
        "run_id": cfg.run_id,
        "experiment": experiment,
        "rounds": nights[0]["rounds"],  # night 1's (the report's); later nights' under "nights"
        "nights": [{"run_id": night["run_id"], "rounds": night["rounds"]} for night in nights],
        "plot": png,
        "table": md,
        "nights_table": nights_table,
        "markdown": markdown,
    }


def run_simulate(
    root: str,
    users: tuple[str, ...] | None,
    rounds: int,
    arm: str = "preference",
    config_file: str | None = None,
    prompts: str | None = None,
    flags: dict[str, str] | None = None,
) -> dict:
    """What the CLI calls: check the input before any work, import prompts if given, run the flow."""
    try:
        cfg, sim = sim_stages.load_simulation_config(config_file, root, rounds, users, arm, flags)
        problem = missing_model(cfg.model)  # before the prompts are stored: a missing model creates nothing
        if problem:
            raise BadInput(f"--train.model {problem}")
        if prompts:
            simulation_prompts.import_prompts(root, prompts)
        simulation_prompts.read_prompts(root)  # a root without prompts fails here, in one line
    except (ValueError, FileNotFoundError, OSError) as error:
        raise BadInput(str(error)) from error
    return run_flow(simulate, train_config=cfg.to_dict(), simulate_config=asdict(sim))


def run_grid(
    root: str,
    users: tuple[str, ...] | None,
    rounds: int,
    arms: tuple[str, ...],
    seeds: tuple[int, ...] | None = None,
    config_file: str | None = None,
    prompts: str | None = None,
    flags: dict[str, str] | None = None,
) -> list[dict]:
    """Every (seed, arm) in that order, one `simulate` run each; None seeds: the configured seed. Every
    combination's settings are checked before the first one trains, so a bad one fails in seconds, not hours.
    A rerun resumes: finished runs train nothing again. Returns each run's summary, the last one's report
    covering every arm and seed run so far."""
    runs = [(arm, {**(flags or {}), **({"train.seed": str(seed)} if seed is not None else {})})
            for seed in (seeds or (None,)) for arm in arms]  # fmt: skip
    for arm, arm_flags in runs:
        try:
            sim_stages.load_simulation_config(config_file, root, rounds, users, arm, arm_flags)
        except (ValueError, FileNotFoundError, OSError) as error:
            raise BadInput(str(error)) from error
    return [
        run_simulate(root, users, rounds, arm, config_file, prompts if index == 0 else None, arm_flags)
        for index, (arm, arm_flags) in enumerate(runs)
    ]
