"""The forgetting ledger page: one cell per (model, night set) holding approval minus the base's, coloured by
sign, every decision's reason; and it renders in a real browser."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime

import numpy as np
import pytest

from pipelines.ledger_report import render_ledger
from tests.pipelines.test_report import CHROMIUM, screenshot

SETS = ("night=2026-11-27", "night=2026-11-28", "general")


def evaluation(model_id: str, eval_set: str, approval: float | None) -> dict:
    return {
        "model_id": model_id, "eval_set": eval_set, "kind": "general" if eval_set == "general" else "night",
        "n": 12, "approval": approval, "approval_low": None, "approval_high": None, "drift_base_kl": 0.1,
        "drift_parent_kl": 0.05, "reply_tokens": 20.0, "ended_share": 0.5, "evaluated_at": datetime.now(UTC),
    }  # fmt: skip


def model(model_id: str, parent: str | None, status: str, reason: str) -> dict:
    return {
        "model_id": model_id, "parent_id": parent, "nights": [model_id[2:12]], "status": status, "reason": reason,
        "gain": 0.2, "gain_low": 0.1, "gain_high": 0.3, "worst_retention_drop": None, "worst_retention_set": None,
        "drift_parent_kl": 0.05,
    }  # fmt: skip


def ledger_page() -> str:
    models = [
        model("m-2026-11-27-aaaa", None, "promoted", "gain +0.2000"),
        model("m-2026-11-28-bbbb", "m-2026-11-27-aaaa", "rejected", "night=2026-11-27 approval falls 0.1500"),
    ]
    evaluations = [
        evaluation("base", SETS[0], -0.30),
        evaluation("base", SETS[1], -0.40),
        evaluation("base", SETS[2], None),
        evaluation("m-2026-11-27-aaaa", SETS[0], -0.10),  # its own night: +0.20 over the base
        evaluation("m-2026-11-28-bbbb", SETS[0], -0.45),  # the later night lost night 1: -0.15
        evaluation("m-2026-11-28-bbbb", SETS[1], -0.20),
    ]
    return render_ledger(models, evaluations, "ledger")


def test_each_cell_is_approval_minus_the_base_and_a_missing_evaluation_is_a_dash():
    page = ledger_page()
    ledger = page[page.index("Forgetting ledger") : page.index("Drift and replies")]
    rows = [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in re.findall(r"<tr class=.*?</tr>", ledger)]
    cells = {model_id: values for model_id, _status, *values in rows}
    assert cells == {
        "base": ["+0.0000", "+0.0000"],
        "m-2026-11-27-aaaa": ["+0.2000", "—"],
        "m-2026-11-28-bbbb": ["-0.1500", "+0.2000"],
    }
    assert "night=2026-11-27 approval falls 0.1500" in page
    assert "general" not in ledger, "a prompt set has no approval: it is not a ledger column"


@pytest.mark.slow
def test_the_ledger_renders_in_headless_chromium_with_gains_green_and_losses_red(tmp_path):
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    pixels_H_W_C = (screenshot(ledger_page(), tmp_path / "ledger", 1200, 800) * 255).round().astype(int)
    green = np.all(pixels_H_W_C == (135, 255, 135), axis=-1).sum()  # a gain of 0.05 nats/token or more
    red = np.all(pixels_H_W_C == (255, 135, 135), axis=-1).sum()
    assert green > 200 and red > 200, (green, red)
