"""Where every table lives under the storage root (a local folder or an object-store URL, laid out alike).

`<root>/<table>/ingest_date=YYYY-MM-DD/data-<version>.parquet` holds one version of one night of one table, and
`<root>/nights/ingest_date=YYYY-MM-DD/manifest.json` publishes the night: it names the versions readers open and
records its inputs' fingerprints (a published night changes only when a run says --replace; how a night is
read: `published.py`, how it is committed: `night_commit.py`); `<root>/scores/run_id=<run>/round=NNNN/` holds a
scoring run's shards (a Hive partition: readers see `round` as a column); a training run's per-round outputs
are named `round-NNNN` (`checkpoints/run_id=<run>/round-NNNN/`, `training_rounds/run_id=<run>/round-NNNN.parquet`,
`simulations/...`); `<root>/runs/<run_id>/` holds a run's manifest; `<root>/_staging/` holds the resumable
work of unfinished nights (`staging.py`); `<root>/catalog.duckdb` holds the analyst views. Every table, run,
round, checkpoint and report path under a root is built or parsed here, and so are a night's fingerprint (its
inputs' hashes, its settings' digest) and the check that a rerun would replace a published night. The leftovers
of interrupted writes are swept by `leftovers.py`; a write the root's file system refuses is named by
`storage_errors.py`.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import stat
from datetime import date
from typing import TYPE_CHECKING

from pipelines import objectstore
from pipelines.store import published

if TYPE_CHECKING:  # sources imports the ingest stage; storage stays light for readers of the root
    from pipelines.sources import Chunk

TABLES = ("conversations", "rejects", "interactions", "filter_report")
DATA_SETTINGS = ("ingest", "segment", "select")  # config sections that decide a night's rows
# The continual learner's tables (pipelines/registry.py, train/eval_sets.py, train/continual.py) and the
# simulation's (train/simulation/nights.py).
LEARNER_TABLES = {
    "models": os.path.join("models", "model_id=*", "data.parquet"),
    "eval_sets": os.path.join("eval_sets", "eval_set=*", "data.parquet"),
    "model_evals": os.path.join("model_evals", "model_id=*", "eval_set=*.parquet"),
    "model_eval_replies": os.path.join("model_eval_replies", "model_id=*", "eval_set=*.parquet"),
    "eval_replies": os.path.join("eval_replies", "run_id=*", "round-*.parquet"),
    "simulation_nights": os.path.join("simulation_nights", "run_id=*", "data.parquet"),
}
SHARD_NAME = re.compile(r"scores-(\d+)-of-(\d+)\.parquet$")


def night_file(root: str, table: str, night: date) -> str:
    """The one file of `table` for one night as versions before night manifests named files wrote it (still
    read as published, `published.py`; tests lay out such nights by hand)."""
    return os.path.join(root, table, f"ingest_date={night.isoformat()}", published.LEGACY_FILE)


def table_files(root: str, table: str) -> list[str]:
    """Every published night's file of `table`, oldest night first: the files the nights' manifests name."""
    return published.published_files(root, table)


def published_night_file(root: str, table: str, night: date) -> str | None:
    """The file a reader opens for one published night of `table`; None when there is none."""
    return published.published_file(root, table, night.isoformat())


def stored_files(root: str, table: str) -> list[str]:
    """Every file a catalog table reads under `root` now, sorted: a night table's published files, another
    table's files matching `table_pattern`."""
    if table in TABLES:
        return table_files(root, table)
    return objectstore.glob_in(root, table_pattern(table))


def catalog_source(root: str, table: str) -> str | list[str]:
    """What a catalog view of `table` reads: on a local root paths relative to the root, so a moved root still
    reads (a night table's published files, another table's glob); on a store the very URLs."""
    if objectstore.is_url(root):
        return stored_files(root, table)
    if table in TABLES:
        return [os.path.relpath(path, root) for path in table_files(root, table)]
    return table_pattern(table)


def table_pattern(table: str) -> str:
    """Glob over every file of a table other than a night's, relative to the root (what the catalog's views
    read); a night table's files are named by the nights' manifests instead."""
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


def training_run_ids(root: str) -> list[str]:
    """Ids of the training runs with stored rounds or checkpoints, sorted; none on an object store (training
    writes local folders only, README "Object stores")."""
    if objectstore.is_url(root):
        return []
    runs = set()
    for folder in ("checkpoints", "training_rounds"):
        found = glob.glob(os.path.join(glob.escape(root), folder, "run_id=*"))
        runs |= {os.path.basename(path).removeprefix("run_id=") for path in found}
    return sorted(runs)


def model_ids(root: str) -> list[str]:
    """Ids of the models registered under the root (`models/model_id=<id>/`), sorted; none on an object store
    (learning takes local roots, README "Object stores")."""
    folder = os.path.join(root, "models")
    if objectstore.is_url(root) or not os.path.isdir(folder):
        return []
    return [name.removeprefix("model_id=") for name in sorted(os.listdir(folder)) if name.startswith("model_id=")]


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


def eval_replies_path(root: str, run_id: str, round_index: int) -> str:
    """Every reply a simulation evaluated after one round of a run (round 0: its starting weights)."""
    return os.path.join(root, "eval_replies", f"run_id={run_id}", f"{round_name(round_index)}.parquet")


def simulation_nights_path(root: str, run_id: str) -> str:
    """The `simulation_nights` rows one night's run wrote."""
    return os.path.join(root, "simulation_nights", f"run_id={run_id}", "data.parquet")


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


def night_of(path: str) -> date:
    """The night a table file belongs to, from its folder name."""
    return date.fromisoformat(os.path.basename(os.path.dirname(path)).removeprefix("ingest_date="))


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


def night_manifest(root: str, night: date) -> str:
    """The file that publishes a night (written last): the files of its tables and its inputs."""
    return published.manifest_path(root, night.isoformat())


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
