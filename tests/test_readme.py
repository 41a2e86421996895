"""The README's commands run as written, in order, on a fresh root (scoring on smaller samples)."""

import re
import shlex
from pathlib import Path

import pytest

import afterword_cli
from pipelines.store.query import query_catalog
from tests.helpers.scoring import need_smollm2

REPO = Path(__file__).resolve().parents[1]
# Scoring and training on CPU: the same commands on smaller samples keep the test to a few minutes.
SMALLER = {"--score-limit": "2", "--n": "2", "--limit": "2"}


def readme_block(heading: str, language: str) -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index(heading) :]
    return re.search(rf"```{language}\n(.*?)```", section, re.S).group(1)


def commands() -> list[list[str]]:
    lines = [shlex.split(line, comments=True) for line in readme_block("## Using it", "bash").splitlines()]
    return [words for words in lines if words and words[0] == "afterword"]


def smaller(words: list[str]) -> list[str]:
    return [SMALLER.get(words[i - 1], word) if i else word for i, word in enumerate(words)]


def test_readme_commands_parse():
    parser = afterword_cli.build_parser()
    for words in commands():
        parser.parse_args(words[1:])
    assert [words[1] for words in commands()][:2] == ["nightly", "query"]


def test_sections_come_in_a_newcomers_order():
    """Set up and test; your own data; what an analyst reads; the trainer's rounds and the learner; the GPU;
    operations; the research experiments last, then the layout."""
    headings = [line[3:] for line in (REPO / "README.md").read_text().splitlines() if line.startswith("## ")]
    order = [
        "Two commands", "Your own data", "Analyst queries", "The trainer's rounds", "Learning night after night",
        "On a GPU", "Scheduling with Prefect", "Object stores", "Guarantees", "Does it learn?", "Layout",
    ]  # fmt: skip
    assert [heading for heading in headings if heading in order] == order
    assert headings[-2:] == ["Does it learn?", "Layout"]


@pytest.mark.slow
def test_readme_commands_run_in_order_on_a_fresh_root(tmp_path, monkeypatch, capsys):
    need_smollm2()
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").symlink_to(REPO / "data")
    outputs = []
    for words in commands():
        assert afterword_cli.main(smaller(words)[1:]) == 0, words
        outputs.append(capsys.readouterr().out)
    reports = [out for words, out in zip(commands(), outputs, strict=True) if words[1] == "report"]
    assert "1 of 2 shards" in reports[0] and "all 2 shards" in reports[1]
    for sql in readme_block("## Analyst queries", "sql").split(";"):
        if sql.strip():
            columns, _, _ = query_catalog("out", sql)
            assert columns
