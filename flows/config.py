"""The nightly run's configuration: one frozen RunConfig nesting the stage configs, loadable from TOML.

A config file has one table per stage ([ingest], [segment], [select], [score] with its nested
[score.hindsight], [score.transformers] and [score.vllm]), e.g. `[select]` with `languages = ["English",
"French"]`; unknown keys are errors, and every value is checked against its field's annotation (then the
stage's own range checks) with one line naming the key (`pipelines/config_loading.py`).
`afterword nightly --config night.toml --score.hindsight.template offline` reads it, flags on top.
"""

from dataclasses import asdict, dataclass, field

import duckdb

from pipelines.backends.scoring_config import ScoringConfig
from pipelines.config_loading import build_config, read_toml, with_flags, with_overrides
from pipelines.hindsight import HindsightConfig
from pipelines.ingest_config import IngestConfig
from pipelines.segment import SegmentConfig
from pipelines.select import SelectConfig
from pipelines.sources import CHUNK_BYTES

# Keys a [score] table once held that now live in its nested [score.hindsight] / [score.transformers] tables.
MOVED_KEYS = {
    **{f"score.{name}": f"[score.hindsight] {name}" for name in HindsightConfig.__dataclass_fields__},
    "score.max_batch_tokens": "[score.transformers] max_batch_tokens",
}


@dataclass(frozen=True)
class RunConfig:
    ingest: IngestConfig = field(default_factory=IngestConfig)  # parsing and validation of records
    segment: SegmentConfig = field(default_factory=SegmentConfig)  # building (x, y, o)
    select: SelectConfig = field(default_factory=SelectConfig)  # selection rules
    score: ScoringConfig = field(default_factory=ScoringConfig)  # hindsight scoring of the selected interactions
    chunk_bytes: int = CHUNK_BYTES  # plain JSONL files are split into chunks of about this many bytes
    duckdb_memory_limit: str = "3GB"  # DuckDB spills to the staging folder beyond this
    beam_args: tuple[str, ...] = ()  # Beam pipeline options, e.g. ("--runner=FlinkRunner", ...); () = local

    def __post_init__(self):
        if self.chunk_bytes < 1024:
            raise ValueError("chunk_bytes must be >= 1024")
        try:  # DuckDB reads the size itself, so the check is exactly the one the run would meet
            duckdb.connect(config={"memory_limit": self.duckdb_memory_limit}).close()
        except duckdb.Error as error:
            raise ValueError(
                f"duckdb_memory_limit = {self.duckdb_memory_limit!r}: {error}; use a size such as '3GB' or '80%'"
            ) from None

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        """Build from plain data (a parsed TOML file, Prefect parameters); unknown keys raise ConfigError."""
        return build_config(cls, values, "config", MOVED_KEYS)

    def to_dict(self) -> dict:
        """Plain data, JSON-ready (manifests, Prefect parameters)."""
        return asdict(self)


def load_config(
    path: str | None, flags: dict[str, str] | None = None, overrides: dict[str, object] | None = None
) -> RunConfig:
    """RunConfig from a TOML file (or the defaults), dotted command-line flags (`score.shards`) on top, then the
    command's own flags as dotted `overrides` (`{"score.max_interactions": 12}`; None = unset)."""
    values = with_flags(read_toml(path), flags or {}, RunConfig)
    return RunConfig.from_dict(with_overrides(values, overrides))
