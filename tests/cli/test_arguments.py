"""Flags are spelt out: an unknown or abbreviated flag is one line naming the closest known one, exit 2; `nightly
--help` ends with examples; a query's DuckDB error keeps DuckDB's own "Did you mean"."""

import shlex

import pytest

import afterword_cli
from cli.arguments import EPILOGS, closest_flag
from pipelines.errors import InputError
from pipelines.store.query import query_catalog
from tests.conftest import wildchat_record
from tests.helpers.scoring import store_interactions


def refused(argv, capsys) -> str:
    with pytest.raises(SystemExit) as stopped:
        afterword_cli.main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err.strip()


NIGHTLY = ["nightly", "--input", "dump.jsonl", "--root", "out"]


@pytest.mark.parametrize(
    ("flag", "meant"),
    [
        ("--select.language", "--select.languages"),  # an abbreviation argparse would have taken silently
        ("--filter.languages", "--select.languages"),  # the key under a section that does not exist
        ("--score.template", "--score.hindsight.template"),  # the key one table deeper
        ("--score-limt", "--score-limit"),
    ],
)
def test_an_unknown_flag_names_the_closest_known_one(flag, meant, capsys):
    err = refused([*NIGHTLY, flag, "1"], capsys)
    assert err == f"afterword nightly: error: unrecognized argument {flag}; did you mean {meant}?"


def test_a_misspelt_required_flag_is_named_before_the_missing_one(capsys):
    err = refused(["nightly", "--inpt", "dump.jsonl", "--root", "out"], capsys)
    assert err == "afterword nightly: error: unrecognized argument --inpt; did you mean --input?"


def test_abbreviations_are_refused_everywhere(capsys):
    assert "did you mean --input?" in refused(["nightly", "--inp", "dump.jsonl", "--root", "out"], capsys)
    assert "did you mean --version?" in refused(["--vers"], capsys)
    assert afterword_cli.build_parser("nightly").allow_abbrev is False


def test_a_flag_nothing_resembles_points_at_help(capsys):
    assert refused([*NIGHTLY, "--zzzzzz"], capsys).endswith("`afterword nightly --help` lists every flag")


def test_closest_flag_prefers_the_same_key_under_another_section():
    flags = ["--select.languages", "--select.models", "--score.model", "--score.hindsight.template"]
    assert closest_flag("--filter.models", flags) == "--select.models"
    assert closest_flag("--nothing.like.it", flags) is None


def test_nightly_help_ends_with_examples_that_parse(capsys):
    with pytest.raises(SystemExit):
        afterword_cli.main(["nightly", "--help"])
    out = capsys.readouterr().out
    assert out.rstrip().endswith(EPILOGS["nightly"].rstrip())
    examples = [line.strip() for line in EPILOGS["nightly"].splitlines() if line.strip().startswith("afterword ")]
    assert 2 <= len(examples) <= 3
    parser = afterword_cli.build_parser()
    for example in examples:
        parser.parse_args(shlex.split(example)[1:])


def test_query_errors_keep_duckdbs_did_you_mean(tmp_path):
    store_interactions(tmp_path, [wildchat_record(0)])
    with pytest.raises(InputError, match='Table with name interaction does not exist!; Did you mean "interactions"'):
        query_catalog(str(tmp_path), "select * from interaction")
    with pytest.raises(InputError, match='Candidate bindings: "followup"'):
        query_catalog(str(tmp_path), "select folowup from interactions")


def test_an_unknown_config_key_names_the_closest_known_one(tmp_path, capsys):
    config = tmp_path / "night.toml"
    config.write_text("[select]\nlanguage = ['English']\n")
    code = afterword_cli.main(
        ["nightly", "--input", "dump.jsonl", "--root", str(tmp_path / "out"), "--config", str(config)]
    )
    err = capsys.readouterr().err
    assert code == 2 and "[select] has unknown keys ['language'] (did you mean 'languages' for 'language'?)" in err


def test_flags_of_a_subcommands_own_subcommands_are_known():
    from cli.arguments import CommandParser

    parser = CommandParser(prog="afterword")
    models = parser.add_subparsers(dest="command").add_parser("models")
    models.add_argument("--root")
    promote = models.add_subparsers(dest="action").add_parser("promote")
    promote.add_argument("--reason")
    args = parser.parse_args(["models", "--root", "r", "promote", "--reason", "why"])
    assert (args.root, args.action, args.reason) == ("r", "promote", "why")
