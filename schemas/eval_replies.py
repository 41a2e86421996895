"""The `eval_replies` table: every reply a simulation evaluated, for people to read and re-judge.

Written by `afterword simulate` after each round (round 0 = the starting weights) as
`<root>/eval_replies/run_id=<run>/round-NNNN.parquet`: the held-out replies once per preference judged (the
night's own and, in a run of several nights, every other night's), and the unrelated replies once, with
whether each holds a correct answer.
"""

import pyarrow as pa

SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("round", pa.int32()),
        ("arm", pa.string()),
        ("seed", pa.int64()),
        ("night", pa.int32()),
        ("split", pa.string()),
        ("preference", pa.string()),
        ("prompt_id", pa.string()),
        ("category", pa.string()),
        ("prompt", pa.string()),
        ("reply", pa.string()),
        ("reply_words", pa.int32()),
        ("ended", pa.bool_()),
        ("satisfied", pa.bool_()),
        ("correct", pa.bool_()),
    ]
)

DESCRIPTIONS = {
    "run_id": "the simulation arm's training run (training_rounds.run_id)",
    "round": "the round after which the reply was sampled; 0 = the run's starting weights",
    "arm": "preference, control, instruction or sft",
    "seed": "the run's seed ([train] seed)",
    "night": "the night of the run (1 = trained from the base model; k = from night k-1's weights)",
    "split": "held_out (judged for satisfaction) or unrelated (judged for correctness)",
    "preference": "the simulated user whose rule judged `satisfied`; null for unrelated prompts",
    "prompt_id": "the prompt answered (prompts/prompts.parquet)",
    "category": "the prompt's category",
    "prompt": "the request as the user wrote it",
    "reply": "the sampled reply, decoded",
    "reply_words": "its length, whitespace-separated words",
    "ended": "true when it ended on its own (not cut at the token limit)",
    "satisfied": "held out: non-empty, made of words, ended on its own and meets the preference",
    "correct": "unrelated: holds one of the prompt's answers as a whole word; null without answers",
}
