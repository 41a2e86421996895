"""Issue 21, the analyst's side: no query forges a table, text prints as text, JSON is JSON, a damaged catalog
or table file is named with its fix, and a root that is a file is one line (cases 1, 7, 8 and 9)."""

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import afterword_cli
from pipelines.errors import InputError
from pipelines.store import layout as storage
from pipelines.store.publish import publish_catalog
from pipelines.store.query import query_catalog
from schemas import scores as scores_schema
from tests.conftest import wildchat_record, write_jsonl
from tests.helpers.scoring import score_row

pytestmark = pytest.mark.reliability

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample" / "wildchat_sample.jsonl"
NIGHT = date(2026, 11, 27)
MARKUP = ("[INST] say hi [/INST]", "[bold]hi[/x] and [/]")  # prompt-template tags, as LLM logs hold them


def afterword(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    """The real `afterword` command in a fresh process (this checkout's code)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PREFECT_API_URL", None)
    command = [sys.executable, str(REPO / "afterword_cli.py"), *argv]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def built_root(tmp_path_factory) -> Path:
    """One real night (the bundled sample plus a record full of markup) and one score shard, published."""
    folder = tmp_path_factory.mktemp("hostile")
    markup = write_jsonl(
        folder / "markup.jsonl", [wildchat_record(9000, [("user", MARKUP[0]), ("assistant", MARKUP[1])] * 2)]
    )
    root = folder / "root"
    night = afterword(
        "nightly",
        "--input",
        str(SAMPLE),
        str(markup),
        "--root",
        str(root),
        "--date",
        NIGHT.isoformat(),
        "--no-score",
        cwd=folder,
    )
    assert night.returncode == 0, night.stderr
    shard = storage.score_shard_path(str(root), "night-run", 0, 0, 1)
    os.makedirs(os.path.dirname(shard))
    pq.write_table(pa.Table.from_pylist([score_row("night-run", 0, "YES", [0.5, -0.5])], scores_schema.SCHEMA), shard)
    publish_catalog(str(root))
    return root


@pytest.fixture
def root(built_root, tmp_path) -> Path:
    """A copy of the built root for one test to attack or damage."""
    return Path(shutil.copytree(built_root, tmp_path / "root"))


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = afterword_cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def targets(root: Path) -> dict[str, Path]:
    """The files a forged write would hurt most: a night's table, a run's manifest row, a score shard."""
    return {
        "conversations": Path(storage.published_night_file(str(root), "conversations", NIGHT)),
        "runs": next(root.glob("runs/*/run.parquet")),
        "scores": Path(storage.score_shard_path(str(root), "night-run", 0, 0, 1)),
    }


FORGERIES = {
    "conversations": "select * replace ('POISONED' as conversation_id) from conversations",
    "runs": "select * replace ('POISONED' as run_id) from runs",
    "scores": "select * replace ([0.0, 0.0]::float[] as teacher_logprobs, 'POISONED' as run_id) from scores",
}


# ------------------------------------------------------------------ case 1: no statement writes a file
@pytest.mark.parametrize("table", sorted(FORGERIES))
def test_case_1_explain_analyze_copy_through_the_cli_forges_nothing(root, table):
    target = targets(root)[table]
    before = target.read_bytes()
    sql = f"explain analyze copy ({FORGERIES[table]}) to '{target}' (format parquet)"
    result = afterword("query", "--root", str(root), sql, cwd=root.parent)
    assert result.returncode == 2, result.stdout
    assert "file" in one_line(result.stderr)
    assert target.read_bytes() == before  # what a trainer reads next is the stored table, not a forged one


def wrapped_writes(root: Path) -> list[str]:
    """Writes wrapped in the statements DuckDB lets carry one, plus the other ways out of the connection."""
    target = targets(root)["conversations"]
    copy = f"copy ({FORGERIES['conversations']}) to '{target}' (format parquet)"
    return [
        copy,
        f"explain {copy}",
        f"explain analyze {copy}",
        f"explain (analyze) {copy}",
        f"explain analyze copy (pivot conversations on source_format using count(*)) to '{target}' (format parquet)",
        f"copy (with c as ({FORGERIES['conversations']}) select * from c) to '{target}' (format parquet)",
        f"explain analyze export database '{root / 'conversations'}'",
        f"explain analyze copy conversations to '{target.parent}' (format parquet, overwrite_or_ignore)",
        f"explain analyze copy conversations to '{root / 'nights' / 'forged.parquet'}'",
        "explain analyze create persistent secret forged (type http)",  # would write ~/.duckdb/stored_secrets
        "explain analyze install httpfs",
        "explain analyze set enable_external_access = true",
    ]


def test_case_1_no_wrapping_lets_a_write_through(root):
    files = {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}
    for sql in wrapped_writes(root):
        with pytest.raises(InputError) as error:
            query_catalog(str(root), sql)
        assert "\n" not in str(error.value), sql
    assert {path: path.read_bytes() for path in root.rglob("*") if path.is_file()} == files


READS = {
    "pivot conversations on source_format using count(*)": "wildchat",
    "summarize conversations": "conversation_id",
    "select * from duckdb_settings()": "enable_external_access",
    "describe interactions": "interaction_id",
    "show tables": "token_advantages",
    "explain select count(*) from conversations": "physical_plan",
    "explain analyze select count(*) from interactions": "analyzed_plan",
    "select comment from duckdb_columns() where table_name = 'advantages' and column_name = 'source_model'": "who",
}


@pytest.mark.parametrize("sql", sorted(READS))
def test_case_1_and_7_reads_of_every_shape_still_run(built_root, sql, capsys):
    code, out, err = run(["query", "--root", str(built_root), "--format", "csv", "--max-rows", "0", sql], capsys)
    assert code == 0, err
    assert READS[sql] in out
    # The table printer too (settings' values hold `[/...]`-like lists, which rich once read as markup).
    code, out, err = run(["query", "--root", str(built_root), "--max-rows", "5", sql], capsys)
    assert code == 0 and out, err


# ------------------------------------------------------------------ case 7: text as text, JSON as JSON
def test_case_7_markup_in_chat_text_prints_as_text(built_root, capsys):
    sql = "select response, followup from interactions where response like '%[/x]%'"
    code, out, err = run(["query", "--root", str(built_root), sql], capsys)
    assert code == 0, err
    assert "[bold]hi[/x] and [/]" in out and "[INST] say hi [/INST]" in out
    code, out, err = run(["query", "--root", str(built_root), 'select 1 as "[/INST]", \'[bold]\' as "[/x]"'], capsys)
    assert code == 0 and "[/INST]" in out and "[bold]" in out and "[/x]" in out, err


def strict_json(text: str):
    """Parse as RFC 8259 allows: NaN, Infinity and -Infinity are not JSON."""

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


TYPES_SQL = """
select
    'nan'::double as nan,
    'infinity'::float as inf,
    '-infinity'::double as minus_inf,
    [1.5, 'nan'::double] as floats,
    '\\xff\\x00'::blob as blob,
    '2026-11-27'::date as day,
    '2026-11-27 10:30:00'::timestamp as ts,
    '2026-11-27 10:30:00+00'::timestamptz as tstz,
    '10:30:00'::time as clock,
    interval '1 day 90 minutes' as span,
    12.50::decimal(10, 2) as money,
    170141183460469231731687303715884105727::hugeint as huge,
    'b0e0c3a6-4bb5-4c6f-9b1f-0f6d7ec3c3a1'::uuid as id,
    {'a': 1, 'b': [true, null]} as struct,
    map([1, 2], ['x', 'y']) as int_map,
    map(['2026-11-27'::date], [1]) as date_map,
    [1, 2]::integer[2] as array,
    '{"k": 1}'::json as json_text,
    '101'::bit as bits,
    null as nothing
"""


def test_case_7_json_is_rfc_8259_for_every_type(built_root, capsys):
    code, out, err = run(["query", "--root", str(built_root), "--format", "json", TYPES_SQL], capsys)
    assert code == 0, err
    assert strict_json(out) == [
        {
            "nan": None,
            "inf": None,
            "minus_inf": None,
            "floats": [1.5, None],
            "blob": "/wA=",  # base64
            "day": "2026-11-27",
            "ts": "2026-11-27T10:30:00",
            "tstz": "2026-11-27T10:30:00+00:00",
            "clock": "10:30:00",
            "span": "P1DT5400S",
            "money": 12.5,
            "huge": 170141183460469231731687303715884105727,
            "id": "b0e0c3a6-4bb5-4c6f-9b1f-0f6d7ec3c3a1",
            "struct": {"a": 1, "b": [True, None]},
            "int_map": {"1": "x", "2": "y"},
            "date_map": {"2026-11-27": 1},
            "array": [1, 2],
            "json_text": '{"k": 1}',
            "bits": "101",
            "nothing": None,
        }
    ]
    # Every row of every view, as stored: timestamps, nested lists of structs, float lists.
    for view in ("conversations", "rejects", "interactions", "filter_report", "runs", "scores", "advantages"):
        code, out, err = run(["query", "--root", str(built_root), "--format", "json", f"from {view}"], capsys)
        assert code == 0 and strict_json(out), (view, err)


def test_case_7_a_negative_row_limit_is_one_line(built_root, capsys):
    code, out, err = run(["query", "--root", str(built_root), "--max-rows", "-1", "select 1"], capsys)
    assert code == 2 and out == ""
    assert "--max-rows -1" in one_line(err)


# ------------------------------------------------------------------ case 8: damaged or busy catalog and tables
COUNT = "select count(*) as n from interactions"


def count_interactions(root: Path, capsys) -> tuple[int, int | None, str]:
    code, out, err = run(["query", "--root", str(root), "--format", "json", COUNT], capsys)
    return code, (strict_json(out)[0]["n"] if code == 0 else None), err


def test_case_8_a_garbage_catalog_is_named_and_the_next_writer_rebuilds_it(root, built_root, capsys):
    expected = count_interactions(built_root, capsys)[1]
    catalog = root / "catalog.duckdb"
    catalog.write_bytes(b"this is not a database\n" * 100)
    # Queries read the tables, not the catalog: the answer is right, and the warning names the file.
    result = afterword("query", "--root", str(root), "--format", "json", COUNT, cwd=root.parent)
    assert result.returncode == 0 and strict_json(result.stdout) == [{"n": expected}]
    warning = one_line(result.stderr)
    assert str(catalog) in warning and "rebuilds it" in warning
    publish_catalog(str(root))
    with duckdb.connect(str(catalog), read_only=True) as con:
        con.execute("set file_search_path = ?", [str(root)])
        assert con.sql(COUNT).fetchall() == [(expected,)]
    assert afterword("query", "--root", str(root), COUNT, cwd=root.parent).stderr == ""


def test_case_8_a_catalog_another_client_holds_read_write_blocks_neither_query_nor_publish(root, built_root, capsys):
    expected = count_interactions(built_root, capsys)[1]
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('held', flush=True); input()",
        ]
        + [str(root / "catalog.duckdb")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        code, n, err = count_interactions(root, capsys)
        assert (code, n, err) == (0, expected, "")
        publish_catalog(str(root))
    finally:
        holder.communicate("\n", timeout=30)
    with duckdb.connect(str(root / "catalog.duckdb"), read_only=True) as con:
        con.execute("set file_search_path = ?", [str(root)])
        assert con.sql(COUNT).fetchall() == [(expected,)]


def truncate_to_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_case_8_a_truncated_table_file_is_named_and_other_tables_still_read(root, built_root, capsys, caplog):
    expected = count_interactions(built_root, capsys)[1]
    damaged = targets(root)["conversations"]
    truncate_to_half(damaged)
    code, out, err = run(["query", "--root", str(root), "select count(*) from conversations"], capsys)
    assert code == 2
    line = one_line(err)
    assert str(damaged) in line and "--replace" in line
    assert count_interactions(root, capsys)[:2] == (0, expected)
    # A writer publishing the catalog names the file and publishes every other table.
    publish_catalog(str(root))
    assert str(damaged) in caplog.text
    with duckdb.connect(str(root / "catalog.duckdb"), read_only=True) as con:
        con.execute("set file_search_path = ?", [str(root)])
        assert con.sql(COUNT).fetchall() == [(expected,)]
        # Any other DuckDB client reading the damaged table is told which file, not handed fewer rows.
        with pytest.raises(duckdb.Error, match=str(damaged.relative_to(root))):
            con.sql("select count(*) from conversations").fetchall()


def published_bytes(root: Path) -> dict[Path, bytes]:
    """Every file under the root but the staging folder (resumable work, not published)."""
    return {path: path.read_bytes() for path in root.rglob("*") if path.is_file() and "_staging" not in path.parts}


@pytest.mark.slow
def test_case_8_another_nights_run_over_a_truncated_old_night_is_one_line(root):
    damaged = targets(root)["conversations"]
    truncate_to_half(damaged)
    published = published_bytes(root)
    result = afterword(
        "nightly", "--input", str(SAMPLE), "--root", str(root), "--date", "2026-11-28", "--no-score", cwd=root.parent
    )
    assert result.returncode == 2, result.stderr
    line = one_line(result.stderr)
    assert line.startswith("afterword nightly: error:") and str(damaged) in line and "--replace" in line
    # Nothing published changed; what the run did is staged for its rerun.
    assert published_bytes(root) == published


# ------------------------------------------------------------------ case 9: a root that is a file
def test_case_9_a_root_that_is_a_regular_file_is_one_line(tmp_path, capsys):
    not_a_folder = tmp_path / "root"
    not_a_folder.write_text("a file\n")
    code, out, err = run(["query", "--root", str(not_a_folder), "select 1"], capsys)
    assert code == 2 and out == ""
    assert "is a file, not a folder" in one_line(err)


def test_a_reader_that_leaves_early_ends_the_query_quietly(built_root):
    """`afterword query ... | head -1`: the reader closes the pipe after one line; no traceback, exit 0."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PREFECT_API_URL", None)
    query = [sys.executable, str(REPO / "afterword_cli.py"), "query", "--root", str(built_root), "--format", "csv"]
    sql = "select content_hash, context from interactions, range(20)"  # far more than a pipe buffer holds
    with subprocess.Popen([*query, sql], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as process:
        first = process.stdout.readline()
        process.stdout.close()
        errors = process.stderr.read().decode()
        code = process.wait(timeout=300)
    assert first.startswith(b"content_hash,") and code == 0 and errors == "", errors
