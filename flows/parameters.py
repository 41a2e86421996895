"""The checks of a run's parameters, the same whether a run starts from `afterword` or from a Prefect deployment.

Each check takes the name the user set the value under (`--date` on the command line, `night` as a deployment
parameter) and raises `InputError` with one line naming it and the fix, before anything is created under the
root. `cli/preflight.py` calls them with the flags' names; the flows call them with their parameters' names.
"""

from __future__ import annotations

import os
from datetime import date

from pipelines import objectstore, sources
from pipelines.errors import InputError
from pipelines.store import layout as storage


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
    if objectstore.is_url(root):
        if not objectstore.bucket_exists(root):
            raise InputError(
                f"{name} {root!r}: its bucket does not exist or these credentials cannot list it: create the bucket, "
                "or check AWS_ENDPOINT_URL, AWS_PROFILE and the access keys"
            )
        return root
    existing = os.path.abspath(root)
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        where = "is a file" if existing == os.path.abspath(root) else f"is under {existing!r}, a file"
        raise InputError(f"{name} {root!r} {where}, not a folder: pass a folder (it is created if missing)")
    if not os.access(existing, os.W_OK | os.X_OK):
        why = "on a read-only file system" if os.statvfs(existing).f_flag & os.ST_RDONLY else "not writable by you"
        raise InputError(
            f"{name} {root!r}: {existing} is {why}: remount it read-write or fix its permissions, or use another {name}"
        )
    return root


def published_interactions(root: str, night_date: date, fix: str) -> str:
    """The night's interactions file, which scoring reads; `fix`: the command or flow that publishes it."""
    path = storage.published_night_file(root, "interactions", night_date) if objectstore.exists(root) else None
    if path is None:
        raise InputError(f"no interactions for night {night_date} under {root}: {fix} first")
    return path
