"""The `models` table: the model registry of a root, one row per model `afterword learn` trained.

Written by `train/registry.py` as `<root>/models/model_id=<id>/data.parquet`, rewritten (atomically, under the
root's writer lock) when the model's status changes. The promoted model is also named by
`<root>/models/promoted.json`, the pointer a serving system reads. Status: `candidate` (trained, not yet
decided), `promoted` (the current model: the next night trains from it, `--score.model promoted` scores with
it), `rejected` (the gate said no: `reason`), `rolled_back` (was promoted, then rolled back).
"""

import pyarrow as pa

STATUSES = ("candidate", "promoted", "rejected", "rolled_back")

SCHEMA = pa.schema(
    [
        ("model_id", pa.string()),
        ("parent_id", pa.string()),
        ("base_model", pa.string()),
        ("nights", pa.list_(pa.string())),
        ("lineage_nights", pa.list_(pa.string())),
        ("run_id", pa.string()),
        ("checkpoint_path", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("gain", pa.float64()),
        ("gain_low", pa.float64()),
        ("gain_high", pa.float64()),
        ("worst_retention_drop", pa.float64()),
        ("worst_retention_set", pa.string()),
        ("drift_base_kl", pa.float64()),
        ("drift_parent_kl", pa.float64()),
        ("reply_tokens", pa.float64()),
        ("ended_share", pa.float64()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("decided_at", pa.timestamp("us", tz="UTC")),
    ]
)

DESCRIPTIONS = {
    "model_id": "the model: 'm-<night>-<training run hash>' (the training run that made it)",
    "parent_id": "the model it was trained from (the promoted model at the time); null = the base model",
    "base_model": "the base weights at the root of the lineage (a Hugging Face id, a local folder or the built-in)",
    "nights": "the nights of interactions this model was trained on (its own training only)",
    "lineage_nights": "every night trained along the lineage, oldest first (the parent's, then this model's)",
    "run_id": "the training run (training_rounds.run_id) that made the model",
    "checkpoint_path": "its weights: a transformers-loadable folder (LoRA merged) under checkpoints/",
    "status": "candidate | promoted | rejected | rolled_back",
    "reason": "why the gate (or a person) decided as it did",
    "gain": "held-out approval of the new night's set minus the parent's on the same set, nats/token",
    "gain_low": "lower end of the gain's bootstrap interval over prompts (the gate's confidence)",
    "gain_high": "upper end of the gain's bootstrap interval over prompts",
    "worst_retention_drop": "the largest drop of an earlier night's held-out approval against the parent, nats/token "
    "(positive = worse); null with no earlier night",
    "worst_retention_set": "the evaluation set of that largest drop",
    "drift_base_kl": "mean per-token KL(model ‖ base) over every evaluation set's fresh replies, nats",
    "drift_parent_kl": "mean per-token KL(model ‖ parent) over every evaluation set's fresh replies, nats",
    "reply_tokens": "mean fresh reply length over every evaluation set, tokens",
    "ended_share": "share of fresh replies that ended on their own (not cut at the token limit)",
    "created_at": "when the model was trained and evaluated, UTC",
    "decided_at": "when its status last changed, UTC",
}
