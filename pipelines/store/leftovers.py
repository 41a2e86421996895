"""The temporary files and folders interrupted writes leave under a local root, and sweeping them away.

Every atomic write here goes to a dot-name beside its destination first (`.x.tmp` files, `.round-0001.tmp-…`
folders, catalog rebuilds); a run killed mid-write leaves one behind. `sweep_leftovers` removes them, called by
the writer lock (`lock.py`) as it is taken exclusively, when no other writer can be mid-write. A bucket has
none: every write there is one PUT.
"""

import os
import shutil

from pipelines import objectstore


def is_leftover(name: str) -> bool:
    """Temporary names our atomic writes use (`.x.tmp` files, `.round-0001.tmp-…` folders, catalog rebuilds)."""
    if not name.startswith(".") or name == ".writer.lock":
        return False
    return name.endswith(".tmp") or ".tmp-" in name or ".old-" in name or name.startswith(".catalog.")


def sweep_leftovers(root: str) -> list[str]:
    """Remove the temporary files and folders interrupted runs left under `root`; call it holding the writer
    lock exclusively (the lock does). Returns what was removed, relative to `root`. An object store has none:
    every write there is one PUT."""
    removed: list[str] = []
    if objectstore.is_url(root):
        return removed
    for folder, subfolders, files in os.walk(root):
        for name in [*files, *subfolders]:
            if is_leftover(name):
                path = os.path.join(folder, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    os.remove(path)
                removed.append(os.path.relpath(path, root))
        subfolders[:] = [name for name in subfolders if not is_leftover(name)]
    return removed
