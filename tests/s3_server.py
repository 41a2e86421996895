"""A real S3 protocol server on loopback for the object-store tests and benchmark: moto's server mode in a
child process at a free port on 127.0.0.1, found by s3fs through the standard AWS environment variables.

Not collected by pytest; `tests/conftest.py` starts one per session (fixture `s3_bucket`), and
`benchmarks/object_store_bench.py` one per benchmark run.
"""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

# Credentials moto accepts; a region so botocore never asks the machine's config for one.
ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "afterword-test",
    "AWS_SECRET_ACCESS_KEY": "afterword-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def s3_server() -> Iterator[dict[str, str]]:
    """Run the server for the block; yields the environment variables that point every AWS client at it."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(endpoint, timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto's S3 server did not start on {endpoint}") from None
                time.sleep(0.1)
        yield {**ENVIRONMENT, "AWS_ENDPOINT_URL": endpoint}
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextlib.contextmanager
def environment(variables: dict[str, str]) -> Iterator[None]:
    """`os.environ` with `variables` set for the block (child processes inherit them), then as it was."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def make_bucket(name: str) -> str:
    """Create a bucket on the server the environment points at; returns its URL."""
    import s3fs

    s3fs.S3FileSystem(skip_instance_cache=True).mkdir(name)
    return f"s3://{name}"
