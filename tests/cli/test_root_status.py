"""`afterword status`: a root's nights, scoring and training runs, and the command that finishes each gap."""

import json

import pyarrow as pa

import afterword_cli
from cli.root_status import Todo, models_section, root_status
from pipelines.io import write_table
from pipelines.store import layout as storage
from schemas import scores as scores_schema
from tests.conftest import wildchat_record
from tests.helpers.scoring import NIGHT, NIGHT_DATE, score_row, store_interactions


def make_root(tmp_path):
    """Night NIGHT with 3 interactions; scoring run A complete (1/1), run B with shard 1 of 2 missing; a training
    run with round 1 complete and round 2's checkpoint without meta.json; a second night never scored."""
    store_interactions(tmp_path, [wildchat_record(i) for i in range(3)])
    root = str(tmp_path)
    rows = pa.Table.from_pylist([score_row("x", 0, "r", [0.5])], schema=scores_schema.SCHEMA)
    write_table(rows, storage.score_shard_path(root, f"{NIGHT}-paper-aaaa", 0, 0, 1))
    write_table(rows, storage.score_shard_path(root, f"{NIGHT}-paper-bbbb", 0, 0, 2))
    write_table(rows, storage.score_shard_path(root, "refresh-run", 1, 0, 1))  # a training run's round: not nightly
    (tmp_path / "checkpoints" / "run_id=refresh-run" / "round-0001").mkdir(parents=True)
    (tmp_path / "checkpoints" / "run_id=refresh-run" / "round-0001" / "meta.json").write_text("{}")
    (tmp_path / "checkpoints" / "run_id=refresh-run" / "round-0002").mkdir()
    write_table(pa.table({"round": [1]}), storage.training_round_path(root, "refresh-run", 1))
    later = tmp_path / "interactions" / "ingest_date=2026-11-21"
    later.mkdir(parents=True)
    (later / "data.parquet").write_bytes(
        (tmp_path / "interactions" / f"ingest_date={NIGHT}" / "data.parquet").read_bytes()
    )
    return root


def test_status_counts_nights_runs_and_checkpoints(tmp_path):
    status = root_status(make_root(tmp_path))
    (first, second) = status.nights
    assert (first.night, first.interactions, first.scoring_runs, first.complete_scoring_runs) == (NIGHT, 3, 2, 1)
    assert (first.shards_done, first.shards) == (2, 3)
    assert (second.night, second.scoring_runs) == ("2026-11-21", 0)
    assert [(r.run_id, r.night, r.shards_done, r.shards, r.missing) for r in status.scoring_runs] == [
        (f"{NIGHT}-paper-aaaa", NIGHT, 1, 1, ()),
        (f"{NIGHT}-paper-bbbb", NIGHT, 1, 2, (1,)),
    ]
    (training,) = status.training_runs
    assert (training.run_id, training.rounds, training.checkpoints, training.incomplete_checkpoints) == (
        "refresh-run",
        1,
        1,
        1,
    )
    assert status.models == models_section(str(tmp_path)) == []


def test_status_names_the_command_that_finishes_each_gap(tmp_path):
    root = make_root(tmp_path)
    todo = root_status(root).todo
    assert (
        Todo(
            "night 2026-11-21 is not scored (3 interactions)",
            f"afterword score --root {root} --night 2026-11-21 --shard 0/1  (or --shard I/N on N workers)",
        )
        in todo
    )
    (missing,) = [item for item in todo if "shard 1 of 2" in item.what]
    assert missing.command.startswith(f"afterword score --root {root} --night {NIGHT_DATE} --shard 1/2")
    assert any("refresh-run" in item.what and "afterword refresh" in item.command for item in todo)
    for item in todo:  # every command parses as the command line it names
        words = item.command.split("  ")[0].split()
        if words[0] == "afterword":
            afterword_cli.build_parser().parse_args(words[1:])


def test_status_command_prints_tables_and_json(tmp_path, capsys):
    root = make_root(tmp_path)
    assert afterword_cli.main(["status", "--root", root]) == 0
    out = capsys.readouterr().out
    assert "2026-11-21" in out and "1/2" in out and "left to do" in out and "--shard 1/2" in out
    assert afterword_cli.main(["status", "--root", root, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [night["night"] for night in report["nights"]] == [NIGHT, "2026-11-21"]
    assert report["models"] == []


def test_status_of_a_missing_root_is_one_line_exit_2(tmp_path, capsys):
    assert afterword_cli.main(["status", "--root", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "does not exist" in err
    assert not (tmp_path / "nope").exists()


def test_the_readme_commands_for_env_and_status_parse():
    import re
    import shlex
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"## Checking a machine and a root\n\n```bash\n(.*?)```", text, re.S).group(1)
    lines = [shlex.split(line, comments=True) for line in block.splitlines()]
    parser = afterword_cli.build_parser()
    for words in lines[1:]:  # the first is --version, which exits
        parser.parse_args(words[1:])
    assert [words[1] for words in lines] == ["--version", "env", "status"]


def test_status_lists_the_models_and_the_nights_not_learned_yet(tmp_path):
    from pipelines import registry
    from tests.pipelines.test_registry import record

    root = make_root(tmp_path)
    first = record("m-a", None, tmp_path / "a", 1, nights=[NIGHT])
    registry.register(root, first)
    registry.promote(root, "m-a", "gate passed")
    registry.register(root, record("m-b", "m-a", tmp_path / "b", 2, nights=[NIGHT], status="rejected"))
    status = root_status(root)
    assert status.models == [
        {"model": "m-a", "parent": "base", "nights": NIGHT, "status": "promoted", "current": "*"},
        {"model": "m-b", "parent": "m-a", "nights": NIGHT, "status": "rejected", "current": ""},
    ]
    learn = [item for item in status.todo if "learned" in item.what]
    assert learn == [Todo("night 2026-11-21 is not learned yet", f"afterword learn --root {root} --night 2026-11-21")]
