"""Hindsight scoring with a transformers causal LM, on CPU or GPU.

Takes `HindsightSequences`, returns student and teacher log-probs of every reply token (`ReplyLogprobs`).
Three choices keep it fast: requests are batched by a padded-token budget after sorting by length
(`pipelines.backends.length_buckets.length_buckets`, the trainer's rule too); the token prefix shared by student and
teacher (x up to the end of the last user message's text) is run once and its KV cache reused for both
continuations; full-vocabulary logits exist only for reply positions, a chunk at a time
(`pipelines.backends.reply_head.gathered_logprobs`, the trainer's function too). Built by `make_scorer(model, cfg)`
(`cfg`: the `[score.transformers]` / `[train.transformers]` table) and passed to `score_interactions`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import DynamicCache, PreTrainedModel

from pipelines.backends import ReplyLogprobs
from pipelines.backends.backend_configs import TransformersBackendConfig
from pipelines.backends.length_buckets import length_buckets
from pipelines.backends.reply_head import gathered_logprobs
from pipelines.hindsight import HindsightSequences


@dataclass(frozen=True)
class _Plan:
    """How one request splits into a shared prefix and two continuations."""

    shared_ids: list[int]  # tokens run once; their KV cache serves both continuations
    student_ids: list[int]  # student sequence after the shared part
    teacher_ids: list[int]  # teacher sequence after the shared part
    student_first: int  # index in student_ids whose output predicts reply token 0
    teacher_first: int  # same for teacher_ids
    reply_ids: list[int]

    @property
    def has_shared(self) -> bool:
        return len(self.shared_ids) > 0

    @property
    def longest_continuation(self) -> int:
        return max(len(self.student_ids), len(self.teacher_ids))

    @property
    def cost(self) -> int:
        return len(self.shared_ids) + self.longest_continuation


def plan_request(seq: HindsightSequences) -> _Plan:
    """Split one request at the end of the student/teacher common token prefix."""
    student = seq.student_prefix_ids + seq.reply_ids
    teacher = seq.teacher_prefix_ids + seq.reply_ids
    common = 0
    for a, b in zip(seq.student_prefix_ids, seq.teacher_prefix_ids, strict=False):
        if a != b:
            break
        common += 1
    # The output at position len(prefix) - 1 predicts reply token 0, so it must be computed in the
    # continuation pass, where logits are taken: leave at least one prefix token unshared.
    n_shared = min(common, len(seq.student_prefix_ids) - 1, len(seq.teacher_prefix_ids) - 1)
    return _Plan(
        shared_ids=student[:n_shared],
        student_ids=student[n_shared:],
        teacher_ids=teacher[n_shared:],
        student_first=len(seq.student_prefix_ids) - 1 - n_shared,
        teacher_first=len(seq.teacher_prefix_ids) - 1 - n_shared,
        reply_ids=seq.reply_ids,
    )


def batch_plans(plans: Sequence[_Plan], max_batch_tokens: int) -> list[list[int]]:
    """Indices of `plans` grouped so each group's padded pass (2 rows per request) fits the token budget."""
    # Requests without a shared prefix (only after heavy left truncation) skip the prefix pass, so they
    # never share a batch with the others.
    return length_buckets(
        [(len(p.shared_ids), p.longest_continuation) for p in plans],
        max_batch_tokens,
        rows_per_item=2,
        kinds=[p.has_shared for p in plans],
    )


