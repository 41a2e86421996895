"""Progress events of long stages: `report(stage, done, total)`, and `polling(...)` for work other processes
finish (e.g. Beam workers, counted from the files they leave).

The events travel on the `afterword.progress` logger, so a stage knows nothing about terminals; nothing is
drawn unless a command installs `cli.progress_bars.progress_bars` (library use and tests stay silent).
"""

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

LOGGER = logging.getLogger("afterword.progress")


def report(stage: str, done: int, total: int) -> None:
    """`done` of `total` units of `stage` are finished (absolute, so a repeated event is harmless)."""
    if LOGGER.isEnabledFor(logging.DEBUG):
        LOGGER.debug("%s: %d/%d", stage, done, total, extra={"progress": (stage, done, total)})


@contextmanager
def polling(stage: str, total: int, count: Callable[[], int], interval_s: float = 0.5) -> Iterator[None]:
    """Report `count()` of `total` every `interval_s` while the block runs, and once more at its end."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(interval_s):
            report(stage, count(), total)

    watcher = threading.Thread(target=watch, name=f"progress-{stage}", daemon=True)
    report(stage, count(), total)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
        report(stage, count(), total)
