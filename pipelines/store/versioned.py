"""Publishing a night on an object store, which has no rename: versioned table files, then one pointer.

A commit uploads the night's tables as `<table>/ingest_date=D/data-<version>.parquet` (a fresh version per
commit, so no object a reader may be reading is overwritten), then writes `nights/ingest_date=D/manifest.json`
naming them: that one PUT is the commit (the Delta/Iceberg pattern). Readers take a night's files from its
manifest only, so they see the old night or the new one, never a mix. A run killed before the manifest leaves
versions no manifest names; the next writer that takes the root's lock removes them (`sweep_unpublished`), and
a commit removes the versions it supersedes. `storage.commit_night` calls it for object-store roots.
"""

import json
import os
import secrets
from datetime import UTC, datetime

from pipelines import objectstore

NIGHT_TABLES = ("conversations", "rejects", "interactions", "filter_report")


def night_folder(root: str, table: str, night: str) -> str:
    """The folder (prefix) holding every version of one night of `table`."""
    return objectstore.join(root, table, f"ingest_date={night}")


def manifest_url(root: str, night: str) -> str:
    """The pointer that makes a night published."""
    return objectstore.join(root, "nights", f"ingest_date={night}", "manifest.json")


def commit_night(root: str, finished: dict[str, str], night: str, manifest: dict) -> None:
    """Upload the night's finished tables (`finished`: table → local Parquet file) under a new version, then
    the manifest naming them; then remove the versions the manifest no longer names."""
    version = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
    tables = {}
    for table, local_file in finished.items():
        relative = f"{table}/ingest_date={night}/data-{version}.parquet"
        objectstore.upload(local_file, objectstore.join(root, relative))
        tables[table] = relative
    pointer = {**manifest, "tables": tables, "version": version}
    objectstore.write_bytes(manifest_url(root, night), (json.dumps(pointer, indent=2, sort_keys=True) + "\n").encode())
    objectstore.remove([url for url in _versions_of(root, night) if _relative(root, url) not in tables.values()])


def published_manifests(root: str) -> dict[str, dict]:
    """Every published night's manifest under `root`, by night (YYYY-MM-DD), oldest first."""
    urls = objectstore.glob(manifest_url(root, "*"))
    documents = objectstore.read_many(urls)
    return {
        os.path.basename(os.path.dirname(url)).removeprefix("ingest_date="): json.loads(documents[url]) for url in urls
    }


def published_files(root: str, table: str) -> list[str]:
    """URLs of the published files of `table`, one per night, oldest night first."""
    manifests = published_manifests(root)
    return [
        objectstore.join(root, manifest["tables"][table])
        for _, manifest in sorted(manifests.items())
        if table in manifest.get("tables", {})
    ]


def published_file(root: str, table: str, night: str) -> str | None:
    """The URL of one night's published file of `table`; None when the night is not published."""
    url = manifest_url(root, night)
    if not objectstore.exists(url):
        return None
    relative = json.loads(objectstore.read_bytes(url)).get("tables", {}).get(table)
    return objectstore.join(root, relative) if relative else None


def sweep_unpublished(root: str) -> list[str]:
    """Remove the table versions no night's manifest names (a commit killed before its manifest); call it
    holding the root's writer lock exclusively. Returns what was removed, relative to the root."""
    named = {path for manifest in published_manifests(root).values() for path in manifest.get("tables", {}).values()}
    orphans = [url for url in _versions_of(root, "*") if _relative(root, url) not in named]
    objectstore.remove(orphans)
    return [_relative(root, url) for url in orphans]


def _versions_of(root: str, night: str) -> list[str]:
    """Every stored version of every table of `night` (`*`: of every night)."""
    return [
        url
        for table in NIGHT_TABLES
        for url in objectstore.glob(objectstore.join(night_folder(root, table, night), "data-*.parquet"))
    ]


def _relative(root: str, url: str) -> str:
    return url.removeprefix(objectstore.absolute(root) + "/")
