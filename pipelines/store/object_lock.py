"""The writer lock of an object-store root: a lease object created only if absent, renewed while the run lasts.

An exclusive writer (nightly) holds `<root>/.writer.lock`, created with a conditional PUT
(`If-None-Match: *`, so of two writers racing exactly one gets it) and holding the holder (command, pid, host,
start) and the lease's expiry. A thread renews the lease every third of its length, each renewal conditional
on the object still being the one this run wrote (`If-Match: <ETag>`). Score workers, which share a root with
each other, each hold `<root>/.writer-shared/<token>.json`; an exclusive writer and a shared one each write their
own object first and then look for the other's, so with the store's read-after-write consistency at least one
of them sees the other and steps back. A lease that has expired, or whose holder ran on this host and is gone
(kill -9), is taken over (conditionally again), so a crashed holder never locks the root for longer than its
lease. Expiry is judged by wall clocks, so the writers' hosts must agree on the time to well within a lease.
`pipelines/store/lock.py` uses it for every root that is a URL.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import psutil

from pipelines import objectstore

LOCK_OBJECT = ".writer.lock"
SHARED_FOLDER = ".writer-shared"
LEASE_S = 60.0  # a holder that stops renewing loses the root this long after its last renewal
CONDITION_FAILED = ("pre-conditions", "PreconditionFailed", "ConditionalRequestConflict")


class LockRefusedError(RuntimeError):
    """Another writer holds the root; the message names it."""


class LeaseLock:
    """One holder's lease on an object-store root (`acquire`, `check`, `release`)."""

    def __init__(self, root: str, holder: dict, shared: bool = False, lease_s: float = LEASE_S):
        self.root = objectstore.absolute(root)
        self.holder = {**holder, "token": secrets.token_hex(8), "process_started": _process_start()}
        self.shared = shared
        self.lease_s = lease_s
        self.url = (
            objectstore.join(self.root, SHARED_FOLDER, f"{self.holder['token']}.json")
            if shared
            else objectstore.join(self.root, LOCK_OBJECT)
        )
        self._etag = ""
        self._renewed_at = 0.0  # time.monotonic() of the last write of the lease that succeeded
        self._lost = ""
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self) -> LeaseLock:
        """Take the lease or raise LockRefusedError naming the holder; then keep it renewed."""
        if self.shared:
            self._refuse_if_live(_read(objectstore.join(self.root, LOCK_OBJECT)))
            self._etag = _put(self.url, self._document())
            exclusive = _read(objectstore.join(self.root, LOCK_OBJECT))
            if exclusive and _is_live(exclusive[0]):  # an exclusive writer came in between: it keeps the root
                self._delete()
                self._refuse_if_live(exclusive)
        else:
            self._take_exclusive()
            for url, document in _shared_leases(self.root):
                if _is_live(document):
                    self._delete()
                    raise LockRefusedError(_describe(document))
                objectstore.remove([url])  # a score worker's expired or dead lease
        self._renewed_at = time.monotonic()
        self._renewer = threading.Thread(target=self._renew, name="root-lease", daemon=True)
        self._renewer.start()
        return self

    def check(self) -> None:
        """Raise LockRefusedError unless the lease is still this holder's (renewed in time, not taken over)."""
        if self._lost:
            raise LockRefusedError(self._lost)
        current = _read(self.url)
        if current is None or current[0].get("token") != self.holder["token"]:
            raise LockRefusedError(f"{self.url} is no longer this run's lease (removed or taken over)")

    def release(self) -> None:
        """Stop renewing and remove the lease object (only if it is still this holder's)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=self.lease_s)
        if not self._lost:
            self._delete()

    def _take_exclusive(self) -> None:
        try:
            self._etag = _put(self.url, self._document(), if_none_match=True)
            return
        except FileExistsError:
            pass
        current = _read(self.url)
        if current is None:  # released in between: try once more, again only if absent
            self._etag = _put(self.url, self._document(), if_none_match=True)
            return
        self._refuse_if_live(current)
        try:  # expired or dead: take it over, unless another writer just did
            self._etag = _put(self.url, self._document(), if_match=current[1])
        except FileExistsError:
            winner = _read(self.url)
            raise LockRefusedError(_describe(winner[0] if winner else {})) from None

    def _refuse_if_live(self, current: tuple[dict, str] | None) -> None:
        if current is not None and _is_live(current[0]):
            raise LockRefusedError(_describe(current[0]))

    def _document(self) -> dict:
        expires = datetime.now(UTC) + timedelta(seconds=self.lease_s)
        return {**self.holder, "lease_expires": expires.isoformat(), "lease_s": self.lease_s}

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                if self.shared:
                    self._etag = _put(self.url, self._document())
                else:
                    self._etag = _put(self.url, self._document(), if_match=self._etag)
                self._renewed_at = time.monotonic()
            except FileExistsError:
                self._lost = f"{self.url} was taken over by another writer while this run held it"
                return
            except OSError as error:  # the store unreachable: retried at the next renewal, within the lease
                if time.monotonic() - self._renewed_at > self.lease_s:
                    self._lost = f"the lease on {self.url} could not be renewed in time ({error})"
                    return

    def _delete(self) -> None:
        fs, bucket, name = _object(self.url)
        # Gone, or no longer ours (the condition fails): then there is nothing of ours to remove.
        with contextlib.suppress(OSError):
            fs.call_s3("delete_object", Bucket=bucket, Key=name, IfMatch=self._etag)


def _put(url: str, document: dict, if_none_match: bool = False, if_match: str = "") -> str:
    """PUT a small JSON object, conditionally; returns its ETag. A failed condition raises FileExistsError."""
    fs, bucket, name = _object(url)
    conditions = {"IfNoneMatch": "*"} if if_none_match else {"IfMatch": if_match} if if_match else {}
    body = (json.dumps(document, sort_keys=True) + "\n").encode()
    try:
        response = fs.call_s3("put_object", Bucket=bucket, Key=name, Body=body, **conditions)
    except OSError as error:
        # 412 when the condition fails; 409 when another conditional write to the key is in flight.
        if isinstance(error, FileExistsError) or any(text in str(error) for text in CONDITION_FAILED):
            raise FileExistsError(url) from error
        raise
    return response["ETag"]


def _read(url: str) -> tuple[dict, str] | None:
    """A lease object's document and ETag, read in one GET; None when there is none."""
    from fsspec.asyn import sync

    fs, bucket, name = _object(url)

    async def fetch() -> tuple[bytes, str]:
        response = await fs._call_s3("get_object", Bucket=bucket, Key=name)
        async with response["Body"] as stream:
            return await stream.read(), response["ETag"]

    try:
        body, etag = sync(fs.loop, fetch)
    except FileNotFoundError:
        return None
    try:
        return json.loads(body), etag
    except ValueError:
        return {}, etag  # not a lease: treated as an expired one


