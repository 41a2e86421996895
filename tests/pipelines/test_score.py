import hashlib
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pytest
import torch

from pipelines.backends import ReplyLogprobs
from pipelines.backends.transformers_backend import (
    TransformersBackendConfig,
    batch_plans,
    make_scorer,
    plan_request,
)
from pipelines.hindsight import HindsightConfig, HindsightSequences, build_sequences
from pipelines.score import ScoreRun, interaction_shard, score_interactions, summarize_advantages, take_shard
from schemas import interactions as interactions_schema
from schemas import scores as scores_schema
from tests.helpers.scoring import (
    WILDCHAT_SMALL,
    assert_close,
    make_model,
    make_tokenizer,
    naive_logprobs,
    need_smollm2,
    read_wildchat_interactions,
    smollm2_cache_dir,
)

CFG = ScoreRun(run_id="run-1", model_id="tiny", model_revision="abc123")


def make_interactions(n: int) -> pa.Table:
    """n interactions of varied lengths and histories, in scrambled id order."""
    rows = []
    for i in range(n):
        context = [{"role": "user", "content": "question " * (i % 4 + 1) + str(i)}]
        if i % 3 == 0:
            context = [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "ok " * i},
                {"role": "user", "content": f"and {i}?"},
            ]
        rows.append(
            {
                "interaction_id": f"c{(i * 7) % n}:{2 * i + 1}",
                "conversation_id": f"c{(i * 7) % n}",
                "turn_index": 2 * i + 1,
                "context": context,
                "response": "reply " * (i % 5 + 1),
                "followup": "no, shorter " * (n - i),
                "model": "gpt-4",
                "language": "English",
                "timestamp": datetime(2024, 1, 1, tzinfo=UTC),
                "source_format": "wildchat",
                "ingest_date": date(2024, 1, 2),
            }
        )
    return pa.Table.from_pylist(rows, schema=interactions_schema.SCHEMA)


def with_response(interactions: pa.Table, response: str) -> pa.Table:
    index = interactions.schema.get_field_index("response")
    return interactions.set_column(index, "response", pa.array([response] * interactions.num_rows))


def fixed_score_fn(student_T: list[float], teacher_T: list[float]):
    def score_fn(sequences):
        return [ReplyLogprobs(np.array(student_T, np.float32), np.array(teacher_T, np.float32)) for _ in sequences]

    return score_fn


def test_hand_computed_advantages_for_three_tokens():
    tokenizer = make_tokenizer()
    interactions = with_response(make_interactions(1), "ab")  # a, b, <|im_end|>
    # advantage = teacher − student = [0.5, -0.5, 0.0]
    table = score_interactions(interactions, fixed_score_fn([-1.0, -2.0, -0.5], [-0.5, -2.5, -0.5]), tokenizer, CFG)
    row = table.to_pylist()[0]
    assert row["token_ids"] == tokenizer.convert_tokens_to_ids(["a", "b", "<|im_end|>"])
    assert row["n_tokens"] == 3
    assert row["sum_advantage"] == 0.0
    assert row["mean_advantage"] == 0.0
    assert row["min_advantage"] == -0.5
    assert row["max_advantage"] == 0.5
    assert row["negative_share"] == pytest.approx(1 / 3)
    assert row["topk_token_ids"] is None and row["topk_teacher_logprobs"] is None


def test_summary_of_no_tokens_is_null():
    empty = np.zeros(0, np.float32)
    assert summarize_advantages(empty, empty) == dict.fromkeys(["sum", "mean", "min", "max", "negative_share"])


def test_tiny_model_three_token_reply_matches_token_by_token_forwards():
    tokenizer, model = make_tokenizer(), make_model()
    seq = build_sequences([{"role": "user", "content": "Say yes."}], "no", "I said yes", tokenizer, HindsightConfig())
    assert len(seq.reply_ids) == 3  # "n", "o", <|im_end|>
    expected = {}
    with torch.inference_mode():
        for name, prefix in (("student", seq.student_prefix_ids), ("teacher", seq.teacher_prefix_ids)):
            # log p(y_i | prefix, y_<i): one uncached forward per token, read at the last position.
            expected[name] = [
                torch.log_softmax(model(torch.tensor([prefix + seq.reply_ids[:i]])).logits[0, -1], -1)[
                    seq.reply_ids[i]
                ].item()
                for i in range(3)
            ]
    [scored] = make_scorer(model, TransformersBackendConfig(), top_k=0)([seq])
    assert_close(scored.student_T, np.array(expected["student"]), 1e-5)
    assert_close(scored.teacher_T, np.array(expected["teacher"]), 1e-5)
    # The tiny model is context-sensitive enough for the signal to be non-trivial.
    assert np.abs(scored.teacher_T - scored.student_T).max() > 1e-3


