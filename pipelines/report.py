"""Report: a scores table (plus the interactions it scored) → one self-contained HTML page for people.

Shows the run summary, a histogram of per-reply mean advantage, a breakdown by source model, and the
most negative and most positive replies as token heat-maps (red = hindsight disowns the token, green =
hindsight says it more readily). Key choice: one symmetric colour scale per report (a percentile of
|advantage| over every token), so heat-maps of different replies compare directly. Pure: returns the
HTML string (inline CSS, the histogram as a PNG data URI, no JS); the report command writes the file.
"""

import base64
import io
import math
from collections import Counter
from dataclasses import dataclass
from html import escape

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

RED = (215, 48, 39)  # colour at advantage <= -scale (RdYlGn's end)
GREEN = (26, 152, 80)  # colour at advantage >= +scale
GREY = (150, 150, 150)  # histogram bar whose bin holds both signs
MISSING_MODEL = "(interaction not found)"
UNKNOWN_MODEL = "(unknown)"


@dataclass(frozen=True)
class ReportConfig:
    title: str = "afterword report"  # page title and heading
    n_examples: int = 5  # replies shown in each of the most-negative and most-positive sections; 0 = none
    max_tokens: int = 400  # tokens shown per reply heat-map; the rest is counted, not shown; 0 = all
    max_text_chars: int = 800  # characters shown of x's last user message and of o; 0 = all
    color_percentile: float = 95.0  # percentile of |advantage| over all tokens where the colour saturates
    histogram_bins: int = 40  # bars in the per-reply mean-advantage histogram
    simulations: tuple[str, ...] = ()  # `afterword simulate` comparisons beside the report (<name>.png/.md), linked
    night: str = ""  # the night the scored replies come from (YYYY-MM-DD), in the page header; "" = not shown
    made_at: str = ""  # when the report was made (e.g. "2026-12-06 17:40 UTC"), in the page header; "" = not shown
    replies_in_night: int = 0  # the night's interactions, of which the run scored a sample ("16 of 570"); 0 = unknown

    def __post_init__(self):
        for name in ("n_examples", "max_tokens", "max_text_chars"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (0 = {'none' if name == 'n_examples' else 'no limit'})")
        if not 0 < self.color_percentile <= 100:
            raise ValueError("color_percentile must be in (0, 100]; 95 ignores the top 5% of |advantage|")
        if self.histogram_bins < 1:
            raise ValueError("histogram_bins must be >= 1")
        if self.replies_in_night < 0:
            raise ValueError("replies_in_night must be >= 0 (0 = unknown)")


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;margin:0;background:#f6f6f4}
main{max-width:1200px;margin:0 auto;padding:16px 28px 40px}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;background:#fff}td,th{padding:3px 10px;border:1px solid #e2e2e2;text-align:left}
th{background:#f0f0ee}td.n{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#666}.legend{display:flex;align-items:center;gap:10px;margin:6px 0}
.bar{width:320px;height:14px;border:1px solid #bbb}
article{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;margin:12px 0}
article h3{font-size:14px;margin:0;font-weight:600}.facts{color:#444;margin:2px 0 4px}
.label{font-size:12px;color:#666;margin:8px 0 2px}
.text,.tokens{white-space:pre-wrap;word-wrap:break-word;font:13px/1.6 ui-monospace,Menlo,Consolas,monospace;
background:#fafaf8;border:1px solid #eee;padding:6px 8px;margin:0}
.tokens span{border-radius:2px;box-shadow:inset -1px 0 rgba(255,255,255,.7)}.nl{opacity:.55}
"""


def render_report(scores: pa.Table, interactions: pa.Table, cfg: ReportConfig) -> str:
    """One self-contained HTML document describing a scores table (see the module docstring)."""
    title = escape(cfg.title)
    head = f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
    page = [head, f"<style>{CSS}</style></head><body><main><h1>{title}</h1>"]
    if scores.num_rows == 0:
        page.append('<section id="empty"><h2>Nothing was scored</h2><p>The scores table has no rows: ')
        page.append("no reply was scored, so there is nothing to report.</p></section>")
        return "".join(page) + "</main></body></html>\n"

    n_tokens_N = scores["n_tokens"].to_numpy(zero_copy_only=False).astype(np.int64)
    mean_N = pc.fill_null(pc.cast(scores["mean_advantage"], pa.float64()), math.nan).to_numpy()
    share_N = pc.fill_null(pc.cast(scores["negative_share"], pa.float64()), math.nan).to_numpy()
    ranked_N = (n_tokens_N > 0) & np.isfinite(mean_N)  # replies with a usable mean advantage
    student = pc.list_flatten(scores["student_logprobs"]).to_numpy(zero_copy_only=False).astype(np.float64)
    teacher = pc.list_flatten(scores["teacher_logprobs"]).to_numpy(zero_copy_only=False).astype(np.float64)
    advantage = teacher - student
    finite = advantage[np.isfinite(advantage)]
    scale = float(np.percentile(np.abs(finite), cfg.color_percentile)) if finite.size else 0.0
    scale = scale if scale > 0 else 1.0  # all-zero advantages: any scale paints them white

    by_id = _interactions_by_id(interactions, scores["interaction_id"])
    rows = scores.select(["interaction_id", "reply_source", "model_id", "round"]).to_pylist()
    labels = [_source_label(row, by_id) for row in rows]

    page.append(_header(cfg, scores.num_rows, labels))
    page.append(_summary(scores, n_tokens_N, ranked_N, finite))
    page.append(_histogram_section(mean_N[ranked_N], cfg.histogram_bins))
    page.append(_model_table(labels, n_tokens_N, mean_N, share_N))
    page.append(_legend(scale, cfg.color_percentile))
    page.append(_example_sections(scores, rows, labels, by_id, mean_N, ranked_N, scale, cfg))
    page.append(_simulation_links(cfg.simulations))
    return "".join(page) + "</main></body></html>\n"


def _histogram_section(ranked_mean_N: np.ndarray, bins: int) -> str:
    """The histogram of per-reply mean advantage, over the replies with scored tokens."""
    section = ['<section id="histogram"><h2>Mean advantage per reply</h2>']
    if ranked_mean_N.size:
        png = _histogram_png(ranked_mean_N, bins)
        alt = "histogram of per-reply mean advantage"
        section.append(f'<img alt="{alt}" src="data:image/png;base64,{base64.b64encode(png).decode()}">')
    else:
        section.append('<p class="note">No reply has scored tokens.</p>')
    section.append("</section>")
    return "".join(section)


def _example_sections(
    scores: pa.Table,
    rows: list[dict],
    labels: list[str],
    by_id: dict[str, dict],
    mean_N: np.ndarray,
    ranked_N: np.ndarray,
    scale: float,
    cfg: ReportConfig,
) -> str:
    """The most negative and the most positive replies, each as a token heatmap with its context."""
    # Split the ranked replies so none is shown twice: lowest means first, then the highest of the rest.
    order = sorted(np.flatnonzero(ranked_N), key=lambda i: (mean_N[i], rows[i]["interaction_id"] or "", i))
    n_negative = min(cfg.n_examples, math.ceil(len(order) / 2))
    n_positive = min(cfg.n_examples, len(order) - n_negative)
    sections = [
        (
            "most-negative",
            f"Most negative replies ({n_negative} of {len(order)}, lowest mean advantage)",
            order[:n_negative],
        ),
        (
            "most-positive",
            f"Most positive replies ({n_positive} of {len(order)}, highest mean advantage)",
            order[::-1][:n_positive],
        ),
    ]
    html = []
    for section_id, heading, indices in sections:
        html.append(f'<section id="{section_id}"><h2>{heading}</h2>')
        if not indices:
            html.append('<p class="note">No replies to show.</p>')
        examples = scores.take(pa.array(indices, pa.int64())).to_pylist() if indices else []
        for index, row in zip(indices, examples, strict=True):
            html.append(_example(row, labels[index], by_id.get(row["interaction_id"]), scale, cfg))
        html.append("</section>")
    return "".join(html)


def _simulation_links(names: tuple[str, ...]) -> str:
    """Links to the simulated-user comparisons (plot and table) stored next to the report."""
    if not names:
        return ""
    items = "".join(
        f'<li><a href="{escape(n)}.png">{escape(n)}</a> (<a href="{escape(n)}.md">table</a>)</li>' for n in names
    )
    return f'<section id="simulations"><h2>Simulated users: does it learn?</h2><ul>{items}</ul></section>'


def _interactions_by_id(interactions: pa.Table, wanted: pa.ChunkedArray) -> dict[str, dict]:
    """The interactions a scores table refers to, keyed by interaction_id (the rest never leaves Arrow)."""
    kept = interactions.filter(pc.is_in(interactions["interaction_id"], value_set=pc.unique(wanted)))
    columns = ["interaction_id", "context", "response", "followup", "model"]
    return {row["interaction_id"]: row for row in kept.select(columns).to_pylist()}


def _source_label(row: dict, by_id: dict[str, dict]) -> str:
    """Who wrote the reply: the logged source model, or the scored model itself for regenerated replies."""
    if row["reply_source"] == "regenerated":
        return f"{row['model_id']} round {row['round']} (regenerated)"
    interaction = by_id.get(row["interaction_id"])
    if interaction is None:
        return MISSING_MODEL
    return interaction["model"] or UNKNOWN_MODEL


def _header(cfg: ReportConfig, replies: int, labels: list[str]) -> str:
    """Under the title: the night, when the page was made, the sample size and n per source model."""
    facts = [f"night {cfg.night}"] if cfg.night else []
    facts += [f"made {cfg.made_at}"] if cfg.made_at else []
    noun = "reply" if (cfg.replies_in_night or replies) == 1 else "replies"
    facts.append(f"{replies:,} of {cfg.replies_in_night:,} {noun}" if cfg.replies_in_night else f"{replies:,} {noun}")
    groups = sorted(Counter(labels).items(), key=lambda item: (-item[1], item[0]))
    facts.append("n per source model: " + ", ".join(f"{label} {count:,}" for label, count in groups))
    return f'<p class="facts" id="header">{escape(" · ".join(facts))}</p>'


def _summary(scores: pa.Table, n_tokens_N: np.ndarray, ranked_N: np.ndarray, finite: np.ndarray) -> str:
    """Run-level facts as a two-column table."""
    pairs = zip(scores["model_id"].to_pylist(), scores["model_revision"].to_pylist(), strict=True)
    models = sorted({f"{model} @ {revision or '?'}" for model, revision in pairs})
    sources = pc.value_counts(scores["reply_source"]).to_pylist()
    total = int(n_tokens_N.sum())
    facts = [
        ("runs", ", ".join(sorted({str(v) for v in scores["run_id"].to_pylist()}))),
        ("model (id @ revision)", ", ".join(models)),
        ("hindsight template", ", ".join(sorted({str(v) for v in scores["template"].to_pylist()}))),
        ("rounds", ", ".join(str(v) for v in sorted({v for v in scores["round"].to_pylist() if v is not None}))),
        ("reply sources", ", ".join(f"{s['values']}: {s['counts']:,}" for s in sources)),
        ("replies", f"{scores.num_rows:,} ({int((~ranked_N).sum()):,} without scored tokens)"),
        ("tokens", f"{total:,}"),
        ("mean advantage per token", f"{finite.mean():+.4f} nats" if finite.size else "—"),
        ("share of negative tokens", f"{(finite < 0).mean():.1%}" if finite.size else "—"),
    ]
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts)
    return f'<section id="summary"><h2>Run summary</h2><table class="kv">{cells}</table></section>'


def _histogram_png(mean_N: np.ndarray, bins: int) -> bytes:
    """PNG bytes of a histogram of per-reply mean advantage, bars coloured by sign."""
    from matplotlib.figure import Figure  # Figure without pyplot: Agg canvas, no global state
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(9, 2.8), dpi=100, layout="constrained")
    ax = fig.subplots()
    counts, edges = np.histogram(mean_N, bins=bins)
    # Red below zero, green above, grey for the bar that straddles zero (its sign is mixed).
    lefts, rights = edges[:-1], edges[1:]
    colours = [RED if right <= 0 else GREEN if left >= 0 else GREY for left, right in zip(lefts, rights, strict=True)]
    centres = (lefts + rights) / 2
    ax.bar(centres, counts, width=np.diff(edges), color=np.array(colours) / 255, edgecolor="white", linewidth=0.5)
    ax.axvline(0, color="#444", linewidth=1)
    ax.set_xlabel("mean advantage per reply (nats)")
    ax.set_ylabel("replies")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.spines[["top", "right"]].set_visible(False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _model_table(labels: list[str], n_tokens_N: np.ndarray, mean_N: np.ndarray, share_N: np.ndarray) -> str:
    """Per source model: replies, tokens, mean of per-reply mean advantage, mean negative share."""
    body, labels_N = [], np.array(labels, dtype=object)
    for label, _ in sorted(Counter(labels).items(), key=lambda item: (-item[1], item[0])):
        mask = labels_N == label
        means, shares = mean_N[mask & np.isfinite(mean_N)], share_N[mask & np.isfinite(share_N)]
        mean_text = f"{means.mean():+.4f}" if means.size else "—"
        share_text = f"{shares.mean():.1%}" if shares.size else "—"
        body.append(
            f'<tr><td>{escape(label)}</td><td class="n">{int(mask.sum()):,}</td>'
            f'<td class="n">{int(n_tokens_N[mask].sum()):,}</td><td class="n">{mean_text}</td>'
            f'<td class="n">{share_text}</td></tr>'
        )
    head = "<tr><th>source model</th><th>replies</th><th>tokens</th>"
    head += "<th>mean of mean advantage (nats)</th><th>mean negative share</th></tr>"
    return f'<section id="by-model"><h2>By source model</h2><table>{head}{"".join(body)}</table></section>'


def _legend(scale: float, percentile: float) -> str:
    """The colour scale as a gradient bar with its end values, and how to read it."""
    gradient = f"background:linear-gradient(90deg,{_rgb(RED)},#fff,{_rgb(GREEN)})"
    return (
        f'<section id="legend"><h2>Colour legend</h2><div class="legend"><span>{-scale:+.2f}</span>'
        f'<span class="bar" style="{gradient}"></span><span>{scale:+.2f} nats</span></div>'
        '<p class="note">Token background = advantage (teacher − student log-prob), clipped at '
        f"±{scale:.2f} nats, the {percentile:g}th percentile of |advantage| over this report. "
        "Red: in hindsight the model would not say this token; green: it would say it more readily. "
        "Hover a token for its log-probs; ↵ marks a newline inside a token.</p></section>"
    )


def _rgb(colour: tuple[int, int, int]) -> str:
    return "rgb({},{},{})".format(*colour)


def _token_colour(value: float, scale: float) -> tuple[int, int, int]:
    """Diverging red-white-green: white at 0, full RED/GREEN at |value| >= scale."""
    t = max(-1.0, min(1.0, value / scale))
    end = RED if t < 0 else GREEN
    return tuple(round(255 + (e - 255) * abs(t)) for e in end)


def _heatmap(row: dict, scale: float, max_tokens: int) -> str:
    """The reply's tokens as coloured spans, each with its log-probs in the title tooltip; tokens that split one
    character between them are one span (`merge_split_characters`)."""
    texts = row["token_texts"] or []
    student_T = np.array(row["student_logprobs"] or [], dtype=np.float64)
    teacher_T = np.array(row["teacher_logprobs"] or [], dtype=np.float64)
    shown = len(texts) if max_tokens == 0 else min(len(texts), max_tokens)
    spans = []
    for text, indices in merge_split_characters(texts[:shown], row.get("response")):
        advantages = teacher_T[indices] - student_T[indices]
        # A merged span is coloured by the mean of its tokens' advantages, not their sum: a character split over
        # three tokens is then on the same per-token scale as every other span (the tooltip gives the sum).
        value = float(advantages.mean())
        tip = _tooltip(text, [texts[i] for i in indices], student_T[indices], teacher_T[indices])
        if math.isfinite(value):
            fg = "#fff" if abs(value) > 0.6 * scale else "#222"
            style = f"background:{_rgb(_token_colour(value, scale))};color:{fg}"
        else:
            style = "background:#ccc"
        shown_text = escape(text or "").replace("\n", '<b class="nl">↵</b>\n') or "∅"
        spans.append(f'<span style="{style}" title="{escape(tip)}">{shown_text}</span>')
    if shown < len(texts):
        spans.append(f'<i class="note"> … {len(texts) - shown:,} more tokens not shown</i>')
    return f'<pre class="tokens">{"".join(spans)}</pre>'


def _tooltip(text: str, pieces: list[str], student_T: np.ndarray, teacher_T: np.ndarray) -> str:
    """A span's log-probs: one token's, or each token's of a merged character with their sum and mean."""
    advantages = teacher_T - student_T
    if len(pieces) == 1:
        return f"{text!r}\nstudent {student_T[0]:.3f}  teacher {teacher_T[0]:.3f}\nadvantage {advantages[0]:+.3f} nats"
    lines = [f"{text!r}: {len(pieces)} tokens, each part of it"]
    lines += [f"{p!r}: student {s:.3f}  teacher {t:.3f}" for p, s, t in zip(pieces, student_T, teacher_T, strict=True)]
    lines.append(f"advantage sum {advantages.sum():+.3f} nats, mean per token {advantages.mean():+.3f} (the colour)")
    return "\n".join(lines)


REPLACEMENT = "\ufffd"  # what a token holding only part of a multi-byte character decodes to on its own


def merge_split_characters(texts: list[str], response: str | None) -> list[tuple[str, list[int]]]:
    """The reply's spans to colour, as (text, token indices): consecutive tokens that each hold part of a multi-byte
    character (a byte-level BPE splits an emoji over two or three; each decodes alone to U+FFFD) become one span
    whose text is the whole characters they make; every other token is its own span.

    The stored token texts have lost those bytes, so the characters are read from the reply text itself
    (`response`, what was tokenized): the run's span ends where the next token's text starts. It is taken only
    when it fits (at least one multi-byte character and at most one per U+FFFD, the run's other characters in
    order); without the reply text, or once a token no longer matches it (an end-of-turn marker, a tokenizer that
    decodes single tokens differently), tokens stay as they are.
    """
    spans: list[tuple[str, list[int]]] = []
    position = None if response is None else 0
    index = 0
    while index < len(texts):
        text = texts[index] or ""
        if REPLACEMENT not in text:
            if position is not None:
                position = position + len(text) if response.startswith(text, position) else None
            spans.append((text, [index]))
            index += 1
            continue
        end = index
        while end < len(texts) and REPLACEMENT in (texts[end] or ""):
            end += 1
        run = list(range(index, end))
        merged = None
        if position is not None:
            following = (texts[end] or "") if end < len(texts) else ""
            stop = response.find(following, position + 1) if following else -1
            stop = len(response) if stop < 0 else stop
            candidate = response[position:stop]
            if _whole_characters_of(candidate, [texts[i] for i in run]):
                merged, position = candidate, stop
        if merged is None:
            position = None
            spans.extend((texts[i], [i]) for i in run)
        else:
            spans.append((merged, run))
        index = end
    return spans


def _whole_characters_of(candidate: str, run: list[str]) -> bool:
    """Whether `candidate` can be what the run of partial tokens decodes to together."""
    multibyte = sum(1 for character in candidate if len(character.encode()) > 1)
    if REPLACEMENT in candidate or not 1 <= multibyte <= sum(text.count(REPLACEMENT) for text in run):
        return False
    rest = iter(candidate)
    return all(character in rest for character in "".join(run).replace(REPLACEMENT, ""))


def _clip(text: str, max_chars: int) -> str:
    if max_chars and len(text) > max_chars:
        return text[:max_chars] + f" … [{len(text) - max_chars:,} more characters]"
    return text


def _example(row: dict, label: str, interaction: dict | None, scale: float, cfg: ReportConfig) -> str:
    """One reply: header facts, x's last user message, y as a heat-map, then o."""
    facts = (
        f"{label} · run {row['run_id']} round {row['round']} · {row['n_tokens']} tokens · "
        f"mean {row['mean_advantage']:+.3f} nats · min {row['min_advantage']:+.3f} · "
        f"negative share {row['negative_share']:.0%}"
    )
    parts = [f'<article><h3>{escape(row["interaction_id"])}</h3><div class="facts">{escape(facts)}</div>']
    if interaction is None:
        parts.append('<p class="note">This interaction is not in the interactions table: x and o are unknown.</p>')
    else:
        users = [m["content"] for m in interaction["context"] or [] if m["role"] == "user"]
        last_user = _clip(users[-1], cfg.max_text_chars) if users else "(x has no user message)"
        parts.append(f'<div class="label">x — last user message</div><pre class="text">{escape(last_user)}</pre>')
    parts.append('<div class="label">y — the scored reply, coloured by token advantage</div>')
    parts.append(_heatmap(row, scale, cfg.max_tokens))
    if interaction is not None:
        followup = _clip(interaction["followup"] or "", cfg.max_text_chars)
        parts.append(
            f'<div class="label">o — the follow-up (hindsight)</div><pre class="text">{escape(followup)}</pre>'
        )
    return "".join(parts) + "</article>"
