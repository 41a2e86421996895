"""Frozen configs from plain data: TOML tables, Prefect parameters and dotted command-line flags.

`build_config(SomeConfig, values, "[section]")` checks every key against the dataclass's fields (nested
dataclass fields take nested tables, e.g. `[score.hindsight]`), converts each value to its field's annotated
type and re-raises the config's own range checks as a `ConfigError` naming the key. `add_config_flags` and
`with_flags` turn the same dataclasses into `--score.hindsight.template offline`-style flags, applied on top
of a config file's values (`read_toml`), so any key can be set from TOML or from the command line; a command's
own flags (`--format`, `--rounds`) go on last (`with_overrides`). Each command builds its config once, here;
the object travels down, and only a Prefect deployment's parameters are rebuilt from a dict by the same code. Used by
`flows/config.py` (the nightly RunConfig), `train/config.py` (TrainConfig) and `afterword_cli.py`.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import difflib
import inspect
import re
import tomllib
import types
import typing
from datetime import date


class ConfigError(ValueError):
    """A config value has the wrong type or is out of range; the message names the key."""


def build_config(config_class, values: dict, where: str, moved: dict[str, str] | None = None):
    """`config_class` from plain data; unknown keys, wrong types and failed range checks raise ConfigError.

    `moved` maps a dotted key no longer accepted (`score.template`) to where it is set now.
    """
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a table of settings, got {values!r}")
    moved = moved or {}
    for key, place in moved.items():
        if key in values:
            raise ConfigError(f"{where} {key} has moved: set it as {place}")
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = set(values) - known
    if unknown:
        guesses = {key: difflib.get_close_matches(key, sorted(known), n=1) for key in sorted(unknown)}
        meant = ", ".join(f"{found[0]!r} for {key!r}" for key, found in guesses.items() if found)
        hint = f" (did you mean {meant}?)" if meant else ""
        raise ConfigError(f"{where} has unknown keys {sorted(unknown)}{hint}; known: {sorted(known)}")
    hints = typing.get_type_hints(config_class)
    kwargs = {}
    for name, value in values.items():
        inner = f"{where[:-1]}.{name}]" if where.startswith("[") else f"[{name}]"
        if dataclasses.is_dataclass(hints[name]):
            inner_moved = {k.removeprefix(f"{name}."): v for k, v in moved.items() if k.startswith(f"{name}.")}
            nested = value if isinstance(value, hints[name]) else build_config(hints[name], value, inner, inner_moved)
            kwargs[name] = nested
        else:
            kwargs[name] = _checked(value, hints[name], f"{where} {name}" if where.startswith("[") else name)
    try:
        return config_class(**kwargs)
    except ConfigError:
        raise
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from None


def add_config_flags(parser: argparse.ArgumentParser, config_class, prefix: str, skip: tuple[str, ...] = ()) -> None:
    """One `--<prefix>.<field>` flag per settable key of `config_class`, nested dataclasses included
    (`--score.hindsight.template`); `skip` names keys the command sets through flags of its own."""
    group = parser.add_argument_group(f"settings ({config_class.__name__}; on top of --config)")
    comments = _comments(config_class, prefix)
    for name, annotation, default in _leaves(config_class, prefix):
        if name in skip:
            continue
        shown = "required" if default is dataclasses.MISSING else f"default {default!r}"
        meaning = comments.get(name, "")
        group.add_argument(
            f"--{name}",
            dest=_FLAG + name,
            default=argparse.SUPPRESS,
            metavar="VALUE",
            help=f"{meaning} ({_describe(annotation)}; {shown})".replace("%", "%%"),
        )


def flag_settings(args: argparse.Namespace) -> dict[str, str]:
    """The config flags given on the command line, by dotted key: {"score.hindsight.template": "offline"}."""
    return {key.removeprefix(_FLAG): value for key, value in vars(args).items() if key.startswith(_FLAG)}


def with_flags(values: dict, flags: dict[str, str], config_class, prefix: str = "") -> dict:
    """A config file's `values` with every flag under `prefix` set on top (a copy). A flag's text is read as a
    TOML value (`12`, `true`, `["English"]`, `{enable_thinking = true}`) unless its field is a string."""
    merged = copy.deepcopy(values)
    strings = {name for name, annotation, _ in _leaves(config_class, prefix) if annotation is str}
    for dotted, text in flags.items():
        if prefix and not dotted.startswith(f"{prefix}."):
            continue
        *tables, key = dotted.removeprefix(f"{prefix}.").split(".") if prefix else dotted.split(".")
        target = merged
        for table in tables:
            target = target.setdefault(table, {})
        target[key] = text if dotted in strings else _toml_value(text)
    return merged


def read_toml(path: str | None) -> dict:
    """A TOML file's tables, or {} without a file (every setting at its default)."""
    if not path:
        return {}
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def with_overrides(values: dict, overrides: dict[str, object] | None) -> dict:
    """`values` with each dotted key of `overrides` set (a copy), last of all: a command's own flags (`--format`,
    `--score-limit`, `--rounds`) arrive here, on top of the file and the dotted flags. None leaves a key as it is."""
    merged = copy.deepcopy(values)
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        *tables, key = dotted.split(".")
        target = merged
        for table in tables:
            target = target.setdefault(table, {})
        target[key] = value
    return merged


_FLAG = "config:"


def _leaves(config_class, prefix: str) -> list[tuple[str, object, object]]:
    """(dotted name, annotation, default) of every non-dataclass field, depth first."""
    leaves = []
    hints = typing.get_type_hints(config_class)
    for f in dataclasses.fields(config_class):
        name = f"{prefix}.{f.name}" if prefix else f.name
        if dataclasses.is_dataclass(hints[f.name]):
            leaves += _leaves(hints[f.name], name)
        else:
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            leaves.append((name, hints[f.name], default))
    return leaves


def _comments(config_class, prefix: str) -> dict[str, str]:
    """Each field's trailing `# comment` in its dataclass's source (the house style documents every field so),
    by dotted name; nested dataclasses included."""
    comments = {}
    hints = typing.get_type_hints(config_class)
    source = inspect.getsource(config_class)
    for f in dataclasses.fields(config_class):
        name = f"{prefix}.{f.name}" if prefix else f.name
        if dataclasses.is_dataclass(hints[f.name]):
            comments.update(_comments(hints[f.name], name))
        elif match := re.search(rf"^\s+{f.name}: [^\n]*?  # (.*)$", source, re.MULTILINE):
            comments[name] = match[1]
    return comments


def _toml_value(text: str):
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word: the field's own check names what it expects


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
        if (
            option is int
            and isinstance(value, int)
            and not isinstance(value, bool)
            and not INT64[0] <= value <= INT64[1]
        ):
            # Parquet, DuckDB and Arrow hold 64-bit integers: a larger one would overflow wherever it lands.
            raise ConfigError(f"{key} = {value}: beyond a 64-bit integer (at most {INT64[1]}); use a smaller value")
        converted = _convert(value, option)
        if converted is not _MISMATCH:
            return converted
    raise ConfigError(f"{key} = {value!r}: expected {_describe(annotation)}")


_MISMATCH = object()
INT64 = (-(2**63), 2**63 - 1)  # the integers a config value may hold


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
        elif typing.get_origin(option) is dict or option is dict:
            described.append("a table")
        else:
            described.append(names.get(option, str(option)))
    return " or ".join(described)
