import pyarrow.parquet as pq
import pytest

import afterword_cli
from flows.nightly import nightly
from pipelines import rejects
from pipelines.store import layout as storage
from pipelines.store.query import open_catalog
from tests.conftest import wildchat_record, write_jsonl

pytestmark = pytest.mark.slow

MALFORMED = [
    b'{"conversation_hash": "cut',
    b"\xff\xfe not utf8",
    b"[1]",
    b'{"conversation_hash": "e", "conversation": []}',
]


def night_tables(root, night):
    from datetime import date

    return {
        table: pq.read_table(storage.published_night_file(root, table, date.fromisoformat(night)))
        for table in storage.TABLES
    }


def test_nightly_balances_reruns_idempotently_and_dedups_later_nights(tmp_path, prefect_harness, capsys):
    records = [wildchat_record(i) for i in range(12)] + [wildchat_record(3)]  # one repeated id
    dump = write_jsonl(tmp_path / "dump.jsonl", records[:6] + MALFORMED + records[6:])
    root = str(tmp_path / "root")

    first = nightly(inputs=[str(dump)], root=root, night="2026-11-20", score=False)
    assert first["records_in"] == 17
    assert (first["conversations"], first["rejects"], first["interactions"]) == (12, 5, 12)
    assert first["reject_reasons"] == {
        rejects.DUPLICATE_ID: 1,
        rejects.INVALID_UTF8: 1,
        rejects.MALFORMED_JSON: 1,
        rejects.NOT_AN_OBJECT: 1,
        rejects.EMPTY_CONVERSATION: 1,
    }
    assert all(rows == 0 for rows in first["checks"].values())
    tables_first = night_tables(root, "2026-11-20")

    again = nightly(inputs=[str(dump)], root=root, night="2026-11-20", score=False)
    assert again["interactions"] == 12
    for table, rows in night_tables(root, "2026-11-20").items():
        assert rows.equals(tables_first[table]), table

    later = nightly(inputs=[str(dump)], root=root, night="2026-11-21", score=False)
    assert later["conversations"] == 0 and later["interactions"] == 0
    assert later["reject_reasons"][rejects.ALREADY_INGESTED] == 13  # the repeated id too

    with open_catalog(root) as con:
        assert con.sql("select count(*) from interactions").fetchall() == [(12,)]
        assert con.sql("select count(distinct interaction_id) from interactions").fetchall() == [(12,)]
        assert con.sql("select count(*) from conversations").fetchall() == [(12,)]
        assert con.sql("select count(*) from runs").fetchall() == [(3,)]
        per_night = con.sql(
            "select ingest_date::varchar, sum(records_in) - sum(conversations) - sum(rejects) from runs group by 1"
        ).fetchall()
        assert all(difference == 0 for _, difference in per_night)

    afterword_cli.main(["query", "--root", root, "select count(*) as n from rejects"])
    # The rerun replaced its night's 5; the later night rejected all 17 records.
    assert "22" in capsys.readouterr().out


def test_a_file_of_only_malformed_records_never_crashes(tmp_path, prefect_harness):
    dump = write_jsonl(tmp_path / "bad.jsonl", [wildchat_record(0)] + MALFORMED * 3)
    summary = nightly(inputs=[str(dump)], root=str(tmp_path / "root"), night="2026-11-20", score=False)
    assert summary["records_in"] == summary["conversations"] + summary["rejects"] == 13
    assert summary["conversations"] == 1
