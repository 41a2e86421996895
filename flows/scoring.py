"""Scoring one shard of a night's interactions: the unit a Prefect task or any scheduler runs.

A scoring run is named by what determines its rows (night, model + revision, template, limits, shard
count), so rerunning it resumes: a shard whose file exists is finished (files appear only by atomic
rename) and is skipped. Shards are written as
`<root>/scores/run_id=<run>/round=0000/scores-00003-of-00008.parquet`.
`afterword score --root R --night D --shard 3/8` runs one shard; the nightly flow runs all of them; the
`score-shard` flow is the same unit as a Prefect deployment (one worker per shard, `prefect.yaml`).
"""

import dataclasses
from datetime import date

import pyarrow.parquet as pq
from prefect import flow

from flows import parameters
from flows.config import RunConfig
from flows.runtime import artifact_key, last_night, publish_artifact, run_logger
from pipelines import objectstore, registry
from pipelines.backends.scoring_config import ScoringConfig, in_groups, open_scorer, scoring_run_id
from pipelines.errors import InputError
from pipelines.io import write_table
from pipelines.store import layout as storage
from pipelines.store.lock import holds_writer_lock
from pipelines.store.publish import publish_catalog


# Score workers share the root with each other (one shard each), never with a nightly run or a refresh.
@holds_writer_lock("score worker", shared=True)
def score_night_shard(root: str, night: date, shard: int, cfg: ScoringConfig) -> dict:
    """Score shard `shard` of `cfg.shards` of the night's selected interactions; skip it when already done."""
    # Model libraries load only when scoring really runs.
    from pipelines.backends.model_loading import resolve_model
    from pipelines.score import ScoreRun, score_interactions, take_sample, take_shard

    source = resolve_model(registry.resolve_model(cfg.model, root))
    run_id = scoring_run_id(night, cfg, source.revision)
    path = storage.score_shard_path(root, run_id, 0, shard, cfg.shards)
    if objectstore.exists(path):
        with objectstore.open_binary(path) as handle:
            rows = pq.read_metadata(handle).num_rows
        return {"run_id": run_id, "shard": shard, "path": path, "rows": rows, "skipped": True}
    published = parameters.published_interactions(root, night, f"run the nightly flow for night={night}")
    with objectstore.open_binary(published) as handle:
        interactions = pq.read_table(handle)
    if cfg.max_interactions:
        interactions = take_sample(interactions, cfg.max_interactions)
    interactions = take_shard(interactions, shard, cfg.shards)
    scorer = open_scorer(cfg, source)
    score_run = ScoreRun(run_id, source.model_id, source.revision, hindsight=cfg.hindsight)
    # Counted from 0, as `--shard I/N`, `afterword status` and the shard files (scores-00000-of-00002) count.
    score_fn = in_groups(scorer.score_fn, f"scoring shard {shard}/{cfg.shards}: interactions")
    scores = score_interactions(interactions, score_fn, scorer.tokenizer, score_run)
    write_table(scores, path)
    return {"run_id": run_id, "shard": shard, "path": path, "rows": scores.num_rows, "skipped": False}


@flow(name="score-shard", log_prints=False)
def score_shard_flow(root: str, shard: int, shards: int, night: str | None = None, config: dict | None = None) -> dict:
    """Deployment entry: shard `shard` of `shards` of a night (default last night); `config` as in `nightly`."""
    scoring = dataclasses.replace(RunConfig.from_dict(config or {}).score, shards=shards)
    night_date = parameters.night(night, "night") if night else last_night()
    if not 0 <= shard < shards:
        raise InputError(f"shard={shard}, shards={shards}: a shard is 0 to shards - 1")
    parameters.published_interactions(root, night_date, f"run the nightly flow for night={night_date}")
    result = score_night_shard(root, night_date, shard, scoring)
    publish_catalog(root)
    state = "was already scored" if result["skipped"] else "scored"
    run_logger().info(
        "night %s shard %d of %d %s: %d replies (%s)", night_date, shard, shards, state, result["rows"], result["path"]
    )
    markdown = f"# Night {night_date}, shard {shard} of {shards}\n\n{result['rows']} replies {state}"
    markdown += f" in scoring run `{result['run_id']}`"
    publish_artifact(artifact_key("score", root, f"{night_date}-shard-{shard}-of-{shards}"), markdown, result["run_id"])
    return result