def _pad(rows: Sequence[Sequence[int]], width: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and their 0/1 mask, both [rows, width]."""
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, row in enumerate(rows):
        ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[r, : len(row)] = 1
    return ids, mask


class TransformersScorer:
    """Callable backend: `scorer(sequences) -> list[ReplyLogprobs]` (the `ScoreFn` contract)."""

    def __init__(self, model: PreTrainedModel, cfg: TransformersBackendConfig, top_k: int) -> None:
        if top_k < 0:
            raise ValueError(f"top_k={top_k} must be >= 0 (0 disables top-K)")
        self.top_k = top_k
        # Logits are computed as lm_head(final hidden state); models that post-process logits would
        # silently get wrong log-probs.
        for name in ("final_logit_softcapping", "logit_scale"):
            if getattr(model.config, name, None) is not None:
                raise ValueError(f"{type(model).__name__} rescales its logits ({name}); not supported")
        self.model = model.eval()
        self.decoder = model.get_decoder()
        self.lm_head = model.get_output_embeddings()
        self.cfg = cfg
        self.device = next(model.parameters()).device
        # Any in-vocabulary id works for padding: padded slots are masked and their outputs unread.
        self.pad_id = 0

    @torch.inference_mode()
    def __call__(self, sequences: Sequence[HindsightSequences]) -> list[ReplyLogprobs]:
        plans = [plan_request(s) for s in sequences]
        by_index: dict[int, ReplyLogprobs] = {}
        with warnings.catch_warnings():
            # The KV cache goes by its pre-5.24 name on purpose (see _score_batch); its notice is not news.
            warnings.filterwarnings("ignore", message="`past_key_values` is deprecated", category=FutureWarning)
            for batch in batch_plans(plans, self.cfg.max_batch_tokens):
                by_index.update(zip(batch, self._score_batch([plans[i] for i in batch]), strict=True))
        return [by_index[i] for i in range(len(plans))]

    def _score_batch(self, plans: Sequence[_Plan]) -> list[ReplyLogprobs]:
        """One prefix pass over the shared parts, one pass over 2 continuations per request."""
        n_shared = torch.tensor([len(p.shared_ids) for p in plans])
        width_shared = int(n_shared.max())
        cache = DynamicCache(config=self.model.config)
        shared_mask = torch.zeros((len(plans), 0), dtype=torch.long)
        if width_shared > 0:
            shared_ids, shared_mask = _pad([p.shared_ids for p in plans], width_shared, self.pad_id)
            self.decoder(
                input_ids=shared_ids.to(self.device),
                attention_mask=shared_mask.to(self.device),
                position_ids=torch.arange(width_shared).expand(len(plans), -1).to(self.device),
                # `past_key_values` is the name every transformers from 5.17 (the GPU image) to 5.39 accepts;
                # 5.24 renamed it `cache` and keeps the old name, with a one-time notice, until 5.40.
                past_key_values=cache,
                use_cache=True,
            )
            if cache.get_seq_length() != width_shared:
                raise RuntimeError("the model did not fill the KV cache passed as `past_key_values`")
            # Rows 2r and 2r+1 are request r's student and teacher continuations.
            cache.batch_repeat_interleave(2)

        rows = [ids for p in plans for ids in (p.student_ids, p.teacher_ids)]
        width = max(len(r) for r in rows)
        ids, mask = _pad(rows, width, self.pad_id)
        # Each row continues its own shared prefix, so its positions start at that prefix's length,
        # while its cache slots start after the padded prefix width: positions and slots differ.
        offsets = n_shared.repeat_interleave(2)
        hidden_R_L_H = self.decoder(
            input_ids=ids.to(self.device),
            attention_mask=torch.cat([shared_mask.repeat_interleave(2, dim=0), mask], dim=1).to(self.device),
            position_ids=(offsets[:, None] + torch.arange(width)[None, :]).to(self.device),
            past_key_values=cache,
            use_cache=True,
        ).last_hidden_state

        results = []
        student = self._reply_logprobs(hidden_R_L_H[0::2], plans, [p.student_first for p in plans], 0)
        teacher = self._reply_logprobs(hidden_R_L_H[1::2], plans, [p.teacher_first for p in plans], self.top_k)
        for (student_T, _, _), (teacher_T, topk_ids, topk_logp) in zip(student, teacher, strict=True):
            results.append(ReplyLogprobs(student_T, teacher_T, topk_ids, topk_logp))
        return results

    def _reply_logprobs(
        self, hidden_B_L_H: torch.Tensor, plans: Sequence[_Plan], firsts: Sequence[int], top_k: int
    ) -> list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]:
        """Per request: log p of each reply token (+ top-K), through the trainer's chunked LM-head function."""
        lengths = [len(p.reply_ids) for p in plans]
        row_N = torch.cat([torch.full((n,), b, dtype=torch.long) for b, n in enumerate(lengths)])
        pos_N = torch.cat([torch.arange(first, first + n) for first, n in zip(firsts, lengths, strict=True)])
        target_N = torch.tensor([t for p in plans for t in p.reply_ids], dtype=torch.long)
        hidden_N_H = hidden_B_L_H[row_N.to(self.device), pos_N.to(self.device)]
        logp_N_M, topk_ids_N_K = gathered_logprobs(
            hidden_N_H, self.lm_head, target_N[:, None].to(self.device), top_k, self.cfg.logits_chunk_tokens
        )
        logp_N_M = logp_N_M.float().cpu()
        topk_ids_N_K = topk_ids_N_K.to(torch.int32).cpu()
        out = []
        for part in torch.arange(len(target_N)).split(lengths):
            out.append(
                (
                    logp_N_M[part, 0].numpy(),
                    topk_ids_N_K[part].numpy() if top_k else None,
                    logp_N_M[part, 1:].numpy() if top_k else None,
                )
            )
        return out


def make_scorer(model: PreTrainedModel, cfg: TransformersBackendConfig, *, top_k: int) -> TransformersScorer:
    """The transformers `ScoreFn` for `score_interactions`; `top_k` teacher ids + log-probs per reply token
    (0 = none), `ScoringConfig.top_k` or the trainer's."""
    return TransformersScorer(model, cfg, top_k)
