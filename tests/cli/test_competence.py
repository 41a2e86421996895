import json
from collections import Counter

from cli.competence import check_teacher_competence
from pipelines.backends.scoring_config import ScoringConfig
from pipelines.hindsight import HindsightConfig
from pipelines.score import swap_followups
from tests.conftest import wildchat_record
from tests.helpers.scoring import NIGHT_DATE, store_interactions


def test_swapped_followups_are_a_stable_derangement(tmp_path):
    turns = [[("user", f"Q{i}"), ("assistant", f"A{i}"), ("user", f"follow-up {i}")] for i in range(7)]
    interactions = store_interactions(tmp_path, [wildchat_record(i, turns=t) for i, t in enumerate(turns)])
    swapped = swap_followups(interactions)
    before, after = interactions["followup"].to_pylist(), swapped["followup"].to_pylist()
    assert all(old != new for old, new in zip(before, after, strict=True))
    assert Counter(before) == Counter(after)
    assert swap_followups(interactions).equals(swapped)
    assert swapped.drop_columns(["followup"]).equals(interactions.drop_columns(["followup"]))


def test_competence_check_scores_real_and_swapped_followups(tmp_path, tiny_model_dir):  # noqa: F811
    turns = [[("user", f"Question {i}?"), ("assistant", f"Answer {i}."), ("user", "no" * (i + 1))] for i in range(5)]
    store_interactions(tmp_path, [wildchat_record(i, turns=t) for i, t in enumerate(turns)])
    cfg = ScoringConfig(str(tiny_model_dir), hindsight=HindsightConfig(max_context_tokens=256, max_reply_tokens=64))
    result = check_teacher_competence(str(tmp_path), NIGHT_DATE, cfg, n=4)
    assert result["interactions"] == 4
    assert result["mean_abs_advantage_real"] > 0 and result["mean_abs_advantage_swapped"] > 0
    assert result["mean_abs_advantage_real"] != result["mean_abs_advantage_swapped"]
    (written,) = (tmp_path / "competence").glob("*.json")
    assert json.loads(written.read_text()) == result
