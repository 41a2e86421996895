"""The `model_evals` table: the forgetting ledger, one row per (model, evaluation set).

Written by `train/continual/continual.py` as `<root>/model_evals/model_id=<id>/eval_set=<name>.parquet` when a model is
evaluated on a set (the base model too, as `base`). Fresh replies are sampled with a fixed seed per set, so a
model's row never changes; the gain of night k on its set is approval(model k) − approval(its parent), and the
retention of an earlier set j after night k is approval(model k, set j) − approval(model j, set j).
"""

import pyarrow as pa

SCHEMA = pa.schema(
    [
        ("model_id", pa.string()),
        ("eval_set", pa.string()),
        ("kind", pa.string()),
        ("n", pa.int32()),
        ("approval", pa.float64()),
        ("approval_low", pa.float64()),
        ("approval_high", pa.float64()),
        ("drift_base_kl", pa.float64()),
        ("drift_parent_kl", pa.float64()),
        ("reply_tokens", pa.float64()),
        ("ended_share", pa.float64()),
        ("evaluated_at", pa.timestamp("us", tz="UTC")),
    ]
)

DESCRIPTIONS = {
    "model_id": "the evaluated model (models.model_id, or 'base' for the base weights)",
    "eval_set": "the evaluation set (eval_sets.eval_set)",
    "kind": "night, general or prompts (eval_sets.kind)",
    "n": "items evaluated",
    "approval": "mean per-prompt approval of fresh replies: token-mean hindsight advantage judged by the base model "
    "with the set's follow-up, nats/token; null for prompt sets (no follow-up)",
    "approval_low": "lower end of the 95% bootstrap interval over prompts",
    "approval_high": "upper end of the 95% bootstrap interval over prompts",
    "drift_base_kl": "mean per-token KL(model ‖ base) at the fresh replies' positions, nats",
    "drift_parent_kl": "mean per-token KL(model ‖ its parent) at the same positions, nats (0 for the base)",
    "reply_tokens": "mean fresh reply length, tokens",
    "ended_share": "share of fresh replies that ended on their own",
    "evaluated_at": "when, UTC",
}
