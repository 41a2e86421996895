"""The files an input path names, on local disk or in a bucket alike, and opening one to read it.

`files_named` expands one path (a file, a glob, a folder or a bucket prefix) into files, `distinct_files` keeps
each physical file once, and `open_input_file` opens one, never blocking on a local path that is a FIFO or a
device (`special_file_kind`). Whether a path is local or an object is decided here and in
`pipelines/objectstore.py`: `pipelines/sources.py` plans and reads the files without asking.
"""

import glob
import os
import stat
from collections.abc import Callable
from typing import IO

from pipelines import objectstore
from pipelines.errors import InputError


class NoInputInFolderError(InputError):
    """A local folder named as an input holds no file of a type that is read; `names` lists what it holds."""

    def __init__(self, folder: str, names: list[str]):
        super().__init__(f"{folder!r} holds no readable input")
        self.folder = folder
        self.names = names


def files_named(path: str, wanted: Callable[[str], bool]) -> list[str]:
    """The files `path` names: itself, a glob's matches, or a folder's files whose names `wanted` accepts (a
    local folder's own files; every object under a bucket prefix). Raises InputError for a path naming nothing."""
    if objectstore.is_url(path):
        return _objects_named(path, wanted)
    return [file for match in _local_matches(path) for file in _local_files_at(match, wanted)]


def _objects_named(url: str, wanted: Callable[[str], bool]) -> list[str]:
    matches, prefix = objectstore.matching(url)  # a prefix stands for its objects of known types
    found = [match for match in matches if not prefix or wanted(match)]
    if not found:
        raise InputError(f"{url!r} matches no object (check the bucket, the prefix and the credentials)")
    return found


def _local_matches(path: str) -> list[str]:
    # A name that exists is taken literally, even with glob characters in it (`dump[1].jsonl`).
    literal = os.path.lexists(path) or not glob.has_magic(path)
    matches = [path] if literal else sorted(glob.glob(path, recursive=True))
    if not matches:
        raise InputError(f"{path!r} matches no file")
    return matches


def _local_files_at(match: str, wanted: Callable[[str], bool]) -> list[str]:
    if os.path.isdir(match):
        names = os.listdir(match)
        inside = sorted(os.path.join(match, name) for name in names if wanted(name))
        if not inside:
            raise NoInputInFolderError(match, names)
        return inside
    if os.path.lexists(match):
        return [match]  # unreadable or dangling: planning turns it into a reject
    raise InputError(f"{match!r} does not exist")


def distinct_files(files: list[str]) -> list[str]:
    """`files` sorted, each physical file once: local paths made absolute, and of the paths reaching one real
    file (a symlink loop under `**` reaches it through many) the first kept; an object is its URL."""
    unique: dict[str, str] = {}
    for name in sorted(file if objectstore.is_url(file) else os.path.abspath(file) for file in files):
        unique.setdefault(name if objectstore.is_url(name) else os.path.realpath(name), name)
    return sorted(unique.values())


def special_file_kind(path: str) -> str:
    """What a local path is when it is not a regular file ("a FIFO", "a character device", ...); "" for a
    regular file and for an object (a bucket holds nothing else). Follows symlinks; raises OSError for a
    missing or dangling path."""
    if objectstore.is_url(path):
        return ""
    mode = os.stat(path).st_mode
    if stat.S_ISREG(mode):
        return ""
    kinds = {stat.S_ISFIFO: "a FIFO", stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device"}
    kinds |= {stat.S_ISSOCK: "a socket", stat.S_ISDIR: "a directory"}
    kind = next((name for test, name in kinds.items() if test(mode)), "a special file")
    return f"{kind} (a symlink to {os.path.realpath(path)})" if os.path.islink(path) else kind


def open_input_file(path: str) -> IO[bytes]:
    """A binary reader for an input file or object, bytes as stored (no decompression); a local path replaced
    by a FIFO or a device since planning raises OSError instead of blocking."""
    if kind := special_file_kind(path):
        raise OSError(f"not a regular file but {kind}")
    return objectstore.open_binary(path)
