"""Time `afterword nightly --no-score` from a local S3 server into a bucket root against the same run on local files.

Input: a make_dump.py dump (generated into --dump unless wildchat-*.jsonl files are there). The benchmark starts
moto's S3 server on 127.0.0.1 (tests/s3_server.py), uploads the dump into a bucket (not timed), then runs, one
after the other on this machine, `afterword nightly` from the local files into a local root and from
`s3://<bucket>/dumps/*.jsonl` into `s3://<bucket>/afterword`, each in its own subprocess, checks both stored the
same counts, and prints wall times, peak tree RSS and the ratio (target: at most 1.5x). Writes
<workdir>/object_store_results.json.
Run: python benchmarks/object_store_bench.py --n 20000
"""

import argparse
import json
import os
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

from ingest_bench import NIGHTLY_DATE, ensure_dump, find_afterword, gigabytes, read_catalog_counts, run_measured

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the package and the test server helper, as the tests import them

from pipelines import objectstore  # noqa: E402
from pipelines.store.query import query_catalog  # noqa: E402
from tests.s3_server import environment, make_bucket, s3_server  # noqa: E402

TARGET_RATIO = 1.5
BUCKET = "afterword-bench"


def bucket_counts(root: str) -> dict:
    """The counts `read_catalog_counts` gives for a local root, read through `afterword query`'s connection."""
    counts = {
        name: query_catalog(root, f"select count(*) from {name}")[1][0][0]
        for name in ("conversations", "rejects", "interactions")
    }  # fixed names
    counts["reject_reasons"] = dict(
        query_catalog(root, "select reason, count(*) from rejects group by 1 order by 1")[1]
    )
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="conversations (lines) in the dump (default 20000)")
    parser.add_argument("--dump", type=Path, default=None, help="dump directory (default <workdir>/dump-<n>)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/afterword-s3-bench"), help="outputs and logs")
    parser.add_argument("--files", type=int, default=4, help="jsonl files when generating (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="dump seed when generating (default 0)")
    args = parser.parse_args()
    args.dump = args.dump or args.workdir / f"dump-{args.n}"
    args.workdir.mkdir(parents=True, exist_ok=True)
    files = ensure_dump(args)
    local_root = args.workdir / "local-root"
    shutil.rmtree(local_root, ignore_errors=True)
    nightly = [find_afterword(), "nightly", "--date", NIGHTLY_DATE, "--no-score"]

    with s3_server() as variables, environment(variables):
        bucket = make_bucket(BUCKET)
        for file in files:
            objectstore.upload(str(file), f"{bucket}/dumps/{file.name}")
        load = os.getloadavg()
        local = run_measured(
            [*nightly, "--input", *map(str, files), "--root", str(local_root)], args.workdir / "local.log"
        )
        on_store = run_measured(
            [*nightly, "--input", f"{bucket}/dumps/*.jsonl", "--root", f"{bucket}/afterword"], args.workdir / "s3.log"
        )
        for side, measured in (("local", local), ("s3", on_store)):
            if measured.returncode:
                raise RuntimeError(f"{side} run exited with {measured.returncode}; see {args.workdir}/{side}.log")
        stored = bucket_counts(f"{bucket}/afterword")
    expected = read_catalog_counts(local_root)
    same = all(stored[key] == expected[key] for key in stored)
    ratio = on_store.wall_s / local.wall_s
    input_bytes = sum(file.stat().st_size for file in files)
    print(f"dump: {args.n:,} conversations, {len(files)} files, {input_bytes / 1e6:.0f} MB; load before: {load[0]:.2f}")
    print(f"local files → local root:   {local.wall_s:7.2f} s  peak RSS {gigabytes(local.peak_rss_bytes)}")
    print(f"S3 (moto, loopback) → bucket: {on_store.wall_s:7.2f} s  peak RSS {gigabytes(on_store.peak_rss_bytes)}")
    print(
        f"ratio {ratio:.2f}x (target ≤ {TARGET_RATIO}x: {'met' if ratio <= TARGET_RATIO else 'not met'}); "
        f"same counts: {same} ({stored['interactions']:,} interactions)"
    )
    results = {
        "n": args.n,
        "input_bytes": input_bytes,
        "load_before": load,
        "local": asdict(local),
        "s3": asdict(on_store),
        "ratio": round(ratio, 3),
        "same_counts": same,
        "counts": stored,
    }
    (args.workdir / "object_store_results.json").write_text(json.dumps(results, indent=2) + "\n")
    if not same:
        raise SystemExit(f"the bucket root's counts differ from the local root's: {stored} vs {expected}")


if __name__ == "__main__":
    main()
