"""A night's staging folder, `<root>/_staging/<night>-<plan>/`: the resumable work of a run not yet published.

Beam's workers leave each input chunk's staged parts there with a `_done` marker (a rerun of the same plan skips
finished chunks and resumes under the run id recorded there), selection writes the night's finished tables
there (`publish/`), and the run's record waits there until the night is committed (`night_commit.py`). Every
staging path is built here; a root's `_staging` belongs to that root (`claim_staging`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
import uuid
from collections.abc import Iterator
from datetime import date

from pipelines import objectstore
from pipelines.io import write_text

STAGED = ("conversations", "rejects", "interactions")  # what the per-chunk work leaves in the staging folder


def staging_dir(root: str, night: date, plan_key: str) -> str:
    """Resumable per-chunk work of one night's run over one input plan."""
    return os.path.join(root, "_staging", f"{night.isoformat()}-{plan_key}")


def claim_staging(root: str) -> str:
    """Record `<root>/_staging` as this root's; returns the other root it already belongs to ("" once claimed).

    Two roots whose `_staging` resolve to one folder would sweep each other's work: the first root to use it
    keeps it, as long as that root's own `_staging` still resolves there (a moved or copied root takes its
    staging over). A store has no links: a root's `_staging` there is its own.
    """
    if objectstore.is_url(root):
        return ""
    staging = os.path.join(root, "_staging")
    os.makedirs(staging, exist_ok=True)
    owner_file, mine, other = os.path.join(staging, STAGING_OWNER), os.path.realpath(root), ""
    if os.path.exists(owner_file):
        with open(owner_file, encoding="utf-8") as handle:
            other = handle.read().strip()
    if other == mine:
        return ""
    if other and os.path.realpath(os.path.join(other, "_staging")) == os.path.realpath(staging):
        return other
    write_text(mine + "\n", owner_file)
    return ""


def release_staging(root: str) -> None:
    """Drop the root's claim on `_staging` once no night's work is left in it (see `claim_staging`)."""
    staging = os.path.join(root, "_staging")
    if objectstore.is_url(root):
        return
    if os.path.isdir(staging) and os.listdir(staging) == [STAGING_OWNER]:
        os.remove(os.path.join(staging, STAGING_OWNER))


STAGING_OWNER = ".root"  # in `_staging`: the real path of the root it belongs to


def chunk_done_marker(staging: str, chunk_key: str) -> str:
    """Written last for a finished input chunk of a night's run (its counts); a rerun skips the chunk."""
    return os.path.join(staging, "_done", f"{chunk_key}.json")


def staged_part(staging: str, table: str, chunk_key: str) -> str:
    """One input chunk's part of a staged table."""
    return os.path.join(staging, table, f"{chunk_key}.parquet")


def write_staged_file(path: str, payload: bytes) -> None:
    """Write a staged part or marker whole: locally under a temporary name beside `path`, then renamed, through
    Beam's FileSystems as the workers' other writes; an object in one PUT, which is atomic by itself. A reader
    never sees half a file."""
    if objectstore.is_url(path):
        objectstore.write_bytes(path, payload)
        return
    from apache_beam.io.filesystem import BeamIOError, CompressionTypes  # heavy: only where a worker writes
    from apache_beam.io.filesystems import FileSystems

    folder, name = FileSystems.split(path)
    os.makedirs(folder, exist_ok=True)
    temporary = FileSystems.join(folder, f".{name}.{uuid.uuid4().hex}.tmp")
    try:
        with FileSystems.create(temporary, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            handle.write(payload)
        FileSystems.rename([temporary], [path])  # replaces a part left by a run killed before its marker
    except BaseException:
        # A full disk keeps what it holds: give back the half-written part at once (a kill leaves it to the
        # next writer's sweep).
        with contextlib.suppress(OSError, BeamIOError):
            FileSystems.delete([temporary])
        raise


def worker_log_path(staging: str) -> str:
    """Where the Beam workers' log of a run goes: in a local staging folder; for a staging folder in a bucket,
    the local temporary folder (the log is appended to as it grows, which an object can't be)."""
    folder = tempfile.gettempdir() if objectstore.is_url(staging) else staging
    return os.path.join(folder, "beam-workers.log")


def staged_parts(staging: str, table: str) -> list[str]:
    """Every chunk's part of a staged table."""
    if objectstore.is_url(staging):
        return objectstore.glob(os.path.join(staging, table, "*.parquet"))
    return glob.glob(os.path.join(glob.escape(staging), table, "*.parquet"))


def staged_run_files(staging: str) -> tuple[str, str]:
    """`run_files` as a nightly run writes them in its staging folder before committing its night: should it die
    after the commit, the next writer puts them in place (`night_commit.record_published_runs`)."""
    return os.path.join(staging, "run", "manifest.json"), os.path.join(staging, "run", "run.parquet")


RUN_ID = "run_id"  # in a staging folder: the id of the run working in it (`resume_run_id`)


def publish_file(staging: str, table: str) -> str:
    """Where a run writes the night's finished `table` before `night_commit.commit_night` stores it."""
    return os.path.join(staging, "publish", f"{table}.parquet")


def resume_run_id(staging: str, fresh: str) -> str:
    """The run id an interrupted run of the same plan recorded in its staging folder, else `fresh` (recorded)."""
    path = os.path.join(staging, RUN_ID)
    if objectstore.exists(path):
        return objectstore.read_text(path).strip()
    write_text(fresh + "\n", path)
    return fresh


def sweep_staging(root: str, night: date, staging: str) -> list[str]:
    """Remove `night`'s staging folders other than `staging` (runs over inputs or settings since changed)."""
    removed = []
    if objectstore.is_url(root):
        prefix = os.path.join(root, "_staging") + "/"
        plans = {url.removeprefix(prefix).split("/", 1)[0] for url in objectstore.glob(prefix + f"{night}-*/**")}
        for plan in sorted(plans - {os.path.basename(staging.rstrip("/"))}):
            objectstore.remove_tree(prefix + plan)
            removed.append(f"_staging/{plan}")
        return removed
    for path in glob.glob(os.path.join(glob.escape(os.path.join(root, "_staging")), f"{night.isoformat()}-*")):
        if os.path.abspath(path) != os.path.abspath(staging):
            objectstore.remove_tree(path)
            removed.append(os.path.relpath(path, root))
    return removed


@contextlib.contextmanager
def selection_folder(staging: str) -> Iterator[str]:
    """Where selection reads the staged parts and writes the night's tables: the staging folder itself, or for
    a staging folder in a bucket a local copy of its parts (DuckDB and Arrow then read local files; the
    tables go up at the commit), removed afterwards whatever happens."""
    if not objectstore.is_url(staging):
        yield staging
        return
    with tempfile.TemporaryDirectory(prefix="afterword-select-") as local:
        parts = [url for table in STAGED for url in staged_parts(staging, table)]
        objectstore.download(parts, [os.path.join(local, url.removeprefix(staging + "/")) for url in parts])
        yield local