def tiny_sequences(n: int) -> list[HindsightSequences]:
    tokenizer = make_tokenizer()
    interactions = make_interactions(n).to_pylist()
    return [
        build_sequences(
            r["context"], r["response"], r["followup"], tokenizer, HindsightConfig(template=("paper", "offline")[i % 2])
        )
        for i, r in enumerate(interactions)
    ]


def test_prefix_shared_scoring_matches_two_naive_forwards():
    model = make_model()
    sequences = tiny_sequences(8)
    # Small budget and chunk force several batches, padded rows and chunk boundaries inside replies.
    scorer = make_scorer(model, TransformersBackendConfig(max_batch_tokens=1200, logits_chunk_tokens=7), top_k=5)
    assert len(batch_plans([plan_request(s) for s in sequences], 1200)) > 1
    for seq, scored in zip(sequences, scorer(sequences), strict=True):
        naive = naive_logprobs(model, seq, top_k=5)
        assert_close(scored.student_T, naive.student_T, 1e-5)
        assert_close(scored.teacher_T, naive.teacher_T, 1e-5)
        assert_close(scored.topk_teacher_T_K, naive.topk_teacher_T_K, 1e-5)
        np.testing.assert_array_equal(scored.topk_ids_T_K, naive.topk_ids_T_K)
        assert scored.student_T.dtype == np.float32 and scored.topk_ids_T_K.dtype == np.int32


def test_batch_of_one_and_batch_of_eight_agree():
    model = make_model()
    sequences = tiny_sequences(8)
    batched = make_scorer(model, TransformersBackendConfig(max_batch_tokens=1 << 20), top_k=0)(sequences)
    single = [make_scorer(model, TransformersBackendConfig(max_batch_tokens=2), top_k=0)([s])[0] for s in sequences]
    for a, b in zip(batched, single, strict=True):
        assert_close(a.student_T, b.student_T, 1e-5)
        assert_close(a.teacher_T, b.teacher_T, 1e-5)


def test_sequences_without_a_shared_prefix_are_scored_too():
    model = make_model()
    seq = HindsightSequences([5, 6, 7], [9, 6, 7, 8], [10, 11], True, True, reply_truncated=False)
    naive = naive_logprobs(model, seq)
    for scored in make_scorer(model, TransformersBackendConfig(), top_k=0)([seq, seq]):
        assert_close(scored.student_T, naive.student_T, 1e-5)
        assert_close(scored.teacher_T, naive.teacher_T, 1e-5)


def test_plan_shares_everything_before_the_hindsight_block():
    seq = HindsightSequences([1, 2, 3, 4], [1, 2, 3, 9, 9, 4], [7, 8], False, False, False)
    plan = plan_request(seq)
    assert plan.shared_ids == [1, 2, 3]
    assert (plan.student_ids, plan.teacher_ids) == ([4, 7, 8], [9, 9, 4, 7, 8])
    assert (plan.student_first, plan.teacher_first) == (0, 2)


def test_score_table_schema_order_and_provenance():
    tokenizer, model = make_tokenizer(), make_model()
    interactions = make_interactions(5)
    table = score_interactions(interactions, make_scorer(model, TransformersBackendConfig(), top_k=3), tokenizer, CFG)
    assert table.schema == scores_schema.SCHEMA
    assert set(scores_schema.DESCRIPTIONS) == set(scores_schema.SCHEMA.names)
    ids = table["interaction_id"].to_pylist()
    assert ids == sorted(interactions["interaction_id"].to_pylist())
    row = table.to_pylist()[0]
    assert (row["run_id"], row["round"], row["reply_source"], row["template"]) == ("run-1", 0, "logged", "paper")
    assert (row["model_id"], row["model_revision"]) == ("tiny", "abc123")
    advantage = np.array(row["teacher_logprobs"]) - np.array(row["student_logprobs"])
    assert row["sum_advantage"] == pytest.approx(advantage.sum(), abs=1e-5)
    assert len(row["topk_token_ids"]) == row["n_tokens"] and len(row["topk_token_ids"][0]) == 3


def test_one_shard_and_four_shards_give_the_same_rows():
    tokenizer = make_tokenizer()
    interactions = make_interactions(12)
    score_fn = make_scorer(make_model(), TransformersBackendConfig(), top_k=0)
    whole = score_interactions(interactions, score_fn, tokenizer, CFG)
    parts = [score_interactions(take_shard(interactions, k, 4), score_fn, tokenizer, CFG) for k in range(4)]
    joined = pa.concat_tables(parts)
    joined = joined.sort_by("interaction_id")
    assert joined["interaction_id"].equals(whole["interaction_id"])
    for name in ("token_ids", "n_tokens", "context_truncated"):
        assert joined[name].equals(whole[name])
    for name in ("student_logprobs", "teacher_logprobs"):
        a = np.concatenate(joined[name].to_numpy(zero_copy_only=False))
        b = np.concatenate(whole[name].to_numpy(zero_copy_only=False))
        assert_close(a, b, 1e-5)


