"""Ingest: raw records (one JSON document each) → normalised `conversations` rows and `rejects` rows.

Takes the table `pipelines.sources.read_chunk` produces (source_file, source_record, raw bytes,
read_error) and returns both tables. Every input row lands in exactly one of them; a record is never
dropped and never crashes the run. Run per chunk by the nightly flow's Beam pipeline
(`afterword nightly --input dump.jsonl --root out/`).

Two paths give the same rows. The fast path (`pipelines/fast_ingest.py`) decodes a record with msgspec into a
typed Struct of only the fields kept, without building the objects `orjson.loads` would make for the rest (most
of a WildChat record is moderation scores). It never rejects: a record it can't decode or can't vouch for
(types, JSON orjson reads differently, a timestamp that doesn't parse) goes through the per-record path (orjson
+ Python checks, `pipelines/normalise.py`), which alone names reject reasons (`pipelines/rejects.py`);
tests/differential checks both give identical tables.
"""

import contextlib
import gc
from datetime import datetime
from typing import NamedTuple

import pyarrow as pa

from pipelines import fast_ingest
from pipelines.formats import OVERSIZED_READ
from pipelines.ingest_config import IngestConfig
from pipelines.normalise import normalise_decoded, normalise_record
from pipelines.rejects import OVERSIZED_RECORD, UNREADABLE_INPUT, RecordError, reject_row
from schemas import conversations as conversations_schema
from schemas import rejects as rejects_schema


class IngestResult(NamedTuple):
    conversations: pa.Table
    rejects: pa.Table
    fast_records: int = 0  # conversations the msgspec fast path normalised (the rest went record by record)


def ingest_records(raw: pa.Table, source_format: str | None, ingest_date: str, cfg: IngestConfig) -> IngestResult:
    """Parse, normalise and validate raw records; split them into conversations and rejects.

    `source_format` is None only for a file that could not be read, whose rows all carry a read_error.
    """
    date = datetime.strptime(ingest_date, "%Y-%m-%d").date()
    conversations: list[dict] = []
    rejects: list[dict] = []
    fast_records = 0
    files = raw.column("source_file").to_pylist()
    numbers = raw.column("source_record").to_pylist()
    payloads = fast_ingest.raw_views(raw.column("raw"))
    read_errors = raw.column("read_error").to_pylist()
    if source_format is None:
        vouched = [False] * raw.num_rows
    else:
        vouched = fast_ingest.screen_records(raw.column("raw")).tolist()
        decoder = fast_ingest.record_decoder(source_format)
    rows = zip(files, numbers, payloads, read_errors, vouched, strict=True)
    with _collector_paused():
        for source_file, source_record, payload, read_error, fast in rows:
            row = None
            if fast and read_error is None and len(payload) <= cfg.max_record_bytes:
                record = fast_ingest.decode_record(decoder, payload)
                row = None if record is None else normalise_decoded(record, cfg)
                fast_records += row is not None
            if row is None:
                try:
                    payload = bytes(payload)
                    if read_error is not None and read_error.startswith(OVERSIZED_READ):
                        raise RecordError(OVERSIZED_RECORD, read_error.removeprefix(OVERSIZED_READ))
                    if read_error is not None:
                        raise RecordError(UNREADABLE_INPUT, read_error)
                    row = normalise_record(payload, source_format, cfg)
                except RecordError as error:
                    where = {"source_file": source_file, "source_record": source_record, "ingest_date": date}
                    rejects.append(reject_row(error, payload, source_format, cfg, where))
                    continue
            row.update(source_format=source_format, source_file=source_file, source_record=source_record)
            row["ingest_date"] = date
            conversations.append(row)
    return IngestResult(
        conversations=pa.Table.from_pylist(conversations, schema=conversations_schema.SCHEMA),
        rejects=pa.Table.from_pylist(rejects, schema=rejects_schema.SCHEMA),
        fast_records=fast_records,
    )


@contextlib.contextmanager
def _collector_paused():
    """Pause Python's cycle collector: a chunk makes tens of thousands of objects without cycles, and each
    collection their allocations trigger walks every live object in the worker for nothing."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()
