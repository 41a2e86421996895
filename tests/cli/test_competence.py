import json
from collections import Counter

from cli.competence import COMPETENT_RATIO, check_teacher_competence, competence_summary, competence_verdict
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


def test_competence_verdict_is_in_words_and_never_praises_a_ratio_below_1():
    below = {"ratio_real_to_swapped": 0.93, "share_real_moves_more": 0.4, "interactions": 8}
    text = competence_summary(below)
    assert "verdict: NOT competent: the real follow-up moves the teacher no more than another's (ratio 0.93" in text
    assert "well above 1" not in text and "verdict: competent" not in text
    assert competence_verdict(1.2).startswith("NOT competent: the real follow-up moves the teacher only 1.20x")
    assert competence_verdict(COMPETENT_RATIO).startswith("competent: ")
    assert competence_summary({**below, "ratio_real_to_swapped": 2.0}).endswith(
        f"verdict: competent: the real follow-up moves the teacher 2.00x as much as another's (>= {COMPETENT_RATIO:g})"
    )
