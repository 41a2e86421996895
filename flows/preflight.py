"""Checks a command runs before any work or folder is created: every known mistake becomes one InputError.

Each returns what the flow needs (a parsed night, a loaded config, the expanded inputs) or raises
`pipelines.sources.InputError` with a one-line message that names the fix; the CLI prints it and exits 2.
"""

import os
import tomllib
from datetime import date

from flows.config import RunConfig, load_config
from pipelines import sources, storage
from pipelines.sources import InputError


def parse_night(text: str, flag: str = "--date") -> date:
    """A YYYY-MM-DD night."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{flag} {text!r}: use YYYY-MM-DD, e.g. 2026-11-27") from None


def run_config(path: str | None, flags: dict[str, str] | None = None) -> RunConfig:
    """The nightly RunConfig from a TOML file (or the defaults) and dotted flags, with the problem named."""
    return _load(path, lambda p: load_config(p, flags))


def train_config(path: str | None, flags: dict[str, str] | None = None, **overrides: object):
    """The trainer's TrainConfig from a TOML file's [train] table plus command-line flags and overrides."""
    from train.config import load_train_config  # the trainer's imports load only for `refresh`

    return _load(path, lambda p: load_train_config(p, flags, **overrides))


def _load(path: str | None, loader):
    if path is not None and not os.path.isfile(path):
        raise InputError(f"--config {path!r} does not exist")
    try:
        return loader(path)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"--config {path}: not valid TOML ({error})") from None
    except (ValueError, TypeError) as error:
        where = f"--config {path}" if path else "config"
        raise InputError(f"{where}: {error}") from None


def nightly_inputs(inputs: list[str], night: date, input_format: str | None) -> list[str]:
    """The inputs with `{night}` filled in, checked to exist and to be readable formats."""
    filled = [path.replace("{night}", night.isoformat()) for path in inputs]
    sources.plan_chunks(filled, input_format)
    return filled


def existing_root(root: str) -> str:
    """A storage root that exists (commands other than `nightly` never create one)."""
    if not os.path.isdir(root):
        raise InputError(f"storage root {root!r} does not exist: run `afterword nightly --root {root} ...` first")
    return root


def night_interactions(root: str, night: date) -> str:
    """The night's interactions file, which scoring reads."""
    path = storage.night_file(existing_root(root), "interactions", night)
    if not os.path.exists(path):
        raise InputError(
            f"no interactions for night {night} under {root}: run `afterword nightly --root {root} "
            f"--date {night} ...` first"
        )
    return path


def refresh_ready(cfg) -> None:
    """A refresh needs stored interactions, and logged mode a scoring run of logged replies."""
    existing_root(cfg.root)
    if not storage.table_files(cfg.root, "interactions"):
        raise InputError(f"no interactions under {cfg.root}: run `afterword nightly --root {cfg.root} ...` first")
    if cfg.mode == "logged" and not os.path.isdir(os.path.join(cfg.root, "scores")):
        raise InputError(
            f"nothing scored under {cfg.root}: logged mode trains on scored logged replies; run "
            "`afterword nightly` without --no-score (or `afterword score`) first, or use --mode onpolicy"
        )
