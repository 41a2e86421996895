"""The night-by-night table: means over seeds, retention of the first preference, gains over control."""

from train.simulation.nights_report import bootstrap, nights_markdown


def night_row(arm: str, seed: int, night: int, preference: str, satisfaction: float) -> dict:
    trained = {0: None, 1: "concise", 2: "no-lists"}[night]
    return {
        "arm": arm, "seed": seed, "night": night, "night_user": trained, "preference": preference,
        "satisfaction": satisfaction, "unrelated_drift_kl": 0.1 * night, "correct_share": 0.5,
        "median_reply_words": 20.0, "ended_share": 0.75,
    }  # fmt: skip


def test_retention_and_gains_are_per_seed_differences():
    rows = []
    for seed, shift in ((0, 0.0), (1, 0.1)):
        for arm, after_one, after_two, lists in (("instruction", 0.6, 0.5, 0.7), ("control", 0.2, 0.2, 0.3)):
            rows += [
                night_row(arm, seed, 0, "concise", 0.1),
                night_row(arm, seed, 1, "concise", after_one + shift),
                night_row(arm, seed, 2, "concise", after_two + shift),
                night_row(arm, seed, 2, "no-lists", lists),
            ]
    per_prompt = {}  # four prompts, each satisfied by the seeds' mean share
    for r in rows:
        per_prompt.setdefault((r["arm"], r["night"], r["preference"]), []).append(r["satisfaction"])
    per_prompt = {key: [sum(shares) / len(shares)] * 4 for key, shares in per_prompt.items()}
    text = nights_markdown("simulate-x", rows, per_prompt)
    assert "| instruction | 1 | concise | concise | 2 | 65.0% ± 63.5 | [65.0, 65.0] |" in text
    assert "- instruction: concise after night 2 − after night 1 = -10.0 ± 0.0 (2 seed(s)) points" in text
    assert "- control: concise after night 2 − after night 1 = +0.0 ± 0.0 (2 seed(s)) points" in text
    assert "- night 1 (concise): instruction − control = +40.0 ± 0.0 (2 seed(s)) points" in text
    assert "- night 2 (no-lists): instruction − control = +40.0 ± 0.0 (2 seed(s)) points" in text
    assert "night 2 (concise)" not in text  # concise was not night 2's preference


def test_the_bootstrap_interval_holds_the_mean_and_narrows_with_more_prompts():
    few, many = bootstrap([0.0, 1.0] * 4), bootstrap([0.0, 1.0] * 64)
    assert few[0] < 0.5 < few[1] and many[0] < 0.5 < many[1]
    assert many[1] - many[0] < few[1] - few[0]
