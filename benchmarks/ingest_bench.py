"""Time `afterword nightly --no-score` against a Hugging Face `datasets` baseline and a bare DuckDB script.

Input: a make_dump.py dump (generated into --dump unless wildchat-*.jsonl files are there). Output: a table of
wall time, conversations/s, speed ratios, peak tree RSS (summed over /proc every 0.2 s) and counts, plus
<workdir>/results.json. Each side runs in its own subprocess; the baseline (`baseline` subcommand) is the
obvious `datasets` pipeline: read lines, validate and parse with batched multi-process `.map`, segment, Parquet;
the DuckDB script (`duckdb` subcommand) is what an analyst would write: read_json with a projection, then SQL.
Run: python benchmarks/ingest_bench.py --n 200000   (one side alone: ... baseline|duckdb --input F [F ...] --out DIR)
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import py3langid as langid
from make_dump import DumpConfig, write_dump

NIGHTLY_DATE = "2026-01-01"
POLL_S = 0.2
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
TARGET_SPEEDUP = 10.0
TARGET_1M_SECONDS = 120.0
TARGET_RSS_BYTES = 4 * 1024**3
TARGET_DUCKDB_RATIO = 1.5

# ---------------------------------------------------------------- default ingest rules, baseline side
# The same rules `afterword nightly` applies by default; reason names are this script's own.
KNOWN_ROLES = frozenset({"user", "assistant", "system"})
MAX_MESSAGE_CHARS = 4096
MAX_CONVERSATION_CHARS = 100_000
MIN_KEPT_MESSAGES = 3
HISTORY_WINDOW = 5  # messages before the response that may form the history
LANGUAGE_NAMES = {"en": "English"}  # only English is kept, so other codes need no name
# Record-level reasons (the rest are conversation rules), to line up with afterword's rejects table.
RECORD_REASONS = frozenset({
    "invalid_utf8", "invalid_json", "not_object", "no_conversation", "empty_conversation", "unknown_role",
    "non_string_content", "duplicate_id",
})  # fmt: skip


def parse_record(line: str | None) -> tuple[str | None, str | None, str | None, list[str], list[str]]:
    """(reject reason, conversation id, metadata language, roles, contents) for one raw line."""
    if line is None:
        return "invalid_utf8", None, None, [], []
    try:
        record = json.loads(line)
    except ValueError:
        return "invalid_json", None, None, [], []
    if not isinstance(record, dict):
        return "not_object", None, None, [], []
    conversation = record.get("conversation")
    if not isinstance(conversation, list):
        return "no_conversation", None, None, [], []
    if not conversation:
        return "empty_conversation", None, None, [], []
    roles, contents = [], []
    for message in conversation:
        if not isinstance(message, dict) or message.get("role") not in KNOWN_ROLES:
            return "unknown_role", None, None, [], []
        if not isinstance(message.get("content"), str):
            return "non_string_content", None, None, [], []
        roles.append(message["role"])
        contents.append(message["content"])
    conversation_id = record.get("conversation_hash") or record.get("conversation_id")
    if not isinstance(conversation_id, str):
        # WildChat's own id definition, for dumps that lack it.
        payload = json.dumps([{"content": c, "role": r} for r, c in zip(roles, contents, strict=True)])
        conversation_id = hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]
    language = record.get("language")
    return None, conversation_id, language if isinstance(language, str) and language else None, roles, contents


def select_conversation(language: str | None, roles: list[str], contents: list[str]) -> tuple[str | None, list[int]]:
    """(drop reason or None, indices of kept messages) under the default language and length rules."""
    if language is None:
        code, _ = langid.classify("\n".join(c for r, c in zip(roles, contents, strict=True) if r == "user"))
        language = LANGUAGE_NAMES.get(code, code)
    if language != "English":
        return "non_english", []
    kept = [i for i, (r, c) in enumerate(zip(roles, contents, strict=True)) if r != "system" and c.strip()]
    if len(kept) < MIN_KEPT_MESSAGES:
        return "too_few_messages", []
    lengths = [len(contents[i]) for i in kept]
    if sum(lengths) > MAX_CONVERSATION_CHARS:
        return "conversation_too_long", []
    if max(lengths) > MAX_MESSAGE_CHARS:
        return "message_too_long", []
    return None, kept


def segment_interactions(roles: list[str], contents: list[str]) -> list[tuple[int, list[str], list[str], str, str]]:
    """(response index, history roles, history contents, response, followup) for kept messages."""
    out = []
    for i in range(len(roles) - 1):
        if roles[i] != "assistant" or roles[i + 1] != "user":
            continue
        window = list(range(max(0, i - HISTORY_WINDOW), i))
        while window and roles[window[0]] == "assistant":
            window.pop(0)
        history: list[int] = []
        for j in window:
            if not history or roles[j] != roles[history[-1]]:
                history.append(j)
        if not history or roles[history[-1]] != "user":
            continue
        out.append((i, [roles[j] for j in history], [contents[j] for j in history], contents[i], contents[i + 1]))
    return out


# ---------------------------------------------------------------- baseline pipeline (runs in its own process)


def read_lines(paths: list[str]):
    """Yield raw lines; undecodable ones come through as None so they can be counted, not crash the load."""
    for path in paths:
        with open(path, "rb") as f:
            for raw in f:
                try:
                    yield {"line": raw.rstrip(b"\n").decode("utf-8")}
                except UnicodeDecodeError:
                    yield {"line": None}


def parse_batch(batch: dict) -> dict:
    out: dict[str, list] = {"reject_reason": [], "conversation_id": [], "language": [], "roles": [], "contents": []}
    for line in batch["line"]:
        for key, value in zip(out, parse_record(line), strict=True):
            out[key].append(value)
    return out


def select_batch(batch: dict) -> dict:
    out: dict[str, list] = {"drop_reason": [], "roles": [], "contents": []}
    columns = (batch["reject_reason"], batch["language"], batch["roles"], batch["contents"])
    for reason, language, roles, contents in zip(*columns, strict=True):
        if reason is None:
            reason, kept = select_conversation(language, roles, contents)
        else:
            kept = []
        out["drop_reason"].append(reason)
        out["roles"].append([roles[i] for i in kept])
        out["contents"].append([contents[i] for i in kept])
    return out


def segment_batch(batch: dict) -> dict:
    names = ("conversation_id", "response_index", "history_roles", "history_contents", "response", "followup")
    out: dict[str, list] = {name: [] for name in names}
    for conversation_id, roles, contents in zip(
        batch["conversation_id"], batch["roles"], batch["contents"], strict=True
    ):
        for row in segment_interactions(roles, contents):
            out["conversation_id"].append(conversation_id)
            for key, value in zip(list(out)[1:], row, strict=True):
                out[key].append(value)
    return out


def run_baseline(files: list[Path], out_dir: Path, num_proc: int) -> dict:
    """Hugging Face `datasets` version of the default ingest; writes interactions.parquet and counts.json."""
    import datasets
    from datasets import Dataset, Features, List, Value

    datasets.disable_progress_bars()
    cache_dir = out_dir / "hf_cache"  # fresh per run, so nothing is served from an earlier run's cache
    t0 = time.perf_counter()
    lines = Dataset.from_generator(
        read_lines,
        gen_kwargs={"paths": [str(f) for f in files]},  # sharded over num_proc workers, file order preserved
        features=Features({"line": Value("string")}),
        cache_dir=str(cache_dir),
        num_proc=min(num_proc, len(files)),
    )
    parsed = lines.map(
        parse_batch,
        batched=True,
        num_proc=num_proc,
        remove_columns=["line"],
        features=Features(
            {
                "reject_reason": Value("string"),
                "conversation_id": Value("string"),
                "language": Value("string"),
                "roles": List(Value("string")),
                "contents": List(Value("string")),
            }
        ),
    )
    # Dedup needs a global view, so it runs in this process over the id column only; first occurrence wins.
    seen: set[str] = set()
    reasons = []
    for reason, conversation_id in zip(parsed["reject_reason"], parsed["conversation_id"], strict=True):
        if reason is None and conversation_id in seen:
            reason = "duplicate_id"
        elif reason is None:
            seen.add(conversation_id)
        reasons.append(reason)
    parsed = parsed.remove_columns("reject_reason").add_column("reject_reason", reasons)
    selected = parsed.map(
        select_batch,
        batched=True,
        num_proc=num_proc,
        remove_columns=["reject_reason", "language"],
        features=Features(
            {
                "conversation_id": Value("string"),
                "drop_reason": Value("string"),
                "roles": List(Value("string")),
                "contents": List(Value("string")),
            }
        ),
    )
    drop_counts = Counter(selected["drop_reason"])
    kept = selected.filter(lambda b: [r is None for r in b["drop_reason"]], batched=True, num_proc=num_proc)
    interactions = kept.map(
        segment_batch,
        batched=True,
        num_proc=num_proc,
        remove_columns=kept.column_names,
        features=Features(
            {
                "conversation_id": Value("string"),
                "response_index": Value("int64"),
                "history_roles": List(Value("string")),
                "history_contents": List(Value("string")),
                "response": Value("string"),
                "followup": Value("string"),
            }
        ),
    )
    interactions.to_parquet(str(out_dir / "interactions.parquet"))
    counts = {
        "lines": len(lines),
        "conversations_kept": drop_counts.pop(None, 0),
        "interactions": len(interactions),
        "drop_reasons": dict(sorted(drop_counts.items())),
        "seconds_in_process": round(time.perf_counter() - t0, 2),
    }
    (out_dir / "counts.json").write_text(json.dumps(counts, indent=2) + "\n")
    return counts


# ---------------------------------------------------------------- bare DuckDB script (runs in its own process)

# What an analyst would write with DuckDB alone: read_json with a projection, then SQL for the same rules.
DUCKDB_SCRIPT = """
create table records as
select
    row_number() over () as position,
    conversation_hash as conversation_id,
    case when json_type(language) = 'VARCHAR' and language ->> '$' <> '' then language ->> '$' end as language,
    from_json(conversation, '[{"role": "JSON", "content": "JSON"}]') as messages,
    json_type(conversation) = 'ARRAY' as is_list
