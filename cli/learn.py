"""`afterword learn`: checks before any work, the learn flow, then the decision and the ledger on one screen."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from pipelines.errors import InputError


def run_learn_command(root: str, night: str | None, nights: str | None, config: str | None, flags: dict) -> dict:
    """Learn `night` (or the window `nights`; neither = the oldest night not learned yet) and print the result."""
    from cli import preflight
    from cli.progress_bars import progress_bars
    from flows.learn import run_learn
    from flows.runtime import work_finished
    from train.continual.continual import next_night

    console = Console()
    preflight.local_root(root, "learn")
    if night and nights:
        raise InputError("give --night D or --nights D1..D2, not both")
    chosen = night or nights or next_night(root)
    if chosen is None:
        console.print(f"nothing to learn: every published night under {root} has a model (afterword models --root)")
        return {"model": None, "added": False, "ledger": []}
    cfg = preflight.learn_config(config, flags, root, chosen)
    preflight.device(cfg.train.device, "train.device")
    preflight.model_files(cfg.train.model, "train.model", root)
    with progress_bars(console, f"[bold]learn[/bold] {chosen} on {root}"):
        result = run_learn(cfg)
    work_finished()
    print_result(console, result)
    return result


def print_result(console: Console, result: dict) -> None:
    """The candidate's decision, then every set's approval / drift for base, parent and candidate."""
    model = result["model"]
    if not result["added"]:
        console.print(f"{model['model_id']} was already decided ({model['status']}): nothing added")
    table = Table(title="evaluation suite (approval: nats/token, higher is better; drift: KL vs base, nats/token)")
    for column in ("model", "set", "n", "approval", "interval", "drift vs base", "drift vs parent", "length", "ended"):
        table.add_column(column, justify="right" if column not in ("model", "set") else "left")
    for row in result["ledger"]:
        interval = "" if row["approval_low"] is None else f"[{row['approval_low']:+.3f}, {row['approval_high']:+.3f}]"
        table.add_row(
            row["model_id"], row["eval_set"], str(row["n"]), _number(row["approval"], "+.4f"), interval,
            _number(row["drift_base_kl"], ".4f"), _number(row["drift_parent_kl"], ".4f"),
            _number(row["reply_tokens"], ".1f"), _number(row["ended_share"], ".0%"),
        )  # fmt: skip
    console.print(table)
    lineage = f"parent {model['parent_id'] or 'base'}, nights {', '.join(model['nights'])}"
    console.print(f"[bold]{model['model_id']}[/bold] ({lineage}): [bold]{model['status']}[/bold] — {model['reason']}")
    console.print(f"weights: {model['checkpoint_path']}")


def _number(value, spec: str) -> str:
    return "" if value is None else format(value, spec)
