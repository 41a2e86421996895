"""Published nights: backfills store only what no other night holds, other inputs need --replace, and a failing
run never replaces (or empties) a night's tables."""

import errno
import json
from datetime import date

import pyarrow.parquet as pq
import pytest

import pipelines.io
from flows.nightly import NightPublishedError, nightly
from pipelines import rejects
from pipelines.store import layout as storage
from pipelines.store.query import open_catalog
from tests.conftest import wildchat_record, write_jsonl
from tests.reliability.nightly_child import CONFIG

pytestmark = [pytest.mark.reliability, pytest.mark.slow]


def stored_ids(root, night: str) -> list[str]:
    path = storage.published_night_file(str(root), "conversations", date.fromisoformat(night))
    return sorted(pq.read_table(path)["conversation_id"].to_pylist())


def test_failure_3_5_backfill_rerun_and_other_inputs_under_a_root_named_with_brackets(tmp_path, prefect_harness):
    root = tmp_path / "root[1]"  # `[`/`]` in the root once made every staged glob match nothing
    later = write_jsonl(tmp_path / "later.jsonl", [wildchat_record(i) for i in range(10)])
    earlier = write_jsonl(tmp_path / "earlier.jsonl", [wildchat_record(i) for i in range(5, 15)])

    nightly(inputs=[str(later)], root=str(root), night="2026-11-21", config=CONFIG, score=False)
    backfill = nightly(inputs=[str(earlier)], root=str(root), night="2026-11-20", config=CONFIG, score=False)
    assert backfill["reject_reasons"] == {rejects.ALREADY_INGESTED: 5}
    assert stored_ids(root, "2026-11-20") == [f"hash{i:04d}" for i in range(10, 15)]
    rerun = nightly(inputs=[str(later)], root=str(root), night="2026-11-21", config=CONFIG, score=False)
    assert rerun["conversations"] == 10 and stored_ids(root, "2026-11-21") == [f"hash{i:04d}" for i in range(10)]

    with pytest.raises(NightPublishedError, match="night 2026-11-21 is already published .* other inputs"):
        nightly(inputs=[str(earlier)], root=str(root), night="2026-11-21", config=CONFIG, score=False)
    assert stored_ids(root, "2026-11-21") == [f"hash{i:04d}" for i in range(10)]
    other_rules = {**CONFIG, "select": {"min_messages": 4}}
    with pytest.raises(NightPublishedError, match="other \\[ingest\\]/\\[segment\\]/\\[select\\] settings"):
        nightly(inputs=[str(later)], root=str(root), night="2026-11-21", config=other_rules, score=False)

    replaced = nightly(
        inputs=[str(earlier)], root=str(root), night="2026-11-21", config=CONFIG, score=False, replace=True
    )
    assert replaced["conversations"] == 5  # 10..14 live on the 20th
    with open(storage.night_manifest(str(root), date(2026, 11, 21))) as handle:
        manifest = json.load(handle)
    assert list(manifest["inputs"]) == [str(earlier)] and manifest["inputs"][str(earlier)].startswith("sha256:")
    with open_catalog(str(root)) as con:
        ids = con.sql("select count(*), count(distinct conversation_id) from conversations").fetchall()
    assert ids == [(10, 10)]  # no id on two nights


def test_failure_5_a_failing_run_never_replaces_or_empties_a_night(tmp_path, prefect_harness, monkeypatch):
    root = tmp_path / "root"
    first = write_jsonl(tmp_path / "first.jsonl", [wildchat_record(i) for i in range(6)])
    second = write_jsonl(tmp_path / "second.jsonl", [wildchat_record(i) for i in range(20, 30)])
    nightly(inputs=[str(first)], root=str(root), night="2026-11-20", config=CONFIG, score=False)
    before = {t: pq.read_table(storage.published_night_file(str(root), t, date(2026, 11, 20))) for t in storage.TABLES}

    real_write, calls = pipelines.io.write_batches, []

    def disk_fills_up(batches, schema, path):
        calls.append(path)
        if len(calls) % 4 == 3:  # the third table of each attempt
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(batches, schema, path)

    monkeypatch.setattr(pipelines.io, "write_batches", disk_fills_up)
    for night, replace in (("2026-11-20", True), ("2026-11-21", False)):
        with pytest.raises(OSError, match="No space left"):
            nightly(inputs=[str(second)], root=str(root), night=night, config=CONFIG, score=False, replace=replace)
    for table, rows in before.items():
        assert pq.read_table(storage.published_night_file(str(root), table, date(2026, 11, 20))).equals(rows), table
    assert not any(storage.night_of(path) == date(2026, 11, 21) for path in storage.table_files(str(root), "rejects"))
