"""What one training run holds in memory between its stages: a frozen setup, the live models, the progress.

`RunSetup` is what the run is once set up (settings, data split, the derived step plan; never changes),
`Progress` is how far it has got (data cursor, step and round counters, the current weights): exactly what a
round's checkpoint saves and a resumed run loads. `RunState` holds both beside the models and optimizer, the
objects the steps change in place. `train/run_setup.py` builds it (`setup_run`) and `train/loop.py` threads it
through the phases.
What a caller plugs into the round loop is typed here too: the round's replies, its evaluation, and who writes
the follow-ups of sampled replies when the log does not (the simulated user of train/simulation/simulation.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa
import torch
from transformers import PreTrainedTokenizerBase

from train import data
from train.config import TrainConfig
from train.metrics import append_record


@dataclass(frozen=True)
class RunSetup:
    """The run's settings, data and step plan, fixed by `setup_run`."""

    cfg: TrainConfig
    run_id: str
    tokenizer: PreTrainedTokenizerBase
    model_id: str
    base_revision: str  # revision of the initial weights (names the evaluation judge)
    interactions: pa.Table
    train_ids: list[str]
    held_out: pa.Table
    logged_scores: pa.Table | None
    accumulation: int  # micro-batches per optimizer step (derived, logged as optim/accumulation)
    steps_per_round: int
    metrics_path: str
    rank: int = 0  # this process under torchrun (0 otherwise); rank 0 alone writes
    world: int = 1  # processes training together (WORLD_SIZE); 1 = the plain single-process run


@dataclass
class Progress:
    """How far the run is: what a round's checkpoint saves and a resumed run loads."""

    revision: str  # revision of the current weights (base, or the last checkpoint's)
    weights_dir: str  # where the current weights are on disk (base model, or the last checkpoint): vllm reads it
    cursor: data.Cursor = field(default_factory=data.Cursor)
    global_step: int = 0
    completed_rounds: int = 0


@dataclass
class RunState:
    """The setup and progress of one run beside the objects its steps change (nothing at module level)."""

    setup: RunSetup
    progress: Progress
    policy: torch.nn.Module
    reference: torch.nn.Module  # the initial weights: frozen teacher and evaluation judge
    teacher: torch.nn.Module | None  # ema/frozen teacher; None for live and stored
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    writer: object | None = None  # TensorBoard SummaryWriter when available

    @property
    def cfg(self) -> TrainConfig:
        """The run's settings (`setup.cfg`, read on nearly every line of the phases)."""
        return self.setup.cfg

    @property
    def global_step(self) -> int:
        """Optimizer steps taken so far (`progress.global_step`)."""
        return self.progress.global_step

    def write_metrics(self, record: dict) -> None:
        """Append one metrics record with namespaced keys; rank 0 only."""
        if not self.setup.rank:
            append_record(self.setup.metrics_path, self.writer, record)


class Followups(Protocol):
    """Who answers a round's sampled replies when their follow-ups are not the log's: a simulated user."""

    def path(self, round_index: int) -> str:
        """Where a round's answered replies are stored (written before scoring, read back on resume)."""

    def sampling_prompts(self, chosen: pa.Table) -> pa.Table:
        """What the round's replies are sampled from: `chosen` itself, or (the simulation's sft arm) the
        teacher's view of it; `answer` gives the scorer the student's view back."""

    def answer(self, sampled: pa.Table, round_index: int) -> pa.Table:
        """`sample_replies`' table with each reply's follow-up written (the table the scorer sees)."""

    def metrics(self, answered: pa.Table) -> dict:
        """The round's metrics of the answers themselves (e.g. the complaint rate)."""


# A round's training replies and their metrics, (state, round) → (rows, metrics): `regenerate_round` by default.
RoundReplies = Callable[[RunState, int], tuple[list[data.TrainingRow], dict]]
# A round's evaluation after its steps, (state, round) → metrics: `evaluate_round` by default.
RoundEvaluation = Callable[[RunState, int], dict]
