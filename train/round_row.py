"""`RoundRow`: one `training_rounds` row, its columns declared once for every writer of the table.

The round loop (train/loop.py, `checkpoint_round`) and the simulation's round 0 (train/simulation/simulation.py)
build one and write it with `to_table`, typed and ordered by `schemas/training_rounds.py` (which describes each
column). Fields are grouped as a round fills them; `tests/train/test_round_row.py` keeps them the schema's names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime

import pyarrow as pa

from schemas import training_rounds

# Filled by `afterword simulate` only; a refresh round's row leaves them out (null in the table).
SIMULATION_COLUMNS = (
    "simulated_user",
    "arm",
    "complaint_rate",
    "satisfaction",
    "median_reply_words",
    "unrelated_drift_kl",
    "finished_share",
)


@dataclass(frozen=True, kw_only=True)
class RoundRow:
    """A finished round of a training run (units and meanings: schemas/training_rounds.py)."""

    # the run and the round
    run_id: str
    round: int
    mode: str
    model_id: str
    model_revision: str | None
    teacher: str
    loss_name: str
    # training
    steps: int
    global_step: int
    replies: int
    tokens: int
    loss: float | None = None
    mean_advantage: float | None = None
    mean_importance_weight: float | None = None
    learning_rate: float
    # evaluation
    approval: float | None = None
    drift_kl: float | None = None
    eval_reply_tokens: float | None = None
    # the round's replies and the sampler-trainer gap
    truncated_share: float | None = None
    clipped_share: float | None = None
    end_advantage: float | None = None
    student_entropy: float | None = None
    sample_engine: str | None = None
    sample_dtype: str | None = None
    train_precision: str | None = None
    mismatch_mean_abs_logp: float | None = None
    mismatch_max_abs_logp: float | None = None
    mismatch_k3_kl: float | None = None
    rollout_corrected_share: float | None = None
    tokens_per_s: float | None = None
    # where its outputs are, and when
    scores_path: str | None = None
    checkpoint_path: str | None = None
    started_at: datetime
    finished_at: datetime
    # seconds and rates per stage (metrics.time_split)
    train_s: float | None = None
    sample_s: float | None = None
    sample_tokens_per_s: float | None = None
    score_s: float | None = None
    score_tokens_per_s: float | None = None
    save_s: float | None = None
    save_tokens_per_s: float | None = None
    # the simulation's (SIMULATION_COLUMNS)
    simulated_user: str | None = None
    arm: str | None = None
    complaint_rate: float | None = None
    satisfaction: float | None = None
    median_reply_words: float | None = None
    unrelated_drift_kl: float | None = None
    finished_share: float | None = None

    @staticmethod
    def columns() -> list[str]:
        """Every column's name, in field order."""
        return [field.name for field in fields(RoundRow)]

    def to_row(self) -> dict:
        """The row as a dict in field order, without the simulation's columns a refresh round leaves unset."""
        return {k: v for k, v in asdict(self).items() if v is not None or k not in SIMULATION_COLUMNS}

    def to_table(self) -> pa.Table:
        """The one-row `training_rounds` table, in the schema's types and column order."""
        return pa.Table.from_pylist([self.to_row()], schema=training_rounds.SCHEMA)
