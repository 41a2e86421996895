"""The `training_rounds` table: one row per finished refresh round of a training run.

Written by `train/loop.py` as `<root>/training_rounds/run_id=<run>/round-NNNN.parquet` when the round's
checkpoint is in place (a resumed round rewrites its file with the same name). Per-step detail is in
`<root>/training/<run>/metrics.jsonl` (keys documented in train/README.md).

`afterword simulate` (train/simulation.py) writes rows of the same shape with the simulation columns filled
(`simulated_user` ... `unrelated_drift_kl`, null for `refresh` runs), plus a round-0 row that evaluates the
starting weights before any training (steps 0, no checkpoint).
"""

import pyarrow as pa

SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("round", pa.int32()),
        ("mode", pa.string()),
        ("model_id", pa.string()),
        ("model_revision", pa.string()),
        ("teacher", pa.string()),
        ("loss_name", pa.string()),
        ("steps", pa.int32()),
        ("global_step", pa.int64()),
        ("replies", pa.int32()),
        ("tokens", pa.int64()),
        ("loss", pa.float64()),
        ("mean_advantage", pa.float64()),
        ("mean_importance_weight", pa.float64()),
        ("learning_rate", pa.float64()),
        ("approval", pa.float64()),
        ("drift_kl", pa.float64()),
        ("eval_reply_tokens", pa.float64()),
        ("tokens_per_s", pa.float64()),
        ("sample_s", pa.float64()),
        ("sample_tokens_per_s", pa.float64()),
        ("score_s", pa.float64()),
        ("score_tokens_per_s", pa.float64()),
        ("train_s", pa.float64()),
        ("save_s", pa.float64()),
        ("save_tokens_per_s", pa.float64()),
        ("scores_path", pa.string()),
        ("checkpoint_path", pa.string()),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("finished_at", pa.timestamp("us", tz="UTC")),
        ("simulated_user", pa.string()),
        ("arm", pa.string()),
        ("complaint_rate", pa.float64()),
        ("satisfaction", pa.float64()),
        ("median_reply_words", pa.float64()),
        ("unrelated_drift_kl", pa.float64()),
        ("truncated_share", pa.float64()),
        ("clipped_share", pa.float64()),
        ("end_advantage", pa.float64()),
        ("student_entropy", pa.float64()),
        ("finished_share", pa.float64()),
        ("sample_engine", pa.string()),
    ]
)

DESCRIPTIONS = {
    "run_id": "training run: TrainConfig.run_id, or refresh-<mode>-<settings hash>",
    "round": "1-based refresh round",
    "mode": "'logged' (round-0 logged replies) or 'onpolicy' (replies regenerated this round)",
    "model_id": "initial model: Hugging Face id, local path or built-in name",
    "model_revision": "revision of the weights that sampled and scored the round's replies (Hub commit or sha256[:12])",
    "teacher": "hindsight teacher: live, ema, frozen or stored",
    "loss_name": "sampled_token or topk",
    "steps": "optimizer steps taken in this round",
    "global_step": "optimizer steps since the run started, at the end of the round",
    "replies": "replies trained on in this round (each counted once per epoch)",
    "tokens": "reply tokens in the loss in this round (after ignoring the first tokens), summed over epochs",
    "loss": "mean training loss over the round's steps",
    "mean_advantage": "token-weighted mean hindsight advantage (teacher − student log-prob) seen in training, nats",
    "mean_importance_weight": "token-weighted mean of min(p_θ / p_behaviour, clip); 1 for logged replies",
    "learning_rate": "learning rate after the round's last step",
    "approval": "eval: mean token advantage of fresh held-out samples judged by the frozen initial model, nats",
    "drift_kl": "eval: mean per-token KL(p_θ ‖ p_initial) on those samples, nats",
    "eval_reply_tokens": "eval: mean length of the fresh held-out samples, tokens",
    "tokens_per_s": "training reply tokens per second of the round's training time",
    "sample_s": "seconds sampling the round's replies (regeneration); 0 in logged mode",
    "sample_tokens_per_s": "the round's reply tokens per second of sampling; null when nothing was sampled",
    "score_s": "seconds scoring the sampled replies in hindsight; 0 in logged mode (scored at night)",
    "score_tokens_per_s": "the round's reply tokens per second of scoring (each scored as student and teacher)",
    "train_s": "seconds of training steps in the round (its rate is tokens_per_s)",
    "save_s": "seconds writing the round's checkpoint (and pruning older ones)",
    "save_tokens_per_s": "the round's reply tokens per second of saving, comparable with the other stages' rates",
    "scores_path": "score shard holding this round's regenerated replies; null in logged mode",
    "checkpoint_path": "the round's checkpoint folder (AutoModelForCausalLM.from_pretrained loads it)",
    "started_at": "when the round started, UTC",
    "finished_at": "when its checkpoint was in place, UTC",
    "simulated_user": "simulation: the user's preference (concise, no-emoji, no-lists, sign-off); null otherwise",
    "arm": "simulation: 'preference' (complaints state it), 'control' (same-length changes of topic instead) or "
    "'instruction' (the teacher sees the preference as an instruction; the positive control)",
    "complaint_rate": "simulation: share of the round's training replies breaking the preference (both arms)",
    "satisfaction": "simulation eval: share of fresh held-out replies that meet the preference, 0..1",
    "median_reply_words": "simulation eval: median word count of those held-out replies",
    "unrelated_drift_kl": "simulation eval: per-token KL(p_θ ‖ p_initial), fresh replies to unrelated prompts, nats",
    "truncated_share": "share of the round's training replies cut at a length limit (no end-of-turn token sampled)",
    "clipped_share": "share of the round's training tokens whose importance weight hit importance_clip",
    "end_advantage": "mean advantage the round trained the end-of-turn token of finished replies with, nats",
    "student_entropy": "mean entropy of p_θ at the round's training reply positions before its first step, nats",
    "finished_share": "simulation eval: share of fresh held-out replies that ended on their own (end-of-turn sampled)",
    "sample_engine": "the engine that sampled the round's training replies: torch (in-process) or vllm",
}
