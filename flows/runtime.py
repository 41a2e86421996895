"""How flows run: tracked by a Prefect server when one is configured, as plain function calls otherwise.

Prefect 3 has no server-less mode: without `PREFECT_API_URL` every flow call starts a temporary local server
(35–40 s on 2 cores) and writes its database under `PREFECT_HOME`. So `run_flow` calls the flow's body
(`flow.fn`) when no API is configured, and inside a body `call` runs a task as a Prefect task run only
when a flow run is being tracked, else its body. Retries are for transient failures only: `is_transient`
is every task's `retry_condition_fn`, so bad input fails once, at once.
"""

import contextlib
import functools
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import ParamSpec, TypeVar

from pipelines.store.layout import STORAGE_ERRNOS

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)  # what a scheduler or Ctrl-C sends to stop a run

P = ParamSpec("P")
R = TypeVar("R")

# Failures a retry can cure: the network, a busy or briefly missing mount, a timeout. A missing file, a
# permission problem or bad content (ValueError and kin) fails the same way every time.
PERMANENT_OS_ERRORS = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)


def last_night() -> date:
    """The night a run without an explicit date works on: yesterday, UTC (a 02:00 run finishes the day)."""
    return datetime.now(UTC).date() - timedelta(days=1)


def orchestrated() -> bool:
    """True when a Prefect API is configured (a server or Prefect Cloud): runs are tracked there."""
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def run_flow(flow, **parameters):
    """Run `flow` as a tracked Prefect flow run when an API is configured, else its body in this process."""
    return flow(**parameters) if orchestrated() else flow.fn(**parameters)


def in_flow_run() -> bool:
    """True inside a Prefect-tracked flow run."""
    from prefect.context import FlowRunContext

    return FlowRunContext.get() is not None


def call(task: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """A task as a Prefect task run inside a tracked flow run (retries, states), else its body."""
    return task(*args, **kwargs) if in_flow_run() else task.fn(*args, **kwargs)


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """Prefect's run logger inside a tracked run, else the `afterword` logger."""
    if in_flow_run():
        from prefect import get_run_logger

        return get_run_logger()
    return logging.getLogger("afterword")


def publish_artifact(key: str, markdown: str, description: str) -> None:
    """A markdown artifact on the tracked run; without a server there is nowhere to show it."""
    if in_flow_run():
        from prefect.artifacts import create_markdown_artifact

        create_markdown_artifact(key=key, markdown=markdown, description=description)


def is_transient(task, task_run, state) -> bool:
    """`retry_condition_fn`: retry only failures another attempt can cure (see PERMANENT_OS_ERRORS)."""
    error = state.result(raise_on_failure=False)
    return is_transient_error(error)


def is_transient_error(error: BaseException | object) -> bool:
    """True for timeouts, connection errors and other OS errors that are not about the input itself."""
    if isinstance(error, PERMANENT_OS_ERRORS) or (isinstance(error, OSError) and error.errno in STORAGE_ERRNOS):
        return False  # a full or read-only disk is full or read-only on the next attempt too
    return isinstance(error, TimeoutError | ConnectionError | OSError)


class RunStopped(KeyboardInterrupt):
    """SIGTERM or SIGINT stopped the run (SIGTERM is what prefect, systemd and Kubernetes send)."""

    def __init__(self, signal_number: int):
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number


@contextlib.contextmanager
def stopping_on_signals():
    """Inside, SIGTERM and SIGINT raise RunStopped in the main thread, so the run unwinds: its Beam workers are
    stopped, its temporary files removed and the root's lock released. (SIGTERM's default ends the process at
    once, orphaning the workers.) Later signals are ignored until the unwinding is done; SIGKILL still ends it."""

    def stop(signal_number, frame):
        for name in STOP_SIGNALS:
            signal.signal(name, signal.SIG_IGN)
        raise RunStopped(signal_number)

    with stop_signals_handled_by(stop):
        yield


@contextlib.contextmanager
def stop_signals_handled_by(handler) -> Iterator[dict]:
    """Inside, SIGTERM and SIGINT call `handler`; yields the handlers they had, put back on the way out.
    Signal handlers belong to the main thread: in any other, nothing is installed and the dict is empty."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {name: signal.getsignal(name) for name in STOP_SIGNALS}
        for name in previous:
            signal.signal(name, handler)
    try:
        yield previous
    finally:
        for name, old in previous.items():
            signal.signal(name, old)


def stops_on_signals(function: Callable[P, R]) -> Callable[P, R]:
    """Decorator: the function runs inside `stopping_on_signals` (put it outside `holds_writer_lock`)."""

    @functools.wraps(function)
    def stoppable(*args: P.args, **kwargs: P.kwargs) -> R:
        with stopping_on_signals():
            return function(*args, **kwargs)

    return stoppable
