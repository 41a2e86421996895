"""The `afterword` command: parses arguments and calls flows; no logic of its own.

afterword demo                                   # nightly flow on the bundled sample, then example queries
afterword nightly --input dump.jsonl --root out  # one night of raw dumps into out/
afterword query --root out "select count(*) from interactions"
"""

import argparse
import csv
import json
import os
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from flows.progress import progress_bars

PROJECT_DIR = Path(__file__).resolve().parent
SAMPLE = PROJECT_DIR / "data" / "sample" / "wildchat_sample.jsonl"
DEMO_TRAIN_CONFIG = PROJECT_DIR / "data" / "demo_train.toml"
DEMO_QUERIES = {
    "Rejected records by reason": (
        "select reason, count(*) as records from rejects group by reason order by records desc"
    ),
    "What selection removed": (
        "select level, reason, sum(rows) as rows from filter_report group by all order by level, rows desc"
    ),
    "Interactions by source model": (
        "select model, count(*) as interactions, round(avg(len(context)), 2) as mean_history_messages "
        "from interactions group by model order by interactions desc"
    ),
    "Most pushed-back replies (lowest mean hindsight advantage)": (
        "select round(mean_advantage::double, 3) as mean_adv, round(negative_share::double, 2) as neg_share, "
        "n_tokens, replace(left(followup, 40), chr(10), ' ') as followup, "
        "replace(left(response, 40), chr(10), ' ') as reply from advantages order by mean_advantage limit 5"
    ),
    "Tokens the model would most rather not have said": (
        "select token, count(*) as n, round(avg(advantage)::double, 3) as mean_adv from token_advantages "
        "group by token having count(*) >= 3 order by mean_adv limit 8"
    ),
    "Follow-ups that push back": (
        "select replace(left(followup, 60), chr(10), ' ') as followup, "
        "replace(left(response, 50), chr(10), ' ') as reply from interactions "
        "where regexp_matches(lower(followup), '(wrong|shorter|only|not what|i said|no,)') limit 8"
    ),
}

console = Console()


def configure_environment() -> None:
    """Quiet, offline-friendly library settings; nothing here writes to the current directory."""
    # With PREFECT_API_URL set, runs are tracked there; without it flows run in-process (flows/runtime.py).
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # The terminal shows our own progress; library notices and loading bars stay out of it.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")


def run_nightly(
    inputs: list[str],
    root: str,
    night: str | None,
    config_path: str | None,
    fmt: str | None,
    score: bool,
    score_limit: int | None = None,
    replace: bool = False,
):
    from flows import preflight
    from flows.nightly import nightly
    from flows.runtime import last_night, run_flow

    night_date = preflight.parse_night(night) if night else last_night()
    values = preflight.run_config(config_path).to_dict()
    if fmt:
        values["ingest"]["input_format"] = fmt
    if score_limit is not None:
        values["score"]["max_interactions"] = score_limit
    inputs = preflight.nightly_inputs(inputs, night_date, values["ingest"]["input_format"])
    os.makedirs(root, exist_ok=True)
    with progress_bars(console, f"[bold]nightly[/bold] {night_date}: {len(inputs)} input(s) → {root}"):
        summary = run_flow(
            nightly,
            inputs=inputs,
            root=root,
            night=night_date.isoformat(),
            config=_json_ready(values),
            score=score,
            replace=replace,
        )
    print_summary(summary)
    return summary


