"""Local paths and object-store URLs (`s3://bucket/key`, `gs://bucket/key`) behind one small set of calls.

A path with a scheme goes to its fsspec file system (s3fs for s3://, gcsfs for gs://), which takes the endpoint
and credentials from the store's own standard settings (AWS: `AWS_ENDPOINT_URL`, `AWS_PROFILE`,
`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `~/.aws/config`; GCS: application default credentials): nothing is
configured here. A local path is never routed through fsspec: the calls that take both handle it with the
standard library, so local roots behave exactly as before. An object appears whole or not at all (a PUT,
multipart included, is atomic), which is what every writer here relies on in place of temporary file + rename.
"""

from __future__ import annotations

import contextlib
import glob as local_glob
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb
    import pyarrow
    import pyarrow.dataset
    import pyarrow.fs
    from fsspec import AbstractFileSystem

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs"}  # what a scheme needs installed


class StoreUnavailableError(ValueError):
    """A URL names a store this installation cannot reach (its fsspec package is missing)."""


def is_url(path: str) -> bool:
    """Whether `path` names an object (`s3://...`) rather than a local path."""
    return bool(_SCHEME.match(str(path)))


def filesystem(url: str) -> tuple[AbstractFileSystem, str]:
    """The fsspec file system for `url` and the path on it (`bucket/key`, no scheme)."""
    import fsspec

    scheme = url.split("://", 1)[0].lower()
    try:
        # No listings cache: other processes (workers, the next writer) change the bucket under us, and a cached
        # listing would hide a lock object or a finished chunk's marker.
        fs, path = fsspec.core.url_to_fs(url, use_listings_cache=False)
    except ImportError as error:
        package = PACKAGES.get(scheme, f"the fsspec implementation for {scheme}://")
        raise StoreUnavailableError(f"{url}: {scheme}:// needs {package} installed (pip install {package})") from error
    return fs, path


def url_of(fs: AbstractFileSystem, path: str) -> str:
    """`bucket/key` on `fs` as a URL again (`s3://bucket/key`)."""
    return fs.unstrip_protocol(path)


def join(base: str, *parts: str) -> str:
    """`base/part/...` for a local path or a URL alike."""
    return os.path.join(base, *parts)


def absolute(path: str) -> str:
    """A URL as it is; a local path made absolute."""
    return path.rstrip("/") if is_url(path) else os.path.abspath(path)


def exists(path: str) -> bool:
    """Whether a file (or, on a store, any object under the prefix) is at `path`."""
    if not is_url(path):
        return os.path.exists(path)
    fs, key = filesystem(path)
    return fs.exists(key)


def is_file(path: str) -> bool:
    """Whether `path` is a file (an object, on a store)."""
    if not is_url(path):
        return os.path.isfile(path)
    fs, key = filesystem(path)
    return fs.isfile(key)


def is_folder(path: str) -> bool:
    """A local folder; on a store, a bucket or a prefix that holds at least one object."""
    if not is_url(path):
        return os.path.isdir(path)
    fs, key = filesystem(path)
    return fs.isdir(key)


def make_folder(path: str) -> None:
    """Create a local folder and its parents; a bucket has no folders to make."""
    if not is_url(path):
        os.makedirs(path, exist_ok=True)


def bucket_exists(url: str) -> bool:
    """Whether the bucket `url` lives in exists and can be listed with these credentials."""
    fs, key = filesystem(url)
    try:
        return fs.exists(key.split("/", 1)[0])
    except PermissionError:
        return False


def glob_in(folder: str, pattern: str) -> list[str]:
    """The files (objects) matching `pattern` (relative, `*` wildcards) under `folder`, sorted; the folder's own
    `[`, `*`, `?` are taken literally."""
    if is_url(folder):
        return glob(join(folder, pattern))
    return sorted(local_glob.glob(os.path.join(local_glob.escape(folder), pattern)))


