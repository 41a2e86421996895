"""Benchmarks time the shipped code: they call the package's functions and implement no forward or loss of their own.

Read from the source (AST): a benchmark may compute log-softmax, call a decoder or build a loss only inside
the baselines named below, and its "ours" side must call the package functions. The `--tiny` CPU modes of
the training, scoring and sampling benchmarks also run here (slow), so they keep working between device runs.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
# Calls that make a model forward, a log-prob or a loss: only baselines (and reference checks) may make them.
MODEL_MATH = {"log_softmax", "logsumexp", "cross_entropy", "get_output_embeddings", "get_decoder", "checkpoint"}
BASELINES = {
    "score_bench.py": {"naive_single_logprobs", "NaivePaddedScorer", "count_work"},
    "train_bench.py": {"baseline_step", "check_reply_logp"},
    "sample_bench.py": {"hf_generate"},
}
# Package functions each benchmark's measured side must call (attribute or plain name).
SHIPPED_CALLS = {
    "train_bench.py": {"micro_batch_loss", "micro_batches", "collate", "reply_logprobs"},
    "score_bench.py": {"make_scorer", "batch_plans"},
    "score_numerics.py": {"make_scorer"},
    "train_memory.py": {"setup_run", "regenerate_round", "train_round"},
    "train_precision.py": {"micro_batch_loss", "micro_batches", "collate"},
    "sample_bench.py": {"sample_tokens", "reply_logprobs", "sample_in_subprocess"},
    "gpu_sample_check.py": {"sample_tokens", "hf_generate"},
}


def _called_names(node: ast.AST) -> set[str]:
    names = set()
    for call in (n for n in ast.walk(node) if isinstance(n, ast.Call)):
        function = call.func
        names.add(function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", ""))
    return names


def _top_level_definitions(tree: ast.Module) -> list[ast.FunctionDef | ast.ClassDef]:
    return [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]


@pytest.mark.parametrize("script", sorted(p.name for p in BENCHMARKS.glob("*.py")))
def test_benchmarks_define_no_forward_or_loss_outside_their_baselines(script):
    tree = ast.parse((BENCHMARKS / script).read_text())
    allowed = BASELINES.get(script, set())
    offenders = {
        definition.name: sorted(_called_names(definition) & MODEL_MATH)
        for definition in _top_level_definitions(tree)
        if definition.name not in allowed and _called_names(definition) & MODEL_MATH
    }
    assert offenders == {}
    subclasses = [
        n.name
        for n in ast.walk(tree)
        if isinstance(n, ast.ClassDef) and any("Function" in ast.unparse(b) for b in n.bases)
    ]
    assert subclasses == []


@pytest.mark.parametrize("script", sorted(SHIPPED_CALLS))
def test_benchmarks_call_the_shipped_functions(script):
    tree = ast.parse((BENCHMARKS / script).read_text())
    assert SHIPPED_CALLS[script] <= _called_names(tree)
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names}
    assert any(name.split(".")[0] in ("train", "pipelines") for name in imported if name)


def test_the_check_would_catch_a_second_implementation():
    source = "def ours(model, h):\n    return torch.log_softmax(model.get_output_embeddings()(h), -1)\n"
    definitions = _top_level_definitions(ast.parse(source))
    assert _called_names(definitions[0]) & MODEL_MATH == {"log_softmax", "get_output_embeddings"}


def _run_benchmark(script: str, *args: str, tmp_path) -> dict:
    out = tmp_path / f"{script}.json"
    command = [sys.executable, str(BENCHMARKS / script), *args, "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_train_bench_tiny_runs_the_shipped_trainer_on_cpu(tmp_path):
    result = _run_benchmark("train_bench.py", "--tiny", "--shapes", "tiny-a", "--steps", "1", tmp_path=tmp_path)
    shape = result["shapes"]["tiny-a"]
    assert result["heavy_modules_imported"] == [] and shape["ours"]["steps"] == 1
    assert shape["max_abs_logp_diff"] < 1e-4
    assert shape["padding_per_useful_token"]["buckets"] < shape["padding_per_useful_token"]["shuffled_rows"]


@pytest.mark.slow
def test_score_bench_tiny_runs_the_shipped_scorer_on_cpu(tmp_path):
    args = ("--tiny", "--n-small", "4", "--n-large", "4", "--sweep", "", "--skip-baseline")
    result = _run_benchmark("score_bench.py", *args, tmp_path=tmp_path)
    assert result["backend_error"] is None and result["heavy_modules_imported"] == []
    assert set(result["shapes"]) == {"tiny-a", "tiny-b"}


@pytest.mark.slow
def test_sample_bench_tiny_runs_the_shipped_sampler_on_cpu(tmp_path):
    args = (
        "--tiny",
        "--n-prompts",
        "8",
        "--max-new-tokens",
        "8",
        "--batch-size",
        "4",
        "--engines",
        "hf_generate,torch_float32,torch_bfloat16",
    )
    result = _run_benchmark("sample_bench.py", *args, tmp_path=tmp_path)
    assert result["speedup"] > 0 and result["sample_dtype"] in ("float32", "bfloat16")
    assert set(result["engines"]) == {"hf_generate", "torch_float32", "torch_bfloat16"}
    # float32: the engine's log-probs are its forward's; bf16 (random weights): gaps measured, finite
    assert result["engines"]["torch_float32"]["own_forward_gap"]["max"] <= 1e-4
    assert 0 < result["engines"]["torch_bfloat16"]["trainer_gap"]["mean"] < 1.0


@pytest.mark.slow
def test_gpu_sample_check_tiny_runs_on_cpu(tmp_path):
    result = _run_benchmark(
        "gpu_sample_check.py", "--tiny", "--max-new-tokens", "6", "--batches", "8", tmp_path=tmp_path
    )
    (row,) = result["rows"]
    assert row["shape"] == "tiny" and row["device"] == "cpu" and row["speedup"] > 0


@pytest.mark.slow
def test_object_store_bench_small_dump_gives_the_same_counts_from_the_bucket(tmp_path):
    pytest.importorskip("moto.server")
    command = [sys.executable, str(BENCHMARKS / "object_store_bench.py"), "--n", "300", "--files", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(BENCHMARKS.parent)}
    done = subprocess.run([*command, "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "object_store_results.json").read_text())
    assert result["same_counts"] and result["counts"]["interactions"] > 0 and result["ratio"] > 0
