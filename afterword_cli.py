"""The `afterword` command: parses arguments and calls flows; no logic of its own.

afterword demo                                   # nightly flow on the bundled sample, then example queries
afterword nightly --input dump.jsonl --root out  # one night of raw dumps into out/
afterword query --root out "select count(*) from interactions"
"""

import argparse
import os
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

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
    """Settings that let a temporary local Prefect server start reliably on a small offline machine."""
    os.environ.setdefault("PREFECT_HOME", str(Path.cwd() / ".prefect"))
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # The terminal shows our own progress; library notices (deprecations, advice) stay out of it.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def run_nightly(
    inputs: list[str],
    root: str,
    night: str | None,
    config_path: str | None,
    fmt: str | None,
    score: bool,
    score_limit: int | None = None,
):
    from flows.config import load_config
    from flows.nightly import nightly

    cfg = load_config(config_path)
    values = cfg.to_dict()
    if fmt:
        values["ingest"]["input_format"] = fmt
    if score_limit is not None:
        values["score"]["max_interactions"] = score_limit
    os.makedirs(root, exist_ok=True)
    with console.status(f"[bold]nightly[/bold]: {len(inputs)} input(s) → {root}"):
        summary = nightly(inputs=inputs, root=root, night=night, config=_json_ready(values), score=score)
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
    from flows.refresh import run_refresh
    from pipelines.publish import publish_catalog

    with console.status(f"[bold]refresh[/bold]: {rounds} round(s) from {root}"):
        summary = run_refresh(root, rounds, mode, limit, config_path)
    publish_catalog(root)
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
    console.print(f"checkpoint: {summary['checkpoint']}  (AutoModelForCausalLM.from_pretrained loads it)")
    return summary


def run_competence(root: str, night: str, n: int, config_path: str | None) -> None:
    from flows.competence import check_teacher_competence
    from flows.config import load_config

    cfg = load_config(config_path)
    with console.status(f"scoring {n} interactions with real and with swapped follow-ups"):
        result = check_teacher_competence(root, date.fromisoformat(night), cfg.score, n)
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


def run_score_shard(root: str, night: str, shard: str, config_path: str | None) -> None:
    from flows.config import load_config
    from flows.scoring import score_night_shard
    from pipelines.publish import publish_catalog

    index, _, count = shard.partition("/")
    if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
        raise SystemExit(f"--shard {shard!r}: expected I/N with 0 <= I < N, e.g. 3/8")
    cfg = load_config(config_path)
    if int(count) != cfg.score.shards:
        cfg = replace(cfg, score=replace(cfg.score, shards=int(count)))
    with console.status(f"scoring shard {shard} of night {night}"):
        result = score_night_shard(root, date.fromisoformat(night), int(index), cfg.score)
    publish_catalog(root)
    state = "already done" if result["skipped"] else "written"
    console.print(f"shard {shard}: {result['rows']} replies {state} → {result['path']}")


def print_query(root: str, sql: str, title: str | None = None) -> None:
    from pipelines.publish import query_catalog

    columns, rows = query_catalog(root, sql)
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row))
    console.print(table)


