"""Training rows in, padded micro-batches out: length buckets (shuffled per epoch) and `collate`.

A `TrainingRow` is one scored reply with both prefixes (`train/data.py` builds them). `micro_batches` sorts
the round's rows into length buckets of at most `micro_batch_size` rows with `pipelines.backends.length_buckets`, the
scorer's rule, and takes a seeded shuffle of the buckets (not of the rows) each epoch, so rows of similar
length share a micro-batch and padding stays small. Torch and numpy only: benchmarks import it on machines
without pyarrow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pipelines.backends.length_buckets import length_buckets


@dataclass(frozen=True)
class TrainingRow:
    """One scored reply, ready to batch."""

    interaction_id: str
    student_prefix_ids: list[int]  # render(x) with generation prompt, left-truncated
    teacher_prefix_ids: list[int]  # render(x ⊕ o), left-truncated by the same count
    reply_ids: list[int]  # the scored tokens
    behaviour_logp_T: np.ndarray | None  # log-probs of the weights that sampled the reply; None for logged replies
    teacher_logp_T: np.ndarray  # stored teacher log-probs (the `stored` teacher)
    topk_ids_T_K: np.ndarray | None  # stored teacher top-K ids, when the scorer kept them
    topk_logp_T_K: np.ndarray | None  # their stored log-probs
    truncated: bool = False  # the scored tokens stop at a length limit (the sampler's or max_reply_tokens)
    # log-probs the sampler drew the reply with (its own precision and temperature); None = not kept (logged)
    sampler_logp_T: np.ndarray | None = None


def micro_batches(
    rows: list[TrainingRow], size: int, seed: int, round_index: int, epochs: int, max_tokens: int = 0
) -> list[list[int]]:
    """Row indices per micro-batch: length buckets of at most `size` rows (and `max_tokens` padded prefix +
    reply tokens; 0 = no budget), in a seeded order of whole buckets per epoch.

    With no token budget an epoch has ⌈rows / size⌉ micro-batches, the count `train/run_setup.py` plans
    its steps and learning-rate schedule on; the trainer passes none, benchmarks may.
    """
    widths = [(len(r.student_prefix_ids) + len(r.reply_ids),) for r in rows]
    buckets = length_buckets(widths, max_tokens=max_tokens, max_items=size)
    out = []
    for epoch in range(epochs):
        order = np.random.default_rng([seed, round_index, epoch]).permutation(len(buckets)).tolist()
        out.extend(buckets[i] for i in order)
    return out


@dataclass(frozen=True)
class Batch:
    """Padded tensors for one micro-batch; replies sit at the same positions after both prefixes."""

    student_ids_B_L: torch.Tensor  # prefix + reply, right-padded with 0
    student_mask_B_L: torch.Tensor
    student_first_B: torch.Tensor  # position whose output predicts reply token 0 (= prefix length − 1)
    teacher_ids_B_L: torch.Tensor
    teacher_mask_B_L: torch.Tensor
    teacher_first_B: torch.Tensor
    reply_ids_B_T: torch.Tensor  # right-padded with 0
    mask_B_T: torch.Tensor  # 1 on real reply tokens
    behaviour_logp_B_T: torch.Tensor | None  # None when every reply is logged
    stored_teacher_B_T: torch.Tensor
    topk_ids_B_T_K: torch.Tensor | None
    topk_logp_B_T_K: torch.Tensor | None
    truncated_B: torch.Tensor  # True where the reply stops at a length limit (no end-of-turn token sampled)
    sampler_logp_B_T: torch.Tensor | None = None  # None unless every row kept its sampler log-probs


def _pad(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, row in enumerate(rows):
        ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[r, : len(row)] = 1
    return ids, mask


def _pad_values(values: list[np.ndarray], width: int, fill: float = 0.0) -> torch.Tensor:
    out = torch.full((len(values), width, *values[0].shape[1:]), fill, dtype=torch.from_numpy(values[0]).dtype)
    for r, v in enumerate(values):
        out[r, : len(v)] = torch.from_numpy(v)
    return out


def collate(rows: list[TrainingRow]) -> Batch:
    """Stack rows into a `Batch` (mixing logged and regenerated replies is not supported)."""
    student_ids, student_mask = _pad([r.student_prefix_ids + r.reply_ids for r in rows])
    teacher_ids, teacher_mask = _pad([r.teacher_prefix_ids + r.reply_ids for r in rows])
    reply_ids, mask = _pad([r.reply_ids for r in rows])
    width = reply_ids.shape[1]
    behaviour = [r.behaviour_logp_T for r in rows]
    if any(b is None for b in behaviour) and not all(b is None for b in behaviour):
        raise ValueError("a micro-batch mixes logged and regenerated replies")
    has_topk = all(r.topk_ids_T_K is not None for r in rows)
    sampler = [r.sampler_logp_T for r in rows]
    return Batch(
        student_ids_B_L=student_ids,
        student_mask_B_L=student_mask,
        student_first_B=torch.tensor([len(r.student_prefix_ids) - 1 for r in rows]),
        teacher_ids_B_L=teacher_ids,
        teacher_mask_B_L=teacher_mask,
        teacher_first_B=torch.tensor([len(r.teacher_prefix_ids) - 1 for r in rows]),
        reply_ids_B_T=reply_ids,
        mask_B_T=mask,
        behaviour_logp_B_T=None if behaviour[0] is None else _pad_values(behaviour, width),
        stored_teacher_B_T=_pad_values([r.teacher_logp_T for r in rows], width),
        topk_ids_B_T_K=_pad_values([r.topk_ids_T_K for r in rows], width) if has_topk else None,
        topk_logp_B_T_K=_pad_values([r.topk_logp_T_K for r in rows], width, fill=-1e4) if has_topk else None,
        truncated_B=torch.tensor([r.truncated for r in rows], dtype=torch.bool),
        sampler_logp_B_T=None if any(s is None for s in sampler) else _pad_values(sampler, width),
    )
