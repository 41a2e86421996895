import base64
import functools
import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from pipelines.report import MISSING_MODEL, ReportConfig, _token_colour, merge_split_characters, render_report
from pipelines.score import summarize_advantages
from schemas import interactions as interactions_schema
from schemas import scores as scores_schema

CHROMIUM = "/usr/bin/chromium"
SPAN = re.compile(r'<span style="background:rgb\((\d+),(\d+),(\d+)\);[^"]*" title="[^"]*">([^<]*)</span>')

# (interaction id, token texts, advantage per token); the student log-prob is -1 for every token.
REPLIES = [
    ("c1:1", ["YES", ",", " because", " the", " sky", " is", " blue", "<|im_end|>"], [-4, -2, -3, -1, 0, 0, 0, 0]),
    ("c2:1", ["42", "<|im_end|>"], [3, 1]),
    ("c3:1", ["Sure", "!", "\n", "Here", " goes"], [0, 0.5, -0.25, 0, 0]),
    ("c4:1", ["<script>", "alert(1)", "</script>"], [-0.5, 0, 0.5]),
]


def make_scores(replies: list[tuple[str, list[str], list[float]]] = REPLIES) -> pa.Table:
    """A scores table (schemas.scores.SCHEMA) with summaries computed the way the score stage does."""
    rows = []
    for interaction_id, texts, advantages in replies:
        student_T = np.full(len(texts), -1.0, dtype=np.float32)
        teacher_T = (student_T + np.array(advantages, dtype=np.float32)).astype(np.float32)
        summary = summarize_advantages(student_T, teacher_T)
        rows.append(
            {
                "interaction_id": interaction_id,
                "conversation_id": interaction_id.split(":")[0],
                "run_id": "run-7",
                "round": 0,
                "reply_source": "logged",
                "model_id": "tiny-lm",
                "model_revision": "abc123",
                "template": "paper",
                "token_ids": list(range(len(texts))),
                "token_texts": texts,
                "student_logprobs": student_T.tolist(),
                "teacher_logprobs": teacher_T.tolist(),
                "n_tokens": len(texts),
                "sum_advantage": summary["sum"],
                "mean_advantage": summary["mean"],
                "min_advantage": summary["min"],
                "max_advantage": summary["max"],
                "negative_share": summary["negative_share"],
                "context_truncated": False,
                "reply_truncated": False,
                "topk_token_ids": None,
                "topk_teacher_logprobs": None,
            }
        )
    table = pa.Table.from_pylist(rows, schema=scores_schema.SCHEMA)
    scores_schema.check_alignment(table)
    return table


def make_interactions(ids: list[str]) -> pa.Table:
    """One interaction per id; c4's messages and model name carry HTML that must come out escaped."""
    rows = []
    for interaction_id in ids:
        hostile = interaction_id.startswith("c4")
        rows.append(
            {
                "interaction_id": interaction_id,
                "conversation_id": interaction_id.split(":")[0],
                "turn_index": 1,
                "context": [
                    {"role": "user", "content": "first question"},
                    {"role": "assistant", "content": "first answer"},
                    {"role": "user", "content": "<b>bold</b> ask" if hostile else f"Answer {interaction_id} YES or NO"},
                ],
                "response": "logged reply",
                "followup": "<script>x()</script>" if hostile else f"I said YES or NO only ({interaction_id})",
                "model": "<i>m</i>" if hostile else ("gpt-4" if interaction_id < "c3" else None),
                "language": "English",
                "timestamp": datetime(2024, 3, 1, tzinfo=UTC),
                "source_format": "wildchat",
                "content_hash": "h" + interaction_id,
                "ingest_date": date(2026, 11, 20),
            }
        )
    return pa.Table.from_pylist(rows, schema=interactions_schema.SCHEMA)


def section(html: str, section_id: str) -> str:
    """The HTML of one <section id=...>."""
    start = html.index(f'<section id="{section_id}">')
    return html[start : html.index("</section>", start)]