def _json_ready(values):
    """Dates and tuples → strings and lists, as Prefect parameters travel as JSON."""
    if isinstance(values, dict):
        return {key: _json_ready(value) for key, value in values.items()}
    if isinstance(values, list | tuple):
        return [_json_ready(value) for value in values]
    if isinstance(values, date):
        return values.isoformat()
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="afterword", description="Hindsight signal from real chat logs.")
    commands = parser.add_subparsers(dest="command", required=True)

    nightly = commands.add_parser("nightly", help="ingest, segment and select one night of raw dumps")
    nightly.add_argument("--input", nargs="+", required=True, metavar="PATH", help="files, folders or globs")
    nightly.add_argument("--root", required=True, help="storage root (a local folder)")
    nightly.add_argument("--date", help="night to file the data under, YYYY-MM-DD (default: today, UTC)")
    nightly.add_argument("--config", help="TOML file with [ingest], [segment], [select] tables")
    nightly.add_argument("--format", choices=["wildchat", "lmsys", "sharegpt", "openai"], help="skip detection")
    nightly.add_argument("--no-score", action="store_true", help="stop after the data tables (no scoring stage)")
    nightly.add_argument("--score-limit", type=int, help="score at most N interactions (a stable sample)")

    score = commands.add_parser("score", help="score one shard of a night's interactions (worker mode)")
    score.add_argument("--root", required=True)
    score.add_argument("--night", required=True, help="YYYY-MM-DD")
    score.add_argument("--shard", required=True, help="I/N: this worker's shard out of N")
    score.add_argument("--config", help="TOML file; its [score] table sets model, backend, template, ...")

    query = commands.add_parser("query", help="run one SQL query read-only against the catalog")
    query.add_argument("--root", required=True)
    query.add_argument("sql")

    report = commands.add_parser("report", help="write the HTML heat-map report of a scoring run")
    report.add_argument("--root", required=True)
    report.add_argument("--run", help="scoring run id (default: the newest)")
    report.add_argument("--out", help="HTML file to write (default: <root>/reports/<run>.html)")

    competence = commands.add_parser("competence", help="teacher-competence check: real vs swapped follow-ups")
    competence.add_argument("--root", required=True)
    competence.add_argument("--night", required=True, help="YYYY-MM-DD")
    competence.add_argument("--n", type=int, default=32, help="interactions to score twice (%(default)s)")
    competence.add_argument("--config", help="TOML file; its [score] table sets model, backend, template, ...")

    refresh = commands.add_parser("refresh", help="training rounds: regenerate, score in hindsight, train")
    refresh.add_argument("--root", required=True)
    refresh.add_argument("--rounds", type=int, required=True, help="rounds to reach (a rerun resumes)")
    refresh.add_argument("--mode", choices=["logged", "onpolicy"], help="default: onpolicy")
    refresh.add_argument("--limit", type=int, help="use at most M interactions (a stable sample)")
    refresh.add_argument("--config", help="TOML file with a [train] table (fields of train/config.py TrainConfig)")

    simulate = commands.add_parser("simulate", help="simulated users: does training learn what they ask? (one arm)")
    simulate.add_argument("--root", required=True, help="storage root holding the prompts (see --prompts)")
    simulate.add_argument("--user", required=True, help="preference: concise, no-emoji, no-lists or sign-off")
    simulate.add_argument("--rounds", type=int, required=True, help="rounds to reach (a rerun resumes)")
    simulate.add_argument("--control", action="store_true", help="the control arm: follow-ups say nothing about it")
    simulate.add_argument("--config", help="TOML file with [train] and [simulate] tables")
    simulate.add_argument("--prompts", help="JSON-lines prompts to store under the root first (data/prompts/...)")

    demo = commands.add_parser("demo", help="the nightly flow on the bundled sample, then example queries")
    demo.add_argument("--root", default="afterword-demo", help="storage root for the demo (default: %(default)s)")
    demo.add_argument("--date", default="2026-01-01", help="night to file the sample under")
    demo.add_argument("--score-limit", type=int, default=32, help="interactions scored on CPU (%(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_environment()
    if args.command == "nightly":
        run_nightly(args.input, args.root, args.date, args.config, args.format, not args.no_score, args.score_limit)
    elif args.command == "score":
        run_score_shard(args.root, args.night, args.shard, args.config)
    elif args.command == "competence":
        run_competence(args.root, args.night, args.n, args.config)
    elif args.command == "refresh":
        run_training(args.root, args.rounds, args.mode, args.limit, args.config)
    elif args.command == "simulate":
        from flows.simulate import BadInput, run_simulate

        try:
            summary = run_simulate(args.root, args.user, args.rounds, args.control, args.config, args.prompts)
        except BadInput as error:
            raise SystemExit(f"afterword simulate: {error}") from None
        console.print(summary["markdown"] + f"plot: {summary['plot']}\ntable: {summary['table']}")
    elif args.command == "report":
        from flows.report import write_run_report

        console.print(f"report: {write_run_report(args.root, args.run, args.out)}")
    elif args.command == "query":
        print_query(args.root, args.sql)
    elif args.command == "demo":
        console.rule("afterword demo: the nightly flow on the bundled WildChat-format sample")
        run_nightly([str(SAMPLE)], args.root, args.date, None, None, True, args.score_limit)
        for title, sql in DEMO_QUERIES.items():
            print_query(args.root, sql, title)
        from flows.report import write_run_report

        console.print(f"Token heat-map report: {write_run_report(args.root)}")
        console.rule("one on-policy refresh round: sample with the current weights, score in hindsight, train")
        run_training(args.root, 1, "onpolicy", args.score_limit, str(DEMO_TRAIN_CONFIG))
        console.print(
            f"Open the catalog in any DuckDB client: duckdb {os.path.join(args.root, 'catalog.duckdb')}\n"
            f'or: afterword query --root {args.root} "select * from interactions limit 5"'
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
