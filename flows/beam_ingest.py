"""The per-record half of the nightly run as an Apache Beam pipeline: chunks → staged Parquet parts.

Each chunk is read, ingested (`pipelines.ingest`) and segmented (`pipelines.segment`) by one DoFn,
which writes the chunk's conversations, rejects and candidate interactions to the staging folder,
then a `_done/<chunk>.json` marker with its counts. A rerun skips chunks whose marker exists, so an
interrupted night resumes. Locally it runs on Beam's in-process runner with one worker per core; pass
`--runner` and its options (Flink, Spark, Dataflow) through `pipeline_args` to scale out.
"""

import contextlib
import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path

from pipelines import ingest, segment, sources, storage
from pipelines.io import write_json, write_table
from pipelines.progress import polling

STAGED_TABLES = ("conversations", "rejects", "interactions")


class IngestChunk:
    """Beam DoFn body (wrapped in `run_ingest_pipeline`): one chunk in, its counts out."""

    def __init__(self, staging_dir: str, ingest_date: str, ingest_cfg: dict, segment_cfg: dict):
        self.staging_dir = staging_dir
        self.ingest_date = ingest_date
        self.ingest_cfg = ingest.IngestConfig(**ingest_cfg)
        self.segment_cfg = segment.SegmentConfig(**segment_cfg)

    def __call__(self, chunk_fields: dict) -> dict:
        chunk = sources.Chunk(**chunk_fields)
        marker = Path(storage.chunk_done_marker(self.staging_dir, chunk.key))
        if marker.exists():
            return json.loads(marker.read_text())
        raw, blank_lines = sources.read_chunk(chunk)
        result = ingest.ingest_records(raw, chunk.source_format, self.ingest_date, self.ingest_cfg)
        candidates = segment.segment_turns(result.conversations, self.segment_cfg)
        staged = dict(zip(STAGED_TABLES, (result.conversations, result.rejects, candidates), strict=True))
        for table, rows in staged.items():
            write_table(rows, storage.staged_part(self.staging_dir, table, chunk.key))
        counts = {
            "chunk": chunk.key,
            "path": chunk.path,
            "records": raw.num_rows,
            "blank_lines": blank_lines,
            "conversations": result.conversations.num_rows,
            "rejects": result.rejects.num_rows,
            "candidates": candidates.num_rows,
        }
        # The marker goes last: it is what makes the chunk count as finished.
        write_json(counts, marker)
        return counts


def run_ingest_pipeline(
    chunks: list[sources.Chunk],
    staging_dir: str,
    ingest_date: str,
    ingest_cfg: ingest.IngestConfig,
    segment_cfg: segment.SegmentConfig,
    pipeline_args: list[str] | None = None,
) -> list[dict]:
    """Run the Beam pipeline over all chunks and return every chunk's counts."""
    # Heavy import (2–3 s): only when the pipeline really runs. Beam warns at import that its optional
    # BigQuery client is missing; nothing here uses BigQuery, so that one message is filtered out.
    root_logger = logging.getLogger()
    root_logger.addFilter(_drop_bigquery_notice)
    try:
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions
    finally:
        root_logger.removeFilter(_drop_bigquery_notice)

    # Beam's default local runner first tries to download Prism; the in-process runner works offline.
    done = [Path(storage.chunk_done_marker(staging_dir, chunk.key)) for chunk in chunks]
    pending = [asdict(chunk) for chunk, marker in zip(chunks, done, strict=True) if not marker.exists()]
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
        log_path = Path(staging_dir) / "beam-workers.log"
        watch = polling("ingest chunks", len(chunks), lambda: sum(marker.exists() for marker in done))
        with watch, _stderr_to(log_path), beam.Pipeline(options=options) as pipeline:
            (
                pipeline
                | "Chunks" >> beam.Create(pending)
                | "Spread" >> beam.Reshuffle()
                | "IngestAndSegment" >> beam.Map(body)
            )
    return [json.loads(marker.read_text()) for marker in done]


@contextlib.contextmanager
def _stderr_to(path: Path):
    """Send this process's stderr, which Beam's worker processes inherit, to a log file for the run.

    The workers log their start-up at INFO before any option can lower it; a failure still surfaces
    as the pipeline's exception, and the file under the staging folder keeps the details.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _drop_bigquery_notice(record: logging.LogRecord) -> bool:
    return "apitools not found" not in record.getMessage()