@functools.cache
def render(**overrides) -> str:
    return render_report(make_scores(), make_interactions([r[0] for r in REPLIES]), ReportConfig(**overrides))


def test_report_has_every_section_and_the_run_summary():
    html = render(title="Night of 2026-11-20")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    for section_id in ("summary", "histogram", "by-model", "legend", "most-negative", "most-positive"):
        assert f'<section id="{section_id}">' in html
    summary = section(html, "summary")
    assert "Night of 2026-11-20" in html
    for fact in ("run-7", "tiny-lm @ abc123", "paper", "<td>0</td>", "<td>4 (0 without scored tokens)</td>"):
        assert fact in summary
    assert "<td>18</td>" in summary  # 8 + 2 + 5 + 3 tokens
    assert "-0.3194 nats" in summary  # (-10 + 4 + 0.25 + 0) / 18
    assert "<td>33.3%</td>" in summary  # 6 of 18 tokens negative
    assert "http" not in html.replace("http-equiv", "")  # no external assets


def test_most_negative_and_most_positive_replies_land_in_their_sections_once_each():
    html = render(n_examples=5)
    negative, positive = section(html, "most-negative"), section(html, "most-positive")
    # Means: c1 -1.25, c4 0, c3 0.05, c2 2; four replies split two and two, none shown twice.
    assert negative.index("<h3>c1:1</h3>") < negative.index("<h3>c4:1</h3>")
    assert "<h3>c2:1</h3>" not in negative and "<h3>c3:1</h3>" not in negative
    assert positive.index("<h3>c2:1</h3>") < positive.index("<h3>c3:1</h3>")
    assert "<h3>c1:1</h3>" not in positive and "<h3>c4:1</h3>" not in positive
    one = render(n_examples=1)
    assert "<h3>c1:1</h3>" in section(one, "most-negative") and "<h3>c4:1</h3>" not in one
    assert "<h3>c2:1</h3>" in section(one, "most-positive") and "<h3>c3:1</h3>" not in one


def test_token_backgrounds_are_red_for_negative_green_for_positive_white_for_zero():
    colours = {text: tuple(map(int, rgb)) for *rgb, text in SPAN.findall(render())}
    r, g, b = colours["YES"]  # advantage -4: beyond the 95th-percentile scale, full red
    assert r > 150 and g < 100 and b < 100
    r, g, b = colours["42"]  # +3: green
    assert g > 120 and r < 100
    r, g, b = colours[" is"]  # 0: white
    assert (r, g, b) == (255, 255, 255)
    r, g, b = colours[" the"]  # -1: a paler red than -4
    assert r > g and g > colours["YES"][1]


def test_token_tooltips_carry_log_probs_and_advantage():
    html = render()
    tip = re.search(r'title="([^"]*)">YES</span>', html).group(1)
    assert "student -1.000" in tip and "teacher -5.000" in tip and "advantage -4.000 nats" in tip


def test_text_from_the_data_is_html_escaped():
    html = render()
    assert "<script>" not in html and "<b>bold" not in html and "<i>m</i>" not in html
    assert "&lt;script&gt;" in section(html, "most-negative")  # the c4 reply tokens (mean 0, second lowest)
    assert "&lt;script&gt;x()&lt;/script&gt;" in html  # c4's follow-up
    assert "&lt;b&gt;bold&lt;/b&gt; ask" in html  # c4's last user message
    assert "&lt;i&gt;m&lt;/i&gt;" in section(html, "by-model")
    assert "&lt;|im_end|&gt;" in html


def test_last_user_message_and_followup_are_shown():
    negative = section(render(), "most-negative")
    assert "Answer c1:1 YES or NO" in negative and "first question" not in negative
    assert "I said YES or NO only (c1:1)" in negative


def test_newline_tokens_stay_visible():
    html = render()
    assert re.search(r'title="[^"]*">(<b class="nl">↵</b>\n)</span>', html)


def test_histogram_is_an_embedded_png():
    match = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', section(render(), "histogram"))
    assert base64.b64decode(match.group(1)).startswith(b"\x89PNG\r\n\x1a\n")


