"""Teacher-competence check: does the model's hindsight react to what the user actually said next?

Scores a stable sample of a night's interactions twice with the same model and template: once with each
reply's real follow-up, once with another interaction's follow-up (`pipelines.score.swap_followups`).
A competent self-teacher moves its token log-probs more for the real follow-up; a weak one (a 135M
model, DESIGN.md §6) moves them about as much for both. Writes `<root>/competence/<night>-<run>.json`.
`afterword competence --root R --night D [--n 32]` runs it.
"""

import dataclasses
from datetime import date

import numpy as np

from pipelines import registry
from pipelines.backends.scoring_config import ScoringConfig, open_scorer, scoring_run_id
from pipelines.io import write_json
from pipelines.store import layout as storage

# The verdict's threshold on mean |advantage| real / swapped: 1.0 is a teacher that reacts to any follow-up as
# much as to the one the user wrote; a competent one moves at least half again as much for the real one.
COMPETENT_RATIO = 1.5


def competence_verdict(ratio: float, threshold: float = COMPETENT_RATIO) -> str:
    """The verdict in words: "competent" when ratio >= threshold, else "NOT competent: ..." saying why."""
    if ratio >= threshold:
        return f"competent: the real follow-up moves the teacher {ratio:.2f}x as much as another's (>= {threshold:g})"
    if ratio > 1:
        why = f"the real follow-up moves the teacher only {ratio:.2f}x as much as another's (needs >= {threshold:g})"
    else:
        why = f"the real follow-up moves the teacher no more than another's (ratio {ratio:.2f}, needs >= {threshold:g})"
    return f"NOT competent: {why}"


def competence_summary(result: dict) -> str:
    """The lines `afterword competence` prints under its table: the measurements, then the verdict."""
    return (
        f"ratio real/swapped {result['ratio_real_to_swapped']:.2f}; the real follow-up moves the teacher more "
        f"in {result['share_real_moves_more']:.0%} of {result['interactions']} replies\n"
        f"verdict: {competence_verdict(result['ratio_real_to_swapped'])}"
    )


def check_teacher_competence(root: str, night: date, cfg: ScoringConfig, n: int) -> dict:
    """Mean |advantage| per token under real vs swapped follow-ups, and how often the real one moves more."""
    import pyarrow.parquet as pq

    from pipelines.score import ScoreRun, score_interactions, swap_followups, take_sample

    interactions = take_sample(pq.read_table(storage.published_night_file(root, "interactions", night)), n)
    scorer = open_scorer(dataclasses.replace(cfg, model=registry.resolve_model(cfg.model, root)))
    source = scorer.source
    run_id = f"competence-{scoring_run_id(night, cfg, source.revision)}"
    score_run = ScoreRun(run_id, source.model_id, source.revision, hindsight=cfg.hindsight)
    real = score_interactions(interactions, scorer.score_fn, scorer.tokenizer, score_run)
    swapped = score_interactions(swap_followups(interactions), scorer.score_fn, scorer.tokenizer, score_run)
    real_N, swapped_N = _mean_abs_advantage(real), _mean_abs_advantage(swapped)
    result = {
        "night": night.isoformat(),
        "model_id": source.model_id,
        "model_revision": source.revision,
        "template": cfg.hindsight.template,
        "interactions": real.num_rows,
        "mean_abs_advantage_real": float(real_N.mean()),
        "mean_abs_advantage_swapped": float(swapped_N.mean()),
        # > 1: the real follow-up moves the teacher more than an unrelated one, as it should.
        "ratio_real_to_swapped": float(real_N.mean() / max(swapped_N.mean(), 1e-12)),
        "share_real_moves_more": float((real_N > swapped_N).mean()),
    }
    result["verdict"] = competence_verdict(result["ratio_real_to_swapped"])
    write_json(result, storage.competence_path(root, night, run_id))
    return result


def _mean_abs_advantage(scores) -> np.ndarray:
    """Per reply: mean over its tokens of |teacher − student| log-prob (nats)."""
    return np.array(
        [
            float(np.abs(np.asarray(teacher) - np.asarray(student)).mean()) if len(student) else 0.0
            for student, teacher in zip(
                scores["student_logprobs"].to_pylist(), scores["teacher_logprobs"].to_pylist(), strict=True
            )
        ]
    )
