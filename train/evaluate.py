"""Per-round evaluation on held-out interactions (never trained on).

Samples one fresh reply per held-out interaction from the current policy (fixed seed per round), then:
- approval: hindsight advantage of those samples judged by the frozen initial model as both student and
  teacher (through `score_interactions`, the scoring path), token-weighted mean, nats — higher means the
  initial model, told what the user said next, would more readily have written the new replies;
- drift: mean over sampled tokens of KL(p_θ(·|x, y_<i) ‖ p_0(·|x, y_<i)), full vocabulary, nats;
- length: mean scored reply length, tokens.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import torch
from transformers import PreTrainedTokenizerBase

from pipelines.score import ScoreRun, score_interactions
from train.batches import collate
from train.config import TrainConfig
from train.data import build_rows
from train.model import reply_logits
from train.regen import in_process, live_scorer, sample_replies


@torch.no_grad()
def evaluate_policy(
    policy: torch.nn.Module,
    reference: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    held_out: pa.Table,
    judge: ScoreRun,
    seed: int,
    cfg: TrainConfig,
    sampled: pa.Table | None = None,
) -> dict[str, float]:
    """`eval/approval`, `eval/drift_kl`, `eval/reply_tokens` and `eval/replies` for `held_out`.

    Replies are sampled (`cfg.regen`, `seed`) from the judge's own prompts (`judge.hindsight`), unless the
    caller passes them as `sampled`, and judged by `reference` through the scorer; the drift is computed
    `cfg.micro_batch_size` replies at a time.
    """
    if held_out.num_rows == 0:
        return {}
    batch_size = cfg.micro_batch_size
    if sampled is None:
        sampled = sample_replies(policy, tokenizer, held_out, in_process(cfg.regen), judge.hindsight, seed)
    scorer = live_scorer(reference, cfg, top_k=0)
    judged = score_interactions(sampled, scorer, tokenizer, judge)
    n_tokens = np.asarray(judged["n_tokens"].to_numpy(), np.float64)
    advantage_sum = np.nan_to_num(np.asarray(judged["sum_advantage"].to_numpy(zero_copy_only=False), np.float64))

    rows = build_rows(judged, sampled, tokenizer, judge.hindsight)
    device = next(policy.parameters()).device
    was_training = policy.training
    policy.eval()
    kl_sum = kl_tokens = 0.0
    for start in range(0, len(rows), batch_size):
        batch = collate(rows[start : start + batch_size])
        args = (
            batch.student_ids_B_L.to(device),
            batch.student_mask_B_L.to(device),
            batch.student_first_B.to(device),
            batch.reply_ids_B_T.shape[1],
        )
        logp_B_T_V = reply_logits(policy, *args)
        logp0_B_T_V = reply_logits(reference, *args)
        kl_B_T = (logp_B_T_V.exp() * (logp_B_T_V - logp0_B_T_V)).sum(-1)
        mask_B_T = batch.mask_B_T.to(device)
        kl_sum += float((kl_B_T * mask_B_T).sum())
        kl_tokens += float(mask_B_T.sum())
    policy.train(was_training)
    return {
        "eval/approval": float(advantage_sum.sum() / max(n_tokens.sum(), 1.0)),
        "eval/drift_kl": kl_sum / max(kl_tokens, 1.0),
        "eval/reply_tokens": float(n_tokens.mean()),
        "eval/replies": float(judged.num_rows),
    }


@torch.no_grad()
def evaluate_items(
    policy: torch.nn.Module,
    base: torch.nn.Module,
    parent: torch.nn.Module | None,
    tokenizer: PreTrainedTokenizerBase,
    items: pa.Table,
    judge: ScoreRun,
    seed: int,
    cfg: TrainConfig,
) -> pa.Table:
    """One fresh reply per item of an evaluation set (`items`: interaction table of train/continual/eval_sets.py), with
    its text, length, whether it ended on its own, its approval (token-mean hindsight advantage judged by
    `base` with the item's follow-up, nats/token) and its mean per-token KL against `base` and `parent`
    (None = not measured: null). The same `seed` gives every model the same sampling stream."""
    sampled = sample_replies(policy, tokenizer, items, in_process(cfg.regen), judge.hindsight, seed)
    judged = score_interactions(sampled, live_scorer(base, cfg, top_k=0), tokenizer, judge)
    rows = build_rows(judged, sampled, tokenizer, judge.hindsight)
    kl_base = reply_kls(policy, base, rows, cfg.micro_batch_size)
    kl_parent = np.full(len(rows), np.nan) if parent is None else reply_kls(policy, parent, rows, cfg.micro_batch_size)
    by_id = dict(zip(sampled["interaction_id"].to_pylist(), sampled["response_finished"].to_pylist(), strict=True))
    judged = judged.sort_by("interaction_id")
    return pa.table(
        {
            "item_id": judged["interaction_id"],
            "reply": judged["response"],
            "reply_tokens": judged["n_tokens"],
            "ended": pa.array([by_id[i] for i in judged["interaction_id"].to_pylist()], pa.bool_()),
            "approval": pa.array(judged["mean_advantage"].to_numpy(zero_copy_only=False), pa.float64()),
            "drift_base_kl": pa.array(kl_base, pa.float64()),
            "drift_parent_kl": pa.array(kl_parent, pa.float64(), from_pandas=True),
        }
    )


def reply_kls(policy: torch.nn.Module, other: torch.nn.Module, rows: list, batch_size: int) -> np.ndarray:
    """Each reply's mean per-token KL(p_policy ‖ p_other) at its own positions, full vocabulary, nats."""
    device = next(policy.parameters()).device
    was_training = policy.training
    policy.eval()
    out = []
    for start in range(0, len(rows), batch_size):
        batch = collate(rows[start : start + batch_size])
        args = (
            batch.student_ids_B_L.to(device),
            batch.student_mask_B_L.to(device),
            batch.student_first_B.to(device),
            batch.reply_ids_B_T.shape[1],
        )
        logp_B_T_V = reply_logits(policy, *args)
        other_B_T_V = reply_logits(other, *args)
        kl_B_T = (logp_B_T_V.exp() * (logp_B_T_V - other_B_T_V)).sum(-1)
        mask_B_T = batch.mask_B_T.to(device)
        out.extend(((kl_B_T * mask_B_T).sum(-1) / mask_B_T.sum(-1).clamp(min=1.0)).tolist())
    policy.train(was_training)
    return np.asarray(out, np.float64)
