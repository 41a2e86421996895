"""The `model_eval_replies` table: every fresh reply a model wrote on an evaluation set, for people to read.

Written beside `model_evals` as `<root>/model_eval_replies/model_id=<id>/eval_set=<name>.parquet`.
"""

import pyarrow as pa

SCHEMA = pa.schema(
    [
        ("model_id", pa.string()),
        ("eval_set", pa.string()),
        ("item_id", pa.string()),
        ("reply", pa.string()),
        ("reply_tokens", pa.int32()),
        ("ended", pa.bool_()),
        ("approval", pa.float64()),
        ("drift_base_kl", pa.float64()),
    ]
)

DESCRIPTIONS = {
    "model_id": "the model that wrote the reply (models.model_id, or 'base')",
    "eval_set": "the evaluation set (eval_sets.eval_set)",
    "item_id": "the item answered (eval_sets.item_id)",
    "reply": "the fresh reply, decoded",
    "reply_tokens": "its length, tokens",
    "ended": "true when it ended on its own (not cut at the token limit)",
    "approval": "its token-mean hindsight advantage judged by the base model, nats/token; null for prompt sets",
    "drift_base_kl": "its mean per-token KL(model ‖ base), nats",
}
