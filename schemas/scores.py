"""The `scores` table: one row per scored reply, with per-token student and teacher log-probs.

Written by the score stage (`pipelines/score.py`) as Parquet shards per run and round; read by the
trainer and the catalog views `advantages` and `token_advantages`. Token-level columns are lists
aligned to `token_ids`; `check_alignment` enforces that before any write.
"""

import pyarrow as pa
import pyarrow.compute as pc

SCHEMA = pa.schema(
    [
        ("interaction_id", pa.string()),
        ("conversation_id", pa.string()),
        ("run_id", pa.string()),
        ("round", pa.int32()),
        ("reply_source", pa.string()),
        ("model_id", pa.string()),
        ("model_revision", pa.string()),
        ("template", pa.string()),
        ("response", pa.string()),
        ("token_ids", pa.list_(pa.int32())),
        ("token_texts", pa.list_(pa.string())),
        ("student_logprobs", pa.list_(pa.float32())),
        ("teacher_logprobs", pa.list_(pa.float32())),
        ("n_tokens", pa.int32()),
        ("sum_advantage", pa.float32()),
        ("mean_advantage", pa.float32()),
        ("min_advantage", pa.float32()),
        ("max_advantage", pa.float32()),
        ("negative_share", pa.float32()),
        ("context_truncated", pa.bool_()),
        ("student_context_truncated", pa.bool_()),
        ("teacher_context_truncated", pa.bool_()),
        ("reply_truncated", pa.bool_()),
        ("topk_token_ids", pa.list_(pa.list_(pa.int32()))),
        ("topk_teacher_logprobs", pa.list_(pa.list_(pa.float32()))),
    ]
)

REPLY_SOURCES = ("logged", "regenerated")

DESCRIPTIONS = {
    "interaction_id": "the scored interaction (see interactions.interaction_id)",
    "conversation_id": "the conversation it comes from (see conversations.conversation_id)",
    "run_id": "the scoring run that wrote this row",
    "round": "0 = the logged reply y; k >= 1 = reply regenerated with the weights of training round k",
    "reply_source": "'logged' (y as logged) or 'regenerated' (y sampled from the model being trained)",
    "model_id": "model that scored the reply: Hugging Face id, local path or built-in name",
    "model_revision": "model version: Hub commit, or short sha256 of the weights files",
    "template": "hindsight template used for the teacher context x ⊕ o (paper, offline, online)",
    "response": "the scored reply y as text: the logged reply (round 0) or the one sampled in round k",
    "token_ids": "the scored reply tokens: y's content plus the end-of-turn marker, after truncation",
    "token_texts": "each scored token decoded on its own (for heat-maps; a split multi-byte character shows as U+FFFD)",
    "student_logprobs": "log p(y_i | x, y_<i) per token, nats (natural log), aligned to token_ids",
    "teacher_logprobs": "log p(y_i | x ⊕ o, y_<i) per token, nats, aligned to token_ids",
    "n_tokens": "number of scored tokens (length of token_ids)",
    "sum_advantage": "sum over tokens of advantage (teacher minus student log-prob), nats; null if no tokens",
    "mean_advantage": "mean advantage per token, nats; null when n_tokens = 0",
    "min_advantage": "most negative token advantage, nats (the token hindsight most disowns); null if none",
    "max_advantage": "most positive token advantage, nats; null when n_tokens = 0",
    "negative_share": "fraction of tokens with advantage < 0, in [0, 1]; null when n_tokens = 0",
    "context_truncated": "true when leading tokens were dropped from either context (student or teacher)",
    "student_context_truncated": "true when leading tokens of the student context x were dropped to fit the limit",
    "teacher_context_truncated": "true when leading tokens of the teacher context x ⊕ o were dropped to fit the limit",
    "reply_truncated": "true when trailing reply tokens were dropped to fit the reply limit",
    "topk_token_ids": "per token, the teacher's K most likely token ids, most likely first; null when K = 0",
    "topk_teacher_logprobs": "teacher log-probs of topk_token_ids, nats, descending; null when K = 0",
}

_TOKEN_LISTS = ("token_ids", "token_texts", "student_logprobs", "teacher_logprobs")
_TOPK_LISTS = ("topk_token_ids", "topk_teacher_logprobs")


def check_alignment(table: pa.Table) -> None:
    """Raise ValueError unless the schema matches and every token-level list has n_tokens entries."""
    if table.schema != SCHEMA:
        raise ValueError(f"scores table does not match schemas.scores.SCHEMA:\n{table.schema}")
    n_tokens = table["n_tokens"]
    for name in _TOKEN_LISTS + _TOPK_LISTS:
        aligned = pc.equal(pc.list_value_length(table[name]), n_tokens)
        if name in _TOPK_LISTS:
            # Top-K lists are null when K = 0; present, they must align like the others.
            aligned = pc.or_kleene(aligned, pc.is_null(table[name]))
        if not pc.all(pc.fill_null(aligned, False), min_count=0).as_py():
            raise ValueError(f"scores column {name!r} is not aligned to n_tokens in some rows")
    ids_null = pc.is_null(table["topk_token_ids"])
    if not pc.all(pc.equal(ids_null, pc.is_null(table["topk_teacher_logprobs"])), min_count=0).as_py():
        raise ValueError("topk_token_ids and topk_teacher_logprobs must be null in the same rows")
    ids_k = pc.list_value_length(pc.list_flatten(table["topk_token_ids"]))
    logprobs_k = pc.list_value_length(pc.list_flatten(table["topk_teacher_logprobs"]))
    if ids_k.to_pylist() != logprobs_k.to_pylist():
        raise ValueError("topk_token_ids and topk_teacher_logprobs have different K at some positions")
