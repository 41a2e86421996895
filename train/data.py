"""Training data: interactions and score shards in, padded reply batches out.

Reads `<root>/interactions/ingest_date=*/data.parquet` and a round of `<root>/scores/run_id=R/round=NNNN/`
shards, holds out a deterministic share of interactions (stable hash of interaction_id, never trained on),
walks the rest with a resumable `Cursor`, and turns scored replies into `TrainingRow`s: the student and
teacher prefixes rebuilt by `pipelines.hindsight.build_sequences` (the scorer's own code) plus the scored
token ids and stored log-probs. Used by `train/loop.py`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from transformers import PreTrainedTokenizerBase

from pipelines import storage
from pipelines.hindsight import HindsightConfig, build_sequences
from pipelines.score import take_sample


def read_interactions(root: str, limit: int = 0) -> pa.Table:
    """Every night's stored interactions (optionally a stable sample of `limit`), sorted by id."""
    files = storage.table_files(root, "interactions")
    if not files:
        raise FileNotFoundError(f"no interactions under {root}/interactions/; run `afterword nightly` first")
    table = pa.concat_tables(pq.read_table(f) for f in files).sort_by("interaction_id")
    return take_sample(table, limit) if limit else table


def is_held_out(interaction_id: str, fraction: float) -> bool:
    """True for the evaluation share: a salted blake2b hash of the id, the same on every machine and run."""
    digest = hashlib.blake2b(b"held-out:" + interaction_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < fraction


def split_interactions(interactions: pa.Table, fraction: float) -> tuple[pa.Table, pa.Table]:
    """(train, held out) rows of `interactions`."""
    held = pa.array([is_held_out(i, fraction) for i in interactions["interaction_id"].to_pylist()], pa.bool_())
    return interactions.filter(pc.invert(held)), interactions.filter(held)


def read_scores(root: str, run_id: str, round_index: int) -> pa.Table:
    """All shards of one round of a scoring run."""
    files = storage.score_shard_files(root, run_id, round_index)
    if not files:
        raise FileNotFoundError(f"no score shards in {storage.score_round_dir(root, run_id, round_index)}")
    return pa.concat_tables(pq.read_table(f) for f in files)


def find_logged_run(root: str, scores_run_id: str) -> str:
    """The scoring run holding the logged replies: `scores_run_id`, or the only run with a round 0."""
    if scores_run_id:
        return scores_run_id
    runs = storage.scoring_runs_with_round(root, 0)
    if len(runs) != 1:
        raise ValueError(f"logged mode needs one round-0 scoring run, found {runs}; set scores_run_id")
    return runs[0]


@dataclass
class Cursor:
    """Position in the seeded order of training interactions; saved with every checkpoint."""

    epoch: int = 0  # passes completed over the training interactions
    position: int = 0  # interactions of the current pass already consumed


def take_interactions(ids: list[str], cursor: Cursor, n: int, seed: int) -> tuple[list[str], Cursor]:
    """The next `n` distinct training ids in a seeded permutation (reshuffled each pass) and the advanced cursor.

    At a pass boundary, ids already taken this round are passed over in the new pass (they were just seen).
    """
    if not ids:
        raise ValueError("no training interactions (all held out?); lower eval_fraction or add data")
    taken: list[str] = []
    epoch, position = cursor.epoch, cursor.position
    while len(taken) < min(n, len(ids)):
        order = np.random.default_rng([seed, epoch]).permutation(len(ids))
        while position < len(ids) and len(taken) < min(n, len(ids)):
            candidate = ids[order[position]]
            position += 1
            if candidate not in taken:
                taken.append(candidate)
        if position >= len(ids):
            epoch, position = epoch + 1, 0
    return taken, Cursor(epoch, position)


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


def build_rows(
    scores: pa.Table, interactions: pa.Table, tokenizer: PreTrainedTokenizerBase, hindsight: HindsightConfig
) -> list[TrainingRow]:
    """Join score rows to their interactions and rebuild both prefixes exactly as the scorer did."""
    by_id = {
        row["interaction_id"]: row
        for row in interactions.select(["interaction_id", "context", "followup", "response"]).to_pylist()
    }
    rows = []
    for score in scores.sort_by("interaction_id").to_pylist():
        source = by_id[score["interaction_id"]]
        # Prefixes do not depend on the reply; an empty one gives the same truncation as the scorer's.
        seq = build_sequences(
            source["context"], "", source["followup"], tokenizer, hindsight, earlier_reply=source["response"]
        )
        regenerated = score["reply_source"] == "regenerated"
        topk = score["topk_token_ids"]
        rows.append(
            TrainingRow(
                interaction_id=score["interaction_id"],
                student_prefix_ids=seq.student_prefix_ids,
                teacher_prefix_ids=seq.teacher_prefix_ids,
                reply_ids=list(score["token_ids"]),
                behaviour_logp_T=np.asarray(score["student_logprobs"], np.float32) if regenerated else None,
                teacher_logp_T=np.asarray(score["teacher_logprobs"], np.float32),
                topk_ids_T_K=None if topk is None else np.asarray(topk, np.int64).reshape(len(topk), -1),
                topk_logp_T_K=None
                if topk is None
                else np.asarray(score["topk_teacher_logprobs"], np.float32).reshape(len(topk), -1),
            )
        )
    return rows


def micro_batches(rows: list[TrainingRow], size: int, seed: int, round_index: int, epochs: int) -> list[list[int]]:
    """Row indices per micro-batch: each epoch a seeded permutation of the round's rows, cut in `size`s."""
    out = []
    for epoch in range(epochs):
        order = np.random.default_rng([seed, round_index, epoch]).permutation(len(rows)).tolist()
        out.extend(order[i : i + size] for i in range(0, len(order), size))
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
    )
