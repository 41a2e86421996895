"""The one line a command stopped by SIGTERM (exit 143) or Ctrl-C (130) prints: what was kept, how to resume.

The handlers themselves are `flows/runtime.py`'s: `exit_on_stop_signals` while a command starts or after its work,
`stopping_on_signals` around the work (the run unwinds: lock released, children ended, temporary files removed).
"""

import signal

# What a stopped command keeps and how to resume it: the one line SIGTERM (exit 143) or Ctrl-C (130) prints.
KEPT_ON_STOP = {
    "nightly": "every process it started is stopped, nothing half-written is left and the root is unlocked; finished "
    "chunks and score shards are kept and a rerun of the same command resumes",
    "score": "finished score shards are kept, nothing half-written is left and the root is unlocked; a rerun of the "
    "same command resumes",
    "refresh": "the checkpoints of complete rounds are kept, nothing half-written is left and the root is unlocked; "
    "a rerun of the same command resumes after the newest one",
}
KEPT_ON_STOP |= {"demo": KEPT_ON_STOP["nightly"], "simulate": KEPT_ON_STOP["refresh"]}


def stop_line(command: str, signal_number: int, after_work: bool, started: bool = True) -> str:
    """The one line a stopped command prints: what was kept and how to resume."""
    name = f"afterword {command}: stopped by {signal.Signals(signal_number).name}"
    if after_work:
        return f"{name} after its work had finished: everything it wrote is kept, nothing to rerun"
    if not started:
        return f"{name} while starting, before any work: nothing was written; run the command again"
    return f"{name}: " + KEPT_ON_STOP.get(command, "nothing half-written is left; run the command again")
