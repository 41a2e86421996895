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
) -> dict[str, float]:
    """`eval/approval`, `eval/drift_kl`, `eval/reply_tokens` and `eval/replies` for `held_out`.

    Replies are sampled (`cfg.regen`, `seed`) from the judge's own prompts (`judge.hindsight`) and judged by
    `reference` through the scorer; the drift is computed `cfg.micro_batch_size` replies at a time.
    """
    if held_out.num_rows == 0:
        return {}
    batch_size = cfg.micro_batch_size
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
