"""Scoring one shard of a night's interactions: the unit a Prefect task or any scheduler runs.

A scoring run is named by what determines its rows (night, model + revision, template, limits, shard
count), so rerunning it resumes: a shard whose file exists is finished (files appear only by atomic
rename) and is skipped. Shards are written as
`<root>/scores/run_id=<run>/round=0000/scores-00003-of-00008.parquet`.
`afterword score --root R --night D --shard 3/8` runs one shard; the nightly flow runs all of them; the
`score-shard` flow is the same unit as a Prefect deployment (one worker per shard, `prefect.yaml`).
"""

import dataclasses
import hashlib
import json
import os
from dataclasses import asdict
from datetime import date

import pyarrow.parquet as pq
from prefect import flow

from flows.config import RunConfig, ScoringConfig
from flows.progress import report
from flows.runtime import last_night
from pipelines import storage
from pipelines.io import write_table
from pipelines.lock import holds_writer_lock
from pipelines.publish import publish_catalog


def scoring_run_id(night: date, cfg: ScoringConfig, model_revision: str) -> str:
    """Stable id of a night's scoring run: same inputs and settings → same id → resumable."""
    settings = {**asdict(cfg), "model_revision": model_revision, "night": night.isoformat()}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    return f"{night.isoformat()}-{cfg.template}-{digest}"


def shard_path(root: str, run_id: str, round_index: int, shard: int, shards: int) -> str:
    """Where one shard of one round of a scoring run lives."""
    name = f"scores-{shard:05d}-of-{shards:05d}.parquet"
    return os.path.join(root, "scores", f"run_id={run_id}", f"round={round_index:04d}", name)


# Score workers share the root with each other (one shard each), never with a nightly run or a refresh.
@holds_writer_lock("score worker", shared=True)
def score_night_shard(root: str, night: date, shard: int, cfg: ScoringConfig) -> dict:
    """Score shard `shard` of `cfg.shards` of the night's selected interactions; skip it when already done."""
    # Model libraries load only when scoring really runs.
    from pipelines.hindsight import check_chat_template_kwargs
    from pipelines.models import load_tokenizer, resolve_model
    from pipelines.score import ScoreConfig, score_interactions, take_sample, take_shard

    source = resolve_model(cfg.model)
    run_id = scoring_run_id(night, cfg, source.revision)
    path = shard_path(root, run_id, 0, shard, cfg.shards)
    if os.path.exists(path):
        rows = pq.read_metadata(path).num_rows
        return {"run_id": run_id, "shard": shard, "path": path, "rows": rows, "skipped": True}
    interactions = pq.read_table(storage.night_file(root, "interactions", night))
    if cfg.max_interactions:
        interactions = take_sample(interactions, cfg.max_interactions)
    interactions = take_shard(interactions, shard, cfg.shards)
    tokenizer = load_tokenizer(cfg.model)
    check_chat_template_kwargs(tokenizer, cfg.chat_template_kwargs)  # a bad setting fails before the model loads
    score_fn = in_groups(make_score_fn(cfg, source.path), f"scoring shard {shard + 1}/{cfg.shards}")
    score_cfg = ScoreConfig(
        run_id=run_id,
        model_id=source.model_id,
        model_revision=source.revision,
        hindsight=cfg.hindsight,
    )
    scores = score_interactions(interactions, score_fn, tokenizer, score_cfg)
    write_table(scores, path)
    return {"run_id": run_id, "shard": shard, "path": path, "rows": scores.num_rows, "skipped": False}


def in_groups(score_fn, stage: str, group: int = 32):
    """`score_fn` over groups of `group` sequences, reporting progress after each (the backend still
    batches by length within a group; results do not depend on the grouping)."""

    def score_in_groups(sequences):
        results = []
        report(stage, 0, len(sequences))
        for start in range(0, len(sequences), group):
            results.extend(score_fn(sequences[start : start + group]))
            report(stage, len(results), len(sequences))
        return results

    return score_in_groups


def make_score_fn(cfg: ScoringConfig, model_path):
    """The backend callable the scoring stage is given."""
    if cfg.backend == "vllm":
        from pipelines.backends.vllm_backend import VllmBackendConfig, make_vllm_scorer

        return make_vllm_scorer(str(model_path), VllmBackendConfig(dtype=cfg.dtype, top_k=cfg.top_k))
    from pipelines.backends.transformers_backend import TransformersBackendConfig, make_scorer
    from pipelines.models import load_model

    model, _ = load_model(cfg.model, dtype=cfg.dtype, device=cfg.device)
    return make_scorer(model, TransformersBackendConfig(max_batch_tokens=cfg.max_batch_tokens, top_k=cfg.top_k))


@flow(name="score-shard", log_prints=False)
def score_shard_flow(root: str, shard: int, shards: int, night: str | None = None, config: dict | None = None) -> dict:
    """Deployment entry: shard `shard` of `shards` of a night (default last night); `config` as in `nightly`."""
    scoring = dataclasses.replace(RunConfig.from_dict(config or {}).score, shards=shards)
    result = score_night_shard(root, date.fromisoformat(night) if night else last_night(), shard, scoring)
    publish_catalog(root)
    return result
