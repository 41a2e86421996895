"""Which files hold a published night: the ones its manifest names, on a local root and a bucket alike.

A night's tables are versioned files, `<table>/ingest_date=D/data-<version>.parquet`, and
`nights/ingest_date=D/manifest.json` names them by paths relative to the root (so a moved root still reads).
Readers (queries, the catalog, scoring, the trainer, the report) take a night's files from its manifest only:
a commit writes new versions beside the old and then swaps the manifest (`night_commit.py`), so a reader sees
the old night or the new one, never a mix, and never a version no manifest names. Nights written by older
versions hold a plain `data.parquet` per table and a manifest naming no files; they read as published as they
are, until a `--replace` of the night migrates them.
"""

import json
import os

from pipelines import objectstore

NIGHT_TABLES = ("conversations", "rejects", "interactions", "filter_report")
LEGACY_FILE = "data.parquet"  # the one file per night and table that versions before manifests wrote


def manifest_path(root: str, night: str) -> str:
    """The file that makes a night (YYYY-MM-DD) published and names its tables' files."""
    return objectstore.join(root, "nights", f"ingest_date={night}", "manifest.json")


def version_path(table: str, night: str, version: str) -> str:
    """One version of one night of `table`, relative to the root."""
    return os.path.join(table, f"ingest_date={night}", f"data-{version}.parquet")


def published_manifests(root: str) -> dict[str, dict]:
    """Every published night's manifest under `root`, by night (YYYY-MM-DD), oldest first."""
    paths = objectstore.glob_in(root, manifest_path("", "*"))
    if objectstore.is_url(root):
        documents = objectstore.read_many(paths)
    else:
        documents = {path: objectstore.read_text(path) for path in paths}
    return {_night_of_folder(path): json.loads(documents[path]) for path in paths}


def night_files(root: str, night: str, manifest: dict | None = None) -> dict[str, str]:
    """Table → the file a reader opens for one night (`manifest`: the night's, when the caller has it)."""
    if manifest is None:
        path = manifest_path(root, night)
        manifest = json.loads(objectstore.read_text(path)) if objectstore.exists(path) else {}
    if "tables" in manifest:
        return {table: objectstore.join(root, relative) for table, relative in manifest["tables"].items()}
    legacy = {table: objectstore.join(root, table, f"ingest_date={night}", LEGACY_FILE) for table in NIGHT_TABLES}
    return {table: path for table, path in legacy.items() if objectstore.exists(path)}


def published_files(root: str, table: str) -> list[str]:
    """The published files of `table`, one per night, oldest night first."""
    manifests = published_manifests(root)
    named = {
        night: objectstore.join(root, manifest["tables"][table])
        for night, manifest in manifests.items()
        if table in manifest.get("tables", {})
    }
    # A legacy night's file counts unless its night's manifest names versioned files instead.
    for path in objectstore.glob_in(root, os.path.join(table, "ingest_date=*", LEGACY_FILE)):
        if "tables" not in manifests.get(_night_of_folder(path), {}):
            named[_night_of_folder(path)] = path
    return [path for _, path in sorted(named.items())]


def published_file(root: str, table: str, night: str) -> str | None:
    """The file of one published night of `table`; None when there is none."""
    return night_files(root, night).get(table)


def stored_night_files(root: str, night: str = "*") -> list[str]:
    """Every table file stored for `night` (`*`: every night), published or not."""
    patterns = [os.path.join(table, f"ingest_date={night}", "data*.parquet") for table in NIGHT_TABLES]
    return [path for pattern in patterns for path in objectstore.glob_in(root, pattern)]


def _night_of_folder(path: str) -> str:
    return os.path.basename(os.path.dirname(path)).removeprefix("ingest_date=")
