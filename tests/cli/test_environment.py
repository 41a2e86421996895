"""`afterword --version` and `afterword env`: versions, device, model, caches and a root's health, exit 0."""

import importlib.metadata
import json
import sys

import pytest

import afterword_cli
from cli.environment import environment_report
from pipelines.store.lock import current_holder, writer_lock


def test_version_is_one_line_with_the_package_and_model_library_versions(capsys):
    with pytest.raises(SystemExit) as stopped:
        afterword_cli.main(["--version"])
    assert stopped.value.code == 0
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert line.startswith(f"afterword {importlib.metadata.version('afterword')} (")
    assert f"torch {importlib.metadata.version('torch')}" in line
    assert f"transformers {importlib.metadata.version('transformers')}" in line


def test_env_prints_aligned_sections_and_exits_0(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert afterword_cli.main(["env", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for heading in ("versions", "device", "model and services", "root"):
        assert f"\n{heading}\n" in f"\n{out}"
    for name in ("duckdb", "pyarrow", "prefect", "apache-beam", "vllm", "cuda", "cpu bf16 flags", "default model gguf"):
        assert f"  {name} " in out
    assert "PREFECT_API_URL     not set" in out
    values = [line[22:] for line in out.splitlines() if line.startswith("  ")]
    assert all(value and value[0] != " " for value in values)  # one column where every value starts


def test_env_json_is_machine_readable_and_never_imports_vllm(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://prefect.example:4200/api")
    assert afterword_cli.main(["env", "--json", "--root", str(tmp_path / "missing")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["versions"]["afterword"] == importlib.metadata.version("afterword")
    assert report["model and services"]["PREFECT_API_URL"] == "http://prefect.example:4200/api"
    assert report["root"]["exists"].startswith("no")
    assert not (tmp_path / "missing").exists()
    assert "vllm" not in sys.modules


def test_root_health_names_the_lock_holder(tmp_path):
    root = str(tmp_path)
    assert current_holder(root) == "" and environment_report(root)["root"]["lock holder"] == "none"
    with writer_lock(root, "nightly"):
        holder = current_holder(root)
        assert holder.startswith("nightly (pid ")
        assert environment_report(root)["root"]["lock holder"] == holder
    assert current_holder(root) == ""


def test_a_gpu_out_of_memory_ends_in_one_line_naming_what_to_lower(tmp_path, monkeypatch, capsys):
    import torch

    import afterword_cli
    from cli import commands as handlers

    def out_of_memory(*args):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail")

    monkeypatch.setattr(handlers, "run_models", out_of_memory)
    assert afterword_cli.main(["models", "--root", str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "the GPU ran out of memory (CUDA out of memory. Tried to allocate 2.00 GiB)" in line
    assert "max_batch_tokens" in line and "micro_batch_size" in line