def _object(url: str):
    """The S3 file system, bucket and key of `url` (the lease needs S3's conditional writes)."""
    if not url.startswith(("s3://", "s3a://")):
        scheme = url.split("://", 1)[0]
        raise objectstore.StoreUnavailableError(
            f"{url}: the writer lock needs S3 conditional writes; {scheme}:// roots are not supported for writing "
            "(inputs there are): use an s3:// root (any S3-compatible store) or a local one"
        )
    fs, key = objectstore.filesystem(url)
    bucket, name = key.split("/", 1)
    return fs, bucket, name


def _shared_leases(root: str) -> list[tuple[str, dict]]:
    leases = []
    for url in objectstore.glob(objectstore.join(root, SHARED_FOLDER, "*.json")):
        found = _read(url)
        if found is not None:
            leases.append((url, found[0]))
    return leases


def _is_live(document: dict) -> bool:
    """Whether a lease still holds: not expired, and its holder not a process of this host that has ended."""
    try:
        expires = datetime.fromisoformat(document["lease_expires"])
    except (KeyError, TypeError, ValueError):
        return False
    if expires <= datetime.now(UTC):
        return False
    if document.get("host") == socket.gethostname():
        return _process_running(document.get("pid"), document.get("process_started"))
    return True


def _process_start() -> float:
    return psutil.Process().create_time()


def _process_running(pid: object, started: object) -> bool:
    """Whether `pid` runs on this host and is the process that wrote the lease (a reused pid is not)."""
    if not isinstance(pid, int):
        return True  # cannot tell: the lease's expiry decides
    try:
        process = psutil.Process(pid)
        return started is None or abs(process.create_time() - float(started)) < 1.0
    except psutil.NoSuchProcess:
        return False


def _describe(document: dict) -> str:
    who = document.get("command", "another writer")
    where = f"pid {document.get('pid')} on {document.get('host')}, since {document.get('since')}"
    return f"{who} ({where}; its lease runs until {document.get('lease_expires')})"


def lease_holder(root: str) -> str:
    """Who holds the root's lease now, as a refusal names them; "" when no live lease (exclusive or shared)."""
    found = _read(objectstore.join(root, LOCK_OBJECT))
    if found is not None and _is_live(found[0]):
        return _describe(found[0])
    live = [document for _, document in _shared_leases(root) if _is_live(document)]
    return f"{len(live)} score worker(s), e.g. {_describe(live[0])}" if live else ""