from read_json(
    $files, format = 'newline_delimited', ignore_errors = true, maximum_object_size = 1073741824,
    columns = {conversation_hash: 'VARCHAR', language: 'JSON', conversation: 'JSON'}
);

create table valid as
select
    position,
    conversation_id,
    language,
    list_transform(messages, lambda m: {role: m.role ->> '$', content: m.content ->> '$'}) as messages
from records
where is_list
    and len(messages) > 0
    and list_bool_and(list_transform(messages, lambda m: m is not null
        and m.role in ('"user"', '"assistant"', '"system"') and starts_with(m.content, '"')));

create table english as
select *
from (
    select *, row_number() over (partition by conversation_id order by position) as occurrence
    from valid
)
where occurrence = 1
    and coalesce(language, guess_language(array_to_string(
        [m.content for m in messages if m.role = 'user'], chr(10)))) = 'English';

create table kept as
select conversation_id, position, kept
from (
    select *, list_filter(messages, lambda m: m.role <> 'system' and trim(m.content) <> '') as kept
    from english
)
where len(kept) >= 3
    and list_sum([length(m.content) for m in kept]) <= 100000
    and list_max([length(m.content) for m in kept]) <= 4096;

copy (
    select
        conversation_id,
        i - 1 as response_index,
        context,
        kept[i].content as response,
        kept[i + 1].content as followup
    from (
        select
            conversation_id,
            position,
            kept,
            i,
            list_filter(
                recent,
                lambda m, j: j >= coalesce(nullif(list_position([r.role for r in recent], 'user'), 0), 999)
                and (j = 1 or m.role <> recent[j - 1].role)
            ) as context
        from (
            select *, list_slice(kept, greatest(i - 5, 1), i - 1) as recent
            from (select *, unnest(range(1, len(kept))) as i from kept)
            where kept[i].role = 'assistant' and kept[i + 1].role = 'user'
        )
    )
    where len(context) > 0 and context[-1].role = 'user'
    order by position, i
) to '$out' (format parquet);
"""


def guess_language(text: str) -> str:
    code, _ = langid.classify(text)
    return LANGUAGE_NAMES.get(code, code)


def run_duckdb_script(files: list[Path], out_dir: Path, threads: int) -> dict:
    """The bare DuckDB version of the default ingest; writes interactions.parquet and counts.json."""
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect(config={"threads": threads})
    con.execute("set enable_progress_bar = false")
    # Conversations without language metadata: py3langid on their user text, as the other two sides do.
    con.create_function("guess_language", guess_language, ["VARCHAR"], "VARCHAR")
    output = out_dir / "interactions.parquet"
    script = DUCKDB_SCRIPT.replace("$out", str(output).replace("'", "''"))
    for statement in filter(str.strip, script.split(";")):
        params = {"files": [str(f) for f in files]} if "$files" in statement else None
        con.execute(statement, params)
    counts = {
        "lines": con.execute("select count(*) from records").fetchone()[0],
        "conversations_kept": con.execute("select count(*) from kept").fetchone()[0],
        "interactions": con.execute("select count(*) from read_parquet($path)", {"path": str(output)}).fetchone()[0],
        "drop_reasons": {},
        "seconds_in_process": round(time.perf_counter() - t0, 2),
    }
    (out_dir / "counts.json").write_text(json.dumps(counts, indent=2) + "\n")
    return counts


def side_main(side: str, argv: list[str]) -> None:
    """Run only the `datasets` baseline or only the bare DuckDB script (the subcommands each side runs in)."""
    parser = argparse.ArgumentParser(prog=f"ingest_bench.py {side}", description=f"run only the {side} side")
    parser.add_argument("--input", type=Path, nargs="+", required=True, help="jsonl files, in order")
    parser.add_argument("--out", type=Path, required=True, help="output directory (emptied first)")
    parser.add_argument("--num-proc", type=int, default=2, help="worker processes / DuckDB threads (default 2)")
    args = parser.parse_args(argv)
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    run = run_baseline if side == "baseline" else run_duckdb_script
    print(json.dumps(run(args.input, args.out, args.num_proc), indent=2))


# ---------------------------------------------------------------- measurement


@dataclass(frozen=True)
class Measurement:
    wall_s: float  # seconds from start to exit of the command
    peak_rss_bytes: int  # max over polls of the summed RSS of the process and all its descendants
    peak_pss_bytes: int  # same for PSS, which splits shared pages (forked workers, mmapped Arrow) fairly
    returncode: int


def process_tree(root: int) -> list[int]:
    """root and all its descendants, from a single scan of /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # the process exited between listing and reading
            continue
        # The command name may contain spaces and parentheses; fields after the last ')' are fixed.
        parent = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def tree_memory(root: int) -> tuple[int, int]:
    """(summed RSS, summed PSS) in bytes over the process tree rooted at root."""
    rss = pss = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                rss += int(f.read().split()[1]) * PAGE_BYTES
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                for row in f:
                    if row.startswith(b"Pss:"):
                        pss += int(row.split()[1]) * 1024
                        break
        except (OSError, ValueError):  # exited mid-read; its memory is gone anyway
            continue
    return rss, pss


