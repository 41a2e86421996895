"""Nights in the simulation: `afterword simulate --users concise,sign-off,no-lists` trains one night per
preference, in that order, each night from the previous night's weights.

Each night is its own training run, as the product's night-by-night learner makes it (`train/continual/continual.py`):
`train.simulation.simulation.run_arm` — the trainer's round loop with the night's simulated user — started from the
previous night's final checkpoint, with its own learning-rate schedule, its own round 0 (the previous night's
last evaluation, copied) and its own run id (`<arm run>` for night 1, `<arm run>-night<k>` after). Every
evaluation judges the held-out replies by every night's preference (`eval_replies`), and after each night
`simulation_nights` says how each preference seen so far is met, with drift from the base model and correctness
on the unrelated prompts (`train/simulation/audit.py`). A rerun resumes: finished nights are read back, not
trained again.
"""

from __future__ import annotations

from dataclasses import replace

from train.config import TrainConfig
from train.simulation.audit import write_night_rows
from train.simulation.simulated_users import SimulateConfig
from train.simulation.simulation import experiment_of, night_run_id, run_arm


def night_run(cfg: TrainConfig, sim: SimulateConfig, night: int, model: str) -> tuple[TrainConfig, SimulateConfig]:
    """Night `night`'s settings: `cfg` (night 1's, from `load_simulation_config`) trained from `model`, under
    the night's own run id, with the night's simulated user."""
    run_id = night_run_id(cfg.run_id, night)
    user = sim.nights[night - 1] if sim.nights else sim.user
    return replace(cfg, model=model, run_id=run_id), replace(sim, user=user, night=night)


def run_nights(cfg: TrainConfig, sim: SimulateConfig) -> list[dict]:
    """Every night of `sim.nights` (or the one night of `sim.user`) in order; each night's run summary."""
    summaries = []
    model = cfg.model
    for night in range(1, len(sim.judged_users) + 1):
        night_cfg, night_sim = night_run(cfg, sim, night, model)
        summary = run_arm(night_cfg, night_sim, base_model=cfg.model if night > 1 else None)
        write_night_rows(night_cfg, night_sim, experiment_of(cfg.run_id))
        summaries.append(summary)
        model = summary["checkpoint"]
    return summaries
