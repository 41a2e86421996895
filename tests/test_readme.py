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
