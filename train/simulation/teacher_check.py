"""Is the model a competent self-teacher for a simulated user's complaints? One figure set per hindsight template.

Takes replies sampled from the starting weights (the simulation's round-0 held-out replies, with their
drawn ids) and scores each twice through the nightly scoring path: with the user's complaint as the
follow-up, and with a change of topic of the same word count (the control arm's stand-in). A competent
teacher lowers violating replies more under the complaint than under the change of topic, and more than
it lowers satisfying ones. Per template, in nats:
- `violation_gap`: mean (complaint − topic) sequence advantage over violating replies minus the same over
  satisfying ones; < 0 when the complaint is understood;
- `end_contrast`: (complaint − topic) advantage at the end-of-turn token of replies that ended on their own;
  > 0 when a "too long" complaint makes stopping likelier (the concise user);
- `length_correlation`: Pearson correlation of reply words with the sequence contrast; < 0 when longer
  replies lose more under a "too long" complaint.
The `instruction` row is the instruction arm's teacher: the preference as an instruction appended to the
request, against a change of topic appended the same way. `train/simulation/simulation.py` runs it once per experiment.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import replace

import numpy as np
import pyarrow as pa
import torch
from transformers import PreTrainedTokenizerBase

from pipelines.backends.transformers_backend import TransformersBackendConfig, make_scorer
from pipelines.hindsight import TEMPLATES, HindsightConfig
from pipelines.score import ScoreRun, score_interactions
from train.simulation.simulated_users import COMPLAINTS, SimulatedUser, control_message, word_count


def followup_pair(user: SimulatedUser, interaction_id: str, seed: int, teacher: str) -> tuple[str, str]:
    """(what the teacher is told, a change of topic of the same word count) for one reply."""
    rng = random.Random(f"{seed}:{user.name}:competence:{interaction_id}")
    told = user.instruction if teacher == "instruction" else rng.choice(COMPLAINTS[user.name])
    return told, control_message(word_count(told), rng)


def contrasts(scored_told: pa.Table, scored_topic: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Per reply: (told − topic) mean advantage, and (told − topic) advantage at the reply's last token."""
    told, topic = scored_told.to_pylist(), scored_topic.to_pylist()
    sequence = np.array([a["mean_advantage"] - b["mean_advantage"] for a, b in zip(told, topic, strict=True)])
    last = np.array([_last_advantage(a) - _last_advantage(b) for a, b in zip(told, topic, strict=True)])
    return sequence, last


def _last_advantage(score: dict) -> float:
    return score["teacher_logprobs"][-1] - score["student_logprobs"][-1]


@torch.no_grad()
def template_competence(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    sampled: pa.Table,
    user: SimulatedUser,
    hindsight: HindsightConfig,
    score_run: ScoreRun,
    seed: int,
) -> list[dict]:
    """One row per hindsight template (and `instruction`) with the figures of the module docstring."""
    ids = sampled["interaction_id"].to_pylist()
    replies = sampled["response"].to_pylist()
    finished = np.array(sampled["response_finished"].to_pylist(), dtype=bool)
    violating = np.array([not user.meets_preference(r) for r in replies], dtype=bool)
    words = np.array([word_count(r) for r in replies], dtype=float)
    was_training = model.training
    scorer = make_scorer(model, TransformersBackendConfig(), top_k=0)
    column = sampled.schema.get_field_index("followup")
    out = []
    for teacher in (*TEMPLATES, "instruction"):
        template = "appended" if teacher == "instruction" else teacher
        run = replace(score_run, hindsight=replace(hindsight, template=template))
        pairs = [followup_pair(user, i, seed, teacher) for i in ids]
        told, topic = (
            score_interactions(sampled.set_column(column, "followup", pa.array([p[k] for p in pairs])), scorer,
                               tokenizer, run)
            for k in (0, 1)
        )  # fmt: skip
        sequence, last = contrasts(told, topic)
        gap = (
            float(sequence[violating].mean() - sequence[~violating].mean())
            if violating.any() and (~violating).any()
            else None
        )
        spread = words.std() > 0 and sequence.std() > 0
        out.append({
            "teacher": teacher, "replies": len(ids), "violating": int(violating.sum()),
            "violation_gap": gap, "end_contrast": float(last[finished].mean()) if finished.any() else None,
            "length_correlation": float(np.corrcoef(words, sequence)[0, 1]) if spread else None,
            "mean_contrast": float(statistics.fmean(sequence)) if len(sequence) else None,
        })  # fmt: skip
    model.train(was_training)
    return out


def competence_markdown(user: SimulatedUser, rows: list[dict]) -> str:
    """The per-template figures as a markdown table."""

    def number(value: float | None) -> str:
        return "n/a" if value is None else f"{value:+.3f}"

    lines = [
        f"Teacher competence for the `{user.name}` user's complaints ({rows[0]['replies']} round-0 held-out "
        f"replies, {rows[0]['violating']} breaking the preference), complaint − same-length change of topic:",
        "",
        "| teacher | violating − satisfying (nats, < 0 = understood) | at end-of-turn (nats) | corr(words, contrast) |",
        "|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['teacher']} | {number(row['violation_gap'])} | {number(row['end_contrast'])} | "
            f"{number(row['length_correlation'])} |"
        )
    return "\n".join(lines) + "\n"
