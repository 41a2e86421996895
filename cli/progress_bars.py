"""Progress bars of long stages: counts, rate and ETA on the terminal while ingest, scoring, sampling and training run.

Stages send `pipelines.progress.report` events on the `afterword.progress` logger; `progress_bars` draws them
while a command runs (library use and tests install nothing and stay silent).
`afterword nightly|score|refresh|competence|demo` show them.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from pipelines.progress import LOGGER


class _Counts(MofNCompleteColumn):
    """'done/total' for stages; nothing for the command's own spinner line, which has no total."""

    def render(self, task) -> Text:
        return super().render(task) if task.total is not None else Text("")


class _Bars(logging.Handler):
    """Draws each stage's events as one bar of a rich Progress. A stage that finished leaves the screen when
    the next one starts, so the bars on screen are the work running now, not a finished count left standing."""

    def __init__(self, bars: Progress):
        super().__init__(logging.DEBUG)
        self.bars = bars
        self.tasks: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        event = record.__dict__.get("progress")  # only our own events carry it
        if event is None:
            return
        stage, done, total = event
        if stage not in self.tasks:
            for task in self.bars.tasks:
                if task.total is not None and task.finished:
                    self.bars.update(task.id, visible=False)
            self.tasks[stage] = self.bars.add_task(stage, total=total)
        self.bars.update(self.tasks[stage], completed=done, total=total, visible=True)


@contextmanager
def progress_bars(console: Console, title: str) -> Iterator[Progress]:
    """Show `title` with a spinner, and a bar with counts and ETA for every stage that reports."""
    bars = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        _Counts(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )
    handler = _Bars(bars)
    level, propagate = LOGGER.level, LOGGER.propagate
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.DEBUG)
    LOGGER.propagate = False
    try:
        with bars:
            bars.add_task(title, total=None)
            yield bars
    finally:
        LOGGER.removeHandler(handler)
        LOGGER.setLevel(level)
        LOGGER.propagate = propagate
