"""The analyst catalog: views keyed right, portable roots, fresh views, comments, and a locked-down query."""

import os
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.errors import InputError
from pipelines.store import layout as storage
from pipelines.store.publish import TABLES, publish_catalog
from pipelines.store.query import query_catalog
from schemas import interactions as interactions_schema
from schemas import scores as scores_schema
from tests.helpers.scoring import score_row

NIGHT = date(2026, 11, 20)


def write(table: pa.Table, path) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(table, path)


@pytest.fixture
def root(tmp_path):
    """A root with one interaction, its logged reply scored (round 0) and a regenerated reply (round 1)."""
    root = tmp_path / "root"
    interaction = {
        "interaction_id": "c1:1",
        "conversation_id": "c1",
        "turn_index": 1,
        "context": [{"role": "user", "content": "Answer YES or NO: is Paris in France?"}],
        "response": "YES",
        "followup": "thanks",
        "model": "gpt-3.5-turbo-0613",
        "language": "English",
        "timestamp": None,
        "source_format": "wildchat",
        "content_hash": "h",
        "ingest_date": NIGHT,
    }
    write(
        pa.Table.from_pylist([interaction], interactions_schema.SCHEMA), storage.night_file(root, "interactions", NIGHT)
    )
    logged = pa.Table.from_pylist([score_row("night-run", 0, "YES", [0.5, -0.5])], scores_schema.SCHEMA)
    regenerated = pa.Table.from_pylist([score_row("refresh-run", 1, "192 Kilometers", [-1.0])], scores_schema.SCHEMA)
    write(logged, root / "scores" / "run_id=night-run" / "round=0000" / "scores-00000-of-00001.parquet")
    write(regenerated, root / "scores" / "run_id=refresh-run" / "round=0001" / "scores-00000-of-00001.parquet")
    publish_catalog(str(root))
    return root


def test_each_scored_reply_carries_its_own_text_source_run_and_round(root):
    columns, rows, _ = query_catalog(
        str(root),
        "select run_id, round, reply_source, source_model, response, logged_response from advantages order by round",
    )
    assert columns == ["run_id", "round", "reply_source", "source_model", "response", "logged_response"]
    assert rows == [
        ("night-run", 0, "logged", "gpt-3.5-turbo-0613", "YES", "YES"),
        ("refresh-run", 1, "regenerated", "smollm2 round 1", "192 Kilometers", "YES"),
    ]


def test_a_copied_root_reads_its_own_files(root, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    shutil.rmtree(root)
    assert query_catalog(str(copy), "select count(*) from advantages")[1] == [(2,)]
    # Any DuckDB client: the published views' paths are relative to the root.
    with duckdb.connect(str(copy / "catalog.duckdb"), read_only=True) as con:
        con.execute("set file_search_path = ?", [str(copy)])
        assert con.sql("select count(*) from scores").fetchall() == [(2,)]


def test_a_table_written_after_publishing_is_not_frozen_empty(root):
    assert query_catalog(str(root), "select count(*) from conversations")[1] == [(0,)]
    before = query_catalog(str(root), "select count(*) from rejects")[1]
    night_rejects = pa.Table.from_pylist([], TABLES["rejects"].SCHEMA)
    write(night_rejects, storage.night_file(root, "rejects", NIGHT))
    assert before == [(0,)]
    rounds = TABLES["training_rounds"].SCHEMA
    row = {name: None for name in rounds.names} | {"run_id": "refresh-run", "round": 1}
    write(pa.Table.from_pylist([row], rounds), root / "training_rounds" / "run_id=refresh-run" / "round-0001.parquet")
    assert query_catalog(str(root), "select run_id, round from training_rounds")[1] == [("refresh-run", 1)]
    publish_catalog(str(root))
    with duckdb.connect(str(root / "catalog.duckdb"), read_only=True) as con:
        con.execute("set file_search_path = ?", [str(root)])
        assert con.sql("select count(*) from training_rounds").fetchall() == [(1,)]


def test_every_column_has_its_schema_description(root):
    with duckdb.connect(str(root / "catalog.duckdb"), read_only=True) as con:
        comments = dict(
            ((table, column), comment)
            for table, column, comment in con.sql(
                "select table_name, column_name, comment from duckdb_columns()"
            ).fetchall()
        )
    for table, module in TABLES.items():
        for column, text in module.DESCRIPTIONS.items():
            assert comments[(table, column)] == text
    assert all(comments[key] for key in comments if key[0] in ("advantages", "token_advantages"))


HOSTILE = {
    "copy (select * from interactions limit 0) to '{root}/interactions/ingest_date=2026-11-20/data.parquet' "
    "(format parquet)": "not COPY",
    "export database '{root}/exported'": "not EXPORT",
    "pragma profiling_output = '{root}/profile.txt'": "not SET",
    "select * from read_text('/etc/shadow')": "file system operations are disabled",
    "select * from read_csv('/etc/passwd')": "file system operations are disabled",
    "select * from glob('/**')": "file system operations are disabled",
    "attach '{root}/other.duckdb'": "not ATTACH",
    "create table x (a int)": "not CREATE",
    "insert into interactions select * from interactions": "not INSERT",
    "set enable_external_access = true": "not SET",
    "select 1; select 2": "one SQL statement",
    "selec 1": "syntax error",
}


@pytest.mark.parametrize("sql", sorted(HOSTILE))
def test_query_refuses_writes_and_reads_outside_the_catalog(root, sql):
    night_file = storage.night_file(root, "interactions", NIGHT)
    before = Path(night_file).read_bytes()
    with pytest.raises(InputError, match=HOSTILE[sql]) as error:
        query_catalog(str(root), sql.format(root=root))
    assert "\n" not in str(error.value)
    assert Path(night_file).read_bytes() == before
    assert sorted(os.listdir(root)) == ["catalog.duckdb", "interactions", "scores"]


def test_query_limits_rows(root):
    columns, rows, more = query_catalog(str(root), "select * from token_advantages order by position", 2)
    assert len(rows) == 2 and more and "advantage" in columns
    assert query_catalog(str(root), "select count(*) from token_advantages", 0)[1] == [(3,)]
