"""The per-record half of the nightly run as an Apache Beam pipeline: chunks → staged Parquet parts.

Each chunk is read (`pipelines.sources`), ingested (`pipelines.ingest`) and segmented
(`pipelines.segment`) by one DoFn, which writes the chunk's conversations, rejects and candidate
interactions to the staging folder, then a `_done/<chunk>.json` marker with its counts. A rerun skips
chunks whose marker exists, so an interrupted night resumes. Locally it runs on Beam's in-process runner
with one worker per core; pass `--runner` and its options (Dask, Flink, Spark, Dataflow) through
`pipeline_args` to scale out (README: "Running the ingest on a cluster"); `pipelines/store/` reads the chunks
and writes the parts, locally or on an object store (s3://, gs://) alike, so workers need no shared mount:
they read the inputs from the bucket and write the staged parts and markers into it.
"""

import contextlib
import json
import logging
import os
import signal
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from flows.runtime import stop_signals_handled_by
from pipelines import arrow_ingest, ingest, objectstore, segment, sources
from pipelines.io import ROW_GROUP_ROWS
from pipelines.progress import polling
from pipelines.store.staging import chunk_done_marker, staged_part, worker_log_path, write_staged_file
from pipelines.store.storage_errors import worker_storage_error

STAGED_TABLES = ("conversations", "rejects", "interactions")


class IngestChunk:
    """Beam DoFn body (wrapped in `run_ingest_pipeline`): one chunk in, its counts out.

    The inputs and the staging folder may be local paths or object-store URLs alike (`pipelines/store/`
    decides how each is read and written: `staging.write_staged_file`); the marker goes last.
    """

    def __init__(self, staging_dir: str, ingest_date: str, ingest_cfg: dict, segment_cfg: dict):
        self.staging_dir = staging_dir
        self.ingest_date = ingest_date
        self.ingest_cfg = ingest.IngestConfig(**ingest_cfg)
        self.segment_cfg = segment.SegmentConfig(**segment_cfg)

    def __call__(self, chunk_fields: dict | str) -> dict:
        """`chunk_fields`: a chunk's fields, or them as JSON text, as they travel through Beam (its coders
        refuse the surrogate escapes Python gives a file name that is not UTF-8; JSON escapes them)."""
        chunk = sources.Chunk(**(json.loads(chunk_fields) if isinstance(chunk_fields, str) else chunk_fields))
        marker = chunk_done_marker(self.staging_dir, chunk.key)
        if objectstore.exists(marker):
            return read_marker(marker)
        raw = sources.read_chunk(chunk, self.ingest_cfg.max_record_bytes)
        # msgspec fast path, per-record orjson fallback: a DuckDB parse of the chunk measured slower
        # (benchmarks/README.md).
        # Parquet and Arrow chunks arrive as Arrow rows and are ingested without JSON (pipelines/arrow_ingest.py).
        result = arrow_ingest.ingest_chunk(raw, chunk, self.ingest_date, self.ingest_cfg)
        candidates = segment.segment_turns(result.conversations, self.segment_cfg)
        staged = dict(zip(STAGED_TABLES, (result.conversations, result.rejects, candidates), strict=True))
        for table, rows in staged.items():
            sink = pa.BufferOutputStream()
            # Uncompressed: a staged part is read once, by selection, then deleted; zstd here cost more time
            # than it saved (benchmarks/README.md). The stored tables are zstd.
            pq.write_table(rows, sink, compression="none", row_group_size=ROW_GROUP_ROWS)
            write_staged_file(staged_part(self.staging_dir, table, chunk.key), sink.getvalue())
        counts = {
            "chunk": chunk.key,
            "path": chunk.path,
            "records": raw.record_count,
            "blank_lines": raw.blank_lines,
            "lines": raw.lines,
            "conversations": result.conversations.num_rows,
            "rejects": result.rejects.num_rows,
            "candidates": candidates.num_rows,
        }
        # The marker goes last: it is what makes the chunk count as finished.
        write_staged_file(marker, (json.dumps(counts, indent=2, sort_keys=True) + "\n").encode())
        return counts

    def key_of_finished(self, chunk_json: str) -> str:
        """The pipeline's step: the chunk done, its key out (the counts, with their path, stay in the marker)."""
        return self(chunk_json)["chunk"]


def read_marker(path: str) -> dict:
    return json.loads(objectstore.read_bytes(path))


