"""Ingest for records that arrive as Arrow rows (Parquet, `datasets` Arrow files, Hub datasets): the same rows
and reject reasons as `pipelines/ingest.py` gives their JSON text, with no JSON made for the records.

Only the columns `conversations` keeps are taken from the batch (message lists cut to role and content,
moderation to its flags: a WildChat row is mostly moderation scores), turned into Python objects and passed to
the per-record checks of `pipelines/normalise.py`, which alone name reject reasons. A rejected row is written out
as JSON for `rejects.raw`, the only JSON made. `ingest_chunk` is what the Beam worker calls for any chunk.
"""

from datetime import datetime

import orjson
import pyarrow as pa

from pipelines import ingest
from pipelines.ingest import IngestResult
from pipelines.ingest_config import IngestConfig
from pipelines.normalise import normalise_object
from pipelines.rejects import PRIVATE_FIELDS, RecordError, reject_row
from pipelines.sources import Chunk, RawChunk, text_path
from schemas import conversations as conversations_schema
from schemas import rejects as rejects_schema

# Per format: the column holding the message list and the message fields read from it.
MESSAGE_FIELDS = {
    "wildchat": ("conversation", ("role", "content")),
    "lmsys": ("conversation", ("role", "content")),
    "sharegpt": ("conversations", ("from", "value")),
    "openai": ("messages", ("role", "content")),
}
# Top-level columns any normaliser reads (the private ones only when kept).
READ_COLUMNS = (
    *("conversation_hash", "conversation_id", "id", "openai_moderation"),
    *("model", "timestamp", "language", "toxic", "redacted", "country", "state"),
)


def ingest_chunk(raw: RawChunk, chunk: Chunk, ingest_date: str, cfg: IngestConfig) -> IngestResult:
    """A read chunk's raw records (JSON text, read errors) and Arrow rows → conversations and rejects."""
    result = ingest.ingest_records(raw.records, chunk.source_format, ingest_date, cfg)
    if raw.rows is None or chunk.source_format is None:
        return result
    source_file = text_path(chunk.path)
    from_rows = ingest_rows(raw.rows, source_file, chunk.first_record, chunk.source_format, ingest_date, cfg)
    return IngestResult(
        conversations=pa.concat_tables([from_rows.conversations, result.conversations]),
        rejects=pa.concat_tables([from_rows.rejects, result.rejects]),
        fast_records=result.fast_records,
    )


def ingest_rows(
    rows: pa.Table, source_file: str, first_record: int, source_format: str, ingest_date: str, cfg: IngestConfig
) -> IngestResult:
    """Arrow rows (numbered from `first_record`) → conversations and rejects, one of the two per row."""
    date = datetime.strptime(ingest_date, "%Y-%m-%d").date()
    conversations: list[dict] = []
    rejects: list[dict] = []
    for offset, record in enumerate(read_columns(rows, source_format, cfg).to_pylist()):
        # A column a record lacked is null in Arrow: dropping nulls reads `record.get(a, record.get(b))` as
        # its JSON would (a message's missing content stays null, so it is non_text_content, not missing_content).
        record = {key: value for key, value in record.items() if value is not None}
        where = {"source_file": source_file, "source_record": first_record + offset, "ingest_date": date}
        try:
            row = normalise_object(record, source_format, cfg)
        except RecordError as error:
            payload = orjson.dumps(rows.slice(offset, 1).to_pylist()[0], default=str)
            rejects.append(reject_row(error, payload, source_format, cfg, where))
            continue
        conversations.append({**row, **where, "source_format": source_format})
    return IngestResult(
        conversations=pa.Table.from_pylist(conversations, schema=conversations_schema.SCHEMA),
        rejects=pa.Table.from_pylist(rejects, schema=rejects_schema.SCHEMA),
    )


def read_columns(rows: pa.Table, source_format: str, cfg: IngestConfig) -> pa.Table:
    """The columns the normalisers read, nested lists cut to the fields they read (to_pylist of a whole
    WildChat row builds thousands of moderation scores per record)."""
    messages_column, message_fields = MESSAGE_FIELDS[source_format]
    wanted = (*READ_COLUMNS, messages_column, *(PRIVATE_FIELDS if cfg.keep_private_fields else ()))
    kept = rows.select([name for name in rows.column_names if name in wanted])
    for name, fields in ((messages_column, message_fields), ("openai_moderation", ("flagged",))):
        if name in kept.column_names:
            position = kept.column_names.index(name)
            kept = kept.set_column(position, name, _keep_fields(kept.column(name), fields))
    return kept


def _keep_fields(column: pa.ChunkedArray, names: tuple[str, ...]) -> pa.ChunkedArray:
    """A list<struct> column with only the struct fields in `names`; any other column as it is."""
    if not pa.types.is_list(column.type) and not pa.types.is_large_list(column.type):
        return column
    item = column.type.value_type
    if not pa.types.is_struct(item):
        return column
    fields = [item.field(index) for index in range(item.num_fields) if item.field(index).name in names]
    make_list = pa.large_list if pa.types.is_large_list(column.type) else pa.list_
    return column.cast(make_list(pa.struct(fields)))
