"""Score: interactions (x, y, o) → scores, the per-token hindsight advantage of every reply.

`score_interactions(interactions, score_fn, tokenizer, cfg)` builds student and teacher token
sequences (`pipelines/hindsight.py`), hands them to the injected backend `score_fn`
(`pipelines/backends/`), and returns a `schemas.scores` table sorted by interaction_id; `cfg: ScoreRun` names
the run, model revision and round the rows belong to and their hindsight settings (the user-facing settings
are `pipelines/backends/scoring_config.py`). No I/O here: callers pick a shard with `take_shard` and write the
result; the same rows come back on every rerun.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from transformers import PreTrainedTokenizerBase

from pipelines.backends import ReplyLogprobs, ScoreFn
from pipelines.hindsight import HindsightConfig, HindsightSequences, build_sequences, check_chat_template_kwargs
from schemas import scores as scores_schema


@dataclass(frozen=True)
class ScoreRun:
    """What every scored row is labelled with, and how its sequences are built."""

    run_id: str  # the scoring run these rows belong to
    model_id: str  # scoring model as returned by pipelines.backends.model_loading.load_model
    model_revision: str  # its revision (Hub commit or short weights sha256)
    round: int = 0  # 0 = logged replies; k >= 1 = replies regenerated in training round k
    reply_source: str = "logged"  # 'logged' (round 0) or 'regenerated' (round >= 1)
    hindsight: HindsightConfig = field(default_factory=HindsightConfig)  # template + token limits

    def __post_init__(self) -> None:
        if not self.run_id or not self.model_id or not self.model_revision:
            raise ValueError("run_id, model_id and model_revision must be non-empty (they version every row)")
        if self.round < 0:
            raise ValueError(f"round={self.round} must be >= 0 (0 = logged replies)")
        if self.reply_source not in scores_schema.REPLY_SOURCES:
            raise ValueError(f"reply_source={self.reply_source!r}: use one of {scores_schema.REPLY_SOURCES}")
        if (self.round == 0) != (self.reply_source == "logged"):
            raise ValueError(
                f"round={self.round} with reply_source={self.reply_source!r}: round 0 holds the logged "
                "replies and rounds >= 1 the regenerated ones"
            )


def interaction_shard(interaction_id: str, n_shards: int) -> int:
    """Shard index in [0, n_shards) of an interaction: a stable hash, identical across runs and machines."""
    if n_shards < 1:
        raise ValueError(f"n_shards={n_shards} must be >= 1")
    # Python's hash() is salted per process; blake2b is not.
    digest = hashlib.blake2b(interaction_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n_shards


def take_shard(interactions: pa.Table, shard_index: int, n_shards: int) -> pa.Table:
    """The rows of `interactions` that fall in shard `shard_index` of `n_shards`."""
    if not 0 <= shard_index < n_shards:
        raise ValueError(f"shard_index={shard_index} must be in [0, {n_shards})")
    ids = interactions["interaction_id"].to_pylist()
    return interactions.filter(pa.array([interaction_shard(i, n_shards) == shard_index for i in ids]))


def take_sample(interactions: pa.Table, limit: int) -> pa.Table:
    """At most `limit` rows, chosen by a stable hash of the id: the same sample on every rerun."""
    if limit >= interactions.num_rows:
        return interactions
    ids = interactions["interaction_id"].to_pylist()
    order = sorted(range(len(ids)), key=lambda i: (hashlib.blake2b(ids[i].encode(), digest_size=8).digest(), ids[i]))
    return interactions.take(sorted(order[:limit]))


def swap_followups(interactions: pa.Table) -> pa.Table:
    """The same interactions, each given another interaction's follow-up (a stable rotation by id hash).

    The teacher-competence check compares advantages under real and unrelated follow-ups: a competent
    self-teacher moves its log-probs more for the follow-up that actually answered the reply.
    """
    if interactions.num_rows < 2:
        raise ValueError("swapping follow-ups needs at least 2 interactions")
    ids = interactions["interaction_id"].to_pylist()
    order = sorted(range(len(ids)), key=lambda i: (hashlib.blake2b(ids[i].encode(), digest_size=8).digest(), ids[i]))
    followups = interactions["followup"].to_pylist()
    swapped = [""] * len(ids)
    for position, row in enumerate(order):
        swapped[row] = followups[order[(position + 1) % len(order)]]
    column = interactions.schema.get_field_index("followup")
    return interactions.set_column(column, "followup", pa.array(swapped, pa.string()))


def summarize_advantages(student_T: np.ndarray, teacher_T: np.ndarray) -> dict[str, float | None]:
    """Sum, mean, min, max of advantage = teacher − student (nats) and the share of negative tokens."""
    advantage_T = teacher_T.astype(np.float64) - student_T.astype(np.float64)
    if advantage_T.size == 0:
        return dict.fromkeys(("sum", "mean", "min", "max", "negative_share"))
    return {
        "sum": float(advantage_T.sum()),
        "mean": float(advantage_T.mean()),
        "min": float(advantage_T.min()),
        "max": float(advantage_T.max()),
        "negative_share": float((advantage_T < 0).mean()),
    }


# What an interaction row needs to build its sequences. Regenerated replies (train/regen.py) also carry the
# logged reply the follow-up answered (`logged_response`) and the sampled ids with whether the sampler
# stopped on its own (`response_token_ids`, `response_finished`).
SEQUENCE_COLUMNS = ("context", "response", "followup", "logged_response", "response_token_ids", "response_finished")


def interaction_sequences(
    row: dict, tokenizer: PreTrainedTokenizerBase, hindsight: HindsightConfig
) -> HindsightSequences:
    """The student prefix, teacher prefix and reply ids of one interaction row (`SEQUENCE_COLUMNS`).

    The one place both the scorer and the trainer build a row's contexts, so the teacher the trainer
    recomputes sees exactly the context the stored scores were computed under. A sampled reply is scored
    as the ids drawn, never a re-tokenization of its text.
    """
    sampled_ids = row.get("response_token_ids")
    return build_sequences(
        row["context"],
        row["response"],
        row["followup"],
        tokenizer,
        hindsight,
        row.get("logged_response"),
        sampled_ids=sampled_ids,
        sampled_cut=sampled_ids is not None and not row["response_finished"],
    )


def score_interactions(
    interactions: pa.Table,
    score_fn: ScoreFn,
    tokenizer: PreTrainedTokenizerBase,
    cfg: ScoreRun,
) -> pa.Table:
    """Score every interaction's reply under the student and hindsight-teacher contexts (scores schema)."""
    check_chat_template_kwargs(tokenizer, cfg.hindsight.chat_template_kwargs)
    interactions = interactions.take(pc.sort_indices(interactions, [("interaction_id", "ascending")]))
    columns = [c for c in SEQUENCE_COLUMNS if c in interactions.column_names]
    sequences = [
        interaction_sequences(row, tokenizer, cfg.hindsight) for row in interactions.select(columns).to_pylist()
    ]
    scores = score_fn(sequences) if sequences else []
    if len(scores) != len(sequences):
        raise ValueError(f"score_fn returned {len(scores)} results for {len(sequences)} sequences")
    for seq, result in zip(sequences, scores, strict=True):
        _check_result(len(seq.reply_ids), result)

    n = len(sequences)
    summaries = [summarize_advantages(s.student_T, s.teacher_T) for s in scores]
    columns = {
        "interaction_id": interactions["interaction_id"],
        "conversation_id": interactions["conversation_id"],
        "run_id": pa.array([cfg.run_id] * n, pa.string()),
        "round": pa.array([cfg.round] * n, pa.int32()),
        "reply_source": pa.array([cfg.reply_source] * n, pa.string()),
        "model_id": pa.array([cfg.model_id] * n, pa.string()),
        "model_revision": pa.array([cfg.model_revision] * n, pa.string()),
        "template": pa.array([cfg.hindsight.template] * n, pa.string()),
        "response": interactions["response"],
        "token_ids": pa.array([np.asarray(s.reply_ids, np.int32) for s in sequences], pa.list_(pa.int32())),
        "token_texts": pa.array(
            [tokenizer.batch_decode([[token] for token in s.reply_ids]) for s in sequences], pa.list_(pa.string())
        ),
        "student_logprobs": pa.array([s.student_T for s in scores], pa.list_(pa.float32())),
        "teacher_logprobs": pa.array([s.teacher_T for s in scores], pa.list_(pa.float32())),
        "n_tokens": pa.array([len(s.reply_ids) for s in sequences], pa.int32()),
        "sum_advantage": pa.array([s["sum"] for s in summaries], pa.float32()),
        "mean_advantage": pa.array([s["mean"] for s in summaries], pa.float32()),
        "min_advantage": pa.array([s["min"] for s in summaries], pa.float32()),
        "max_advantage": pa.array([s["max"] for s in summaries], pa.float32()),
        "negative_share": pa.array([s["negative_share"] for s in summaries], pa.float32()),
        "context_truncated": pa.array([s.context_truncated for s in sequences], pa.bool_()),
        "student_context_truncated": pa.array([s.student_context_truncated for s in sequences], pa.bool_()),
        "teacher_context_truncated": pa.array([s.teacher_context_truncated for s in sequences], pa.bool_()),
        "reply_truncated": pa.array([s.reply_truncated for s in sequences], pa.bool_()),
        "topk_token_ids": pa.array(
            [None if s.topk_ids_T_K is None else list(s.topk_ids_T_K) for s in scores],
            pa.list_(pa.list_(pa.int32())),
        ),
        "topk_teacher_logprobs": pa.array(
            [None if s.topk_teacher_T_K is None else list(s.topk_teacher_T_K) for s in scores],
            pa.list_(pa.list_(pa.float32())),
        ),
    }
    table = pa.table(columns, schema=scores_schema.SCHEMA)
    scores_schema.check_alignment(table)
    return table


def _check_result(n_tokens: int, result: ReplyLogprobs) -> None:
    """A backend bug must fail loudly here, not surface later as misaligned token lists."""
    for name, values in (("student", result.student_T), ("teacher", result.teacher_T)):
        if values.shape != (n_tokens,):
            raise ValueError(f"score_fn returned {name} log-probs of shape {values.shape}, expected ({n_tokens},)")
    if (result.topk_ids_T_K is None) != (result.topk_teacher_T_K is None):
        raise ValueError("score_fn must return both top-K ids and log-probs, or neither")
    if result.topk_ids_T_K is not None and (
        result.topk_ids_T_K.shape[0] != n_tokens or result.topk_ids_T_K.shape != result.topk_teacher_T_K.shape
    ):
        raise ValueError(f"score_fn returned top-K arrays of shape {result.topk_ids_T_K.shape} for {n_tokens} tokens")
