"""The nightly run's configuration: one frozen RunConfig nesting the stage configs, loadable from TOML.

A config file has one table per stage, e.g. `[select]` with `languages = ["English", "French"]`;
unknown keys are errors. `afterword nightly --config night.toml` reads it.
"""

import tomllib
from dataclasses import asdict, dataclass, field, fields
from datetime import date

from pipelines.ingest import IngestConfig
from pipelines.segment import SegmentConfig
from pipelines.select import SelectConfig
from pipelines.sources import CHUNK_BYTES


@dataclass(frozen=True)
class RunConfig:
    ingest: IngestConfig = field(default_factory=IngestConfig)  # parsing and validation of records
    segment: SegmentConfig = field(default_factory=SegmentConfig)  # building (x, y, o)
    select: SelectConfig = field(default_factory=SelectConfig)  # selection rules
    chunk_bytes: int = CHUNK_BYTES  # plain JSONL files are split into chunks of about this many bytes
    duckdb_memory_limit: str = "3GB"  # DuckDB spills to the staging folder beyond this
    beam_args: tuple[str, ...] = ()  # Beam pipeline options, e.g. ("--runner=FlinkRunner", ...); () = local

    def __post_init__(self):
        if self.chunk_bytes < 1024:
            raise ValueError("chunk_bytes must be >= 1024")

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        """Build from plain data (a parsed TOML file, Prefect parameters); unknown keys raise."""
        stages = {"ingest": IngestConfig, "segment": SegmentConfig, "select": SelectConfig}
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}; known: {sorted(known)}")
        kwargs = {}
        for name, value in values.items():
            if name in stages:
                kwargs[name] = _build_stage(stages[name], value, name)
            elif name == "beam_args":
                kwargs[name] = tuple(value)
            else:
                kwargs[name] = value
        return cls(**kwargs)

    def to_dict(self) -> dict:
        """Plain data, JSON-ready (manifests, Prefect parameters)."""
        return asdict(self)


def _build_stage(config_class, values: dict, section: str):
    known = {f.name: f for f in fields(config_class)}
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"[{section}] has unknown keys {sorted(unknown)}; known: {sorted(known)}")
    kwargs = {}
    for name, value in values.items():
        if isinstance(value, list):
            value = tuple(value)
        if name in ("start_date", "end_date") and isinstance(value, str):
            value = date.fromisoformat(value)
        kwargs[name] = value
    return config_class(**kwargs)


def load_config(path: str | None) -> RunConfig:
    """RunConfig from a TOML file, or the defaults when no file is given."""
    if path is None:
        return RunConfig()
    with open(path, "rb") as handle:
        return RunConfig.from_dict(tomllib.load(handle))
