"""The two comparison sides of benchmarks/ingest_bench.py, each run in its own process by that script.

`baseline`: the obvious Hugging Face `datasets` pipeline for the default ingest rules (read lines, validate and
parse with batched multi-process `.map`, select, segment, Parquet). `duckdb`: what an analyst would write,
`read_json` with a projection, then SQL for the same rules. Neither touches the package: they are what afterword
is measured against.
Run one side alone: python benchmarks/ingest_baselines.py baseline|duckdb --input F [F ...] --out DIR
"""

import argparse
import hashlib
import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import py3langid as langid

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


if __name__ == "__main__":
    if sys.argv[1:2] not in (["baseline"], ["duckdb"]):
        sys.exit("usage: ingest_baselines.py baseline|duckdb --input F [F ...] --out DIR [--num-proc N]")
    side_main(sys.argv[1], sys.argv[2:])
