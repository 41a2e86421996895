"""What a command may do with a storage root, checked before anything is created under it.

A root is a local folder or a bucket, and each is checked its own way here: `require_writable_root` (can the run
create or write it), `require_local_root` (a command that writes checkpoints and plots as folders refuses a
bucket) and `describe_root` (what `afterword env` shows). The commands and flows call these and never ask which
kind of root they were given.
"""

import os

from pipelines import objectstore
from pipelines.errors import InputError


def require_writable_root(root: str, name: str) -> None:
    """Raise InputError, naming the setting `name`, unless the run can create or write `root`; creates nothing."""
    if objectstore.is_url(root):
        if not objectstore.bucket_exists(root):
            raise InputError(
                f"{name} {root!r}: its bucket does not exist or these credentials cannot list it: create the bucket, "
                "or check AWS_ENDPOINT_URL, AWS_PROFILE and the access keys"
            )
        return
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


def require_local_root(root: str, command: str) -> str:
    """`root`, unless it is a bucket: commands that write model checkpoints and plots as folders take local roots
    only (README "Object stores")."""
    if objectstore.is_url(root):
        raise InputError(
            f"afterword {command} needs a local --root (it writes checkpoints and plots as folders); {root} is an "
            "object store: copy the tables it needs to a local root, or run nightly, score, report and query there"
        )
    return root


def describe_root(root: str) -> dict[str, str]:
    """Whether `root` exists and, for a folder or a bucket that does, whether it can be written (`writable`
    is then present); creates nothing."""
    if objectstore.is_url(root):
        return {
            "exists": "yes" if objectstore.bucket_exists(root) else "NO: bucket missing or not listable",
            "writable": "not checked (a bucket root: the lock's conditional write decides)",
        }
    if not os.path.exists(root):
        return {"exists": "no (a nightly run creates it)"}
    if not os.path.isdir(root):
        return {"exists": "NO: a file, not a folder"}
    return {
        "exists": "yes",
        "writable": "yes" if os.access(root, os.W_OK | os.X_OK) else "NO: not writable by this user",
    }
