"""Time `afterword nightly --no-score` against a Hugging Face `datasets` baseline and a bare DuckDB script.

Input: a make_dump.py dump (generated into --dump unless wildchat-*.jsonl files are there), and the same records
as a `save_to_disk` folder (<dump>/saved_dataset, built once with `datasets`; the malformed lines can't be rows of
a dataset and are left out), which afterword also reads (`--input <folder>`). Output: a table of
wall time, conversations/s, speed ratios, peak tree RSS (summed over /proc every 0.2 s) and counts, plus
<workdir>/results.json. Each side runs in its own subprocess; the `datasets` baseline and the bare DuckDB script
are in benchmarks/ingest_baselines.py.
Run: python benchmarks/ingest_bench.py --n 200000
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ingest_baselines import RECORD_REASONS
from make_dump import DumpConfig, write_dump

NIGHTLY_DATE = "2026-01-01"
POLL_S = 0.2
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
TARGET_SPEEDUP = 10.0
TARGET_1M_SECONDS = 120.0
TARGET_RSS_BYTES = 4 * 1024**3
TARGET_DUCKDB_RATIO = 1.5

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
    from pipelines.store.query import open_catalog

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
    manifests = sorted((root / "runs").glob("*/manifest.json"))  # the run manifest: where the wall time went
    counts["phases_s"] = json.loads(manifests[-1].read_text()).get("timings", {}) if manifests else {}
    return counts


def run_ours(inputs: list[Path], workdir: Path, name: str = "ours") -> tuple[Measurement, dict]:
    root = workdir / name
    shutil.rmtree(root, ignore_errors=True)
    cmd = [find_afterword(), "nightly", "--input", *map(str, inputs)]
    cmd += ["--root", str(root), "--date", NIGHTLY_DATE, "--no-score"]
    measurement = run_measured(cmd, workdir / f"{name}.log")
    if measurement.returncode != 0:
        raise RuntimeError(f"afterword exited with {measurement.returncode}; see {workdir / f'{name}.log'}")
    return measurement, read_catalog_counts(root)


def ensure_saved_dataset(files: list[Path], dump: Path) -> Path:
    """The dump's records as a `save_to_disk` folder (built once per dump; not timed). A dataset has one type
    per column: lines that are no JSON object, and the planted conversation-as-string and numeric-content
    records, can't be rows of it and are left out; a record missing a field gets null there (no_conversation
    stays a reject), and unknown roles and empty conversations stay in."""
    folder = dump / "saved_dataset"
    if (folder / "state.json").exists():
        return folder
    import datasets

    print(f"saving the dump as a dataset into {folder} ...", flush=True)
    cache = dump / "saved_dataset_cache"
    paths = list(map(str, files))
    dataset = datasets.Dataset.from_generator(typed_records, gen_kwargs={"paths": paths}, cache_dir=str(cache))
    dataset.save_to_disk(str(folder))
    shutil.rmtree(cache, ignore_errors=True)
    return folder


def typed_records(paths: list[str]):
    """The dump's JSON-object records that fit one column type each, every one with the first record's keys."""
    import orjson

    keys = None
    for path in paths:
        with open(path, "rb") as handle:
            for line in handle:
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if not isinstance(record, dict):
                    continue
                messages = record.get("conversation")
                if messages is not None and not (
                    isinstance(messages, list) and all(isinstance(m.get("content"), str) for m in messages)
                ):
                    continue
                keys = keys or list(record)
                yield {key: record.get(key) for key in keys}


def run_side_measured(side: str, files: list[Path], workdir: Path, num_proc: int) -> tuple[Measurement, dict]:
    """The `baseline` or `duckdb` side in its own subprocess; its output goes to <workdir>/<side>."""
    out = workdir / side
    script = Path(__file__).resolve().with_name("ingest_baselines.py")
    cmd = [sys.executable, str(script), side, "--input", *map(str, files)]
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
    saved = sides.get("afterword, saved dataset")

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
    phases = counts.get("phases_s", {})
    print(f"afterword phases (s): {phases}; start-up and publishing: {m.wall_s - sum(phases.values()):.1f} s")
    print(
        f"target: 1M conversations <= {TARGET_1M_SECONDS:.0f} s; linear projection from this run: "
        f"{m.wall_s * 1_000_000 / n_lines:.0f} s"
    )
    print(f"target: peak RSS <= {gigabytes(TARGET_RSS_BYTES)}; this run: {gigabytes(m.peak_rss_bytes)}")
    if base is not None:
        ratio = base[0].wall_s / m.wall_s
        print(f"target: >= {TARGET_SPEEDUP:.0f}x the baseline; speed ratio (baseline time / ours): {ratio:.1f}x")
    if saved is not None:
        print(
            f"afterword on the saved dataset: rejects {saved[1]['reject_reasons']}; phases (s) {saved[1]['phases_s']}"
        )
        print(f"saved dataset / JSONL wall time: {saved[0].wall_s / m.wall_s:.2f}x")
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
    parser.add_argument("--skip-saved", action="store_true", help="do not time afterword on the saved dataset")
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
    ours = saved = base = duck = None
    if not args.skip_ours:
        print("running afterword nightly ...", flush=True)
        ours = run_ours(files, args.workdir)
    if not args.skip_ours and not args.skip_saved:
        folder = ensure_saved_dataset(files, args.dump)
        print("running afterword nightly on the saved dataset ...", flush=True)
        saved = run_ours([folder], args.workdir, "ours_saved")
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
        "ours_saved_dataset": None if saved is None else {**asdict(saved[0]), "counts": saved[1]},
        "baseline": None if base is None else {**asdict(base[0]), "counts": base[1]},
        "duckdb_script": None if duck is None else {**asdict(duck[0]), "counts": duck[1]},
        "uptime": Path("/proc/loadavg").read_text().strip(),
    }
    (args.workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    sides = {"afterword nightly": ours, "afterword, saved dataset": saved}
    print_report(n_lines, {**sides, "datasets baseline": base, "bare DuckDB script": duck})
    print(f"load average (1, 5, 15 min) at the end: {results['uptime']}")


if __name__ == "__main__":
    main()
