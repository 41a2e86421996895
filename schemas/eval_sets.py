"""The `eval_sets` table: a root's fixed evaluation suite, drawn once and never rewritten.

Written by `train/continual/eval_sets.py` as `<root>/eval_sets/eval_set=<name>/data.parquet`. One set per trained night
(`night=YYYY-MM-DD`: held-out interactions of that night, never trained on), the bundled general prompts
(`general`: forgetting on unrelated questions) and any prompts file a user adds (`prompts=<name>`). Every
candidate model is evaluated on every set (`model_evals`).
"""

import pyarrow as pa

from schemas.interactions import MESSAGE

KINDS = ("night", "general", "prompts")

SCHEMA = pa.schema(
    [
        ("eval_set", pa.string()),
        ("kind", pa.string()),
        ("night", pa.date32()),
        ("item_id", pa.string()),
        ("context", pa.list_(MESSAGE)),
        ("response", pa.string()),
        ("followup", pa.string()),
        ("drawn_at", pa.timestamp("us", tz="UTC")),
    ]
)

DESCRIPTIONS = {
    "eval_set": "the set: 'night=YYYY-MM-DD', 'general' or 'prompts=<name>'",
    "kind": "night (held-out interactions of a trained night), general (bundled prompts), prompts (a user's file)",
    "night": "the night of a night set; null otherwise",
    "item_id": "interaction_id for a night set; '<set>:<n>' for prompts",
    "context": "x: the history the evaluated model answers",
    "response": "the logged reply (night sets); null for prompts",
    "followup": "o: the user's next message, the hindsight the approval is judged with (night sets); null for prompts",
    "drawn_at": "when the set was drawn, UTC",
}