def print_summary(summary: dict) -> None:
    counts = Table(title=f"night {summary['night']} — run {summary['run_id']}", show_lines=False)
    for column in ("records in", "conversations", "rejects", "interactions", "blank lines"):
        counts.add_column(column, justify="right")
    counts.add_row(
        *(str(summary[key]) for key in ("records_in", "conversations", "rejects", "interactions", "blank_lines"))
    )
    console.print(counts)
    balance = summary["conversations"] + summary["rejects"]
    console.print(
        f"records in {summary['records_in']} = conversations {summary['conversations']} + rejects "
        f"{summary['rejects']} ({'balanced' if balance == summary['records_in'] else 'MISMATCH'})"
    )
    if summary["reject_reasons"]:
        reasons = Table(title="rejects by reason")
        reasons.add_column("reason")
        reasons.add_column("records", justify="right")
        for reason, rows in summary["reject_reasons"].items():
            reasons.add_row(reason, str(rows))
        console.print(reasons)
    failed = {name: rows for name, rows in summary["checks"].items() if rows}
    console.print("data contracts: " + ("all hold" if not failed else f"[red]failed {failed}[/red]"))
    if summary["scoring_run"]:
        console.print(f"scored replies: {summary['scored_replies']} (scoring run {summary['scoring_run']})")
    console.print(f"catalog: {summary['catalog']}   timings: {summary['timings']}")


def run_training(root: str, rounds: int, mode: str | None, limit: int | None, config_path: str | None) -> dict:
    from flows import preflight
    from flows.refresh import run_refresh
    from train.loop import describe_time_split

    cfg = preflight.train_config(config_path, root=root, rounds=rounds, mode=mode, limit=limit)
    preflight.refresh_ready(cfg)
    with progress_bars(console, f"[bold]refresh[/bold]: {rounds} round(s) from {root}"):
        summary = run_refresh(root, rounds, mode, limit, config_path)
    table = Table(title=f"training run {summary['run_id']}")
    for column in ("round", "steps", "loss", "mean advantage", "approval", "drift", "length"):
        table.add_column(column, justify="right")
    for row in summary["rounds"]:
        table.add_row(
            *(
                _short(row.get(key))
                for key in ("round", "steps", "loss", "mean_advantage", "approval", "drift_kl", "eval_reply_tokens")
            )
        )
    console.print(table)
    for row in summary["rounds"]:
        console.print(f"round {row['round']} time split: {describe_time_split(row)}")
    console.print(f"checkpoint: {summary['checkpoint']}  (AutoModelForCausalLM.from_pretrained loads it)")
    return summary


def run_competence(root: str, night: str, n: int, config_path: str | None) -> None:
    from flows import preflight
    from flows.competence import check_teacher_competence

    night_date = preflight.parse_night(night, "--night")
    preflight.night_interactions(root, night_date)
    cfg = preflight.run_config(config_path)
    with progress_bars(console, f"scoring {n} interactions with real and with swapped follow-ups"):
        result = check_teacher_competence(root, night_date, cfg.score, n)
    table = Table(title=f"teacher competence: {result['model_id']} ({result['template']} template)")
    table.add_column("follow-up")
    table.add_column("mean |advantage| per token (nats)", justify="right")
    table.add_row("real", f"{result['mean_abs_advantage_real']:.4f}")
    table.add_row("swapped (another interaction's)", f"{result['mean_abs_advantage_swapped']:.4f}")
    console.print(table)
    console.print(
        f"ratio real/swapped {result['ratio_real_to_swapped']:.2f}; the real follow-up moves the teacher more "
        f"in {result['share_real_moves_more']:.0%} of {result['interactions']} replies "
        "(a competent self-teacher: ratio well above 1)"
    )


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def run_score_shard(root: str, night: str, shard: str, config_path: str | None, score_limit: int | None) -> None:
    from flows import preflight
    from flows.scoring import score_night_shard
    from pipelines.publish import publish_catalog
    from pipelines.sources import InputError

    index, _, count = shard.partition("/")
    if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
        raise InputError(f"--shard {shard!r}: expected I/N with 0 <= I < N, e.g. 3/8")
    night_date = preflight.parse_night(night, "--night")
    preflight.night_interactions(root, night_date)
    cfg = preflight.run_config(config_path)
    limit = cfg.score.max_interactions if score_limit is None else score_limit
    cfg = replace(cfg, score=replace(cfg.score, shards=int(count), max_interactions=limit))
    with progress_bars(console, f"scoring shard {shard} of night {night}"):
        result = score_night_shard(root, night_date, int(index), cfg.score)
    publish_catalog(root)
    state = "already done" if result["skipped"] else "written"
    console.print(f"shard {shard}: {result['rows']} replies {state} → {result['path']}")


