"""Reading a storage root as a reader does, for tests of more than one folder."""

from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import objectstore
from pipelines.store import layout as storage


def published_night_tables(root: str, night: str) -> dict[str, pa.Table]:
    """The night's four tables as a reader finds them: through the night's manifest."""
    tables = {}
    for table in storage.TABLES:
        path = storage.published_night_file(root, table, date.fromisoformat(night))
        with objectstore.open_binary(path) as handle:
            tables[table] = pq.read_table(handle)
    return tables
