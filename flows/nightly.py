"""The `nightly` Prefect flow: raw dumps → conversations / rejects → interactions → scores → catalog.

Composes the stages and nothing else: plan the input chunks, ingest and segment them in Beam
(resumable per chunk), select in DuckDB and store the night's tables, check the data contracts,
score the selected interactions shard by shard (resumable per shard; `score=False` skips it), write the
run's manifest, publish the catalog, and leave a markdown summary artifact. Tracked by a Prefect server when
one is configured, else run in-process (`flows/runtime.py`); deployed on a cron schedule by `prefect.yaml`,
where the night defaults to last night (yesterday, UTC). Inputs and root may be object-store URLs: Beam's
workers then read the bucket and stage into it, and selection runs here on local copies of the staged parts.
`afterword nightly --input dump.jsonl --root out/` calls it.
"""

import hashlib
import json
import os
import secrets
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime

import pyarrow as pa
from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.task_runners import ThreadPoolTaskRunner

from flows import parameters
from flows.beam_ingest import run_ingest_pipeline
from flows.config import RunConfig
from flows.runtime import (
    artifact_key,
    call,
    is_transient,
    last_night,
    publish_artifact,
    run_logger,
    stops_on_signals,
)
from flows.scoring import score_night_shard
from pipelines import objectstore, select, sources
from pipelines.io import code_version, write_json, write_table
from pipelines.store import layout as storage
from pipelines.store import night_commit
from pipelines.store.lock import check_writer_lock, holds_writer_lock
from pipelines.store.publish import publish_catalog
from pipelines.store.retire import retire_night_scores, retired_runs
from pipelines.store.staging import (
    claim_staging,
    release_staging,
    resume_run_id,
    selection_folder,
    staged_run_files,
    staging_dir,
    sweep_staging,
)
from schemas import runs


class CountMismatchError(RuntimeError):
    """records in != conversations + rejects: a record was lost or doubled (a bug, never expected)."""


class NightPublishedError(sources.InputError):
    """The night is already published from other inputs or settings, and the run did not say --replace."""


class EmptyNightError(sources.InputError):
    """The night would hold no interaction for a reason that is a mistake (nothing readable, everything filtered)."""


class StagingSharedError(sources.InputError):
    """The root's `_staging` is the same folder as another root's: the two would sweep each other's work."""


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=is_transient, cache_policy=NONE)
def plan_inputs(inputs: list[str], cfg: RunConfig) -> tuple[list[sources.Chunk], list[dict]]:
    """Resolve Hugging Face datasets to their files (once: the commit read is the one recorded), expand the
    inputs and cut them into chunks; the datasets go into the runs row."""
    files, datasets = sources.resolve_inputs(inputs)
    return sources.plan_chunks(files, cfg.ingest.input_format, cfg.chunk_bytes), [d.as_row() for d in datasets]


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=is_transient, cache_policy=NONE)
def ingest_and_segment(chunks: list[sources.Chunk], staging: str, night: date, cfg: RunConfig) -> list[dict]:
    """Beam: every chunk → staged conversations, rejects, candidate interactions (finished chunks skipped)."""
    return run_ingest_pipeline(chunks, staging, night.isoformat(), cfg.ingest, cfg.segment, list(cfg.beam_args))


@task(retries=1, retry_delay_seconds=5, retry_condition_fn=is_transient, cache_policy=NONE)
def select_and_store(root: str, staging: str, night: date, cfg: RunConfig, record_offsets: dict[str, int]) -> dict:
    """DuckDB: the staged parts and every other night → the night's four tables beside the staged parts, then
    the data contracts (`pipelines.select.select_and_write`)."""
    return select.select_and_write(root, staging, night, cfg.select, cfg.duckdb_memory_limit, record_offsets)


# The store's commit (new table versions, then the manifest swap that publishes the night) as a task.
commit_night = task(
    night_commit.commit_night, retries=2, retry_delay_seconds=5, retry_condition_fn=is_transient, cache_policy=NONE
)


