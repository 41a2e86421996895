"""The storage root's writer lock: one writer at a time per root, the second fails fast naming the first.

`<root>/.writer.lock` is held with `flock` by every writer (nightly, refresh/trainer exclusively; score
workers shared, so `afterword score --shard i/N` workers run side by side but never beside a nightly or a
refresh). The kernel drops the lock when its process dies, kill -9 included, so a stale lock is simply
taken over; the file's text (command, pid, host, start time) only names the holder in the refusal message.
Taking the lock exclusively also cleans up after killed writers, since nobody else can be writing: the
temporary files they left, the table versions of commits they never made, and the `runs` rows of runs that
published their night and died before recording themselves (`night_commit.clean_up_killed_commits`). A root that
is an object-store URL has no flock: there the lock is a lease object (`pipelines/store/object_lock.py`), with
the same refusal and the same clean-up on taking it exclusively.
"""

from __future__ import annotations

import fcntl
import functools
import inspect
import json
import os
import socket
import threading
from datetime import UTC, datetime

from pipelines import objectstore
from pipelines.store.leftovers import sweep_leftovers
from pipelines.store.night_commit import clean_up_killed_commits, sweep_unpublished
from pipelines.store.object_lock import LeaseLock, LockRefusedError, lease_holder

LOCK_FILE = ".writer.lock"

# Roots this process already holds: a writer's own nested steps (the nightly flow scoring its shards) must
# not lock themselves out. Keyed by the root's real path.
_held: dict[str, int] = {}
_holders: dict[str, WriterLock] = {}  # the outermost lock of each held root
_held_guard = threading.Lock()


class RootLockedError(RuntimeError):
    """Another writer holds the storage root."""


class WriterLock:
    """Context manager holding `<root>/.writer.lock` for `command`; `shared=True` for parallel score workers."""

    def __init__(self, root: str, command: str, shared: bool = False):
        self.root = root
        self.command = command
        self.shared = shared
        self._key = _root_key(root)
        self._handle = None
        self._lease: LeaseLock | None = None
        self._nested = False

    def __enter__(self) -> WriterLock:
        with _held_guard:
            if self._key in _held:
                _held[self._key] += 1
                self._nested = True
                return self
        if objectstore.is_url(self.root):
            return self._enter_store()
        os.makedirs(self.root, exist_ok=True)
        path = os.path.join(self.root, LOCK_FILE)
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 — held until __exit__
        try:
            fcntl.flock(handle, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = describe_holder(handle.read())
            handle.close()
            raise RootLockedError(
                f"{self.root} is in use by {holder}; wait for it to finish (nothing of that run was touched)"
            ) from None
        if not self.shared:
            # Only the exclusive holder may rewrite the description; shared holders leave the first one.
            handle.seek(0)
            handle.truncate()
            sweep_leftovers(self.root)
            clean_up_killed_commits(self.root)
        if not self.shared or not os.path.getsize(path):
            handle.write(json.dumps(owner(self.command)) + "\n")
            handle.flush()
        self._handle = handle
        with _held_guard:
            _held[self._key] = 1
            _holders[self._key] = self
        return self

    def _enter_store(self) -> WriterLock:
        """Take the root's lease object (see `pipelines/store/object_lock.py`)."""
        try:
            self._lease = LeaseLock(self.root, owner(self.command), self.shared).acquire()
        except LockRefusedError as error:
            raise RootLockedError(
                f"{self.root} is in use by {error}; wait for it to finish (nothing of that run was touched)"
            ) from None
        if not self.shared:
            clean_up_killed_commits(self.root)
        with _held_guard:
            _held[self._key] = 1
            _holders[self._key] = self
        return self

    def check_still_held(self) -> None:
        """Raise RootLockedError unless `<root>/.writer.lock` is still the file this run locked: removed or
        replaced by hand, it no longer keeps a second writer out."""
        if self._lease is not None:
            try:
                self._lease.check()
            except LockRefusedError as error:
                raise RootLockedError(
                    f"{error}, so another writer may be in the root: nothing of this run was published; make sure "
                    "no other writer runs, then rerun"
                ) from None
            return
        path = os.path.join(self.root, LOCK_FILE)
        mine = os.fstat(self._handle.fileno())
        try:
            now = os.stat(path)
        except FileNotFoundError:
            now = None
        if now is None or (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino):
            raise RootLockedError(
                f"{path} was removed or replaced while this run held it, so another writer may be in the root: "
                "nothing of this run was published; make sure no other writer runs, then rerun"
            )

    def __exit__(self, exc_type, *exc_info) -> None:
        with _held_guard:
            _held[self._key] -= 1
            if self._nested or _held[self._key]:
                return
            del _held[self._key]
            del _holders[self._key]
        if self._lease is not None:
            if not self.shared and exc_type is not None:
                sweep_unpublished(self.root)
            self._lease.release()
            return
        if not self.shared:
            if exc_type is not None:
                # A failed or stopped run (its workers already gone) leaves no temporary file for anyone to see.
                sweep_leftovers(self.root)
                sweep_unpublished(self.root)
            self._handle.seek(0)
            self._handle.truncate()
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()


def writer_lock(root: str, command: str, shared: bool = False) -> WriterLock:
    """The lock a writer takes over `root` for the length of its run (`with writer_lock(root, "nightly"):`)."""
    return WriterLock(root, command, shared)


def check_writer_lock(root: str) -> None:
    """Before publishing: the lock this process holds on `root` is still the root's lock file (see
    `WriterLock.check_still_held`)."""
    with _held_guard:
        holder = _holders.get(_root_key(root))
    if holder is None:
        raise RootLockedError(f"this process does not hold {root}'s writer lock; nothing was published")
    holder.check_still_held()


def _root_key(root: str) -> str:
    """What identifies a root within this process: its real path, or its URL."""
    return objectstore.absolute(root) if objectstore.is_url(root) else os.path.realpath(root)


def owner(command: str) -> dict:
    """Who is writing: what is written into the lock file."""
    return {
        "command": command,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def describe_holder(text: str) -> str:
    """One phrase naming the holder from the lock file's text."""
    try:
        info = json.loads(text.splitlines()[0])
        return f"{info['command']} (pid {info['pid']} on {info['host']}, since {info['since']})"
    except (IndexError, ValueError, KeyError, TypeError):
        return "another writer"


def holds_writer_lock(command: str, shared: bool = False):
    """Decorator: the function runs holding the writer lock of its `root` argument."""

    def decorate(function):
        signature = inspect.signature(function)

        @functools.wraps(function)
        def locked(*args, **kwargs):
            root = signature.bind(*args, **kwargs).arguments["root"]
            with writer_lock(root, command, shared):
                return function(*args, **kwargs)

        return locked

    return decorate


def current_holder(root: str) -> str:
    """Who holds `root`'s writer lock now ("" when nobody), found without taking it or creating anything: the
    lock file is probed with a non-blocking flock that is released at once (an object-store root: its lease)."""
    if objectstore.is_url(root):
        return lease_holder(root)
    path = os.path.join(root, LOCK_FILE)
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 — closed below, the probe's lock with it
    except FileNotFoundError:
        return ""
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return describe_holder(handle.read())
        fcntl.flock(handle, fcntl.LOCK_UN)
    return ""
