"""A round's training replies: the logged ones, or fresh ones sampled and scored with the current weights.

Takes the run's state and the round's index; returns the round's `TrainingRow`s and its `regen/…` and
`time/…` metrics, and advances the data cursor. `regenerate_round` is the round loop's default `RoundReplies`
(train/run_state.py): `logged` mode takes the round-0 scores, `onpolicy` samples, scores and writes the round's
shard (rank 0; the other ranks, and a rerun of an interrupted round, read that shard back). A simulated user
(`followups`) can answer the sampled replies instead of the log's follow-ups.
"""

from __future__ import annotations

import os
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch.distributed as dist

from pipelines.backends.scoring_config import in_groups
from pipelines.io import write_table
from pipelines.score import ScoreRun
from pipelines.store import layout as storage
from train import data
from train.config import TrainConfig
from train.metrics import reply_counts, token_mean_advantage
from train.regen import live_scorer, sample_replies, score_replies
from train.run_state import Followups, RunState


def regenerate_round(
    state: RunState, round_index: int, followups: Followups | None = None
) -> tuple[list[data.TrainingRow], dict]:
    """This round's training replies: freshly sampled and scored (onpolicy) or logged; advances the cursor.

    `followups`: who answers the sampled replies; None = the logged follow-ups of their interactions.
    """
    cfg = state.cfg
    started = time.perf_counter()
    ids, state.progress.cursor = data.take_interactions(
        state.setup.train_ids, state.progress.cursor, cfg.interactions_per_round, cfg.seed
    )
    chosen = state.setup.interactions.filter(pc.is_in(state.setup.interactions["interaction_id"], pa.array(ids)))
    summary: dict = {"regen/replies": len(ids), "scores_path": None, "time/sample_s": 0.0, "time/score_s": 0.0}
    if cfg.mode == "logged":
        scores, seen = logged_replies(state, ids), chosen
    else:
        scores, seen = onpolicy_replies(state, round_index, chosen, followups, summary)
    summary.update(reply_counts(scores))
    summary["time/regen_s"] = time.perf_counter() - started
    rows = data.build_rows(scores, seen, state.setup.tokenizer, cfg.hindsight)
    if cfg.mode == "onpolicy":
        summary["sample_dtype"] = cfg.regen.dtype if summary.get("sample_engine", "torch") == "torch" else None
        sampler_path = storage.sampler_logprobs_path(cfg.root, state.setup.run_id, round_index)
        rows = data.with_sampler_logprobs(rows, sampler_path)
    return rows, summary


def logged_replies(state: RunState, ids: list[str]) -> pa.Table:
    """The round-0 scores of the interactions `ids`: their logged replies, scored at night."""
    logged = state.setup.logged_scores
    return logged.filter(pc.is_in(logged["interaction_id"], pa.array(ids)))


def onpolicy_replies(
    state: RunState, round_index: int, chosen: pa.Table, followups: Followups | None, summary: dict
) -> tuple[pa.Table, pa.Table]:
    """The round's replies sampled from the current weights and scored: (scores, the table the scorer saw).

    Rank 0 samples and writes the shard; the others read it (same weights everywhere), as does a rerun of an
    interrupted round (same weights and seed, same rows). Adds the shard path and stage metrics to `summary`.
    """
    cfg, setup = state.cfg, state.setup
    path = storage.score_shard_path(cfg.root, setup.run_id, round_index, 0, 1)
    answered_path = followups.path(round_index) if followups else ""
    sampler_path = storage.sampler_logprobs_path(cfg.root, setup.run_id, round_index)
    if setup.rank or (os.path.exists(path) and (not followups or os.path.exists(answered_path))):
        scores, answered = stored_replies(state, path, answered_path if followups else None)
    else:
        paths = (path, answered_path, sampler_path)
        scores, answered = sample_and_score(state, round_index, chosen, followups, paths, summary)
    if setup.world > 1 and not setup.rank:
        dist.barrier()
    summary.update({"scores_path": path, "regen/mean_advantage": token_mean_advantage(scores)})
    # The table the scorer saw: its prefixes (and earlier reply) are rebuilt from the logged reply, its
    # follow-ups are the answering user's.
    seen = answered if followups else chosen.append_column("logged_response", chosen["response"])
    summary.update(followups.metrics(answered) if followups else {})
    return scores, seen


def stored_replies(state: RunState, path: str, answered_path: str | None) -> tuple[pa.Table, pa.Table | None]:
    """The round's shard and answered table as rank 0 wrote them (the other ranks wait for it first)."""
    if state.setup.rank:
        dist.barrier()
    return pq.read_table(path), pq.read_table(answered_path) if answered_path is not None else None


def sample_and_score(
    state: RunState,
    round_index: int,
    chosen: pa.Table,
    followups: Followups | None,
    paths: tuple[str, str, str],
    summary: dict,
) -> tuple[pa.Table, pa.Table | None]:
    """Sample a reply per chosen interaction with the current weights, let `followups` answer them (or keep the
    logged follow-ups), score them with the same weights; writes the sampler's log-probs, the answered table and
    the score shard (`paths`, in that order: the shard last, as the round's replies are done only then) and adds
    the stage times to `summary`. Returns the scores and the answered table (None without `followups`)."""
    cfg = state.cfg
    shard_path, answered_path, sampler_path = paths
    score_run = ScoreRun(
        state.setup.run_id, state.setup.model_id, state.progress.revision, round_index, "regenerated", cfg.hindsight
    )
    seed, stage_started = sampling_seed(cfg, round_index), time.perf_counter()
    prompts = followups.sampling_prompts(chosen) if followups else chosen
    sampled = sample_replies(
        state.policy, state.setup.tokenizer, prompts, cfg.regen, cfg.hindsight, seed, state.progress.weights_dir
    )
    summary["sample_engine"] = sampled["sample_engine"][0].as_py() if sampled.num_rows else None
    write_table(sampled.select(["interaction_id", "response_sampler_logprobs"]), sampler_path)
    summary["time/sample_s"], stage_started = time.perf_counter() - stage_started, time.perf_counter()
    answered = None
    if followups:
        sampled = answered = followups.answer(sampled, round_index)
        write_table(answered, answered_path)
    scorer = in_groups(live_scorer(state.policy, cfg, cfg.stored_top_k), f"round {round_index}: scoring replies")
    scores = score_replies(state.policy, state.setup.tokenizer, sampled, score_run, scorer)
    summary["time/score_s"] = time.perf_counter() - stage_started
    write_table(scores, shard_path)
    return scores, answered


def sampling_seed(cfg: TrainConfig, round_index: int) -> int:
    """The seed of one round's sampling: it depends on the round, never on global RNG state."""
    return cfg.seed * 1_000_003 + round_index