def test_breakdown_by_source_model():
    table = section(render(), "by-model")
    rows = re.findall(r"<tr><td>([^<]*)</td>((?:<td[^>]*>[^<]*</td>)+)</tr>", table)
    cells = {label: re.findall(r">([^<]*)</td>", rest) for label, rest in rows}
    assert cells["gpt-4"] == ["2", "10", "+0.3750", "25.0%"]  # c1 (-1.25, 4/8) and c2 (2, 0/2)
    assert cells["(unknown)"] == ["1", "5", "+0.0500", "20.0%"]
    assert cells["&lt;i&gt;m&lt;/i&gt;"] == ["1", "3", "+0.0000", "33.3%"]


def test_missing_interactions_and_empty_replies_are_reported_not_dropped():
    replies = [*REPLIES, ("gone:1", ["x"], [-9.0]), ("c9:1", [], [])]
    html = render_report(make_scores(replies), make_interactions(["c1:1", "c2:1", "c3:1", "c4:1"]), ReportConfig())
    assert "<td>6 (1 without scored tokens)</td>" in section(html, "summary")
    # gone:1 and c9:1 have no interaction; c9's empty reply counts as a reply but adds no mean.
    row = f'<tr><td>{MISSING_MODEL}</td><td class="n">2</td><td class="n">1</td><td class="n">-9.0000</td>'
    assert row in section(html, "by-model")
    negative = section(html, "most-negative")
    assert negative.index("<h3>gone:1</h3>") < negative.index("<h3>c1:1</h3>")
    assert "not in the interactions table" in negative
    assert "nan" not in html.lower().replace("nats", "")


def test_long_replies_and_texts_are_cut_with_a_count():
    html = render(max_tokens=3, max_text_chars=5)
    assert "5 more tokens not shown" in section(html, "most-negative")  # c1 has 8 tokens
    assert "Answe … [16 more characters]" in html


def test_all_zero_advantages_paint_white_without_dividing_by_zero():
    html = render_report(make_scores([("c1:1", ["a", "b"], [0, 0])]), make_interactions(["c1:1"]), ReportConfig())
    assert {tuple(rgb) for *rgb, _ in SPAN.findall(html)} == {("255", "255", "255")}


def test_empty_scores_give_a_clear_page():
    empty = scores_schema.SCHEMA.empty_table()
    html = render_report(empty, make_interactions([]), ReportConfig())
    assert "Nothing was scored" in html and "most-negative" not in html and "<img" not in html
    only_empty = render_report(make_scores([("c1:1", [], [])]), make_interactions(["c1:1"]), ReportConfig())
    assert "No reply has scored tokens." in only_empty and "<img" not in only_empty
    assert "No replies to show." in section(only_empty, "most-negative")


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="color_percentile"):
        ReportConfig(color_percentile=0)
    with pytest.raises(ValueError, match="n_examples"):
        ReportConfig(n_examples=-1)


def screenshot(html: str, directory: Path, width: int, height: int) -> np.ndarray:
    """Render html in headless Chromium; the screenshot's RGB pixels as floats in [0, 1], shape H x W x 3."""
    from matplotlib.image import imread

    directory.mkdir()
    page, png = directory / "report.html", directory / "report.png"
    page.write_text(html, encoding="utf-8")
    flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
    flags += " --disable-component-update --disable-sync --hide-scrollbars"
    command = [CHROMIUM, *flags.split(), f"--user-data-dir={directory / 'profile'}", f"--screenshot={png}"]
    command += [f"--window-size={width},{height}", page.as_uri()]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return imread(png)[..., :3]


def count_red_green(pixels_H_W_C: np.ndarray) -> tuple[int, int]:
    """Pixels close to the saturated ends of the token scale."""
    red, green, blue = pixels_H_W_C[..., 0], pixels_H_W_C[..., 1], pixels_H_W_C[..., 2]
    reds = (red > 0.75) & (green < 0.3) & (blue < 0.3)
    greens = (green > 0.5) & (red < 0.2) & (blue < 0.4)
    return int(reds.sum()), int(greens.sum())