@task(retries=1, retry_delay_seconds=10, retry_condition_fn=is_transient, cache_policy=NONE)
def score_shard(root: str, night: date, shard: int, cfg: RunConfig) -> dict:
    """One shard of the night's interactions through the hindsight scorer (finished shards skipped)."""
    return score_night_shard(root, night, shard, cfg.score)


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=is_transient, cache_policy=NONE)
def publish(root: str) -> str:
    """Refresh the analyst catalog."""
    return publish_catalog(root)


# Shards run one at a time in this process (one model in memory); fan out with `afterword score --shard`.
# The whole run holds the root's writer lock: a second writer on the same root fails before touching it.
# SIGTERM/SIGINT unwind the run inside the lock: workers stopped, temporary files swept, lock released.
@flow(name="nightly", log_prints=False, task_runner=ThreadPoolTaskRunner(max_workers=1))
def nightly(
    inputs: list[str],
    root: str,
    night: str | None = None,
    config: dict | None = None,
    score: bool = True,
    replace: bool = False,
) -> dict:
    """Ingest, segment, select, score and publish one night of raw dumps under `root`.

    A published night is kept as it is: rerunning it with other inputs or settings needs `replace=True`.
    The parameters are checked first, by the names a deployment sets them under, before the root is touched.
    """
    cfg = RunConfig.from_dict(config or {})
    night_date = parameters.night(night, "night") if night else last_night()
    parameters.writable_root(root, "root")
    filled = parameters.inputs(inputs, night_date, cfg.ingest.input_format, "inputs")
    return publish_night(filled, root, night_date, cfg, score, replace)


