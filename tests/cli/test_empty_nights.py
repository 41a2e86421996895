"""Nights that fail loud: inputs that yield no record, or selection that removes everything, are one line, exit 2,
and publish nothing; a CSV is refused up front with the inputs that work."""

import gzip
import os

import pytest

import afterword_cli
from flows.nightly import nightly
from pipelines.errors import InputError
from pipelines.select import empty_night_problem
from tests.conftest import wildchat_record, write_jsonl


def run(argv, capsys) -> tuple[int, str, str]:
    code = afterword_cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refused(tmp_path, capsys, *inputs) -> str:
    """Run nightly on `inputs`; assert exit 2, one line, no root created; return the line."""
    root = tmp_path / "root"
    code, _, err = run(["nightly", "--input", *map(str, inputs), "--root", str(root), "--no-score"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not root.exists()
    return err


def test_a_csv_is_refused_up_front_with_the_inputs_that_work(tmp_path, capsys):
    table = tmp_path / "chats.csv"
    table.write_text("conversation_hash,text\nabc,hello\n")
    err = refused(tmp_path, capsys, table)
    assert "chats.csv" in err and "CSV/TSV is not an input format" in err
    assert "inputs that work: .jsonl" in err and ".parquet" in err


def test_a_csv_beside_good_inputs_is_refused_too(tmp_path, capsys):
    good = write_jsonl(tmp_path / "good.jsonl", [wildchat_record(0)])
    (tmp_path / "chats.csv.gz").write_bytes(gzip.compress(b"a,b\n1,2\n"))
    assert "CSV/TSV is not an input format" in refused(tmp_path, capsys, good, tmp_path / "chats.csv.gz")


def test_a_folder_of_csv_files_names_them_and_the_inputs_that_work(tmp_path, capsys):
    folder = tmp_path / "dumps"
    folder.mkdir()
    for name in ("a.csv", "b.csv"):
        (folder / name).write_text("x,y\n1,2\n")
    err = refused(tmp_path, capsys, folder)
    assert "holds no readable input (it holds 2 CSV/TSV file(s), e.g. 'a.csv')" in err
    assert "inputs that work" in err


def test_inputs_none_of_which_is_readable_are_one_line(tmp_path, capsys):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("hello\n")
    err = refused(tmp_path, capsys, tmp_path / "empty.jsonl", tmp_path / "notes.txt")
    assert "no readable input" in err and "(and 1 more unusable)" in err and "inputs that work" in err


def test_empty_night_problem_names_why_and_spares_duplicates():
    nothing = {"conversations": 0, "rejects": 2, "interactions": 0}
    assert empty_night_problem(nothing, {"unreadable_input": 2}, []).startswith(
        "no readable record in the inputs (rejects by reason: unreadable_input 2)"
    )
    assert empty_night_problem(nothing, {"already_ingested": 2}, []) == ""  # a backfill of known records
    kept = {"conversations": 3, "rejects": 0, "interactions": 0}
    report = [("conversation", "kept", 0), ("conversation", "wrong_language", 3)]
    assert empty_night_problem(kept, {}, report).startswith(
        "selection removed everything: 3 conversation(s), 0 interactions kept (removed: conversation wrong_language 3)"
    )
    duplicates = [("conversation", "kept", 3), ("interaction", "duplicate_interaction", 3)]
    assert empty_night_problem(kept, {}, duplicates) == ""
    assert empty_night_problem({"conversations": 3, "rejects": 0, "interactions": 3}, {}, report) == ""


@pytest.mark.slow
def test_selection_removing_everything_fails_and_publishes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    dump = write_jsonl(tmp_path / "dump.jsonl", [wildchat_record(i) for i in range(3)])
    root = tmp_path / "root"
    argv = ["nightly", "--input", str(dump), "--root", str(root), "--date", "2026-11-20", "--no-score"]
    code, _, err = run([*argv, "--select.languages", '["French"]'], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "selection removed everything" in err and "wrong_language 3" in err and "nothing was published" in err
    assert not (root / "nights").exists() and not (root / "interactions").exists()
    code, out, _ = run(argv, capsys)  # the same night with the default rules publishes, and says what selection did
    assert code == 0
    assert "what selection removed" in out and "(kept)" in out


@pytest.mark.slow
def test_the_flow_itself_fails_on_a_night_of_unreadable_inputs(tmp_path, prefect_harness):
    """A deployment run checks its inputs as the command line does, naming its `inputs` parameter."""
    table = tmp_path / "chats.csv"
    table.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="^inputs: .*chats.csv'?: CSV/TSV is not an input format"):
        nightly(inputs=[str(table)], root=str(tmp_path / "root"), night="2026-11-20", score=False)
    assert not os.path.exists(tmp_path / "root")
