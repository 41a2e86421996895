"""A night on a local root: published by its manifest like on a bucket, legacy `data.parquet` nights still read
and migrated by a replace, unpublished versions never read and swept, the catalog portable with versioned files."""

import json
import os
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.store import layout as storage
from pipelines.store import night_commit, published
from pipelines.store.publish import publish_catalog
from pipelines.store.query import query_catalog
from pipelines.store.staging import publish_file
from schemas import conversations

NIGHT = date(2026, 11, 20)


def conversation_rows(ids: list[int]) -> pa.Table:
    rows = [{"conversation_id": f"c{i}", "ingest_date": NIGHT} for i in ids]
    return pa.Table.from_pylist(rows, conversations.SCHEMA)


def legacy_night(root: str, ids: list[int]) -> str:
    """A night as versions before file-naming manifests published it: `data.parquet`, a manifest of inputs."""
    path = storage.night_file(root, "conversations", NIGHT)
    os.makedirs(os.path.dirname(path))
    pq.write_table(conversation_rows(ids), path)
    manifest = {"inputs": {"old.jsonl": "sha256:0"}, "settings": "0", "night": NIGHT.isoformat(), "published_at": "x"}
    os.makedirs(os.path.dirname(storage.night_manifest(root, NIGHT)))
    Path(storage.night_manifest(root, NIGHT)).write_text(json.dumps(manifest))
    return path


def finished_staging(staging: str, ids: list[int]) -> str:
    """A staging folder holding a finished conversations table, as selection leaves it."""
    path = publish_file(staging, "conversations")
    os.makedirs(os.path.dirname(path))
    pq.write_table(conversation_rows(ids), path)
    return staging


def count(root: str) -> int:
    return query_catalog(root, "select count(*) from conversations")[1][0][0]


def test_a_legacy_night_reads_as_published_and_a_replace_migrates_it(tmp_path):
    root = str(tmp_path / "root")
    legacy = legacy_night(root, [1, 2, 3])
    assert storage.table_files(root, "conversations") == [legacy]
    assert storage.published_night_file(root, "conversations", NIGHT) == legacy
    assert count(root) == 3

    night_commit.commit_night(root, finished_staging(str(tmp_path / "s"), [4, 5]), NIGHT, {"inputs": {}}, "run-2")
    (version,) = storage.table_files(root, "conversations")
    assert not os.path.exists(legacy) and os.path.basename(version).startswith("data-")
    manifest = json.loads(Path(storage.night_manifest(root, NIGHT)).read_text())
    assert manifest["tables"] == {"conversations": os.path.relpath(version, root)} and manifest["run_id"] == "run-2"
    assert count(root) == 2


def test_a_version_no_manifest_names_is_never_read_and_the_next_writer_sweeps_it(tmp_path):
    root = str(tmp_path / "root")
    night_commit.commit_night(root, finished_staging(str(tmp_path / "s"), [1, 2]), NIGHT, {"inputs": {}}, "run-1")
    orphan = os.path.join(root, published.version_path("conversations", NIGHT.isoformat(), "killed"))
    pq.write_table(conversation_rows([7, 8, 9]), orphan)  # a commit killed before its manifest
    assert count(root) == 2 and orphan not in storage.stored_files(root, "conversations")

    assert night_commit.sweep_unpublished(root) == [os.path.relpath(orphan, root)]
    assert not os.path.exists(orphan) and count(root) == 2


def test_the_catalog_of_versioned_nights_reads_from_a_moved_root(tmp_path):
    root = str(tmp_path / "root")
    night_commit.commit_night(root, finished_staging(str(tmp_path / "s"), [1, 2]), NIGHT, {"inputs": {}}, "run-1")
    publish_catalog(root)
    moved = shutil.move(root, tmp_path / "moved")
    with duckdb.connect(os.path.join(moved, "catalog.duckdb"), read_only=True) as con:
        con.execute("set file_search_path = ?", [str(moved)])
        assert con.sql("select count(*) from conversations").fetchall() == [(2,)]