def run_report(root: str, run: str | None, out: str | None) -> None:
    from flows.report import write_run_report

    path, completeness = write_run_report(root, run, out)
    console.print(f"report ({completeness}): {path}")


def print_query(root: str, sql: str, title: str | None = None, fmt: str = "table", max_rows: int = 0) -> None:
    from pipelines.query import query_catalog

    columns, rows, more = query_catalog(root, sql, max_rows)
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    elif fmt == "json":
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        sys.stdout.write(json.dumps(records, default=str, ensure_ascii=False, indent=1) + "\n")
    else:
        table = Table(title=title)
        for column in columns:
            # A header is never squeezed below its own width; long cell text wraps instead.
            table.add_column(column, min_width=len(column), overflow="fold")
        for row in rows:
            table.add_row(*("" if value is None else str(value) for value in row))
        console.print(table)
    if more:
        print(f"(showing the first {max_rows} rows; --max-rows 0 shows all)", file=sys.stderr)


def _json_ready(values):
    """Dates and tuples → strings and lists, as Prefect parameters travel as JSON."""
    if isinstance(values, dict):
        return {key: _json_ready(value) for key, value in values.items()}
    if isinstance(values, list | tuple):
        return [_json_ready(value) for value in values]
    if isinstance(values, date):
        return values.isoformat()
    return values


# ------------------------------------------------------------------ subcommands: one block each
def add_nightly(commands) -> None:
    parser = commands.add_parser("nightly", help="ingest, segment, select and score one night of raw dumps")
    parser.add_argument("--input", nargs="+", required=True, metavar="PATH", help="files, folders or globs")
    parser.add_argument("--root", required=True, help="storage root (a local folder)")
    parser.add_argument("--date", help="night to file the data under, YYYY-MM-DD (default: last night, UTC)")
    parser.add_argument("--config", help="TOML file with [ingest], [segment], [select], [score] tables")
    parser.add_argument("--format", choices=["wildchat", "lmsys", "sharegpt", "openai"], help="skip detection")
    parser.add_argument("--no-score", action="store_true", help="stop after the data tables (no scoring stage)")
    parser.add_argument("--score-limit", type=int, help="score at most N interactions (a stable sample)")
    parser.add_argument("--replace", action="store_true", help="replace the night if already published")
    parser.set_defaults(
        handler=lambda a: run_nightly(
            a.input, a.root, a.date, a.config, a.format, not a.no_score, a.score_limit, a.replace
        )
    )


def add_score(commands) -> None:
    parser = commands.add_parser("score", help="score one shard of a night's interactions (worker mode)")
    parser.add_argument("--root", required=True)
    parser.add_argument("--night", required=True, help="YYYY-MM-DD")
    parser.add_argument("--shard", required=True, help="I/N: this worker's shard out of N")
    parser.add_argument("--config", help="TOML file; its [score] table sets model, backend, template, ...")
    parser.add_argument("--score-limit", type=int, help="score at most N of the night's interactions (stable sample)")
    parser.set_defaults(handler=lambda a: run_score_shard(a.root, a.night, a.shard, a.config, a.score_limit))


def add_query(commands) -> None:
    parser = commands.add_parser("query", help="run one read-only SQL query against the catalog")
    parser.add_argument("--root", required=True)
    parser.add_argument("--format", choices=["table", "csv", "json"], default="table", help="(%(default)s)")
    parser.add_argument("--max-rows", type=int, default=1000, help="rows shown at most; 0 = all (%(default)s)")
    parser.add_argument("sql")
    parser.set_defaults(handler=lambda a: print_query(a.root, a.sql, fmt=a.format, max_rows=a.max_rows))


def add_report(commands) -> None:
    parser = commands.add_parser("report", help="write the HTML heat-map report of a scoring run")
    parser.add_argument("--root", required=True)
    parser.add_argument("--run", help="scoring run id (default: the newest nightly scoring run)")
    parser.add_argument("--out", help="HTML file to write (default: <root>/reports/<run>.html)")
    parser.set_defaults(handler=lambda a: run_report(a.root, a.run, a.out))


