"""A write the storage root's file system refuses (disk full, quota, read-only, permission), told apart from a bug.

The same errnos are recognised however the error arrives: an OSError raised here, one a Beam worker passes on as
text (`worker_storage_error` makes it an OSError again), or one DuckDB and Arrow carry only in their message.
`storage_problem` turns it into one line naming the fix (the command line prints it), and `flows/runtime.py`
does not retry it: the same write fails again on every retry.
"""

import errno
import os
import re

# The storage root's file system refuses writes: the same on every retry, and no bug of ours.
STORAGE_ERRNOS = {
    errno.ENOSPC: "no space left on the device holding {root}: free space there or use another --root",
    errno.EDQUOT: "disk quota exceeded under {root}: free space there or use another --root",
    errno.EROFS: "{root} is on a read-only file system: remount it read-write or use another --root",
    errno.EACCES: "permission denied writing under {root}: make it writable for this user or use another --root",
    errno.EPERM: "not permitted to write under {root}: make it writable for this user or use another --root",
}
_ERRNO_TEXT = re.compile(r"\[Errno (\d+)\]")  # how Beam's workers, DuckDB and Arrow pass an OSError on as text


def storage_problem(error: BaseException, root: str) -> str:
    """One line naming a write the root's file system refused (disk full, read-only, permission) and the fix;
    "" for any other error. Looks through the error's causes and, for errors that carry it only as text
    (Beam workers, DuckDB, Arrow), the errno in the message."""
    seen: BaseException | None = error
    while seen is not None:
        code = seen.errno if isinstance(seen, OSError) and seen.errno else None
        if code is None and (match := _ERRNO_TEXT.search(str(seen))):
            code = int(match[1])
        if code is None and os.strerror(errno.ENOSPC) in str(seen):
            code = errno.ENOSPC  # DuckDB: "IO Error: ... No space left on device"
        if code in STORAGE_ERRNOS:
            where = f" ({seen.filename})" if isinstance(seen, OSError) and seen.filename else ""
            fix = STORAGE_ERRNOS[code].format(root=root)
            return f"{fix}{where}; nothing published was changed, and a rerun resumes"
        seen = seen.__cause__ or seen.__context__
    return ""


# A worker's OSError reaches the runner as text: "OSError: [Errno 28] No space left on device: 'path'".
_WORKER_OS_ERROR = re.compile(r"(?:OSError|Error): \[Errno (\d+)\] ([^\[\n:]+)(?:: '([^'\n]*)')?")


def worker_storage_error(error: Exception) -> OSError | None:
    """A Beam worker's OSError about the storage (disk full, read-only, permission), passed on as text, as an
    OSError again, so the command can name it in one line; None for any other failure."""
    if isinstance(error, OSError):
        return None  # raised here, already itself
    match = _WORKER_OS_ERROR.search(str(error))
    if not match or int(match[1]) not in STORAGE_ERRNOS:
        return None
    return OSError(int(match[1]), match[2].strip(), match[3])