def glob(pattern: str) -> list[str]:
    """URLs of the objects matching `pattern` (`*`, `?`, `[...]`, `**`), sorted."""
    fs, key = filesystem(pattern)
    return sorted(url_of(fs, found) for found in fs.glob(key) if not fs.isdir(found))


def matching(url: str) -> tuple[list[str], bool]:
    """The objects `url` names (a glob, one object, or every object under a prefix), sorted, and whether it
    named a prefix."""
    if any(char in url for char in "*?["):
        return glob(url), False
    if is_file(url):
        return [url], False
    return (list_files(url), True) if is_folder(url) else ([], False)


def list_files(folder: str) -> list[str]:
    """URLs of every object under `folder`, at any depth, sorted."""
    fs, key = filesystem(folder)
    return sorted(url_of(fs, found) for found in fs.find(key))


def info(url: str) -> dict:
    """The store's description of one object (size, ETag or md5Hash, modification time)."""
    fs, key = filesystem(url)
    return fs.info(key)


def size(path: str) -> int:
    """Bytes in the file or object at `path`."""
    if not is_url(path):
        return os.path.getsize(path)
    return int(info(path)["size"])


def modified(path: str) -> float:
    """Modification time of the file or object at `path`, seconds since the epoch."""
    if not is_url(path):
        return os.path.getmtime(path)
    fs, key = filesystem(path)
    return fs.modified(key).timestamp()


def version_stamp(path: str) -> tuple[int, float | str] | tuple[None, None]:
    """What changes when a file's bytes do, without reading them: its size and modification time (an object's
    size and content tag); (None, None) for what cannot be read (a dangling symlink, a missing object)."""
    try:
        if is_url(path):
            return size(path), content_tag(path)
        status = os.stat(path)
    except OSError:
        return None, None
    return status.st_size, status.st_mtime


def content_tag(url: str) -> str:
    """What identifies an object's bytes without reading them: its ETag (S3) or MD5 (GCS), with its size."""
    described = info(url)
    tag = described.get("ETag") or described.get("md5Hash") or described.get("crc32c") or ""
    return f"{str(tag).strip(chr(34))}/{described['size']}"


def open_binary(path: str) -> IO[bytes]:
    """A binary reader for a local file or an object; on a store every read is one ranged GET of exactly the
    bytes asked for (no read-ahead: chunks are read once, by exact range), and a line is looked for 64 KiB at a
    time (planning reads only the line under each cut)."""
    if not is_url(path):
        return open(path, "rb")  # noqa: SIM115 — the caller closes it
    fs, key = filesystem(path)
    return fs.open(key, "rb", cache_type="none", block_size=1 << 16)


def open_random_access(path: str) -> pyarrow.NativeFile | IO[bytes]:
    """A seekable reader for Arrow's readers: a local file memory-mapped (a batch's metadata is read without
    touching its data), an object streamed by ranged GETs."""
    import pyarrow as pa

    return open_binary(path) if is_url(path) else pa.memory_map(path)


def read_bytes(path: str) -> bytes:
    """The whole file or object."""
    with open_binary(path) as handle:
        return handle.read()


def read_text(path: str) -> str:
    """The whole file or object as UTF-8 text."""
    return read_bytes(path).decode("utf-8")


def write_bytes(url: str, payload: bytes | memoryview) -> None:
    """Store `payload` as the object `url` (one PUT: readers see the old object or the new one)."""
    fs, key = filesystem(url)
    fs.pipe_file(key, bytes(payload))  # botocore takes bytes, not Arrow buffers or memoryviews


@contextlib.contextmanager
def atomic_destination(path: str | os.PathLike) -> Iterator[Path]:
    """A local temporary file to write; on success it becomes `path` (renamed into place, or uploaded as the
    object `path`), else it goes. A reader never sees half a file."""
    url = is_url(str(path))
    temporary = _upload_temporary() if url else _temporary_beside(Path(path))
    try:
        yield temporary
        if url:
            upload(str(temporary), str(path))
        else:
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _upload_temporary() -> Path:
    handle, name = tempfile.mkstemp(prefix="afterword-upload-", suffix=".tmp")
    os.close(handle)
    return Path(name)