def test_shard_of_is_a_fixed_stable_hash():
    assert [interaction_shard(f"conv{i}:1", 4) for i in range(8)] == [
        interaction_shard(f"conv{i}:1", 4) for i in range(8)
    ]
    assert interaction_shard("abc:1", 1) == 0
    digest = hashlib.blake2b(b"abc:1", digest_size=8).digest()
    assert interaction_shard("abc:1", 128) == int.from_bytes(digest, "big") % 128
    with pytest.raises(ValueError, match="n_shards=0"):
        interaction_shard("abc:1", 0)


def test_empty_input_gives_an_empty_scores_table():
    table = score_interactions(make_interactions(0), fixed_score_fn([], []), make_tokenizer(), CFG)
    assert table.num_rows == 0 and table.schema == scores_schema.SCHEMA


def test_misaligned_backend_output_is_refused():
    with pytest.raises(ValueError, match="expected \\(3,\\)"):
        score_interactions(
            with_response(make_interactions(1), "ab"),
            fixed_score_fn([-1.0, -2.0], [-1.0, -2.0]),
            make_tokenizer(),
            CFG,
        )


def test_check_alignment_catches_a_short_list():
    table = score_interactions(
        with_response(make_interactions(1), "ab"),
        fixed_score_fn([-1.0, -2.0, -0.5], [-0.5, -2.5, -0.5]),
        make_tokenizer(),
        CFG,
    )
    broken = table.set_column(
        table.schema.get_field_index("teacher_logprobs"),
        scores_schema.SCHEMA.field("teacher_logprobs"),
        pa.array([[-0.5, -2.5]], pa.list_(pa.float32())),
    )
    with pytest.raises(ValueError, match="'teacher_logprobs' is not aligned"):
        scores_schema.check_alignment(broken)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"round": 1}, "round 0 holds the logged"),
        ({"reply_source": "regenerated"}, "round 0 holds the logged"),
        ({"reply_source": "sampled"}, "reply_source='sampled'"),
        ({"round": -1}, "round=-1"),
        ({"run_id": ""}, "must be non-empty"),
    ],
)
def test_score_config_rejects_bad_values(kwargs, message):
    base = {"run_id": "r", "model_id": "m", "model_revision": "v"}
    with pytest.raises(ValueError, match=message):
        ScoreRun(**(base | kwargs))


@pytest.mark.slow
def test_smollm2_on_real_wildchat_matches_naive_transformers(tmp_path_factory):
    need_smollm2()
    if not WILDCHAT_SMALL.exists():
        pytest.skip(f"{WILDCHAT_SMALL} is absent")
    from pipelines.backends.model_loading import load_model, load_tokenizer

    cache_dir = smollm2_cache_dir(tmp_path_factory)
    model, _ = load_model("smollm2-135m-instruct", cache_dir=cache_dir)
    tokenizer = load_tokenizer("smollm2-135m-instruct", cache_dir=cache_dir)
    # Short limits keep the naive reference fast on 2 cores while still exercising truncation.
    cfg = HindsightConfig(max_context_tokens=384, max_reply_tokens=96)
    sequences = [build_sequences(x, y, o, tokenizer, cfg) for x, y, o in read_wildchat_interactions(2)]
    scored = make_scorer(model, TransformersBackendConfig(), top_k=4)(sequences)
    for seq, result in zip(sequences, scored, strict=True):
        naive = naive_logprobs(model, seq, top_k=4)
        assert_close(result.student_T, naive.student_T, 1e-4)
        assert_close(result.teacher_T, naive.teacher_T, 1e-4)
        np.testing.assert_array_equal(result.topk_ids_T_K[:, 0], naive.topk_ids_T_K[:, 0])


def test_bad_chat_template_kwargs_stop_scoring_before_the_backend_runs():
    calls = []

    def score_fn(sequences):
        calls.append(len(sequences))
        return []

    cfg = ScoreRun("run-1", "tiny", "abc123", hindsight=HindsightConfig(chat_template_kwargs={"thinking": False}))
    with pytest.raises(ValueError, match=r"chat_template_kwargs has keys .* \['thinking'\]"):
        score_interactions(make_interactions(3), score_fn, make_tokenizer(), cfg)
    assert calls == []
