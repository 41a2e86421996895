"""Where every table lives under the storage root, and how a night's tables are published.

`<root>/<table>/ingest_date=YYYY-MM-DD/data.parquet` holds one night of one table; `<root>/nights/
ingest_date=YYYY-MM-DD/manifest.json` marks the night published and records its inputs' fingerprints (a
published night changes only when a run says --replace); `<root>/scores/run_id=<run>/round=NNNN/` holds a
scoring run's shards (a Hive partition: readers see `round` as a column); a training run's per-round outputs
are named `round-NNNN` (`checkpoints/run_id=<run>/round-NNNN/`, `training_rounds/run_id=<run>/round-NNNN.parquet`,
`simulations/...`); `<root>/runs/<run_id>/` holds a run's manifest; `<root>/_staging/` holds the resumable
work of unfinished nights; `<root>/catalog.duckdb` holds the analyst views. Every table, run, round,
checkpoint, report and staged-part path under a root is built or parsed here. A root may be an object-store
URL (`s3://bucket/prefix`): the layout is the same, except that a night's tables are versioned files named by
the night's manifest (`pipelines/store/versioned.py`), since a store cannot rename.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import json
import os
import re
import shutil
import stat
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from pipelines import objectstore
from pipelines.io import write_json, write_text
from pipelines.store import versioned

if TYPE_CHECKING:  # sources imports the ingest stage; storage stays light for readers of the root
    from pipelines.sources import Chunk

TABLES = ("conversations", "rejects", "interactions", "filter_report")
STAGED = ("conversations", "rejects", "interactions")  # what the per-chunk work leaves in the staging folder
DATA_SETTINGS = ("ingest", "segment", "select")  # config sections that decide a night's rows
# The continual learner's tables (pipelines/registry.py, train/eval_sets.py, train/continual.py).
LEARNER_TABLES = {
    "models": os.path.join("models", "model_id=*", "data.parquet"),
    "eval_sets": os.path.join("eval_sets", "eval_set=*", "data.parquet"),
    "model_evals": os.path.join("model_evals", "model_id=*", "eval_set=*.parquet"),
    "model_eval_replies": os.path.join("model_eval_replies", "model_id=*", "eval_set=*.parquet"),
}
SHARD_NAME = re.compile(r"scores-(\d+)-of-(\d+)\.parquet$")


def night_file(root: str, table: str, night: date) -> str:
    """The Parquet file holding `table` for one night."""
    return os.path.join(root, table, f"ingest_date={night.isoformat()}", "data.parquet")


def table_files(root: str, table: str) -> list[str]:
    """Every night's file of `table`, oldest night first (on a store: the files the nights' manifests name)."""
    if objectstore.is_url(root):
        return versioned.published_files(root, table)
    return sorted(glob.glob(os.path.join(glob.escape(root), table, "ingest_date=*", "data.parquet")))


def published_night_file(root: str, table: str, night: date) -> str | None:
    """The file a reader opens for one published night of `table`; None when there is none."""
    if objectstore.is_url(root):
        return versioned.published_file(root, table, night.isoformat())
    path = night_file(root, table, night)
    return path if os.path.exists(path) else None


def stored_files(root: str, table: str) -> list[str]:
    """Every file a catalog table reads under `root` now (`table_pattern`), sorted."""
    if not objectstore.is_url(root):
        return sorted(glob.glob(table_glob(root, table)))
    if table in TABLES:
        return table_files(root, table)
    return objectstore.glob(objectstore.join(root, table_pattern(table)))


def table_pattern(table: str) -> str:
    """Glob over every file of `table`, relative to the root (what the catalog's views read)."""
    if table == "runs":
        return os.path.join("runs", "*", "run.parquet")
    if table == "training_rounds":
        return os.path.join("training_rounds", "run_id=*", "round-*.parquet")
    if table == "scores":
        return os.path.join("scores", "run_id=*", "round=*", "scores-*.parquet")
    if table in LEARNER_TABLES:
        return LEARNER_TABLES[table]
    return os.path.join(table, "ingest_date=*", "data.parquet")


def round_name(round_index: int) -> str:
    """A training run's per-round folder or file name (`round-0003`)."""
    return f"round-{round_index:04d}"


def training_round_path(root: str, run_id: str, round_index: int) -> str:
    """The `training_rounds` row of one round of a training run."""
    return os.path.join(root, "training_rounds", f"run_id={run_id}", f"{round_name(round_index)}.parquet")


def training_round_files(root: str, run_id: str) -> list[str]:
    """Every stored `training_rounds` row file of a training run, in round order."""
    folder = os.path.join(glob.escape(root), "training_rounds", f"run_id={glob.escape(run_id)}")
    return sorted(glob.glob(os.path.join(folder, "round-*.parquet")))


def training_dir(root: str, run_id: str) -> str:
    """A training run's metrics (`metrics.jsonl`) and TensorBoard events."""
    return os.path.join(root, "training", run_id)


def sampler_logprobs_path(root: str, run_id: str, round_index: int) -> str:
    """The log-probs the sampler drew one round's replies with (interaction_id, sampler_logprobs): the
    mismatch metrics and the rollout correction read them, a resumed round too."""
    return os.path.join(training_dir(root, run_id), "sampler_logprobs", f"{round_name(round_index)}.parquet")


def checkpoints_dir(root: str, run_id: str) -> str:
    """Every round checkpoint of one training run."""
    return os.path.join(root, "checkpoints", f"run_id={run_id}")


def checkpoint_path(root: str, run_id: str, round_index: int) -> str:
    """The checkpoint written at the end of round `round_index`."""
    return os.path.join(checkpoints_dir(root, run_id), round_name(round_index))


def checkpoint_dirs(root: str, run_id: str) -> list[str]:
    """The round checkpoint folders of a run (complete or not), oldest first."""
    return sorted(glob.glob(os.path.join(glob.escape(checkpoints_dir(root, run_id)), "round-[0-9][0-9][0-9][0-9]")))


def simulation_path(root: str, run_id: str, round_index: int) -> str:
    """One simulated round's replies, follow-ups and verdicts."""
    return os.path.join(root, "simulations", f"run_id={run_id}", f"{round_name(round_index)}.parquet")


def prompts_path(root: str) -> str:
    """The simulation's prompts, stored under the root once."""
    return os.path.join(root, "prompts", "prompts.parquet")


def report_path(root: str, name: str, extension: str = "html") -> str:
    """A report written under the root (`reports/<name>.<extension>`)."""
    return os.path.join(root, "reports", f"{name}.{extension}")


def competence_path(root: str, night: date, run_id: str) -> str:
    """The result of one teacher-competence check."""
    return os.path.join(root, "competence", f"{night.isoformat()}-{run_id}.json")


def score_round_dir(root: str, run_id: str, round_index: int) -> str:
    """One round of a scoring run: round 0 = logged replies, k >= 1 = replies regenerated in round k."""
    return os.path.join(root, "scores", f"run_id={run_id}", f"round={round_index:04d}")


def score_shard_path(root: str, run_id: str, round_index: int, shard: int, shards: int) -> str:
    """Where one shard of one round of a scoring run lives."""
    return os.path.join(score_round_dir(root, run_id, round_index), f"scores-{shard:05d}-of-{shards:05d}.parquet")


def score_shard_files(root: str, run_id: str = "*", round_index: int | None = None) -> list[str]:
    """The shards of a scoring run (every run for `*`), of one round or of all of them, sorted."""
    url = objectstore.is_url(root)
    run = run_id if run_id == "*" or url else glob.escape(run_id)
    round_folder = "round=*" if round_index is None else f"round={round_index:04d}"
    folder = root if url else glob.escape(root)
    pattern = os.path.join(folder, "scores", f"run_id={run}", round_folder, "scores-*.parquet")
    return objectstore.glob(pattern) if url else sorted(glob.glob(pattern))


def scoring_runs_with_round(root: str, round_index: int) -> list[str]:
    """Ids of the scoring runs that have a folder for round `round_index`, sorted."""
    if objectstore.is_url(root):
        return sorted({scoring_run_of(shard) for shard in score_shard_files(root, "*", round_index)})
    folders = glob.glob(os.path.join(glob.escape(root), "scores", "run_id=*", f"round={round_index:04d}"))
    return sorted(os.path.basename(os.path.dirname(path)).removeprefix("run_id=") for path in folders)


def scoring_run_of(shard_path: str) -> str:
    """The scoring run a shard file belongs to, from its folder names."""
    return os.path.basename(os.path.dirname(os.path.dirname(shard_path))).removeprefix("run_id=")


def shard_of(shard_path: str) -> tuple[str, int, int] | None:
    """(round folder, shard, shards) from a shard file's path; None for a file not named like a shard."""
    match = SHARD_NAME.search(os.path.basename(shard_path))
    return (os.path.basename(os.path.dirname(shard_path)), int(match[1]), int(match[2])) if match else None


def table_glob(root: str, table: str) -> str:
    """`table_pattern` under `root`, the root's own `[`, `*`, `?` escaped (DuckDB reads Python's glob escapes)."""
    return os.path.join(glob.escape(os.path.abspath(root)), table_pattern(table))


def night_of(path: str) -> date:
    """The night a table file belongs to, from its folder name."""
    return date.fromisoformat(os.path.basename(os.path.dirname(path)).removeprefix("ingest_date="))


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


def staged_parts(staging: str, table: str) -> list[str]:
    """Every chunk's part of a staged table."""
    if objectstore.is_url(staging):
        return objectstore.glob(os.path.join(staging, table, "*.parquet"))
    return glob.glob(os.path.join(glob.escape(staging), table, "*.parquet"))


def run_dir(root: str, run_id: str) -> str:
    """Manifest and summary row of one run."""
    return os.path.join(root, "runs", run_id)


def run_files(root: str, run_id: str) -> tuple[str, str]:
    """A run's `manifest.json` and its `runs` table row (`run.parquet`)."""
    return os.path.join(run_dir(root, run_id), "manifest.json"), os.path.join(run_dir(root, run_id), "run.parquet")


def metrics_path(root: str, run_id: str) -> str:
    """A training run's metrics, one JSON line per step and round."""
    return os.path.join(training_dir(root, run_id), "metrics.jsonl")


def catalog_path(root: str) -> str:
    """The DuckDB catalog analysts open."""
    return os.path.join(root, "catalog.duckdb")


def other_night_files(root: str, table: str, night: date) -> list[str]:
    """Every stored night's file of `table` except `night`'s, earlier and later nights alike."""
    return [path for path in table_files(root, table) if night_of(path) != night]


def publish_file(staging: str, table: str) -> str:
    """Where a run writes the night's finished `table` before `commit_night` moves it into place."""
    return os.path.join(staging, "publish", f"{table}.parquet")


def night_manifest(root: str, night: date) -> str:
    """The file that marks a night published (written last) and records its inputs."""
    return os.path.join(root, "nights", f"ingest_date={night.isoformat()}", "manifest.json")


def night_fingerprint(chunks: list[Chunk], config: dict) -> dict:
    """SHA-256 of every input file (or why it can't be read) and a digest of the settings that decide rows."""
    inputs: dict[str, str] = {}
    for chunk in chunks:
        if chunk.path in inputs:
            continue
        if objectstore.is_url(chunk.path) and not chunk.problem:
            # The store's own content tag (S3 ETag, GCS MD5) and size: reading every input again would double
            # what a night downloads.
            inputs[chunk.path] = "tag:" + objectstore.content_tag(chunk.path)
            continue
        try:
            if not stat.S_ISREG(os.stat(chunk.path).st_mode):  # a FIFO would block, /dev/zero never end
                inputs[chunk.path] = "unreadable: not a regular file"
                continue
            with open(chunk.path, "rb") as handle:
                inputs[chunk.path] = "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError as error:
            inputs[chunk.path] = f"unreadable: {error.strerror or error}"
    settings = json.dumps({name: config[name] for name in DATA_SETTINGS}, sort_keys=True, default=str)
    return {"inputs": inputs, "settings": hashlib.sha256(settings.encode()).hexdigest()[:16]}


def replacement_refusal(root: str, night: date, fingerprint: dict) -> str:
    """Why a run would change a published night ("" when the night is new or the run repeats it exactly)."""
    path = night_manifest(root, night)
    if not objectstore.exists(path):
        return ""
    published = json.loads(objectstore.read_text(path))
    old, new = sorted(published["inputs"].values()), sorted(fingerprint["inputs"].values())
    changes = []
    if old != new:
        changed = len(set(new) - set(old)) + len(set(old) - set(new))
        changes.append(f"other inputs ({len(old)} file(s) then, {len(new)} now, {changed} differing)")
    if published["settings"] != fingerprint["settings"]:
        changes.append("other [ingest]/[segment]/[select] settings")
    if not changes:
        return ""
    return (
        f"night {night.isoformat()} is already published from {published['published_at']}; this run has "
        f"{' and '.join(changes)}: pass --replace to replace the night, or use another --date"
    )


def commit_journal(root: str, night: date) -> str:
    """Written before a night's tables move into place, removed once its manifest is: a commit under way."""
    return os.path.join(root, "nights", f"ingest_date={night.isoformat()}", "commit.json")


def commit_night(root: str, staging: str, night: date, fingerprint: dict) -> None:
    """Publish the night's finished tables and then its manifest, all or nothing.

    The moves and the manifest are written into a journal first (atomically): from then on the commit is
    decided. Each move is an atomic rename; a run killed between them leaves the journal, and the next writer
    to take the root finishes the moves before anything else (`finish_commits`), so a night is never left
    with some tables new and others old. A failing run never gets here, so it never replaces a night's tables.
    On an object store (no rename) the tables go up as a new version and the manifest written last points at
    them (`versioned.commit_night`).
    """
    if objectstore.is_url(root):
        manifest = {**fingerprint, "night": night.isoformat(), "published_at": datetime.now(UTC).isoformat()}
        finished = {table: publish_file(staging, table) for table in TABLES}
        ready = {table: path for table, path in finished.items() if os.path.exists(path)}
        versioned.commit_night(root, ready, night.isoformat(), manifest)
        return
    moves = [
        [os.path.relpath(publish_file(staging, table), root), os.path.relpath(night_file(root, table, night), root)]
        for table in TABLES
        if os.path.exists(publish_file(staging, table))
    ]
    manifest = {**fingerprint, "night": night.isoformat(), "published_at": datetime.now(UTC).isoformat()}
    journal = commit_journal(root, night)
    write_json({"moves": moves, "manifest": manifest}, journal)
    _finish_commit(root, journal)


def finish_commits(root: str) -> list[str]:
    """Complete every night commit a killed run left half done (call it holding the writer lock exclusively;
    the lock does). Returns the nights finished. An object-store root has no journals (see `commit_night`)."""
    finished: list[str] = []
    if objectstore.is_url(root):
        return finished
    for journal in sorted(glob.glob(os.path.join(glob.escape(root), "nights", "ingest_date=*", "commit.json"))):
        _finish_commit(root, journal)
        finished.append(os.path.basename(os.path.dirname(journal)).removeprefix("ingest_date="))
    return finished


def _finish_commit(root: str, journal: str) -> None:
    """The journal's moves not yet made (a moved table's staged file is gone), then the manifest, then the
    journal's removal: running it twice does it once."""
    with open(journal, encoding="utf-8") as handle:
        plan = json.load(handle)
    for staged, target in plan["moves"]:
        staged, target = os.path.join(root, staged), os.path.join(root, target)
        if os.path.exists(staged):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(staged, target)
    write_json(plan["manifest"], os.path.join(os.path.dirname(journal), "manifest.json"))
    os.remove(journal)


def resume_run_id(staging: str, fresh: str) -> str:
    """The run id an interrupted run of the same plan recorded in its staging folder, else `fresh` (recorded)."""
    path = os.path.join(staging, "run_id")
    if objectstore.exists(path):
        return objectstore.read_text(path).strip()
    write_text(fresh + "\n", path)
    return fresh


def is_leftover(name: str) -> bool:
    """Temporary names our atomic writes use (`.x.tmp` files, `.round-0001.tmp-…` folders, catalog rebuilds)."""
    if not name.startswith(".") or name == ".writer.lock":
        return False
    return name.endswith(".tmp") or ".tmp-" in name or ".old-" in name or name.startswith(".catalog.")


def sweep_leftovers(root: str) -> list[str]:
    """Remove the temporary files and folders interrupted runs left under `root`; call it holding the writer
    lock exclusively (the lock does). Returns what was removed, relative to `root`. On an object store, where
    writes leave no temporary objects, that is the table versions no manifest names."""
    if objectstore.is_url(root):
        return versioned.sweep_unpublished(root)
    removed = []
    for folder, subfolders, files in os.walk(root):
        for name in [*files, *subfolders]:
            if is_leftover(name):
                path = os.path.join(folder, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    os.remove(path)
                removed.append(os.path.relpath(path, root))
        subfolders[:] = [name for name in subfolders if not is_leftover(name)]
    return removed


def mark_committed(staging: str) -> None:
    """Written in a run's staging folder once its night is published: nothing in it is needed any more, so
    the next writer sweeps it should the run die before removing it (`sweep_committed_staging`)."""
    write_text("the night of this staging folder is published\n", os.path.join(staging, COMMITTED))


COMMITTED = "committed"


def sweep_committed_staging(root: str, keep: str) -> list[str]:
    """Remove the staging folders of runs that published their night and died before removing them, any night's,
    but `keep` (the caller's own: a rerun of that plan resumes under its run id and records no second run). Call
    it holding the writer lock exclusively. Returns what was removed, relative to `root`."""
    if objectstore.is_url(root):
        markers = objectstore.glob(objectstore.join(root, "_staging", "*", COMMITTED))
    else:
        markers = glob.glob(os.path.join(glob.escape(os.path.join(root, "_staging")), "*", COMMITTED))
    removed = []
    for marker in markers:
        folder = os.path.dirname(marker)
        if os.path.basename(folder) == os.path.basename(keep.rstrip("/")):
            continue
        if objectstore.is_url(root):
            objectstore.remove_tree(folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)
        removed.append(f"_staging/{os.path.basename(folder)}")
    return removed


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
            shutil.rmtree(path, ignore_errors=True)
            removed.append(os.path.relpath(path, root))
    return removed


# The storage root's file system refuses writes: the same on every retry, and no bug of ours.
STORAGE_ERRNOS = {
    errno.ENOSPC: "no space left on the device holding {root}: free space there or use another --root",
    errno.EDQUOT: "disk quota exceeded under {root}: free space there or use another --root",
    errno.EROFS: "{root} is on a read-only file system: remount it read-write or use another --root",
    errno.EACCES: "permission denied writing under {root}: make it writable for this user or use another --root",
    errno.EPERM: "not permitted to write under {root}: make it writable for this user or use another --root",
}
_ERRNO_TEXT = re.compile(r"\[Errno (\d+)\]")  # how Beam's workers, DuckDB and Arrow pass an OSError on as text


def storage_problem(error: BaseException, root: str) -> str:
    """One line naming a write the root's file system refused (disk full, read-only, permission) and the fix;
    "" for any other error. Looks through the error's causes and, for errors that carry it only as text
    (Beam workers, DuckDB, Arrow), the errno in the message."""
    seen: BaseException | None = error
    while seen is not None:
        code = seen.errno if isinstance(seen, OSError) and seen.errno else None
        if code is None and (match := _ERRNO_TEXT.search(str(seen))):
            code = int(match[1])
        if code is None and os.strerror(errno.ENOSPC) in str(seen):
            code = errno.ENOSPC  # DuckDB: "IO Error: ... No space left on device"
        if code in STORAGE_ERRNOS:
            where = f" ({seen.filename})" if isinstance(seen, OSError) and seen.filename else ""
            fix = STORAGE_ERRNOS[code].format(root=root)
            return f"{fix}{where}; nothing published was changed, and a rerun resumes"
        seen = seen.__cause__ or seen.__context__
    return ""
