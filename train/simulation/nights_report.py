"""The nights of a simulation as one table (`reports/<experiment>-nights.md`): per arm, night and preference,
satisfaction as the mean over seeds with its 95% t-interval and a 95% bootstrap interval over the prompts; then
how much of the first night's preference each arm keeps after the last night, and each night's gain over control.

Reads the `simulation_nights` rows and, for the bootstrap, the `eval_replies` they were measured on
(train/simulation/audit.py). `afterword simulate --users a,b,c` rewrites it after every arm it runs.
"""

from __future__ import annotations

import glob
import math
import os
import statistics

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.io import write_text
from pipelines.store import layout as storage
from train.simulation.simulated_users import ARMS
from train.simulation.simulation_report import mean_interval

BOOTSTRAP_RESAMPLES = 1000


def experiment_nights(root: str, experiment: str) -> list[dict]:
    """Every `simulation_nights` row of the experiment's runs, by arm, seed, night and preference."""
    pattern = os.path.join(glob.escape(root), "simulation_nights", f"run_id={glob.escape(experiment)}-seed*", "*")
    rows = [row for path in glob.glob(pattern) for row in pq.read_table(path).to_pylist()]
    return sorted(rows, key=lambda r: (ARMS.index(r["arm"]), r["seed"], r["night"], r["preference"]))


def prompt_means(root: str, rows: list[dict]) -> dict[tuple[str, int, str], list[float]]:
    """(arm, night, preference) → per held-out prompt, the share of seeds whose reply satisfied it."""
    by_prompt: dict[tuple[str, int, str], dict[str, list[bool]]] = {}
    for row in rows:
        replies = pq.read_table(storage.eval_replies_path(root, row["run_id"], _round_of(root, row)))
        mine = replies.filter(pc.equal(replies["preference"], row["preference"])).to_pylist()
        prompts = by_prompt.setdefault((row["arm"], row["night"], row["preference"]), {})
        for reply in mine:
            prompts.setdefault(reply["prompt_id"], []).append(bool(reply["satisfied"]))
    return {key: [statistics.fmean(v) for v in prompts.values()] for key, prompts in by_prompt.items()}


def _round_of(root: str, row: dict) -> int:
    """The round a night row was measured after: 0 for night 0, else the run's last evaluated round."""
    if row["night"] == 0:
        return 0
    folder = os.path.dirname(storage.eval_replies_path(root, row["run_id"], 0))
    return max(int(name.removeprefix("round-").removesuffix(".parquet")) for name in os.listdir(folder))


def bootstrap(values: list[float], seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean of `values` over `BOOTSTRAP_RESAMPLES` resamples."""
    array = np.asarray(values, np.float64)
    rng = np.random.default_rng(seed)
    means = array[rng.integers(0, len(array), size=(BOOTSTRAP_RESAMPLES, len(array)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def nights_markdown(experiment: str, rows: list[dict], per_prompt: dict) -> str:
    """The table, then retention of the first preference and each night's gain over control."""
    lines = [
        f"# {experiment}: night by night", "",
        "| arm | night | trained | preference | seeds | satisfaction (± 95% over seeds) | 95% bootstrap over prompts "
        "| drift KL vs base | correct (unrelated) | median words | ended |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    groups: dict[tuple[str, int, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["arm"], row["night"], row["preference"]), []).append(row)
    for (arm, night, preference), group in groups.items():
        low, high = bootstrap(per_prompt[(arm, night, preference)])
        lines.append(
            f"| {arm} | {night} | {group[0]['night_user'] or '(base)'} | {preference} | {len(group)} | "
            f"{_points(group, 'satisfaction')} | [{100 * low:.1f}, {100 * high:.1f}] | "
            f"{_mean(group, 'unrelated_drift_kl', 1, '{:.3f}')} | {_points(group, 'correct_share')} | "
            f"{_mean(group, 'median_reply_words', 1, '{:.0f}')} | {_points(group, 'ended_share')} |"
        )
    lines += ["", *retention_lines(groups), *gain_lines(groups)]
    return "\n".join(lines) + "\n"


def retention_lines(groups: dict) -> list[str]:
    """Per arm: the first night's preference after the last night minus after night 1, per seed, mean ± 95%."""
    nights = sorted({night for _, night, _ in groups})
    if len(nights) < 3:
        return []
    first = next(group[0]["night_user"] for (_, night, _), group in groups.items() if night == 1)
    out = []
    for arm in dict.fromkeys(arm for arm, _, _ in groups):
        after_one = _by_seed(groups.get((arm, 1, first), []))
        after_last = _by_seed(groups.get((arm, nights[-1], first), []))
        differences = [100 * (after_last[s] - after_one[s]) for s in after_one if s in after_last]
        if differences:
            out.append(f"- {arm}: {first} after night {nights[-1]} − after night 1 = {_interval(differences)} points")
    return ["Retention of the first night's preference (per-seed differences, mean ± 95% over seeds):", *out, ""]


def gain_lines(groups: dict) -> list[str]:
    """Per arm and night k ≥ 1: satisfaction of night k's preference after night k, minus control's."""
    out = []
    for (arm, night, preference), group in groups.items():
        if arm == "control" or night == 0 or group[0]["night_user"] != preference:
            continue
        mine, theirs = _by_seed(group), _by_seed(groups.get(("control", night, preference), []))
        differences = [100 * (mine[s] - theirs[s]) for s in mine if s in theirs]
        if differences:
            out.append(f"- night {night} ({preference}): {arm} − control = {_interval(differences)} points")
    return ["Each night's preference after its own night, over control (per-seed differences):", *out] if out else []


def _by_seed(group: list[dict]) -> dict[int, float]:
    return {row["seed"]: row["satisfaction"] for row in group if row["satisfaction"] is not None}


def _interval(values: list[float]) -> str:
    mean, half = mean_interval(values)
    return f"{mean:+.1f}" + ("" if math.isnan(half) else f" ± {half:.1f}") + f" ({len(values)} seed(s))"


def _points(group: list[dict], key: str) -> str:
    return _mean(group, key, 100.0, "{:.1f}%")


def _mean(group: list[dict], key: str, scale: float, fmt: str) -> str:
    values = [row[key] * scale for row in group if row[key] is not None]
    if not values:
        return ""
    mean, half = mean_interval(values)
    return fmt.format(mean) + ("" if math.isnan(half) else " ± " + fmt.format(half).rstrip("%"))


def write_nights_report(root: str, experiment: str) -> tuple[str, str]:
    """Write `reports/<experiment>-nights.md`; returns (its path, the markdown)."""
    rows = experiment_nights(root, experiment)
    markdown = nights_markdown(experiment, rows, prompt_means(root, rows))
    path = storage.report_path(root, f"{experiment}-nights", "md")
    write_text(markdown, path)
    return path, markdown