def run_ingest_pipeline(
    chunks: list[sources.Chunk],
    staging_dir: str,
    ingest_date: str,
    ingest_cfg: ingest.IngestConfig,
    segment_cfg: segment.SegmentConfig,
    pipeline_args: list[str] | None = None,
) -> list[dict]:
    """Run the Beam pipeline over all chunks and return every chunk's counts."""
    # Heavy import (2–3 s): only when the pipeline really runs.
    with quiet_beam_import():
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions

    # Beam's default local runner first tries to download Prism; the in-process runner works offline.
    markers = [chunk_done_marker(staging_dir, chunk.key) for chunk in chunks]
    pending = [
        json.dumps(asdict(chunk))
        for chunk, marker in zip(chunks, markers, strict=True)
        if not objectstore.exists(marker)
    ]
    workers = max(1, min(len(pending), os.cpu_count() or 1))
    # One process per core when there is more than one chunk; in-process otherwise (no start-up cost).
    defaults = [
        "--runner=FnApiRunner",
        f"--direct_num_workers={workers}",
        f"--direct_running_mode={'multi_processing' if workers > 1 else 'in_memory'}",
        "--default_sdk_harness_log_level=WARNING",
    ]
    options = PipelineOptions(pipeline_args or defaults)
    body = IngestChunk(staging_dir, ingest_date, asdict(ingest_cfg), asdict(segment_cfg))
    if pending:
        log_path = Path(worker_log_path(staging_dir))
        watch = polling("ingest chunks", len(chunks), lambda: _count_finished(staging_dir, markers))
        with watch, _stderr_to(log_path), _stopping_new_processes():
            pipeline = beam.Pipeline(options=options)
            (
                pipeline
                | "Chunks" >> beam.Create(pending)
                | "Spread" >> beam.Reshuffle()
                | "IngestAndSegment" >> beam.Map(body.key_of_finished)
            )
            try:
                result = pipeline.run()
                result.wait_until_finish()
            except Exception as error:
                storage_error = worker_storage_error(error)
                if storage_error is None:
                    raise
                raise storage_error from error
            # Beam's Dask runner leaves its distributed client connected; it would outlive the cluster.
            client = getattr(result, "client", None)
            if client is not None:
                client.close()
    return [read_marker(marker) for marker in markers]


def _count_finished(staging_dir: str, markers: list[str]) -> int:
    """How many of `markers` exist: one listing of `_done/` (on a store not a request per chunk every poll)."""
    done = objectstore.glob_in(os.path.dirname(chunk_done_marker(staging_dir, "*")), "*.json")
    return len(set(done) & set(markers))


@contextlib.contextmanager
def _stopping_new_processes(grace_s: float = 3.0):
    """Stop every process started inside that still runs, on the way out however the pipeline ended, and at
    once on SIGTERM/SIGINT (before the signal's own handler runs).

    Beam's local runner starts each SDK worker through `sh -c`, and on its way out waits for those shells,
    which wait for workers that wait for instructions: a signalled run hung there, or, killed, left its
    workers running on. They get SIGTERM, then SIGKILL after `grace_s`.
    """
    import psutil

    me = psutil.Process()
    before = {child.pid for child in me.children(recursive=True)}

    def stop_started() -> None:
        started = [child for child in me.children(recursive=True) if child.pid not in before]
        for child in started:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.terminate()
        _, alive = psutil.wait_procs(started, timeout=grace_s)
        for child in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        psutil.wait_procs(alive, timeout=grace_s)

    def stop_then_pass_on(signal_number, frame) -> None:
        stop_started()
        handler = previous[signal_number]
        if callable(handler):
            handler(signal_number, frame)  # the run's own handler (flows/runtime.py) raises RunStopped
        elif handler == signal.SIG_DFL:
            signal.signal(signal_number, signal.SIG_DFL)
            os.kill(os.getpid(), signal_number)

    try:
        with stop_signals_handled_by(stop_then_pass_on) as previous:
            yield
    finally:
        stop_started()


@contextlib.contextmanager
def _stderr_to(path: Path):
    """Send this process's stderr, which Beam's worker processes inherit, to a log file for the run.

    The workers log their start-up at INFO before any option can lower it; a failure still surfaces
    as the pipeline's exception, and the file under the staging folder keeps the details. The workers write
    into a pipe this process drains: were they to write the file themselves, a full disk would fail their
    error report and leave the runner waiting for it forever.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    reader, writer = os.pipe()
    drain = threading.Thread(target=_drain, args=(reader, path), name="beam-worker-stderr", daemon=True)
    drain.start()
    os.dup2(writer, 2)
    os.close(writer)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe ends once every worker holding it has exited
        os.close(saved)
        drain.join(timeout=5)


def _drain(reader: int, path: Path) -> None:
    """Copy the pipe into the log until every writer is gone; what a full disk refuses is dropped."""
    with open(reader, "rb", buffering=0) as pipe:
        try:
            log = open(path, "ab")  # noqa: SIM115 — closed below, after the pipe ends
        except OSError:
            log = None
        while block := pipe.read(65536):
            if log is not None:
                with contextlib.suppress(OSError):  # disk full: the run fails on its own writes, and names them
                    log.write(block)
        if log is not None:
            with contextlib.suppress(OSError):
                log.close()


@contextlib.contextmanager
def quiet_beam_import():
    """Import Beam inside: it warns at import that its optional BigQuery client is missing; nothing here uses
    BigQuery, so that one message is filtered out."""
    root_logger = logging.getLogger()
    root_logger.addFilter(_drop_bigquery_notice)
    try:
        yield
    finally:
        root_logger.removeFilter(_drop_bigquery_notice)


def _drop_bigquery_notice(record: logging.LogRecord) -> bool:
    return "apitools not found" not in record.getMessage()
