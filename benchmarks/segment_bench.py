"""Per-chunk segmentation: `pipelines.segment.segment_turns` of this tree against another git revision's.

Ingests the first chunk of `--input` once (this tree's `ingest_records`), then times each side's shipped
`segment_turns` on that same conversations table in its own process (the revision's files exported with
`git archive`), warm (one untimed call first), `--rounds` times alternating sides so machine load hits both,
and prints min and median per side, the ratio, and whether both outputs are identical (every column, every
value). Run: python benchmarks/segment_bench.py --input DUMP.jsonl [--baseline-ref main] [--repeats 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def time_segmentation(conversations_path: str, output_path: str, repeats: int) -> dict:
    """Worker side: `segment_turns` of whichever tree is first on sys.path, timed `repeats` times."""
    import pyarrow.parquet as pq

    from pipelines.segment import SegmentConfig, segment_turns

    conversations = pq.read_table(conversations_path)
    started = time.perf_counter()
    candidates = segment_turns(conversations, SegmentConfig())
    first = time.perf_counter() - started
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        segment_turns(conversations, SegmentConfig())
        seconds.append(time.perf_counter() - started)
    pq.write_table(candidates, output_path)
    return {"first": first, "seconds": seconds, "rows": candidates.num_rows}


def run_side(root: Path, conversations: Path, output: Path, repeats: int) -> dict:
    """One worker process on the tree at `root`."""
    command = [sys.executable, __file__, "--worker", str(conversations), str(output), str(repeats)]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=root, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        print(json.dumps(time_segmentation(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="a JSONL dump file; its first chunk is segmented")
    parser.add_argument("--baseline-ref", default="main", help="git revision to compare against (default main)")
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per side per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each running both sides")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO_ROOT))
    import pyarrow.parquet as pq

    from pipelines.ingest import ingest_records
    from pipelines.ingest_config import IngestConfig
    from pipelines.sources import plan_chunks, read_chunk

    with tempfile.TemporaryDirectory(prefix="segment-bench-") as workdir:
        work = Path(workdir)
        chunk = plan_chunks([args.input])[0]
        ingested = ingest_records(read_chunk(chunk).records, chunk.source_format, "2026-11-30", IngestConfig())
        pq.write_table(ingested.conversations, work / "conversations.parquet")
        baseline_root = work / "baseline"
        baseline_root.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "archive", args.baseline_ref], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(baseline_root)], input=archive, check=True)

        sides = {"this tree": REPO_ROOT, f"baseline ({args.baseline_ref})": baseline_root}
        results: dict[str, dict] = {name: {"first": [], "seconds": []} for name in sides}
        for _ in range(args.rounds):
            for index, (name, root) in enumerate(sides.items()):
                measured = run_side(root, work / "conversations.parquet", work / f"out-{index}.parquet", args.repeats)
                results[name]["first"].append(measured["first"])
                results[name]["seconds"] += measured["seconds"]
                results[name]["rows"] = measured["rows"]
        identical = pq.read_table(work / "out-0.parquet").equals(pq.read_table(work / "out-1.parquet"))

    print(f"chunk: {chunk.path} bytes {chunk.start}-{chunk.end}, {ingested.conversations.num_rows} conversations")
    print(f"load average at the end: {os.getloadavg()}")
    for name, measured in results.items():
        seconds = measured["seconds"]
        print(
            f"{name:>20}: min {min(seconds):.3f} s, median {statistics.median(seconds):.3f} s over {len(seconds)} "
            f"warm calls; first call in a process {min(measured['first']):.3f} s; {measured['rows']} candidates"
        )
    ours, baseline = (results[name]["seconds"] for name in sides)
    print(
        f"baseline / this tree: {min(baseline) / min(ours):.2f}x (min), "
        f"{statistics.median(baseline) / statistics.median(ours):.2f}x (median); identical outputs: {identical}"
    )


if __name__ == "__main__":
    main()
