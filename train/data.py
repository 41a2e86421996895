"""Training data: interactions and score shards in, padded reply batches out.

Reads every published night's interactions (the files the nights' manifests name) and a round of
`<root>/scores/run_id=R/round=NNNN/` shards, holds out a deterministic share of interactions (stable hash of
interaction_id, never trained on), walks the rest with a resumable `Cursor`, and turns scored replies into
`TrainingRow`s: the student and teacher prefixes rebuilt by `pipelines.score.interaction_sequences` (the
scorer's own code) plus the scored token ids and stored log-probs (batched by `train/batches.py`). Used by
`train/run_setup.py` and `train/round_replies.py`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from transformers import PreTrainedTokenizerBase

from pipelines.hindsight import HindsightConfig
from pipelines.score import SEQUENCE_COLUMNS, interaction_sequences, take_sample
from pipelines.store import layout as storage
from train.batches import TrainingRow
from train.config import night_window


def read_interactions(root: str, limit: int = 0, nights: str = "") -> pa.Table:
    """The stored interactions of `nights` ("" = every night; "D" or "D1..D2", train/config.py), optionally a
    stable sample of `limit`, sorted by id."""
    files = storage.table_files(root, "interactions")
    if not files:
        raise FileNotFoundError(f"no interactions under {root}/interactions/; run `afterword nightly` first")
    table = pa.concat_tables(pq.read_table(f) for f in files).sort_by("interaction_id")
    window = night_window(nights)
    if window:
        night = table["ingest_date"]
        table = table.filter(pc.and_(pc.greater_equal(night, window[0]), pc.less_equal(night, window[1])))
        if not table.num_rows:
            raise FileNotFoundError(f"no interactions of nights {nights} under {root}; run `afterword nightly` first")
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


def find_logged_run(root: str, scores_run_id: str, interaction_ids: list[str] | None = None) -> str:
    """The scoring run holding the logged replies: `scores_run_id`, or the only run with a round 0 (among those
    that scored any of `interaction_ids`, when given: a night's own scoring run when every night has one)."""
    if scores_run_id:
        return scores_run_id
    runs = storage.scoring_runs_with_round(root, 0)
    if interaction_ids is not None and len(runs) > 1:
        wanted = pa.array(interaction_ids, pa.string())
        runs = [run for run in runs if any(scored_any(f, wanted) for f in storage.score_shard_files(root, run, 0))]
    if len(runs) != 1:
        raise ValueError(f"logged mode needs one round-0 scoring run, found {runs}; set scores_run_id")
    return runs[0]


def scored_any(shard: str, interaction_ids: pa.Array) -> bool:
    """True when the score shard holds a row of any of `interaction_ids`."""
    scored = pq.read_table(shard, columns=["interaction_id"])["interaction_id"]
    return bool(pc.any(pc.is_in(scored, interaction_ids)).as_py())


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


def build_rows(
    scores: pa.Table, interactions: pa.Table, tokenizer: PreTrainedTokenizerBase, hindsight: HindsightConfig
) -> list[TrainingRow]:
    """Join score rows to the rows they were scored from and rebuild both prefixes exactly as the scorer did.

    `interactions` is the table handed to the scorer (for regenerated replies: with `logged_response`), so
    `pipelines.score.interaction_sequences` gives the trainer the teacher context the scores were taken in.
    """
    columns = ["interaction_id", *(c for c in SEQUENCE_COLUMNS if c in interactions.column_names)]
    by_id = {row["interaction_id"]: row for row in interactions.select(columns).to_pylist()}
    rows = []
    for score in scores.sort_by("interaction_id").to_pylist():
        seq = interaction_sequences(by_id[score["interaction_id"]], tokenizer, hindsight)
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
                truncated=bool(score["reply_truncated"]),
            )
        )
    return rows


def with_sampler_logprobs(rows: list[TrainingRow], path: str) -> list[TrainingRow]:
    """`rows` with the log-probs their sampler drew them with (`path`: the round's sampler_logprobs file),
    cut to the scored tokens; rows unchanged when the file is absent (a round sampled before they were kept)."""
    if not os.path.exists(path):
        return rows
    table = pq.read_table(path)
    by_id = dict(zip(table["interaction_id"].to_pylist(), table["response_sampler_logprobs"].to_pylist(), strict=True))
    out = []
    for row in rows:
        drawn = by_id.get(row.interaction_id)
        keep = drawn is not None and len(drawn) >= len(row.reply_ids)
        logp_T = np.asarray(drawn[: len(row.reply_ids)], np.float32) if keep else None
        out.append(replace(row, sampler_logp_T=logp_T))
    return out
