"""Render a report from scores and interactions Parquet and screenshot it with headless Chromium.

Reads every `*.parquet` under the given scores and interactions folders (e.g. a storage root's
`scores/` and `interactions/`), writes `<out>.html` and `<out>.png`. For eyeballing the page
layout; the report itself comes from `pipelines.report.render_report`. Needs /usr/bin/chromium.

    python dev/screenshot_report.py --scores ROOT/scores --interactions ROOT/interactions --out /tmp/report
    python dev/screenshot_report.py --html ROOT/reports/ledger.html --out /tmp/ledger   # any page as it is
"""

import argparse
import subprocess
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.report import ReportConfig, render_report
from schemas import interactions as interactions_schema
from schemas import scores as scores_schema

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking "
    "--disable-component-update --disable-sync --hide-scrollbars"
)


def read_folder(folder: Path, schema: pa.Schema) -> pa.Table:
    """Every Parquet file under folder, cast to schema (partition columns are stored in the files too)."""
    tables = [pq.read_table(path, schema=schema) for path in sorted(folder.rglob("*.parquet"))]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def screenshot(html_path: Path, png_path: Path, width: int, height: int) -> None:
    """Headless Chromium screenshot of a local HTML file, with a throwaway profile."""
    with tempfile.TemporaryDirectory() as profile:
        command = [CHROMIUM, *FLAGS.split(), f"--user-data-dir={profile}", f"--screenshot={png_path}"]
        command += [f"--window-size={width},{height}", html_path.resolve().as_uri()]
        subprocess.run(command, check=True, capture_output=True, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scores", type=Path, help="folder holding scores Parquet shards")
    parser.add_argument("--interactions", type=Path, help="folder holding interactions Parquet")
    parser.add_argument("--html", type=Path, help="screenshot this page as it is (e.g. afterword report --ledger's)")
    parser.add_argument("--out", type=Path, required=True, help="output path without suffix")
    parser.add_argument("--examples", type=int, default=5, help="replies per side")
    parser.add_argument("--size", default="1400,2400", help="window WIDTH,HEIGHT in pixels")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split(","))
    if args.html:
        screenshot(args.html, args.out.with_suffix(".png"), width, height)
        print(f"{args.html} → {args.out.with_suffix('.png')}")
        return
    if not (args.scores and args.interactions):
        parser.error("give --scores and --interactions, or --html")

    scores = read_folder(args.scores, scores_schema.SCHEMA)
    interactions = read_folder(args.interactions, interactions_schema.SCHEMA)
    html = render_report(scores, interactions, ReportConfig(n_examples=args.examples))
    html_path, png_path = args.out.with_suffix(".html"), args.out.with_suffix(".png")
    html_path.write_text(html, encoding="utf-8")
    screenshot(html_path, png_path, width, height)
    print(f"{scores.num_rows} replies → {html_path} and {png_path}")


if __name__ == "__main__":
    main()