def run_measured(cmd: list[str], log_path: Path) -> Measurement:
    """Run cmd with stdout and stderr to log_path, polling the tree's memory every POLL_S seconds."""
    peak_rss = peak_pss = 0
    with log_path.open("wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            rss, pss = tree_memory(proc.pid)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            time.sleep(POLL_S)
        wall = time.perf_counter() - t0
    return Measurement(round(wall, 2), peak_rss, peak_pss, proc.returncode)


# ---------------------------------------------------------------- the two sides


def find_afterword() -> str:
    """The console script next to this interpreter, else the one on PATH."""
    beside = Path(sys.executable).parent / "afterword"
    found = str(beside) if beside.exists() else shutil.which("afterword")
    if found is None:
        raise FileNotFoundError("no `afterword` console script; run `pip install -e .` or pass --skip-ours")
    return found


def read_catalog_counts(root: Path) -> dict:
    """Counts from <root>/catalog.duckdb: rows of the conversations, rejects and interactions views, and the
    kept conversations and per-reason drops from the filter_report view."""
    from pipelines.query import open_catalog

    with open_catalog(str(root)) as con:
        counts = {
            name: con.execute(f"select count(*) from {name}").fetchone()[0]  # fixed view names, not input
            for name in ("conversations", "rejects", "interactions")
        }
        counts["reject_reasons"] = dict(
            con.execute("select reason, count(*) from rejects group by 1 order by 1").fetchall()
        )
        report = con.execute(
            "select level, reason, sum(rows) from filter_report group by 1, 2 order by 1, 2"
        ).fetchall()
    counts["filter_report"] = {f"{level}/{reason}": int(n) for level, reason, n in report}
    counts["conversations_kept"] = counts["filter_report"].get("conversation/kept", 0)
    return counts


def run_ours(files: list[Path], workdir: Path) -> tuple[Measurement, dict]:
    root = workdir / "ours"
    shutil.rmtree(root, ignore_errors=True)
    cmd = [find_afterword(), "nightly", "--input", *map(str, files)]
    cmd += ["--root", str(root), "--date", NIGHTLY_DATE, "--no-score"]
    measurement = run_measured(cmd, workdir / "ours.log")
    if measurement.returncode != 0:
        raise RuntimeError(f"afterword exited with {measurement.returncode}; see {workdir / 'ours.log'}")
    return measurement, read_catalog_counts(root)


def run_side_measured(side: str, files: list[Path], workdir: Path, num_proc: int) -> tuple[Measurement, dict]:
    """The `baseline` or `duckdb` side in its own subprocess; its output goes to <workdir>/<side>."""
    out = workdir / side
    cmd = [sys.executable, str(Path(__file__).resolve()), side, "--input", *map(str, files)]
    cmd += ["--out", str(out), "--num-proc", str(num_proc)]
    measurement = run_measured(cmd, workdir / f"{side}.log")
    if measurement.returncode != 0:
        raise RuntimeError(f"{side} exited with {measurement.returncode}; see {workdir / f'{side}.log'}")
    return measurement, json.loads((out / "counts.json").read_text())


def ensure_dump(args: argparse.Namespace) -> list[Path]:
    """Reuse the jsonl files in --dump if there are any, else generate --n lines there."""
    files = sorted(args.dump.glob("wildchat-*.jsonl"))
    if files:
        manifest = json.loads((args.dump / "dump.json").read_text()) if (args.dump / "dump.json").exists() else {}
        if manifest.get("n_lines", args.n) != args.n:
            print(
                f"warning: reusing {args.dump} with {manifest['n_lines']:,} lines, not --n {args.n:,}; "
                "pass a fresh --dump to regenerate"
            )
        return files
    print(f"generating {args.n:,} conversations into {args.dump} ...", flush=True)
    return write_dump(DumpConfig(n_lines=args.n, n_files=args.files, seed=args.seed, out_dir=args.dump))


# ---------------------------------------------------------------- report


def gigabytes(n: int) -> str:
    return f"{n / 1024**3:.2f} GiB"


def print_report(n_lines: int, sides: dict[str, tuple[Measurement, dict] | None]) -> None:
    """The comparison table, then the targets and any count mismatch."""
    ours, base, duck = sides["afterword nightly"], sides["datasets baseline"], sides["bare DuckDB script"]

    def row(label: str, fn) -> tuple[str, ...]:
        return label, *("-" if side is None else fn(*side) for side in sides.values())

    def rejected(m: Measurement, c: dict) -> str:
        if "rejects" in c:
            return f"{c['rejects']:,}"
        if not c["drop_reasons"]:
            return "-"
        return f"{sum(n for r, n in c['drop_reasons'].items() if r in RECORD_REASONS):,}"

    rows = [
        ("", *sides),
        row("wall time", lambda m, c: f"{m.wall_s:.1f} s"),
        row("conversations/s", lambda m, c: f"{n_lines / m.wall_s:,.0f}"),
        row("peak RSS (tree sum)", lambda m, c: gigabytes(m.peak_rss_bytes)),
        row("peak PSS (tree sum)", lambda m, c: gigabytes(m.peak_pss_bytes)),
        row("records rejected", rejected),
        row("interactions", lambda m, c: f"{c['interactions']:,}"),
    ]
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    print(f"\ninput: {n_lines:,} lines")
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
    if base is not None:
        print(f"baseline drop reasons: {base[1]['drop_reasons']}")
    if ours is None:
        return
    m, counts = ours
    print(f"afterword rejects: {counts['reject_reasons']}")
    print(f"afterword filter report: {counts['filter_report']}")
    print(
        f"target: 1M conversations <= {TARGET_1M_SECONDS:.0f} s; linear projection from this run: "
        f"{m.wall_s * 1_000_000 / n_lines:.0f} s"
    )
    print(f"target: peak RSS <= {gigabytes(TARGET_RSS_BYTES)}; this run: {gigabytes(m.peak_rss_bytes)}")
    if base is not None:
        ratio = base[0].wall_s / m.wall_s
        print(f"target: >= {TARGET_SPEEDUP:.0f}x the baseline; speed ratio (baseline time / ours): {ratio:.1f}x")
    if duck is not None:
        ratio = m.wall_s / duck[0].wall_s
        print(f"target: <= {TARGET_DUCKDB_RATIO}x the bare DuckDB script's time; ours / DuckDB script: {ratio:.2f}x")
    others = {name: side[1]["interactions"] for name, side in sides.items() if side is not None}
    if len(set(others.values())) > 1:
        print(
            f"WARNING: interaction counts differ: {others}; afterword also drops exact (context, response, "
            "followup) repeats as interaction/duplicate_interaction; the other two do not"
        )


def main() -> None:
    if sys.argv[1:2] in (["baseline"], ["duckdb"]):
        side_main(sys.argv[1], sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="conversations (lines) in the dump (default 200000)")
    parser.add_argument("--dump", type=Path, default=None, help="dump directory (default <workdir>/dump-<n>)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/afterword-bench"), help="outputs and logs")
    parser.add_argument("--files", type=int, default=4, help="jsonl files when generating (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="dump seed when generating (default 0)")
    parser.add_argument("--num-proc", type=int, default=2, help="baseline worker processes (default 2)")
    parser.add_argument("--skip-baseline", action="store_true", help="time only afterword")
    parser.add_argument("--skip-duckdb", action="store_true", help="do not time the bare DuckDB script")
    parser.add_argument("--skip-ours", action="store_true", help="time only the other sides")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.dump = args.dump or args.workdir / f"dump-{args.n}"
    files = ensure_dump(args)
    manifest = args.dump / "dump.json"
    n_lines = (
        json.loads(manifest.read_text())["n_lines"]
        if manifest.exists()
        else sum(1 for f in files for _ in f.open("rb"))
    )
    ours = base = duck = None
    if not args.skip_ours:
        print("running afterword nightly ...", flush=True)
        ours = run_ours(files, args.workdir)
    if not args.skip_baseline:
        print("running datasets baseline ...", flush=True)
        base = run_side_measured("baseline", files, args.workdir, args.num_proc)
    if not args.skip_duckdb:
        print("running bare DuckDB script ...", flush=True)
        duck = run_side_measured("duckdb", files, args.workdir, args.num_proc)
    results = {
        "n_lines": n_lines,
        "files": [str(f) for f in files],
        "ours": None if ours is None else {**asdict(ours[0]), "counts": ours[1]},
        "baseline": None if base is None else {**asdict(base[0]), "counts": base[1]},
        "duckdb_script": None if duck is None else {**asdict(duck[0]), "counts": duck[1]},
        "uptime": Path("/proc/loadavg").read_text().strip(),
    }
    (args.workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print_report(n_lines, {"afterword nightly": ours, "datasets baseline": base, "bare DuckDB script": duck})
    print(f"load average (1, 5, 15 min) at the end: {results['uptime']}")


if __name__ == "__main__":
    main()
