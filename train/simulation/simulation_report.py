"""The simulated-user experiment as a table and a plot: every arm, every round, mean and 95% interval over seeds.

Reads the `training_rounds` rows the arms wrote (`<experiment>-seed<N>-<arm>` runs, train/simulation/simulation.py) and
writes `reports/<experiment>.md` and `.png`: per arm and round the held-out satisfaction, share of replies
that ended on their own, median words and drift on unrelated prompts, each as the mean over seeds with a
t-interval; then, at the last round every seed of both arms reached, each arm's gain over control as the
mean of the per-seed differences with its interval (seeds pair the arms: same prompts, same dice).
The flow `afterword simulate` rewrites it after every arm it runs.
"""

from __future__ import annotations

import glob
import io
import math
import os
import re
import statistics
import tempfile

import pyarrow.parquet as pq

from pipelines.io import write_text
from pipelines.store import layout as storage
from train.simulation.simulated_users import ARMS

# Two-sided 95% Student-t quantiles by degrees of freedom (seeds − 1); 1.96 beyond the table.
T_95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}
METRICS = (
    ("satisfaction", "satisfaction", 100.0, "{:.1f}%"),
    ("finished_share", "ended on its own", 100.0, "{:.0f}%"),
    ("median_reply_words", "median words", 1.0, "{:.0f}"),
    ("unrelated_drift_kl", "drift KL (unrelated)", 1.0, "{:.3f}"),
)


def mean_interval(values: list[float]) -> tuple[float, float]:
    """(mean, half-width of its 95% t-interval); the half-width is nan for a single value."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan
    t = T_95.get(len(values) - 1, 1.96)
    return mean, t * statistics.stdev(values) / math.sqrt(len(values))


def experiment_rows(root: str, experiment: str) -> dict[str, dict[int, list[dict]]]:
    """Stored rows by arm, then seed, each list in round order (arms with no run yet are absent)."""
    folders = glob.glob(os.path.join(glob.escape(root), "training_rounds", f"run_id={glob.escape(experiment)}-seed*"))
    pattern = re.compile(rf"run_id={re.escape(experiment)}-seed(\d+)-({'|'.join(ARMS)})$")
    out: dict[str, dict[int, list[dict]]] = {}
    for folder in sorted(folders):
        match = pattern.search(folder)
        if not match:
            continue
        run_id = folder.rsplit("run_id=", 1)[1]
        rows = [pq.read_table(f).to_pylist()[0] for f in storage.training_round_files(root, run_id)]
        out.setdefault(match.group(2), {})[int(match.group(1))] = sorted(rows, key=lambda r: r["round"])
    return {arm: out[arm] for arm in ARMS if arm in out}


def _cell(values: list[float], scale: float, fmt: str) -> str:
    mean, half = mean_interval([v * scale for v in values])
    return fmt.format(mean) + ("" if math.isnan(half) else " ± " + fmt.format(half).rstrip("%"))


def _values(runs: dict[int, list[dict]], round_index: int, key: str) -> dict[int, float]:
    """Per seed, the metric at `round_index` (seeds whose run has not reached it are left out)."""
    out = {}
    for seed, rows in runs.items():
        row = next((r for r in rows if r["round"] == round_index), None)
        if row is not None and row.get(key) is not None:
            out[seed] = float(row[key])
    return out


def evaluated_rounds(runs: dict[int, list[dict]]) -> list[int]:
    """The rounds some seed evaluated (a run evaluated at its end only leaves the rounds between empty)."""
    return sorted({r["round"] for seed_rows in runs.values() for r in seed_rows if r.get("satisfaction") is not None})


def gains(rows: dict[str, dict[int, list[dict]]]) -> list[dict]:
    """Each arm against control at the last round all seeds of both reached: per-seed differences' mean ± 95%."""
    if "control" not in rows:
        return []
    out = []
    for arm in (a for a in rows if a != "control"):
        seeds = sorted(set(rows[arm]) & set(rows["control"]))
        if not seeds:
            continue
        last = min(max(r["round"] for r in rows[a][s]) for a in (arm, "control") for s in seeds)
        mine, theirs = _values(rows[arm], last, "satisfaction"), _values(rows["control"], last, "satisfaction")
        drift = _values(rows[arm], last, "unrelated_drift_kl")
        drift_control = _values(rows["control"], last, "unrelated_drift_kl")
        finished = _values(rows[arm], last, "finished_share")
        differences = [100 * (mine[s] - theirs[s]) for s in seeds if s in mine and s in theirs]
        if not differences:
            continue
        mean, half = mean_interval(differences)
        out.append({
            "arm": arm, "round": last, "seeds": len(differences), "gain_points": mean, "gain_half_width": half,
            "drift": statistics.fmean(drift.values()) if drift else math.nan,
            "drift_control": statistics.fmean(drift_control.values()) if drift_control else math.nan,
            "finished_share": statistics.fmean(finished.values()) if finished else math.nan,
        })  # fmt: skip
    return out


