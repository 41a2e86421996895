"""Teacher-competence check: does the model's hindsight react to what the user actually said next?

Scores a stable sample of a night's interactions twice with the same model and template: once with each
reply's real follow-up, once with another interaction's follow-up (`pipelines.score.swap_followups`).
A competent self-teacher moves its token log-probs more for the real follow-up; a weak one (a 135M
model, DESIGN.md §6) moves them about as much for both. Writes `<root>/competence/<night>-<run>.json`.
`afterword competence --root R --night D [--n 32]` runs it.
"""

from datetime import date

import numpy as np

from pipelines.backends.scoring_config import ScoringConfig, open_scorer, scoring_run_id
from pipelines.io import write_json
from pipelines.store import layout as storage


def check_teacher_competence(root: str, night: date, cfg: ScoringConfig, n: int) -> dict:
    """Mean |advantage| per token under real vs swapped follow-ups, and how often the real one moves more."""
    import pyarrow.parquet as pq

    from pipelines.score import ScoreRun, score_interactions, swap_followups, take_sample

    interactions = take_sample(pq.read_table(storage.published_night_file(root, "interactions", night)), n)
    scorer = open_scorer(cfg)
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