def add_competence(commands) -> None:
    parser = commands.add_parser("competence", help="teacher-competence check: real vs swapped follow-ups")
    parser.add_argument("--root", required=True)
    parser.add_argument("--night", required=True, help="YYYY-MM-DD")
    parser.add_argument("--n", type=int, default=32, help="interactions to score twice (%(default)s)")
    parser.add_argument("--config", help="TOML file; its [score] table sets model, backend, template, ...")
    parser.set_defaults(handler=lambda a: run_competence(a.root, a.night, a.n, a.config))


def add_refresh(commands) -> None:
    parser = commands.add_parser("refresh", help="training rounds: regenerate, score in hindsight, train")
    parser.add_argument("--root", required=True)
    parser.add_argument("--rounds", type=int, required=True, help="rounds to reach (a rerun resumes)")
    parser.add_argument("--mode", choices=["logged", "onpolicy"], help="default: onpolicy")
    parser.add_argument("--limit", type=int, help="use at most M interactions (a stable sample)")
    parser.add_argument("--config", help="TOML file with a [train] table (fields of train/config.py TrainConfig)")
    parser.set_defaults(handler=lambda a: run_training(a.root, a.rounds, a.mode, a.limit, a.config))


def run_simulation(args) -> None:
    from flows.simulate import run_simulate

    summary = run_simulate(args.root, args.user, args.rounds, args.control, args.config, args.prompts)
    console.print(summary["markdown"] + f"plot: {summary['plot']}\ntable: {summary['table']}")


def add_simulate(commands) -> None:
    parser = commands.add_parser("simulate", help="simulated users: does training learn what they ask? (one arm)")
    parser.add_argument("--root", required=True, help="storage root holding the prompts (see --prompts)")
    parser.add_argument("--user", required=True, help="preference: concise, no-emoji, no-lists or sign-off")
    parser.add_argument("--rounds", type=int, required=True, help="rounds to reach (a rerun resumes)")
    parser.add_argument("--control", action="store_true", help="the control arm: follow-ups say nothing about it")
    parser.add_argument("--config", help="TOML file with [train] and [simulate] tables")
    parser.add_argument("--prompts", help="JSON-lines prompts to store under the root first (data/prompts/...)")
    parser.set_defaults(handler=run_simulation)


def add_demo(commands) -> None:
    parser = commands.add_parser("demo", help="the nightly flow on the bundled sample, then example queries")
    parser.add_argument("--root", default="afterword-demo", help="storage root for the demo (default: %(default)s)")
    parser.add_argument("--date", default="2026-01-01", help="night to file the sample under")
    parser.add_argument("--score-limit", type=int, default=32, help="interactions scored on CPU (%(default)s)")
    parser.set_defaults(handler=run_demo)


def run_demo(args) -> None:
    console.rule("afterword demo: the nightly flow on the bundled WildChat-format sample")
    run_nightly([str(SAMPLE)], args.root, args.date, None, None, True, args.score_limit)
    for title, sql in DEMO_QUERIES.items():
        print_query(args.root, sql, title)
    run_report(args.root, None, None)
    console.rule("one short on-policy refresh round: sample with the current weights, score in hindsight, train")
    run_training(args.root, 1, "onpolicy", args.score_limit, str(DEMO_TRAIN_CONFIG))
    console.print(
        f"Open the catalog read-only in any DuckDB client, from the root: cd {args.root} && duckdb -readonly "
        f'catalog.duckdb\nor: afterword query --root {args.root} "select * from interactions limit 5"'
    )


SUBCOMMANDS = (add_nightly, add_score, add_query, add_report, add_competence, add_refresh, add_simulate, add_demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="afterword", description="Hindsight signal from real chat logs.")
    commands = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_environment()
    from pipelines.lock import RootLockedError
    from pipelines.sources import InputError

    try:
        args.handler(args)
    except (InputError, RootLockedError) as error:
        # A known mistake: one line naming the fix, no traceback.
        print(f"afterword {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
