from dataclasses import asdict

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from flows.beam_ingest import IngestChunk, run_ingest_pipeline
from pipelines.ingest_config import IngestConfig
from pipelines.segment import SegmentConfig
from pipelines.sources import plan_chunks
from tests.conftest import NIGHT, wildchat_record, write_jsonl


def counts_without_ids(counts):
    return (counts["records"], counts["conversations"], counts["rejects"], counts["candidates"])


def test_ingest_chunk_in_a_beam_test_pipeline(tmp_path):
    path = write_jsonl(tmp_path / "dump.jsonl", [wildchat_record(i) for i in range(6)] + ["{oops", "[]"])
    chunks = plan_chunks([str(path)], chunk_bytes=1024)
    body = IngestChunk(str(tmp_path / "staging"), NIGHT, asdict(IngestConfig()), asdict(SegmentConfig()))
    expected = [counts_without_ids(body(asdict(chunk))) for chunk in chunks]  # the same body, called directly
    for marker in (tmp_path / "staging" / "_done").iterdir():
        marker.unlink()
    with TestPipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as pipeline:
        counts = (
            pipeline | beam.Create([asdict(chunk) for chunk in chunks]) | beam.Map(body) | beam.Map(counts_without_ids)
        )
        assert_that(counts, equal_to(expected))
    assert sum(c[0] for c in expected) == 8
    assert sum(c[2] for c in expected) == 2


@pytest.mark.slow
def test_pipeline_resumes_skipping_finished_chunks(tmp_path):
    path = write_jsonl(tmp_path / "dump.jsonl", [wildchat_record(i) for i in range(30)])
    chunks = plan_chunks([str(path)], chunk_bytes=2048)
    staging = tmp_path / "staging"
    # A run that died after its first chunk: only that chunk's marker exists.
    IngestChunk(str(staging), NIGHT, asdict(IngestConfig()), asdict(SegmentConfig()))(asdict(chunks[0]))
    first_part = staging / "conversations" / f"{chunks[0].key}.parquet"
    written = first_part.stat().st_mtime_ns
    counts = run_ingest_pipeline(chunks, str(staging), NIGHT, IngestConfig(), SegmentConfig())
    assert first_part.stat().st_mtime_ns == written  # not redone
    assert sum(c["records"] for c in counts) == 30
    staged_rows = sum(pq.read_metadata(p).num_rows for p in (staging / "conversations").glob("*.parquet"))
    assert staged_rows == 30
