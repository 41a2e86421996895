"""The command line: known mistakes are one line naming the fix, exit 2, and create nothing."""

import json
import os

import pyarrow.parquet as pq
import pytest
from prefect.states import Failed

import afterword_cli
from flows.runtime import is_transient, is_transient_error
from pipelines.errors import InputError
from schemas import interactions as interactions_schema
from tests.conftest import wildchat_record, write_jsonl


def run(argv, capsys) -> tuple[int, str, str]:
    code = afterword_cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def dump(tmp_path):
    return write_jsonl(tmp_path / "dump.jsonl", [wildchat_record(i) for i in range(3)])


def mistakes(tmp_path, dump):
    fresh = tmp_path / "fresh"
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[select]\nlanguages = \n")
    unknown_key = tmp_path / "unknown.toml"
    unknown_key.write_text("[select]\nlanguage = ['English']\n")
    moved_key = tmp_path / "moved.toml"
    moved_key.write_text('[score]\ntemplate = "offline"\n')
    return {
        "missing input": (["nightly", "--input", str(tmp_path / "nope.jsonl"), "--root", str(fresh)], "does not exist"),
        "glob matching nothing": (["nightly", "--input", str(tmp_path / "*.gz"), "--root", str(fresh)], "matches no"),
        "bad date": (["nightly", "--input", str(dump), "--root", str(fresh), "--date", "2026/11/27"], "YYYY-MM-DD"),
        "missing config": (["nightly", "--input", str(dump), "--root", str(fresh), "--config", "no.toml"], "no.toml"),
        "bad toml": (["nightly", "--input", str(dump), "--root", str(fresh), "--config", str(bad_toml)], "TOML"),
        "unknown key": (
            ["nightly", "--input", str(dump), "--root", str(fresh), "--config", str(unknown_key)],
            "language",
        ),
        "query, missing root": (["query", "--root", str(fresh), "select 1"], "does not exist"),
        "report, missing root": (["report", "--root", str(fresh)], "does not exist"),
        "refresh, missing root": (["refresh", "--root", str(fresh), "--rounds", "1"], "does not exist"),
        "score, missing root": (
            ["score", "--root", str(fresh), "--night", "2026-11-20", "--shard", "0/1"],
            "not exist",
        ),
        "score, bad shard": (["score", "--root", str(fresh), "--night", "2026-11-20", "--shard", "9/8"], "0 <= I < N"),
        "score, bad night": (["score", "--root", str(fresh), "--night", "yesterday", "--shard", "0/1"], "YYYY-MM-DD"),
        "bad flag value": (
            ["nightly", "--input", str(dump), "--root", str(fresh), "--score.shards", "zero"],
            "[score] shards = 'zero': expected an integer",
        ),
        "moved key": (
            ["nightly", "--input", str(dump), "--root", str(fresh), "--config", str(moved_key)],
            "[score] template has moved: set it as [score.hindsight] template",
        ),
    }


