"""Publishing a night, the same way on a local root and a bucket: versioned files beside the old, one swap.

A commit stores the night's finished tables as new versions (`<table>/ingest_date=D/data-<version>.parquet`:
a rename locally, an upload to a bucket), none of which any reader opens yet, then writes the night's manifest
naming them (a temporary file and `os.replace` locally, one PUT on a bucket): that single step publishes the
whole night (the Delta/Iceberg pattern; readers: `published.py`). Then the versions it superseded go, a legacy
`data.parquet` included. A run killed before the swap leaves versions no manifest names, swept by the next
writer that takes the root's lock (`sweep_unpublished`); a run killed after it has published, and the next
writer records its `runs` row from the copy the run staged before committing (`record_published_runs`).
`flows/nightly.py` calls `commit_night` holding the writer lock.
"""

import json
import os
import secrets
from datetime import UTC, date, datetime

from pipelines import objectstore
from pipelines.io import write_json
from pipelines.store import layout
from pipelines.store.published import manifest_path, published_files, stored_night_files, version_path
from pipelines.store.staging import RUN_ID, publish_file, staged_run_files


def commit_night(root: str, staging: str, night: date, fingerprint: dict, run_id: str) -> None:
    """Publish the night's finished tables (`publish_file` under `staging`, a local folder) all or
    nothing, as `run_id`'s; a failing run never gets here, so it never replaces a night's tables."""
    day = night.isoformat()
    version = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
    tables = {}
    for table in layout.TABLES:
        finished = publish_file(staging, table)
        if os.path.exists(finished):
            tables[table] = version_path(table, day, version)
            _store(finished, objectstore.join(root, tables[table]))
    manifest = {**fingerprint, "night": day, "published_at": datetime.now(UTC).isoformat(), "run_id": run_id}
    write_json({**manifest, "tables": tables, "version": version}, manifest_path(root, day))  # the commit
    _remove([path for path in stored_night_files(root, day) if _relative(root, path) not in tables.values()])


def _store(finished: str, destination: str) -> None:
    """A finished local table file as the (not yet published) version `destination`."""
    if objectstore.is_url(destination):
        objectstore.upload(finished, destination)
        return
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    os.replace(finished, destination)  # staging lives under the root: one rename, no copy


def sweep_unpublished(root: str) -> list[str]:
    """Remove the table versions no night's manifest names (a commit killed before its manifest, or before it
    removed what it superseded); call it holding the root's writer lock exclusively. Returns what was removed,
    relative to the root."""
    named = {_relative(root, path) for table in layout.TABLES for path in published_files(root, table)}
    orphans = [path for path in stored_night_files(root) if _relative(root, path) not in named]
    _remove(orphans)
    return [_relative(root, path) for path in orphans]


def clean_up_killed_commits(root: str) -> None:
    """What runs killed around their commit left: unpublished versions go, published runs get their `runs` row.
    Call it holding the writer lock exclusively (the lock does)."""
    sweep_unpublished(root)
    record_published_runs(root)


def record_published_runs(root: str) -> list[str]:
    """Put in place the `runs` row (and manifest) of every run killed after publishing its night but before
    recording itself, from the copy it staged; call it holding the writer lock exclusively. Returns their ids."""
    recorded = []
    for staging in published_stagings(root):
        run_id = objectstore.read_text(objectstore.join(staging, RUN_ID)).strip()
        for staged, final in zip(staged_run_files(staging), layout.run_files(root, run_id), strict=True):
            if objectstore.exists(staged) and not objectstore.exists(final):
                _move(staged, final)
                recorded.append(run_id)
    return sorted(set(recorded))


def published_stagings(root: str) -> list[str]:
    """The staging folders whose run published their night (the night's manifest names that run)."""
    found = []
    for marker in objectstore.glob_in(root, os.path.join("_staging", "*", RUN_ID)):
        staging = os.path.dirname(marker)
        night = os.path.basename(staging)[: len("YYYY-MM-DD")]
        manifest = manifest_path(root, night)
        if objectstore.exists(manifest):
            run_id = objectstore.read_text(marker).strip()
            if json.loads(objectstore.read_text(manifest)).get("run_id") == run_id:
                found.append(staging)
    return found


def sweep_published_staging(root: str, keep: str) -> list[str]:
    """Remove the staging folders of runs that published their night and died before removing them, any night's,
    but `keep` (the caller's own: a rerun of that plan resumes under its run id and records no second run); their
    `runs` rows are recorded first. Call it holding the writer lock exclusively. Returns what was removed,
    relative to `root`."""
    record_published_runs(root)
    removed = []
    for staging in published_stagings(root):
        if os.path.basename(staging) != os.path.basename(keep.rstrip("/")):
            objectstore.remove_tree(staging)
            removed.append(f"_staging/{os.path.basename(staging)}")
    return removed


def _move(source: str, destination: str) -> None:
    if objectstore.is_url(source):
        objectstore.write_bytes(destination, objectstore.read_bytes(source))  # a run's record: a few KB
        return
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    os.replace(source, destination)


def _remove(paths: list[str]) -> None:
    if paths and objectstore.is_url(paths[0]):
        objectstore.remove(paths)
        return
    for path in paths:
        if os.path.exists(path):
            os.remove(path)


def _relative(root: str, path: str) -> str:
    if objectstore.is_url(root):
        return path.removeprefix(objectstore.absolute(root) + "/")
    return os.path.relpath(path, root)
