"""What each `afterword` subcommand does once its arguments are parsed: checks first (`cli/preflight.py`), then the
flow or stage, then what it prints. `afterword_cli.py` parses and calls these.
"""

import csv
import json
import sys
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cli.progress_bars import progress_bars
from pipelines.config_loading import flag_settings

PROJECT_DIR = Path(__file__).resolve().parents[1]
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


def run_nightly(
    inputs: list[str],
    root: str,
    night: str | None,
    config_path: str | None,
    fmt: str | None,
    score: bool,
    score_limit: int | None = None,
    replace: bool = False,
    flags: dict[str, str] | None = None,
):
    from cli import preflight
    from flows.nightly import nightly
    from flows.runtime import last_night, run_flow, work_finished
    from pipelines import objectstore

    night_date = preflight.parse_night(night) if night else last_night()
    own_flags = {"ingest.input_format": fmt, "score.max_interactions": score_limit}
    cfg = preflight.run_config(config_path, flags, own_flags)
    preflight.beam_runner(cfg.beam_args)
    if score:
        preflight.device(cfg.score.device, "score.device")
        preflight.model_files(cfg.score.model, "score.model", root)
    preflight.writable_root(root)
    preflight.prefect_api()
    inputs = preflight.nightly_inputs(inputs, night_date, cfg.ingest.input_format)
    objectstore.make_folder(root)
    with progress_bars(console, f"[bold]nightly[/bold] {night_date}: {len(inputs)} input(s) → {root}"):
        summary = run_flow(
            nightly,
            inputs=inputs,
            root=root,
            night=night_date.isoformat(),
            config=_json_ready(cfg.to_dict()),
            score=score,
            replace=replace,
        )
    work_finished()  # published: a stop while the summary prints says so
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
    if summary.get("filter_report"):
        from cli.night_summary import filter_report_table

        console.print(filter_report_table(summary["filter_report"]))
    failed = {name: rows for name, rows in summary["checks"].items() if rows}
    console.print("data contracts: " + ("all hold" if not failed else f"[red]failed {failed}[/red]"))
    if summary["scoring_run"]:
        console.print(f"scored replies: {summary['scored_replies']} (scoring run {summary['scoring_run']})")
    console.print(f"catalog: {summary['catalog']}   timings: {summary['timings']}")


def run_training(
    root: str,
    rounds: int,
    mode: str | None,
    limit: int | None,
    config_path: str | None,
    flags: dict[str, str] | None = None,
) -> dict:
    from cli import preflight
    from flows.refresh import run_refresh
    from flows.runtime import work_finished
    from train.metrics import describe_time_split

    preflight.local_root(root, "refresh")
    cfg = preflight.train_config(config_path, flags, root=root, rounds=rounds, mode=mode, limit=limit)
    preflight.refresh_ready(cfg)
    preflight.device(cfg.device, "train.device")
    preflight.model_files(cfg.model, "train.model", root)
    with progress_bars(console, f"[bold]refresh[/bold]: {rounds} round(s) from {root}"):
        summary = run_refresh(cfg)
    work_finished()
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


