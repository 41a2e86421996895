"""Chat-template arguments on a real template: Qwen3's published one, set on the bundled SmolLM2 tokenizer.

Qwen3's template writes an empty think block into the generation prompt only when `enable_thinking` is
false; without it, the block lands in the scored reply (and in every sampled prompt). Both tokenizers
use the same ChatML markers, so the SmolLM2 tokenizer renders the template faithfully.
"""

from __future__ import annotations

import pytest
import torch

from pipelines.backends.transformers_backend import TransformersBackendConfig, make_scorer
from pipelines.hindsight import HindsightConfig, build_sequences, check_chat_template_kwargs
from pipelines.score import ScoreRun
from tests.conftest import shared_file
from tests.helpers.scoring import make_model, need_smollm2, smollm2_cache_dir
from tests.helpers.training import interactions_table
from train import regen
from train.config import RegenConfig
from train.data import build_rows
from train.regen import regenerate

pytestmark = pytest.mark.slow  # converts the bundled model once per session (~40 s)

CONTEXT = [{"role": "user", "content": "Is water wet? Answer YES or NO."}]
EMPTY_THINK = "<think>\n\n</think>\n\n"


@pytest.fixture(scope="module")
def qwen3_tokenizer(tmp_path_factory):
    need_smollm2()
    from pipelines.backends.model_loading import load_tokenizer

    template = shared_file("templates/qwen3_chat_template.jinja").read_text()
    tokenizer = load_tokenizer("smollm2-135m-instruct", cache_dir=smollm2_cache_dir(tmp_path_factory))
    tokenizer.chat_template = template
    return tokenizer


def test_scored_ids_are_the_reply_and_end_marker_and_the_prompt_ends_with_the_empty_think_block(qwen3_tokenizer):
    tokenizer = qwen3_tokenizer
    seq = build_sequences(CONTEXT, "No.", "YES or NO only", tokenizer, HindsightConfig())
    assert seq.reply_ids == tokenizer("No.<|im_end|>", add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(seq.student_prefix_ids).endswith("<|im_start|>assistant\n" + EMPTY_THINK)
    assert tokenizer.decode(seq.teacher_prefix_ids).endswith(
        "YES or NO only<|im_end|>\n<|im_start|>assistant\n" + EMPTY_THINK
    )


def test_without_the_switch_the_think_block_would_be_scored_as_reply(qwen3_tokenizer):
    # What every render did before chat_template_kwargs existed: the block's tokens lead the reply.
    seq = build_sequences(CONTEXT, "No.", "o", qwen3_tokenizer, HindsightConfig(chat_template_kwargs={}))
    assert qwen3_tokenizer.decode(seq.reply_ids) == EMPTY_THINK + "No.<|im_end|>"


def test_qwen3_template_reads_the_default_switch_and_refuses_unknown_keys(qwen3_tokenizer):
    check_chat_template_kwargs(qwen3_tokenizer, {"enable_thinking": False})
    with pytest.raises(ValueError, match=r"chat_template_kwargs has keys .* \['thinking'\]"):
        check_chat_template_kwargs(qwen3_tokenizer, {"thinking": False})


def test_regeneration_samples_from_the_scored_student_prefix_and_training_rebuilds_it(qwen3_tokenizer, monkeypatch):
    tokenizer = qwen3_tokenizer
    model = make_model(vocab_size=len(tokenizer))
    prompts: list[list[int]] = []
    sample = regen.sample

    def recording_sampler(model, prompt_ids, **kwargs):  # records the prompts, then samples as usual
        prompts.extend(prompt_ids)
        return sample(model, prompt_ids, **kwargs)

    monkeypatch.setattr(regen, "sample", recording_sampler)
    interactions = interactions_table(3)
    hindsight = HindsightConfig(max_context_tokens=32)  # cuts the teacher prefixes, not the student ones
    score_run = ScoreRun("regen-test", "tiny", "0", round=1, reply_source="regenerated", hindsight=hindsight)
    regen_cfg = RegenConfig(max_new_tokens=3, batch_size=2)
    with torch.no_grad():
        scores = regenerate(
            model,
            tokenizer,
            interactions,
            regen_cfg,
            0,
            score_run,
            make_scorer(model, TransformersBackendConfig(), top_k=0),
        )

    rows = interactions.sort_by("interaction_id").to_pylist()
    assert len(prompts) == len(rows) == scores.num_rows
    for prompt, row in zip(prompts, rows, strict=True):
        scored = build_sequences(row["context"], "any reply", row["followup"], tokenizer, hindsight)
        assert prompt == scored.student_prefix_ids
        assert tokenizer.decode(prompt).endswith(EMPTY_THINK)
        assert (
            len(prompt)
            < 32
            < len(build_sequences(row["context"], "", row["followup"], tokenizer, HindsightConfig()).teacher_prefix_ids)
        )
    # Training rebuilds the same prefixes from the stored interactions.
    sampled = regen.sample_replies(model, tokenizer, interactions, regen_cfg, hindsight, 0)
    trained = build_rows(scores, sampled, tokenizer, hindsight)
    assert [r.student_prefix_ids for r in trained] == prompts[: len(trained)]
    assert scores["teacher_context_truncated"].to_pylist() == [True] * 3
    assert scores["student_context_truncated"].to_pylist() == [False] * 3
