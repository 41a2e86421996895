"""An input file → the conversation format its records are in, read from its top only.

`sniff_format` names a Parquet or Arrow file's format from its columns, and a JSONL or JSON file's (gzipped or
not) from its first records, reading a megabyte first and up to SNIFF_BYTES only for a file that starts with
junk (`pipelines/formats.py` judges each record). `pipelines/sources.py` calls it once per file while planning,
unless --format names the format.
"""

from collections.abc import Iterator

import orjson
import pyarrow.parquet as pq

from pipelines import arrow_files, objectstore
from pipelines.formats import FORMATS, detect_format
from pipelines.gzip_members import read_gzip_file, read_gzip_head
from pipelines.json_documents import BOM, parse_json_document

SNIFF_BYTES = 64 * 1024 * 1024  # most (decompressed) bytes read to detect a file's format
QUICK_SNIFF_BYTES = 1024 * 1024  # read first; the rest of SNIFF_BYTES only when no known record is in it
SNIFF_LINES = 10_000  # lines read from the top of a JSONL file looking for records whose format is known
FORMAT_SNIFF_RECORDS = 50  # records read from the top of a JSON document to detect its format


class UnusableFileError(Exception):
    """The whole file can't be ingested; the message says why."""


def sniff_format(path: str, container: str) -> str:
    """The conversation format of a file (wildchat, lmsys, sharegpt, openai), from its columns or its first
    records; raises UnusableFileError when the file holds no record or none of a known format."""
    if container in ("parquet", "arrow"):
        if container == "arrow":
            names = arrow_files.arrow_schema(path).names
        else:
            with objectstore.open_binary(path) as handle:
                names = pq.read_schema(handle).names
        found = detect_format(dict.fromkeys(names))
        what = f"its columns {names[:8]}"
    else:
        # A megabyte nearly always holds a record of known format; the long read is for files that start
        # with junk.
        for limit in (QUICK_SNIFF_BYTES, SNIFF_BYTES):
            head = read_gzip_head(path, limit) if container.endswith(".gz") else _read_head(path, limit)
            found = next(filter(None, map(detect_format, _sniff_records(head, container))), None)
            if found or len(head) < limit:
                break
        if not head.removeprefix(BOM).strip():
            problem = read_gzip_file(path, SNIFF_BYTES).problem if container.endswith(".gz") else ""
            raise UnusableFileError(problem or "no records: the file holds only blank lines")
        what = "its first records"
    if found is None:
        raise UnusableFileError(f"can't tell the format from {what}; pass --format (one of {', '.join(FORMATS)})")
    return found


def _sniff_records(data: bytes, container: str) -> Iterator[dict]:
    """JSON objects from the top of a file; junk lines before the first record are skipped here
    (ingest rejects them one by one)."""
    if container.startswith("jsonl"):
        candidates = data.removeprefix(BOM).split(b"\n")[:SNIFF_LINES]
    else:
        candidates = parse_json_document(data.removeprefix(BOM))[0][:FORMAT_SNIFF_RECORDS]
    for item in candidates:
        try:
            record = orjson.loads(item)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict):
            yield record


def _read_head(path: str, limit: int) -> bytes:
    with objectstore.open_binary(path) as handle:
        return handle.read(limit)