def _temporary_beside(path: Path) -> Path:
    """A temporary file in `path`'s folder (made if missing), so the final rename stays on one file system."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    os.chmod(name, 0o644)  # mkstemp makes files private; outputs are meant to be shared and read
    return Path(name)


def write_atomically(path: str | os.PathLike, payload: bytes) -> None:
    """`payload` as the whole file or object `path`: readers see the old bytes or the new, never half."""
    if is_url(str(path)):
        write_bytes(str(path), payload)  # one PUT: no temporary file needed
        return
    with atomic_destination(path) as temporary:
        temporary.write_bytes(payload)


def upload(local_path: str, url: str) -> None:
    """Store a local file as the object `url` (atomic like `write_bytes`; large files go up in parts)."""
    fs, key = filesystem(url)
    fs.put_file(local_path, key)


def download(urls: list[str], local_paths: list[str]) -> None:
    """Fetch objects to local files, several at a time."""
    if not urls:
        return
    fs, _ = filesystem(urls[0])
    for local_path in local_paths:
        os.makedirs(os.path.dirname(local_path), exist_ok=True)
    fs.get([filesystem(url)[1] for url in urls], local_paths)


def remove(urls: list[str]) -> None:
    """Delete objects (several per request); missing ones are no error."""
    if not urls:
        return
    fs, _ = filesystem(urls[0])
    with contextlib.suppress(FileNotFoundError):
        fs.rm([filesystem(url)[1] for url in urls])


def remove_tree(path: str) -> None:
    """Delete a local folder, or every object under the prefix `path`, with everything in it; none is no error."""
    if not is_url(path):
        shutil.rmtree(path, ignore_errors=True)
    elif exists(path):
        remove(list_files(path))


def move_tree(source: str, destination: str) -> None:
    """Every object under the prefix `source` to the same names under `destination` (a store has no rename: a
    copy of each, then the deletes); none is no error, and a move cut short is finished by calling it again."""
    for url in list_files(source) if exists(source) else []:
        fs, key = filesystem(url)
        fs.copy(key, filesystem(destination + url.removeprefix(source))[1])
    remove_tree(source)


def arrow_filesystem(url: str) -> tuple[pyarrow.fs.FileSystem, str]:
    """A pyarrow file system over the store of `url` (for Parquet readers and datasets) and the path on it."""
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    fs, key = filesystem(url)
    return PyFileSystem(FSSpecHandler(fs)), key


def register_store(con: duckdb.DuckDBPyConnection, url: str) -> None:
    """Let DuckDB read `url`'s store through fsspec (DuckDB's own httpfs extension is not needed); DuckDB reads
    a local path itself."""
    if not is_url(url):
        return
    fs, _ = filesystem(url)
    if fs.protocol not in (None, "file") and not con.filesystem_is_registered(_protocol_name(fs)):
        con.register_filesystem(fs)


def _protocol_name(fs: AbstractFileSystem) -> str:
    return fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]


def read_many(urls: list[str]) -> dict[str, bytes]:
    """Several whole objects at once (fetched concurrently), by URL."""
    if not urls:
        return {}
    fs, _ = filesystem(urls[0])
    keys = {filesystem(url)[1]: url for url in urls}
    return {keys[key]: payload for key, payload in fs.cat(list(keys), on_error="raise").items()}


def parquet_dataset(files: list[str], schema: pyarrow.Schema | None = None) -> pyarrow.dataset.Dataset:
    """A pyarrow Parquet dataset over local files, or over objects of one store (read through fsspec); it
    opens nothing until it is scanned."""
    import pyarrow.dataset as ds

    if not files or not is_url(files[0]):
        return ds.dataset(files, format="parquet", schema=schema)
    store, _ = arrow_filesystem(files[0])
    return ds.dataset([filesystem(url)[1] for url in files], format="parquet", schema=schema, filesystem=store)
