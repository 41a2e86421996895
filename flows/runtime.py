"""How flows run: tracked by a Prefect server when one is configured, as plain function calls otherwise.

Prefect 3 has no server-less mode: without `PREFECT_API_URL` every flow call starts a temporary local server
(35–40 s on 2 cores) and writes its database under `PREFECT_HOME`. So `run_flow` calls the flow's body
(`flow.fn`) when no API is configured, and inside a body `call` runs a task as a Prefect task run only
when a flow run is being tracked, else its body. Retries are for transient failures only: `is_transient`
is every task's `retry_condition_fn`, so bad input fails once, at once.
"""

import atexit
import contextlib
import functools
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import ParamSpec, TypeVar

from pipelines.store.storage_errors import STORAGE_ERRNOS

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


def artifact_key(kind: str, root: str, night: str) -> str:
    """An artifact key naming the flow, the root and the night (Prefect allows lowercase letters, digits and
    dashes): each root's nights keep their own artifact history instead of sharing one key."""
    slug = re.sub(r"[^a-z0-9]+", "-", root.lower()).strip("-")[-60:].strip("-") or "root"
    return f"{kind}-{slug}-{night}"


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
    """SIGTERM or SIGINT stopped the run (SIGTERM is what prefect, systemd and Kubernetes send); `after_work`:
    the command's work had already finished (only its report was left)."""

    def __init__(self, signal_number: int, after_work: bool = False):
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number
        self.after_work = after_work


class _StopState:
    """Process-wide: the first stop signal received (later ones are ignored while the run unwinds) and whether
    the command's work has finished. Signals are per process, so this state is too."""

    signal_number: int | None = None
    work_finished = False
    depth = 0  # how many `stopping_on_signals` are open: the outermost starts a fresh run


def work_finished() -> None:
    """The command's work is done (published, written): a stop from now on says so instead of "resume"."""
    _StopState.work_finished = True


def exit_on_stop_signals(line: Callable[[int, bool], str]) -> dict:
    """Outside a run (a command starting up, or its work done): SIGTERM and SIGINT write `line(signal, after_work)`
    and exit 128 + signal at once, as nothing is under way to unwind. Install it before any heavy import;
    `stopping_on_signals` replaces it for the run and puts it back after. Returns the handlers it replaced."""

    def exit_now(signal_number, frame):
        if _StopState.signal_number is not None:
            return  # a run is already stopping and will report it
        _StopState.signal_number = signal_number
        os.write(2, (line(signal_number, _StopState.work_finished) + "\n").encode(errors="replace"))
        os._exit(128 + signal_number)

    _StopState.signal_number, _StopState.work_finished = None, False
    return _install(exit_now)


def exit_process(code: int):
    """End the program now that its work and report are done: flush, run the atexit hooks, and skip the
    interpreter's teardown (seconds of freeing torch and Beam, during which Python's signal handlers are already
    gone, so a stop there would end the process with no line)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # a reader that went away (`afterword query ... | head`)
            stream.flush()
    atexit._run_exitfuncs()
    os._exit(code)


@contextlib.contextmanager
def stopping_on_signals():
    """Inside, SIGTERM and SIGINT raise RunStopped in the main thread, so the run unwinds: its Beam workers are
    stopped, its temporary files removed and the root's lock released. (SIGTERM's default ends the process at
    once, orphaning the workers.) Later signals are ignored; SIGKILL still ends it. A library that turns the
    exception into its own (DuckDB's "Query interrupted") still ends in RunStopped: a stop is a stop."""

    def stop(signal_number, frame):
        if _StopState.signal_number is not None:
            return  # already unwinding: a second Ctrl-C must not break the cleanup
        _StopState.signal_number = signal_number
        raise RunStopped(signal_number, _StopState.work_finished)

    if _StopState.depth == 0:
        _StopState.signal_number, _StopState.work_finished = None, False
    _StopState.depth += 1
    try:
        with stop_signals_handled_by(stop):
            yield
    except RunStopped:
        raise
    except BaseException as error:
        if _StopState.signal_number is None:
            raise
        raise RunStopped(_StopState.signal_number, _StopState.work_finished) from error
    finally:
        _StopState.depth -= 1


@contextlib.contextmanager
def stop_signals_handled_by(handler) -> Iterator[dict]:
    """Inside, SIGTERM and SIGINT call `handler`; yields the handlers they had, put back on the way out.
    Signal handlers belong to the main thread: in any other, nothing is installed and the dict is empty."""
    previous = _install(handler)
    try:
        yield previous
    finally:
        for name, old in previous.items():
            signal.signal(name, old)


def _install(handler) -> dict:
    """`handler` for both stop signals, in the main thread only; returns the handlers they had."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {name: signal.getsignal(name) for name in STOP_SIGNALS}
    for name in previous:
        signal.signal(name, handler)
    return previous


def stops_on_signals(function: Callable[P, R]) -> Callable[P, R]:
    """Decorator: the function runs inside `stopping_on_signals` (put it outside `holds_writer_lock`)."""

    @functools.wraps(function)
    def stoppable(*args: P.args, **kwargs: P.kwargs) -> R:
        with stopping_on_signals():
            return function(*args, **kwargs)

    return stoppable
