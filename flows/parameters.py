"""The checks of a run's parameters, the same whether a run starts from `afterword` or from a Prefect deployment.

Each check takes the name the user set the value under (`--date` on the command line, `night` as a deployment
parameter) and raises `InputError` with one line naming it and the fix, before anything is created under the
root. `cli/preflight.py` calls them with the flags' names; the flows call them with their parameters' names.
"""

from __future__ import annotations

from datetime import date

from pipelines import objectstore, sources
from pipelines.errors import InputError
from pipelines.store import layout as storage
from pipelines.store.root_access import require_writable_root


def night(text: str, name: str) -> date:
    """A YYYY-MM-DD night."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{name} {text!r}: use YYYY-MM-DD, e.g. 2026-11-27") from None


def inputs(paths: list[str], night_date: date, input_format: str | None, name: str) -> list[str]:
    """The inputs with `{night}` filled in, checked to exist and to hold at least one readable file (no CSV)."""
    filled = [path.replace("{night}", night_date.isoformat()) for path in paths]
    try:
        sources.refuse_unusable(sources.plan_chunks(filled, input_format))
    except InputError as error:
        raise InputError(f"{name}: {error}") from None
    return filled


def writable_root(root: str, name: str) -> str:
    """A storage root the run can create or write, checked without creating anything."""
    require_writable_root(root, name)
    return root


def published_interactions(root: str, night_date: date, fix: str) -> str:
    """The night's interactions file, which scoring reads; `fix`: the command or flow that publishes it."""
    path = storage.published_night_file(root, "interactions", night_date) if objectstore.exists(root) else None
    if path is None:
        raise InputError(f"no interactions for night {night_date} under {root}: {fix} first")
    return path
