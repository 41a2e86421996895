"""The real samples of ../shared/data through the project's own stages (read in place, never copied)."""

from datetime import date

from pipelines.ingest import ingest_records
from pipelines.ingest_config import IngestConfig
from pipelines.segment import SegmentConfig, segment_turns
from pipelines.select import SelectConfig, StagedPart, select_night
from pipelines.sources import plan_chunks, read_chunk
from schemas import conversations as conversations_schema
from schemas import interactions as interactions_schema
from tests.conftest import NIGHT


def ingest_file(path):
    """(format, IngestResult) of every chunk of one input file, ingested as night NIGHT."""
    results = []
    for chunk in plan_chunks([str(path)]):
        raw = read_chunk(chunk).records
        results.append((chunk.source_format, ingest_records(raw, chunk.source_format, NIGHT, IngestConfig())))
    return results


def select_file(con, path):
    """A one-chunk file through ingest, segmentation and the default selection rules on `con`."""
    ((_, staged),) = ingest_file(path)
    con.register("staged_conversations", staged.conversations)
    con.register("staged_rejects", staged.rejects)
    candidates = segment_turns(staged.conversations, SegmentConfig())
    con.register("staged_interactions", candidates)
    con.register("earlier_conversations", conversations_schema.SCHEMA.empty_table())
    con.register("earlier_interactions", interactions_schema.SCHEMA.empty_table())
    parts = {"conversations": [StagedPart(staged.conversations)], "interactions": [StagedPart(candidates)]}
    return select_night(con, date.fromisoformat(NIGHT), SelectConfig(), parts)
