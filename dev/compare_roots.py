"""Compare every Parquet table under two storage roots, e.g. the same commands run before and after a refactor.

`python dev/compare_roots.py ROOT_A ROOT_B [--code-dir-a DIR --code-dir-b DIR]` reads each table's files
(matched by their path under the root, the nightly run's timestamped folder under `runs/` matched by table),
and reports per table: files only one root has, schema differences, row counts and every column whose values
differ. Paths inside values are compared with each root (and checkout, `--code-dir-*`) replaced by a marker.
Columns that must differ between two runs of the same commands are listed in `IGNORED` with the reason; the
exit status is 1 when anything else differs.

The check of the config refactor (nested [score.hindsight], [train.regen], [train.hindsight]) ran, in a
checkout of the previous commit and in this one, with `[score] max_interactions = 12, shards = 2`:
    afterword nightly --input data/sample/wildchat_sample.jsonl --root R --date 2026-01-01 --config night.toml
    afterword refresh --root R --rounds 1 --limit 8 --config train.toml
    afterword refresh --root R --rounds 1 --mode logged --config train.toml
(train.toml: data/demo_train.toml with max_new_tokens 16, its keys in the flat layout before and nested
after); every table, run id and shard name came out identical.
"""

import argparse
import glob
import json
import os
import re
import sys

import pyarrow as pa
import pyarrow.parquet as pq

# (table, column) → why two runs of the same commands may differ there.
IGNORED = {
    ("runs", "run_id"): "the nightly run id holds its start time",
    ("runs", "started_at"): "wall-clock time",
    ("runs", "finished_at"): "wall-clock time",
    ("runs", "code_version"): "git SHA of the checkout that ran",
    ("training_rounds", "started_at"): "wall-clock time",
    ("training_rounds", "finished_at"): "wall-clock time",
    ("training_rounds", "tokens_per_s"): "wall-clock throughput",
    **{("training_rounds", f"{stage}_s"): "wall-clock time" for stage in ("sample", "score", "train", "save")},
    **{("training_rounds", f"{stage}_tokens_per_s"): "wall-clock throughput" for stage in ("sample", "score", "save")},
}
# Columns compared after parsing their JSON, so a reordering of keys is no difference. The resolved config
# is compared with `[score.hindsight]` and `[score.transformers]` moved up into `[score]`, the layout before
# those tables existed, and without its `show_earlier_reply = false` (a HindsightConfig key the flat [score]
# table never had; scoring run ids leave it out when false for the same reason).
JSON_COLUMNS = {("runs", "config_json")}


def flat_config(text: str | None):
    if not text:
        return text
    config = json.loads(text)
    if isinstance(config.get("score"), dict) and isinstance(config["score"].get("hindsight"), dict):
        hindsight = config["score"].pop("hindsight")
        if hindsight.get("show_earlier_reply") is False:
            del hindsight["show_earlier_reply"]
        config["score"].update(hindsight)
    if isinstance(config.get("score"), dict) and isinstance(config["score"].get("transformers"), dict):
        # [score.transformers] / [score.vllm]: the backends' options, flat before; only max_batch_tokens was
        # settable then (logits_chunk_tokens and the engine options had their defaults, unrecorded).
        config["score"]["max_batch_tokens"] = config["score"].pop("transformers")["max_batch_tokens"]
        config["score"].pop("vllm", None)
    return config


def table_of(relative: str) -> str:
    return relative.split(os.sep)[0]


def matched_name(relative: str) -> str:
    """The name a file is matched by: `runs/<timestamped run id>/run.parquet` → `runs/run.parquet`, a night
    table's versioned file `data-<version>.parquet` → `data.parquet` (each commit names its own version)."""
    parts = relative.split(os.sep)
    if parts[0] == "runs":
        return os.path.join("runs", parts[-1])
    return os.path.join(*parts[:-1], re.sub(r"^data-[^/]+\.parquet$", "data.parquet", parts[-1]))


def parquet_files(root: str) -> dict[str, str]:
    found = glob.glob(os.path.join(glob.escape(root), "**", "*.parquet"), recursive=True)
    files = {}
    for path in found:
        relative = os.path.relpath(path, root)
        if relative.startswith("_staging") or os.path.basename(path).startswith("."):
            continue
        files[matched_name(relative)] = path
    return files


def normalised(value, replacements: list[tuple[str, str]]):
    if isinstance(value, str):
        for old, new in replacements:
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [normalised(v, replacements) for v in value]
    if isinstance(value, dict):
        return {k: normalised(v, replacements) for k, v in value.items()}
    return value


def compare_file(name: str, a: pa.Table, b: pa.Table, repl_a, repl_b) -> list[str]:
    table = table_of(name)
    problems = []
    if a.schema != b.schema:
        problems.append(f"{name}: schema differs\n  A: {a.schema}\n  B: {b.schema}")
        return problems
    if a.num_rows != b.num_rows:
        problems.append(f"{name}: {a.num_rows} rows vs {b.num_rows}")
        return problems
    for column in a.column_names:
        if (table, column) in IGNORED:
            continue
        values_a = normalised(a[column].to_pylist(), repl_a)
        values_b = normalised(b[column].to_pylist(), repl_b)
        if (table, column) in JSON_COLUMNS:
            values_a, values_b = [flat_config(v) for v in values_a], [flat_config(v) for v in values_b]
        if values_a != values_b:
            differing = sum(x != y for x, y in zip(values_a, values_b, strict=True))
            first = next(i for i, (x, y) in enumerate(zip(values_a, values_b, strict=True)) if x != y)
            shown_a, shown_b = str(values_a[first])[:300], str(values_b[first])[:300]
            problems.append(f"{name}: column {column}: {differing} of {a.num_rows} rows differ, e.g. row {first}:")
            problems.append(f"  A: {shown_a}\n  B: {shown_b}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root_a")
    parser.add_argument("root_b")
    parser.add_argument("--code-dir-a", default="", help="checkout that wrote ROOT_A (its paths appear in values)")
    parser.add_argument("--code-dir-b", default="", help="checkout that wrote ROOT_B")
    args = parser.parse_args()
    repl_a = [(os.path.abspath(args.root_a), "<root>")] + ([(args.code_dir_a, "<code>")] if args.code_dir_a else [])
    repl_b = [(os.path.abspath(args.root_b), "<root>")] + ([(args.code_dir_b, "<code>")] if args.code_dir_b else [])
    files_a, files_b = parquet_files(args.root_a), parquet_files(args.root_b)
    problems = [f"only in A: {name}" for name in sorted(set(files_a) - set(files_b))]
    problems += [f"only in B: {name}" for name in sorted(set(files_b) - set(files_a))]
    per_table: dict[str, list[int]] = {}
    for name in sorted(set(files_a) & set(files_b)):
        a, b = pq.read_table(files_a[name]), pq.read_table(files_b[name])
        found = compare_file(name, a, b, repl_a, repl_b)
        problems += found
        counts = per_table.setdefault(table_of(name), [0, 0, 0])
        counts[0] += 1
        counts[1] += a.num_rows
        counts[2] += bool(found)
    for table, (n_files, rows, differing) in sorted(per_table.items()):
        state = "identical" if not differing else f"{differing} file(s) differ"
        print(f"{table:16s} {n_files:3d} file(s) {rows:6d} rows: {state}")
    print("ignored columns: " + "; ".join(f"{t}.{c} ({why})" for (t, c), why in IGNORED.items()))
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