@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path):
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    html = render(n_examples=1)  # c1 (full red "YES") and c2 (full green "42") both within the window
    pixels_H_W_C = screenshot(html, tmp_path / "report", 1200, 1800)
    assert pixels_H_W_C.shape == (1800, 1200, 3)
    assert len(np.unique((pixels_H_W_C * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 50
    # The histogram and legend are red and green too: compare with the same page, heat-map painted white.
    plain = SPAN.sub(lambda m: m.group(0).replace(f"rgb({m[1]},{m[2]},{m[3]})", "#fff"), html)
    plain_H_W_C = screenshot(plain, tmp_path / "plain", 1200, 1800)
    (reds, greens), (plain_reds, plain_greens) = count_red_green(pixels_H_W_C), count_red_green(plain_H_W_C)
    assert reds > plain_reds + 100 and greens > plain_greens + 100


def test_tokens_that_split_a_character_merge_into_the_whole_character():
    from tests.helpers.scoring import make_tokenizer

    tokenizer = make_tokenizer()  # one token per byte: every multi-byte character is split
    response = "Great 🙂! Ça va"
    ids = [*tokenizer(response)["input_ids"], 257]  # the reply, then <|im_end|>, as scoring renders it
    texts = tokenizer.batch_decode([[token] for token in ids])  # how score.py stores token_texts
    assert texts.count("\ufffd") == 6  # 🙂 is 4 bytes, Ç 2
    spans = merge_split_characters(texts, response)
    assert [text for text, _ in spans] == [*"Great ", "🙂", *"! ", "Ç", *"a va", "<|im_end|>"]
    assert dict((text, indices) for text, indices in spans)["🙂"] == [6, 7, 8, 9]
    assert merge_split_characters(texts, None) == [(text, [i]) for i, text in enumerate(texts)]  # no reply text
    # A reply text that does not fit the tokens leaves them as they are rather than guess.
    assert all(len(indices) == 1 for _, indices in merge_split_characters(texts, "Great :)! Ca va"))


def test_a_merged_character_is_one_span_coloured_by_the_mean_of_its_tokens():
    replies = [("c1:1", ["Hi", " ", "\ufffd", "\ufffd", "\ufffd", "\ufffd", "<|im_end|>"], [0, 0, -4, -2, 0, -2, 0])]
    scores = make_scores(replies)
    scores = scores.set_column(scores.schema.get_field_index("response"), "response", pa.array(["Hi 🙂"]))
    html = render_report(scores, make_interactions(["c1:1"]), ReportConfig())
    heatmap = section(html, "most-negative")
    assert all("\ufffd" not in span[3] for span in SPAN.findall(heatmap))  # shown text; tooltips list the pieces
    (merged,) = [span for span in SPAN.findall(heatmap) if span[3] == "🙂"]
    scale = np.percentile([0, 0, 4, 2, 0, 2, 0], 95)  # the report's colour scale
    assert tuple(map(int, merged[:3])) == _token_colour(-2.0, scale)  # the mean of -4, -2, 0, -2
    assert "4 tokens, each part of it" in heatmap and "advantage sum -8.000 nats, mean per token -2.000" in heatmap


def test_the_header_shows_the_night_the_time_the_sample_and_n_per_group():
    html = render(night="2026-11-20", made_at="2026-12-06 17:40 UTC", replies_in_night=570)
    header = html[html.index('<p class="facts" id="header">') :]
    header = header[: header.index("</p>")]
    assert "night 2026-11-20 · made 2026-12-06 17:40 UTC · 4 of 570 replies" in header
    assert "n per source model: gpt-4 2, (unknown) 1, &lt;i&gt;m&lt;/i&gt; 1" in header
    assert "Most negative replies (2 of 4, lowest mean advantage)" in html
    assert "Most positive replies (2 of 4, highest mean advantage)" in html
