"""On-policy regeneration trains exactly what the policy sampled: drawn ids, nothing appended, no hidden processors.

Each test is one way the trainer used to see something other than the sample (a cut reply given an
end-of-turn marker, re-tokenized text, the model's generation_config merged into the sampler, a teacher
shown another earlier reply than the scorer's), checked on the tiny byte-level model, whose random replies
rarely survive a decode → encode round trip.
"""

from dataclasses import replace

import pytest
import torch

from pipelines.backends.transformers_backend import TransformersBackendConfig, make_scorer
from pipelines.hindsight import HindsightConfig
from pipelines.score import ScoreRun
from tests.helpers.scoring import make_model, make_tokenizer
from tests.helpers.training import interactions_table
from train import data
from train.config import RegenConfig
from train.regen import regenerate, sample_replies

HINDSIGHT = HindsightConfig(max_context_tokens=256, max_reply_tokens=64)
RUN = ScoreRun("r", "tiny", "rev", 1, "regenerated", HINDSIGHT)


@pytest.fixture(scope="module")
def tiny():
    return make_model(), make_tokenizer()


def test_cut_replies_are_scored_as_drawn_with_no_end_of_turn_marker_appended(tiny):
    model, tokenizer = tiny
    interactions = interactions_table(8)
    scores = regenerate(
        model,
        tokenizer,
        interactions,
        RegenConfig(max_new_tokens=5),
        3,
        RUN,
        make_scorer(model, TransformersBackendConfig(), top_k=0),
    )
    sampled = sample_replies(model, tokenizer, interactions, RegenConfig(max_new_tokens=5), HINDSIGHT, 3)
    end = tokenizer.eos_token_id
    cut = [s for s, f in zip(scores.to_pylist(), sampled["response_finished"].to_pylist(), strict=True) if not f]
    assert cut, "a 5-token limit cuts most random replies"
    for score in cut:
        assert len(score["token_ids"]) == 5 and score["token_ids"][-1] != end and score["reply_truncated"]
    # No regenerated row ends in an end-of-turn marker its reply did not sample.
    for score, drawn in zip(scores.to_pylist(), sampled["response_token_ids"].to_pylist(), strict=True):
        assert score["token_ids"] == drawn
        assert (score["token_ids"][-1] == end) == (not score["reply_truncated"])


def test_scored_ids_are_the_sampled_ids_even_where_their_text_tokenizes_differently(tiny):
    model, tokenizer = tiny
    interactions = interactions_table(16)
    sampled = sample_replies(model, tokenizer, interactions, RegenConfig(max_new_tokens=12), HINDSIGHT, 5)
    drawn = sampled["response_token_ids"].to_pylist()
    # Random bytes are rarely valid UTF-8: their text does not encode back to the same ids.
    assert any(tokenizer(text, add_special_tokens=False)["input_ids"] != ids[: len(ids) - finished]
               for text, ids, finished in zip(sampled["response"].to_pylist(), drawn,
                                              sampled["response_finished"].to_pylist(), strict=True))  # fmt: skip
    scores = regenerate(
        model,
        tokenizer,
        interactions,
        RegenConfig(max_new_tokens=12),
        5,
        RUN,
        make_scorer(model, TransformersBackendConfig(), top_k=0),
    )
    assert scores["token_ids"].to_pylist() == drawn


def test_the_models_generation_config_does_not_enter_the_sampler(tiny):
    model, tokenizer = tiny
    model = make_model()
    # Settings a Qwen-style generation_config.json ships; generate() would merge them into sampling.
    model.generation_config.update(do_sample=True, top_k=5, min_p=0.3, repetition_penalty=1.5)
    interactions = interactions_table(1)
    prompts = interactions.take([0] * 48).set_column(
        0, "interaction_id", [[f"p{i:02d}" for i in range(48)]]
    )  # the same prompt 48 times
    sampled = sample_replies(model, tokenizer, prompts, RegenConfig(max_new_tokens=1, batch_size=48), HINDSIGHT, 0)
    first = [ids[0] for ids in sampled["response_token_ids"].to_pylist()]
    # p_θ over 258 near-uniform ids: 48 draws hit far more than top_k = 5 distinct tokens.
    assert len(set(first)) > 20


def test_trainer_teacher_context_is_the_scorers(tiny):
    model, tokenizer = tiny
    shown = replace(HINDSIGHT, show_earlier_reply=True)
    run = replace(RUN, hindsight=shown)
    interactions = interactions_table(4)
    sampled = sample_replies(model, tokenizer, interactions, RegenConfig(max_new_tokens=6), shown, 1)
    scores = regenerate(
        model,
        tokenizer,
        interactions,
        RegenConfig(max_new_tokens=6),
        1,
        run,
        make_scorer(model, TransformersBackendConfig(), top_k=0),
    )
    rows = data.build_rows(scores, sampled, tokenizer, shown)
    for row, logged in zip(rows, interactions.sort_by("interaction_id")["response"].to_pylist(), strict=True):
        teacher_text = tokenizer.decode(row.teacher_prefix_ids)
        assert f"An earlier reply to this prompt was:\n{logged}" in teacher_text  # the logged reply, as scored
    # The scorer's stored teacher log-probs are what the trainer's teacher recomputes from these prefixes.
    batch_row = rows[0]
    ids = torch.tensor([batch_row.teacher_prefix_ids + batch_row.reply_ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0].float(), -1)
    first = len(batch_row.teacher_prefix_ids) - 1
    recomputed = logp[first : first + len(batch_row.reply_ids)].gather(1, torch.tensor(batch_row.reply_ids)[:, None])
    torch.testing.assert_close(recomputed[:, 0], torch.from_numpy(batch_row.teacher_logp_T), atol=1e-5, rtol=0)
