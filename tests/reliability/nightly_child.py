"""A nightly run in its own process, for the kill and concurrency tests (not collected by pytest).

`python -m tests.reliability.nightly_child ROOT NIGHT KILL_AT PAUSE_FILE INPUT...` runs the real flow with
scoring off; the first atomic rename into ROOT whose target contains KILL_AT ("" = never; `#N`: the Nth rename
into ROOT) is replaced by kill -9 of this process (os.replace and os.rename both count), and with PAUSE_FILE set
the run waits after its first rename (its run id recorded, nothing else under way) until that file is removed,
so a second writer can try the root meanwhile. Prints the renames it made, one per line, as `rename <path>`.
With NIGHTLY_CHILD_REPLACE=1 in its environment the run says --replace, and NIGHTLY_CHILD_CHUNK_BYTES sets the
chunk size (large inputs: fewer chunks, a quicker run). Without PREFECT_API_URL the flow runs in-process
(flows/runtime.py), as `afterword nightly` runs it. For a ROOT that is an object-store URL, where nothing is
renamed, the same holds for every object stored under ROOT (a PUT or an upload) instead.
"""

import os
import signal
import sys
import time

CONFIG = {
    "chunk_bytes": 2048,  # several chunks per file, so kills land between chunks
    "beam_args": ["--runner=FnApiRunner", "--direct_num_workers=1", "--direct_running_mode=in_memory"],
}


def main() -> None:
    root, night, kill_at, pause_file, *inputs = sys.argv[1:]
    from pipelines import objectstore

    on_store = objectstore.is_url(root)
    real_root, count = objectstore.absolute(root) if on_store else os.path.realpath(root), [0]

    def relative(target: str) -> str | None:
        """`target` relative to the root; None for a target outside it."""
        if on_store:
            return target.removeprefix(real_root + "/") if str(target).startswith(real_root + "/") else None
        if not os.path.realpath(target).startswith(real_root + os.sep):
            return None
        return os.path.relpath(target, root)

    def killable(real_rename):
        return lambda source, target, **kwargs: rename(real_rename, source, target, **kwargs)

    def rename(real_rename, source, target, **kwargs):
        name = relative(target)
        if name is None:
            return real_rename(source, target, **kwargs)
        count[0] += 1
        if kill_at and (kill_at == f"#{count[0]}" or not kill_at.startswith("#") and kill_at in name):
            os.kill(os.getpid(), signal.SIGKILL)
        real_rename(source, target, **kwargs)
        print("rename", name, flush=True)
        if pause_file and count[0] == 1:
            open(pause_file + ".reached", "w").close()
            while os.path.exists(pause_file):
                time.sleep(0.05)

    # Our writes rename with os.replace; the Beam pipeline's parts and markers go through Beam's FileSystems,
    # whose local rename is os.rename. On a store every write is one PUT or one upload.
    os.replace, os.rename = killable(os.replace), killable(os.rename)
    write_bytes, upload = objectstore.write_bytes, objectstore.upload
    objectstore.write_bytes = lambda url, payload: rename(lambda _, target: write_bytes(target, payload), "", url)
    objectstore.upload = lambda local, url: rename(lambda _, target: upload(local, target), "", url)
    from flows.nightly import nightly
    from flows.runtime import run_flow

    replace = os.environ.get("NIGHTLY_CHILD_REPLACE") == "1"
    config = CONFIG | {"chunk_bytes": int(os.environ.get("NIGHTLY_CHILD_CHUNK_BYTES", CONFIG["chunk_bytes"]))}
    run_flow(nightly, inputs=inputs, root=root, night=night, config=config, score=False, replace=replace)


if __name__ == "__main__":
    main()