def run_competence(root: str, night: str, n: int, config_path: str | None, flags: dict[str, str]) -> None:
    from cli import preflight
    from cli.competence import check_teacher_competence, competence_summary

    night_date = preflight.parse_night(night, "--night")
    preflight.local_root(root, "competence")
    preflight.night_interactions(root, night_date)
    cfg = preflight.run_config(config_path, flags)
    preflight.device(cfg.score.device, "score.device")
    preflight.model_files(cfg.score.model, "score.model", root)
    with progress_bars(console, f"scoring {n} interactions with real and with swapped follow-ups"):
        result = check_teacher_competence(root, night_date, cfg.score, n)
    table = Table(title=f"teacher competence: {result['model_id']} ({result['template']} template)")
    table.add_column("follow-up")
    table.add_column("mean |advantage| per token (nats)", justify="right")
    table.add_row("real", f"{result['mean_abs_advantage_real']:.4f}")
    table.add_row("swapped (another interaction's)", f"{result['mean_abs_advantage_swapped']:.4f}")
    console.print(table)
    console.print(competence_summary(result), markup=False, highlight=False)


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def run_score_shard(
    root: str, night: str, shard: str, config_path: str | None, score_limit: int | None, flags: dict[str, str]
) -> None:
    from cli import preflight
    from flows.runtime import work_finished
    from flows.scoring import score_night_shard
    from pipelines.errors import InputError
    from pipelines.store.publish import publish_catalog

    index, _, count = shard.partition("/")
    if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
        raise InputError(f"--shard {shard!r}: expected I/N with 0 <= I < N, e.g. 3/8")
    night_date = preflight.parse_night(night, "--night")
    preflight.night_interactions(root, night_date)
    cfg = preflight.run_config(config_path, flags, {"score.shards": int(count), "score.max_interactions": score_limit})
    preflight.device(cfg.score.device, "score.device")
    preflight.model_files(cfg.score.model, "score.model", root)
    with progress_bars(console, f"scoring shard {shard} of night {night}"):
        result = score_night_shard(root, night_date, int(index), cfg.score)
    publish_catalog(root)
    work_finished()
    state = "already done" if result["skipped"] else "written"
    console.print(f"shard {shard}: {result['rows']} replies {state} → {result['path']}")


def run_report(root: str, run: str | None, out: str | None, ledger: bool = False) -> None:
    from cli.run_report import write_ledger_report, write_run_report
    from pipelines.errors import InputError

    if ledger:
        if run:
            raise InputError("--ledger covers every model of the root: drop --run")
        path, count = write_ledger_report(root, out)
        console.print(f"forgetting ledger ({count} models): {path}")
        return
    path, completeness = write_run_report(root, run, out)
    console.print(f"report ({completeness}): {path}")


def print_query(root: str, sql: str, title: str | None = None, fmt: str = "table", max_rows: int = 0) -> None:
    from pipelines.store.query import json_value, query_catalog

    columns, rows, more = query_catalog(root, sql, max_rows)
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    elif fmt == "json":
        # Keys in column order; a repeated column name keeps its last value, as any JSON object would.
        records = [{column: json_value(value) for column, value in zip(columns, row, strict=True)} for row in rows]
        sys.stdout.write(json.dumps(records, ensure_ascii=False, allow_nan=False, indent=1) + "\n")
    else:
        table = Table(title=title)
        for column in columns:
            # A header is never squeezed below its own width; long cell text wraps instead.
            table.add_column(Text(column), min_width=len(column), overflow="fold")
        for row in rows:
            # Text, not markup: chat logs are full of `[/INST]` and `[bold]`.
            table.add_row(*(Text("" if value is None else str(value)) for value in row))
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


def run_learn_command(root, night, nights, config, flags) -> None:
    from cli.learn import run_learn_command as run

    run(root, night, nights, config, flags)


def run_models(root, action, model_id, reason) -> None:
    from cli.models import run_models_command

    run_models_command(root, action, model_id, reason)


def run_simulation(args) -> None:
    from cli import preflight
    from flows.runtime import work_finished
    from flows.simulate import run_grid

    preflight.local_root(args.root, "simulate")
    runs = run_grid(args.root, args.users, args.rounds, args.arm, args.seeds, args.config, args.prompts,
                    flag_settings(args))  # fmt: skip
    work_finished()
    summary = runs[-1]  # its report covers every arm and seed the root holds
    nights = f"\nnight by night: {summary['nights_table']}" if summary["nights_table"] else ""
    finished = "".join(f"\nrun: {run['run_id']}" for run in runs) if len(runs) > 1 else ""
    console.print(summary["markdown"] + f"plot: {summary['plot']}\ntable: {summary['table']}{nights}{finished}")


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


def run_env(args) -> None:
    from cli.environment import environment_report, print_environment

    print_environment(environment_report(args.root), sys.stdout, as_json=args.json)


def run_status(args) -> None:
    from dataclasses import asdict

    from cli import preflight
    from cli.root_status import print_status, root_status

    status = root_status(preflight.existing_root(args.root))
    if args.json:
        sys.stdout.write(json.dumps(asdict(status), indent=1) + "\n")
    else:
        print_status(status, console)
