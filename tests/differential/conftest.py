import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def synthetic_dump(tmp_path_factory) -> list[Path]:
    """A 20k-record WildChat-1M-shaped dump in two files from benchmarks/make_dump.py, made once per session."""
    out = tmp_path_factory.mktemp("dump")
    command = [sys.executable, str(ROOT / "benchmarks" / "make_dump.py"), "--n", "20000", "--files", "2"]
    subprocess.run([*command, "--out", str(out)], check=True, capture_output=True)
    return sorted(out.glob("wildchat-*.jsonl"))