def test_known_mistakes_are_one_line_exit_2_and_create_nothing(tmp_path, dump, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, (argv, hint) in mistakes(tmp_path, dump).items():
        before = sorted(os.listdir(tmp_path))
        code, out, err = run(argv, capsys)
        assert code == 2, name
        assert len(err.strip().splitlines()) == 1 and hint in err and "Traceback" not in err, (name, err)
        assert sorted(os.listdir(tmp_path)) == before, name


def test_catalog_mistakes_are_one_line(tmp_path, capsys):
    root = tmp_path / "root"
    root.mkdir()
    code, _, err = run(["query", "--root", str(root), "select 1"], capsys)
    assert code == 2 and "no catalog" in err and "afterword nightly" in err
    code, _, err = run(["report", "--root", str(root)], capsys)
    assert code == 2 and "nothing scored" in err and "--no-score" in err
    night = root / "interactions" / "ingest_date=2026-11-20"
    night.mkdir(parents=True)
    pq.write_table(interactions_schema.SCHEMA.empty_table(), night / "data.parquet")
    code, _, err = run(["refresh", "--root", str(root), "--rounds", "1", "--mode", "logged"], capsys)
    assert code == 2 and "nothing scored" in err and len(err.strip().splitlines()) == 1


def test_retries_are_for_transient_failures_only():
    assert is_transient_error(ConnectionResetError()) and is_transient_error(TimeoutError())
    assert is_transient_error(OSError(5, "Input/output error"))
    for permanent in (FileNotFoundError(), PermissionError(), ValueError("bad record"), KeyError("x")):
        assert not is_transient_error(permanent)
    # What Prefect hands `retry_condition_fn`: the failed state carrying the exception.
    assert not is_transient(None, None, Failed(data=InputError("'/nope.jsonl' does not exist")))
    assert is_transient(None, None, Failed(data=ConnectionResetError()))


@pytest.mark.slow
def test_query_formats_and_row_limit(tmp_path, dump, capsys, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    root = str(tmp_path / "root")
    assert (
        afterword_cli.main(["nightly", "--input", str(dump), "--root", root, "--date", "2026-11-20", "--no-score"]) == 0
    )
    capsys.readouterr()
    sql = "select conversation_id, turn_index from interactions order by all"
    code, out, err = run(["query", "--root", root, "--format", "csv", "--max-rows", "2", sql], capsys)
    assert code == 0 and out.splitlines() == ["conversation_id,turn_index", "hash0000,1", "hash0001,1"]
    assert "first 2 rows" in err
    code, out, _ = run(["query", "--root", root, "--format", "json", sql], capsys)
    assert json.loads(out) == [{"conversation_id": f"hash000{i}", "turn_index": 1} for i in range(3)]
    code, out, _ = run(["query", "--root", root, "select count(*) as interactions_total from interactions"], capsys)
    assert "interactions_total" in out  # a header is never squeezed


def test_dotted_flags_set_nested_settings_on_top_of_the_config_file(tmp_path):
    from cli import preflight
    from pipelines.config_loading import flag_settings

    config = tmp_path / "night.toml"
    config.write_text('[score]\nshards = 4\n[score.hindsight]\ntemplate = "online"\nmax_reply_tokens = 64\n')
    argv = ["nightly", "--input", "d.jsonl", "--root", "r", "--config", str(config), "--score.hindsight.template"]
    argv += ["offline", "--select.languages", '["English", "French"]', "--score.model", "123"]
    flags = flag_settings(afterword_cli.build_parser().parse_args(argv))
    cfg = preflight.run_config(str(config), flags)
    assert (cfg.score.hindsight.template, cfg.score.hindsight.max_reply_tokens, cfg.score.shards) == ("offline", 64, 4)
    assert cfg.select.languages == ("English", "French") and cfg.score.model == "123"  # text fields stay text

    argv = ["refresh", "--root", "r", "--rounds", "2", "--train.regen.max_new_tokens", "24"]
    argv += ["--train.hindsight.chat_template_kwargs", "{enable_thinking = true}", "--train.learning_rate", "2e-6"]
    args = afterword_cli.build_parser().parse_args(argv)
    train = preflight.train_config(None, flag_settings(args), root=args.root, rounds=args.rounds)
    assert (train.regen.max_new_tokens, train.learning_rate, train.rounds) == (24, 2e-6, 2)
    assert train.hindsight.chat_template_kwargs == {"enable_thinking": True}


def test_every_package_the_command_imports_is_installed_with_it():
    # Tests import from the checkout; the `afterword` command imports what pip installed: a package left out
    # of pyproject.toml's list passes every test here and fails on a user's machine.
    import tomllib
    from pathlib import Path

    repo = Path(afterword_cli.__file__).resolve().parent
    included = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.parent.name for p in repo.glob("*/__init__.py")} - {"tests", "benchmarks", "dev", "data"}
    assert packages and all(f"{name}*" in included for name in packages), (sorted(packages), included)
