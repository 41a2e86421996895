"""The `simulation_nights` table: after each night of `afterword simulate --users a,b,c`, how every preference
seen so far is met, with drift, correctness and length.

Written once per night as `<root>/simulation_nights/run_id=<run>/data.parquet` (the night-1 run also writes
night 0, the base model, for every preference of the sequence): one row per preference measured.
"""

import pyarrow as pa

SCHEMA = pa.schema(
    [
        ("experiment", pa.string()),
        ("run_id", pa.string()),
        ("arm", pa.string()),
        ("seed", pa.int64()),
        ("night", pa.int32()),
        ("night_user", pa.string()),
        ("preference", pa.string()),
        ("satisfaction", pa.float64()),
        ("satisfaction_low", pa.float64()),
        ("satisfaction_high", pa.float64()),
        ("n", pa.int32()),
        ("unrelated_drift_kl", pa.float64()),
        ("correct_share", pa.float64()),
        ("correct_n", pa.int32()),
        ("median_reply_words", pa.float64()),
        ("ended_share", pa.float64()),
    ]
)

DESCRIPTIONS = {
    "experiment": "every arm and seed of one simulation (training_rounds run ids start with it)",
    "run_id": "the night's training run (night 0: the night-1 run, before its first step)",
    "arm": "preference, control, instruction or sft",
    "seed": "the run's seed",
    "night": "nights trained so far: 0 = the base model, k = after night k",
    "night_user": "the preference trained on that night; null at night 0",
    "preference": "the preference measured (every night's, up to this one; all of them at night 0)",
    "satisfaction": "share of held-out replies satisfied (eval_replies.satisfied)",
    "satisfaction_low": "2.5th percentile of satisfaction over 1,000 bootstrap resamples of the prompts",
    "satisfaction_high": "97.5th percentile of the same",
    "n": "held-out replies judged",
    "unrelated_drift_kl": "mean per-token KL(model ‖ base) on the unrelated prompts, nats",
    "correct_share": "share of unrelated replies with a correct answer (prompts with answers only)",
    "correct_n": "unrelated replies judged for correctness",
    "median_reply_words": "median length of the held-out replies, words",
    "ended_share": "share of held-out replies that ended on their own",
}
