"""Shared fixtures: raw-record tables, a 10-conversation builder, DuckDB, Prefect's harness, a tiny model dir."""

import json
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pipelines.sources import RAW_SCHEMA

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NIGHT = "2026-11-20"


def raw_table(*payloads: bytes | str | dict, source_file: str = "dump.jsonl") -> pa.Table:
    """Raw records as `read_chunk` returns them; dicts are JSON-encoded, str encoded as UTF-8."""
    raws = []
    for payload in payloads:
        if isinstance(payload, dict | list):
            payload = json.dumps(payload)
        raws.append(payload.encode() if isinstance(payload, str) else payload)
    return pa.table(
        {
            "source_file": [source_file] * len(raws),
            "source_record": list(range(1, len(raws) + 1)),
            "raw": raws,
            "read_error": [None] * len(raws),
        },
        schema=RAW_SCHEMA,
    )


def wildchat_record(index: int, turns: list[tuple[str, str]] | None = None, **fields) -> dict:
    """A WildChat-1M-shaped record; `turns` are (role, content) pairs."""
    turns = turns or [
        ("user", f"Question {index}: how do I sort a list in Python?"),
        ("assistant", f"Answer {index}: use sorted(items) or items.sort()."),
        ("user", "Shorter please."),
        ("assistant", "sorted(items)"),
    ]
    record = {
        "conversation_hash": f"hash{index:04d}",
        "model": "gpt-4-0314",
        "timestamp": "2024-03-01T12:00:00+00:00",
        "conversation": [{"role": role, "content": content} for role, content in turns],
        "turn": sum(role == "user" for role, _ in turns),
        "language": "English",
        "toxic": False,
        "redacted": False,
        "country": "United States",
        "state": "Ohio",
        "hashed_ip": "abc123",
        "header": {"accept-language": "en-US", "user-agent": "Mozilla"},
    }
    record.update(fields)
    return record


def ten_conversations() -> list[dict]:
    """Ten valid English WildChat records, each with one selectable interaction."""
    return [wildchat_record(i) for i in range(10)]


def write_jsonl(path: Path, records: list) -> Path:
    """Write records (dicts, or raw bytes/str lines) as JSONL."""
    with open(path, "wb") as handle:
        for record in records:
            if isinstance(record, bytes):
                handle.write(record + b"\n")
            elif isinstance(record, str):
                handle.write(record.encode() + b"\n")
            else:
                handle.write(json.dumps(record).encode() + b"\n")
    return path


@pytest.fixture
def con():
    with duckdb.connect() as connection:
        yield connection


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """A temporary Prefect server for the few flow-level tests (slow to start on 2 cores)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect")))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


def shared_file(name: str) -> Path:
    """A real sample from ../shared/data, or skip the test when the folder is absent (a user's clone)."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture
def tiny_model_dir(tmp_path):
    """A local model directory holding the tiny random Llama and its tokenizer (tests/helpers/scoring.py)."""
    from tests.helpers.scoring import make_model, make_tokenizer  # torch and transformers only when asked for

    path = tmp_path / "tiny-model"
    make_model().save_pretrained(path)
    make_tokenizer().save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def s3_environment():
    """moto's S3 server on 127.0.0.1 for the session, and the AWS variables pointing s3fs (and every child
    process) at it."""
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    from tests.s3_server import environment, s3_server

    with s3_server() as variables, environment(variables):
        yield variables


@pytest.fixture
def s3_bucket(s3_environment, request):
    """A fresh bucket for one test: `s3://<name>`."""
    import secrets

    from tests.s3_server import make_bucket

    name = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    return make_bucket(f"{name}-{secrets.token_hex(3)}")
