"""The forgetting ledger of a root as one self-contained HTML page: models × evaluation sets, and every gate
decision.

`render_ledger(models, evaluations, title)` takes the registry's rows (`models`) and the `model_evals` rows, as
plain dicts. The ledger has one row per model in the order they were made (the base first) and one column per
evaluation set: the model's held-out approval on that set minus the base's (nats/token; the set's own night
shows the gain, earlier nights' sets show what a later night kept or lost), coloured green for better and red
for worse. Below it the drift of each model against the base and its parent, reply length and the share of
replies that ended, then the lineage with each decision's reason. `afterword report --root R --ledger` writes it.
"""

from __future__ import annotations

from html import escape

BASE_ID = "base"
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0 2em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
td.text { text-align: left; max-width: 40em; }
.promoted { font-weight: bold; }
.rejected, .rolled_back { color: #888; }
p.note { color: #555; max-width: 60em; }
"""


def render_ledger(models: list[dict], evaluations: list[dict], title: str) -> str:
    """The page: the ledger, drift and length, then the lineage (see the module docstring)."""
    by_model: dict[str, dict[str, dict]] = {}
    for row in evaluations:
        by_model.setdefault(row["model_id"], {})[row["eval_set"]] = row
    sets = sorted({row["eval_set"] for row in evaluations})
    night_sets = [name for name in sets if name.startswith("night=")]
    order = [BASE_ID, *(model["model_id"] for model in models)]
    status = {model["model_id"]: model["status"] for model in models}
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>",
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>",
        "<h2>Forgetting ledger</h2>",
        "<p class='note'>Held-out approval minus the base model's on the same set (nats/token; higher is better). "
        "A model's own night shows its gain; an earlier night's set shows what the later training kept. "
        "Each set is drawn once per root and never trained on.</p>",
        _ledger_table(order, night_sets, by_model, status),
        "<h2>Drift and replies</h2>",
        _drift_table(order, sets, by_model, status),
        "<h2>Lineage and decisions</h2>",
        _lineage_table(models),
        "</body></html>",
    ]
    return "\n".join(parts)


def _ledger_table(order: list[str], night_sets: list[str], by_model: dict, status: dict) -> str:
    head = "".join(f"<th>{escape(name.removeprefix('night='))}</th>" for name in night_sets)
    rows = [f"<table><tr><th>model</th><th>status</th>{head}</tr>"]
    base = by_model.get(BASE_ID, {})
    for model_id in order:
        cells = []
        for name in night_sets:
            row, reference = by_model.get(model_id, {}).get(name), base.get(name)
            if row is None or reference is None or row["approval"] is None or reference["approval"] is None:
                cells.append("<td>—</td>")
                continue
            delta = row["approval"] - reference["approval"]
            tip = f"approval {row['approval']:+.4f} (n={row['n']})"
            cells.append(f"<td style='background:{_colour(delta)}' title='{tip}'>{delta:+.4f}</td>")
        label = status.get(model_id, "base")
        rows.append(
            f"<tr class='{label}'><td class='text'>{escape(model_id)}</td><td>{label}</td>{''.join(cells)}</tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _drift_table(order: list[str], sets: list[str], by_model: dict, status: dict) -> str:
    head = "<tr><th>model</th><th>KL vs base</th><th>KL vs parent</th><th>reply tokens</th><th>ended</th></tr>"
    rows = ["<table>", head]
    for model_id in order:
        evaluated = [by_model.get(model_id, {}).get(name) for name in sets]
        evaluated = [row for row in evaluated if row]
        if not evaluated:
            continue
        weights = [row["reply_tokens"] * row["n"] for row in evaluated]
        replies = sum(row["n"] for row in evaluated)
        ended = sum(row["ended_share"] * row["n"] for row in evaluated) / replies
        rows.append(
            f"<tr class='{status.get(model_id, 'base')}'><td class='text'>{escape(model_id)}</td>"
            f"<td>{_weighted(evaluated, 'drift_base_kl', weights)}</td>"
            f"<td>{_weighted(evaluated, 'drift_parent_kl', weights)}</td>"
            f"<td>{sum(weights) / replies:.1f}</td><td>{ended:.0%}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _lineage_table(models: list[dict]) -> str:
    head = (
        "<tr><th>model</th><th>parent</th><th>nights</th><th>status</th><th>gain [interval]</th>"
        "<th>worst retention drop</th><th>drift vs parent</th><th>reason</th></tr>"
    )
    rows = ["<table>", head]
    for model in models:
        gain = (
            "—"
            if model["gain"] is None
            else f"{model['gain']:+.4f} [{model['gain_low']:+.3f}, {model['gain_high']:+.3f}]"
        )
        drop = (
            "—"
            if model["worst_retention_drop"] is None
            else f"{model['worst_retention_drop']:+.4f} ({model['worst_retention_set']})"
        )
        drift = "—" if model["drift_parent_kl"] is None else f"{model['drift_parent_kl']:.4f}"
        rows.append(
            f"<tr class='{model['status']}'><td class='text'>{escape(model['model_id'])}</td>"
            f"<td class='text'>{escape(model['parent_id'] or BASE_ID)}</td>"
            f"<td>{escape(', '.join(model['nights']))}</td>"
            f"<td>{model['status']}</td><td>{gain}</td><td>{escape(drop)}</td><td>{drift}</td>"
            f"<td class='text'>{escape(model['reason'])}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _weighted(rows: list[dict], column: str, weights: list[float]) -> str:
    pairs = [(row[column], weight) for row, weight in zip(rows, weights, strict=True) if row[column] is not None]
    if not pairs or not sum(weight for _, weight in pairs):
        return "—"
    return f"{sum(value * weight for value, weight in pairs) / sum(weight for _, weight in pairs):.4f}"


def _colour(delta: float, scale: float = 0.05) -> str:
    """Green for a gain, red for a loss, saturating at `scale` nats/token."""
    strength = min(abs(delta) / scale, 1.0)
    fade = int(255 - 120 * strength)
    return f"rgb({fade},255,{fade})" if delta >= 0 else f"rgb(255,{fade},{fade})"