@stops_on_signals
@holds_writer_lock("nightly")
def publish_night(inputs: list[str], root: str, night_date: date, cfg: RunConfig, score: bool, replace: bool) -> dict:
    """The night's work under the root's writer lock: plan, ingest, select, commit, score, publish."""
    logger = run_logger()
    started = datetime.now(UTC)
    timings: dict[str, float] = {}

    clock = time.perf_counter()
    chunks, datasets = call(plan_inputs, inputs, cfg)
    fingerprint = _hash_inputs_meanwhile(chunks, cfg)
    replacing = _replaces_published_night(root, night_date, fingerprint, replace)
    staging = _claim_night_staging(root, night_date, chunks, cfg)
    # An interrupted run of the same plan resumes under its own id, so it never adds a second `runs` row.
    run_id = resume_run_id(staging, f"{night_date.isoformat()}T{started:%H%M%S}-{secrets.token_hex(3)}")
    timings["plan_s"] = time.perf_counter() - clock
    logger.info("night %s: %d input file(s) in %d chunk(s)", night_date, len({c.path for c in chunks}), len(chunks))

    clock = time.perf_counter()
    chunk_counts = call(ingest_and_segment, chunks, staging, night_date, cfg)
    timings["ingest_segment_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    # JSONL ranges are numbered from 1 by the workers; their files' earlier ranges give the offsets.
    offsets = sources.line_offsets(chunks, {counts["chunk"]: counts["lines"] for counts in chunk_counts})
    with selection_folder(staging) as selecting:
        result = call(select_and_store, root, selecting, night_date, cfg, offsets)
        timings["select_store_s"] = time.perf_counter() - clock

        _check_selection(night_date, chunk_counts, result)
        check_writer_lock(root)  # removed by hand, the lock no longer keeps a second writer out: publish nothing
        # The old night's scores go first, so no reader ever sees a score whose interaction is gone.
        retired = _retire_replaced_scores(root, night_date, run_id, replacing)
        summary = _summary(run_id, night_date, root, chunk_counts, result, datasets, fingerprint.result(), retired)
        # Recorded before the commit: should the run die right after it, the next writer puts this in place.
        _record_run(staged_run_files(staging), summary | {"timings": _rounded(timings)}, cfg, started)
        call(commit_night, root, selecting, night_date, fingerprint.result(), run_id)
    failed = {name: rows for name, rows in result["checks"].items() if rows}
    if failed:
        logger.warning("data contracts failed (rows violating each): %s", failed)

    scored = []
    if score and result["stored"]["interactions"]:
        clock = time.perf_counter()
        scored = _score_shards(root, night_date, cfg)
        timings["score_s"] = time.perf_counter() - clock
    summary |= {
        "scoring_run": scored[0]["run_id"] if scored else None,
        "scored_replies": sum(s["rows"] for s in scored),
        "timings": _rounded(timings),
    }
    _record_run(storage.run_files(root, run_id), summary, cfg, started)
    call(publish, root)
    objectstore.remove_tree(staging)
    release_staging(root)
    _log_published(night_date, summary, score)
    publish_artifact(artifact_key("nightly", root, night_date.isoformat()), _summary_markdown(summary), run_id)
    return summary


def _hash_inputs_meanwhile(chunks: list[sources.Chunk], cfg: RunConfig) -> Future[dict]:
    """The night's fingerprint, hashed in the background: every input byte takes seconds per 10 GB, so it
    overlaps the ingest, unless a published night has to be compared with this run first."""
    hashing = ThreadPoolExecutor(max_workers=1)
    fingerprint = hashing.submit(storage.night_fingerprint, chunks, cfg.to_dict())
    hashing.shutdown(wait=False)  # the submitted hash still runs to the end
    return fingerprint


def _replaces_published_night(root: str, night_date: date, fingerprint: Future[dict], replace: bool) -> bool:
    """Whether the night is published from other inputs or settings, so this run replaces it; refused
    (NightPublishedError) unless the run said `replace`."""
    if not objectstore.exists(storage.night_manifest(root, night_date)):
        return False
    refusal = storage.replacement_refusal(root, night_date, fingerprint.result())
    if refusal and not replace:
        raise NightPublishedError(refusal)
    return bool(refusal)


def _claim_night_staging(root: str, night_date: date, chunks: list[sources.Chunk], cfg: RunConfig) -> str:
    """This plan's staging folder, once the root's `_staging` is claimed and what earlier plans of this night
    and published nights left there is swept."""
    if other_root := claim_staging(root):
        raise StagingSharedError(
            f"{os.path.join(root, '_staging')} is the staging folder of the root {other_root} too: give each root "
            "its own (remove the link), or run this night in that root"
        )
    staging = staging_dir(root, night_date, _plan_key(chunks, cfg))
    swept = sweep_staging(root, night_date, staging) + night_commit.sweep_published_staging(root, staging)
    if swept:
        run_logger().info("removed staging of this night's earlier plans and of published nights: %s", ", ".join(swept))
    return staging


def _check_selection(night_date: date, chunk_counts: list[dict], result: dict) -> None:
    """Refuse to publish a night that lost or doubled a record, or that is empty by mistake."""
    records_in = sum(c["records"] for c in chunk_counts)
    stored = result["stored"]
    if records_in != stored["conversations"] + stored["rejects"]:
        raise CountMismatchError(
            f"records in {records_in} != conversations {stored['conversations']} + rejects {stored['rejects']}"
        )
    if problem := select.empty_night_problem(stored, result["reject_reasons"], result["filter_report"]):
        raise EmptyNightError(f"night {night_date}: {problem}; nothing was published")


def _retire_replaced_scores(root: str, night_date: date, run_id: str, replacing: bool) -> list[str]:
    """The replaced night's scoring runs, moved under retired/ (or those an interrupted run of this id moved)."""
    retired = retire_night_scores(root, night_date.isoformat(), run_id) if replacing else retired_runs(root, run_id)
    if retired:
        run_logger().info("retired the replaced night's scoring runs (kept under retired/): %s", ", ".join(retired))
    return retired


def _score_shards(root: str, night_date: date, cfg: RunConfig) -> list[dict]:
    """Every shard of the night's interactions through the scorer, one after the other (one model in memory)."""
    scored = [call(score_shard, root, night_date, shard, cfg) for shard in range(cfg.score.shards)]
    run_logger().info("scored %d replies in %d shard(s)", sum(s["rows"] for s in scored), len(scored))
    return scored


def _log_published(night_date: date, summary: dict, score: bool) -> None:
    """The one line that says what the night published."""
    run_logger().info(
        "night %s published: %d records in → %d conversations, %d rejects, %d interactions; %s",
        night_date, summary["records_in"], summary["conversations"], summary["rejects"], summary["interactions"],
        f"{summary['scored_replies']} replies scored" if score else "scoring off",
    )  # fmt: skip


def _summary(
    run_id: str,
    night: date,
    root: str,
    chunk_counts: list[dict],
    result: dict,
    datasets: list[dict],
    fingerprint: dict,
    retired: list[str],
) -> dict:
    """What the run did up to its commit (the scoring after it is added by the caller)."""
    stored = result["stored"]
    return {
        "run_id": run_id,
        "night": night.isoformat(),
        "root": objectstore.absolute(root),
        "catalog": storage.catalog_path(objectstore.absolute(root)),
        "records_in": sum(c["records"] for c in chunk_counts),
        "blank_lines": sum(c["blank_lines"] for c in chunk_counts),
        "conversations": stored["conversations"],
        "rejects": stored["rejects"],
        "interactions": stored["interactions"],
        "reject_reasons": result["reject_reasons"],
        "filter_report": [list(row) for row in result["filter_report"]],
        "checks": result["checks"],
        "inputs": _records_per_file(chunk_counts),
        "input_datasets": datasets,
        "input_fingerprints": fingerprint["inputs"],
        "scoring_run": None,
        "scored_replies": 0,
        "retired_scoring_runs": retired,
    }


def _plan_key(chunks: list[sources.Chunk], cfg: RunConfig) -> str:
    """Changes when the inputs (their size or modification time) or the per-record config change."""
    files = sorted({c.path for c in chunks})
    stamp = [(path, *objectstore.version_stamp(path)) for path in files]
    payload = json.dumps([stamp, [c.key for c in chunks], cfg.to_dict()["ingest"], cfg.to_dict()["segment"]])
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _rounded(timings: dict[str, float]) -> dict[str, float]:
    return {name: round(seconds, 3) for name, seconds in timings.items()}


def _records_per_file(chunk_counts: list[dict]) -> dict[str, int]:
    per_file: dict[str, int] = {}
    for counts in chunk_counts:
        per_file[counts["path"]] = per_file.get(counts["path"], 0) + counts["records"]
    return per_file


def _record_run(files: tuple[str, str], summary: dict, cfg: RunConfig, started: datetime) -> None:
    """The run's manifest and `runs` row, written to `files` (`storage.run_files` or their staged copies)."""
    finished = datetime.now(UTC)
    version = code_version()
    manifest_path, row_path = files
    manifest = {
        **summary,
        "config": cfg.to_dict(),
        "code_version": version,
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
    }
    write_json(manifest, manifest_path)
    row = {
        "run_id": summary["run_id"],
        "started_at": started,
        "finished_at": finished,
        "input_files": sorted(map(sources.text_path, summary["inputs"])),
        "records_in": summary["records_in"],
        "conversations": summary["conversations"],
        "rejects": summary["rejects"],
        "interactions": summary["interactions"],
        "code_version": version,
        "config_json": json.dumps(cfg.to_dict(), default=str, sort_keys=True),
        "ingest_date": date.fromisoformat(summary["night"]),
        "input_datasets": summary["input_datasets"],
        "retired_scoring_runs": summary["retired_scoring_runs"],
    }
    write_table(pa.Table.from_pylist([row], schema=runs.SCHEMA), row_path)


def _summary_markdown(summary: dict) -> str:
    lines = [
        f"# Night {summary['night']} — run `{summary['run_id']}`",
        "",
        "| records in | conversations | rejects | interactions |",
        "|---:|---:|---:|---:|",
        f"| {summary['records_in']} | {summary['conversations']} | {summary['rejects']} | {summary['interactions']} |",
        "",
        "## Rejects by reason",
        "",
        "| reason | records |",
        "|---|---:|",
        *[f"| {reason} | {rows} |" for reason, rows in summary["reject_reasons"].items()],
        "",
        f"Scored replies: {summary['scored_replies']} (scoring run `{summary['scoring_run']}`)"
        if summary["scoring_run"]
        else "Not scored (scoring off, or no interaction to score): `afterword score` or the score-shard deployment "
        "scores it later",
        "",
        "## Selection",
        "",
        "| level | reason | rows |",
        "|---|---|---:|",
        *[f"| {level} | {reason} | {rows} |" for level, reason, rows in summary["filter_report"]],
    ]
    return "\n".join(lines)