def report_markdown(experiment: str, rows: dict[str, dict[int, list[dict]]]) -> str:
    """Every arm round by round (mean ± 95% over seeds), then each arm's gain over control."""
    header = " | ".join(label for _, label, _, _ in METRICS)
    lines = [f"# {experiment}", "", f"| arm | round | seeds | {header} |", "|---|---|---|" + "---|" * len(METRICS)]
    for arm, runs in rows.items():
        for round_index in evaluated_rounds(runs):
            cells = [
                _cell(list(_values(runs, round_index, key).values()), scale, fmt) for key, _, scale, fmt in METRICS
            ]
            seeds = len(_values(runs, round_index, "satisfaction"))
            lines.append(f"| {arm} | {round_index} | {seeds} | " + " | ".join(cells) + " |")
    for gain in gains(rows):
        interval = "" if math.isnan(gain["gain_half_width"]) else f" ± {gain['gain_half_width']:.1f}"
        ratio = gain["drift"] / gain["drift_control"] if gain["drift_control"] else math.nan
        lines += ["", f"Round {gain['round']}, {gain['seeds']} seed(s): {gain['arm']} − control satisfaction = "
                  f"{gain['gain_points']:+.1f}{interval} points (95% interval over seeds); drift {gain['drift']:.3f} "
                  f"vs control {gain['drift_control']:.3f} nats/token ({ratio:.2f}×); "
                  f"{100 * gain['finished_share']:.0f}% of its held-out replies ended on their own."]  # fmt: skip
    return "\n".join(lines) + "\n"


def report_png(experiment: str, rows: dict[str, dict[int, list[dict]]]) -> bytes:
    """Satisfaction, ended-on-its-own share and drift per round, every arm, mean ± 95% over seeds, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    shown = [m for m in METRICS if m[0] != "median_reply_words"]
    figure, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.5), dpi=110)
    styles = {"preference": "o-", "control": "s--", "instruction": "^-", "sft": "d:"}
    for axis, (key, label, scale, _) in zip(axes, shown, strict=True):
        for arm, runs in rows.items():
            rounds = evaluated_rounds(runs)
            stats = [mean_interval([v * scale for v in _values(runs, n, key).values()]) for n in rounds]
            errors = [0.0 if math.isnan(h) else h for _, h in stats]
            axis.errorbar(rounds, [m for m, _ in stats], yerr=errors, fmt=styles[arm], capsize=3, label=arm)
        axis.set(title=label, xlabel="round", ylabel="% of held-out replies" if scale == 100.0 else "nats/token")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # rounds are whole numbers
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(f"{experiment} (mean ± 95% interval over seeds)", fontsize=9)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def write_report(root: str, experiment: str) -> tuple[str, str, str]:
    """Write `reports/<experiment>.png` and `.md` from the stored rows; returns (png path, md path, markdown)."""
    rows = experiment_rows(root, experiment)
    markdown = report_markdown(experiment, rows)
    md_path, png_path = storage.report_path(root, experiment, "md"), storage.report_path(root, experiment, "png")
    write_text(markdown, md_path)
    os.makedirs(os.path.dirname(png_path), exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=os.path.dirname(png_path), prefix=f".{experiment}.png.", suffix=".tmp")
    with os.fdopen(handle, "wb") as out:
        out.write(report_png(experiment, rows))
    os.chmod(tmp, 0o644)
    os.replace(tmp, png_path)  # atomic: a reader sees the old plot or the new one
    return png_path, md_path, markdown
