"""The vLLM scoring worker: one interactions Parquet file in, one scores Parquet file out.

A GPU machine runs `python -m pipelines.vllm_worker --model DIR --interactions in.parquet --out scores.parquet
--run-id R`; its flags mirror `HindsightConfig`, `VllmBackendConfig` and `ScoringConfig`'s dtype and top_k field
by field. It opens its scorer
through `open_scorer` and scores through `pipelines.score`, the same path as every other caller; this module
sits above both so the backend never imports the stage that calls it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from collections.abc import Sequence

from pipelines.backends.backend_configs import VllmBackendConfig
from pipelines.backends.scoring_config import ScoringConfig
from pipelines.hindsight import HindsightConfig

log = logging.getLogger(__name__)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.vllm_worker",
        description="Score interactions with vLLM; writes a scores Parquet file (schemas/scores.py).",
    )
    parser.add_argument("--model", required=True, help="local model directory (or a Hub id in the local cache)")
    parser.add_argument("--interactions", required=True, help="interactions Parquet file (schemas/interactions.py)")
    parser.add_argument("--out", required=True, help="scores Parquet file to write (atomically)")
    parser.add_argument("--run-id", required=True, help="scoring run these rows belong to")
    parser.add_argument("--round", type=int, default=0, help="0 = logged replies; k >= 1 = regenerated in round k")
    # Hindsight and backend flags mirror the config fields one by one (defaults included), so they cannot
    # drift apart; --chat-template-kwargs takes a JSON object.
    for field in worker_fields():
        flag = "--" + field.name.replace("_", "-")
        default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        else:
            kind = json.loads if isinstance(default, dict) else type(default)
            parser.add_argument(flag, type=kind, default=default)
    return parser.parse_args(argv)


SHARED_SCORING_FIELDS = ("dtype", "top_k")  # the ScoringConfig settings both backends read


def worker_fields() -> list[dataclasses.Field]:
    """The config fields the worker takes as flags: hindsight rendering, engine options, dtype and top_k."""
    shared = [f for f in dataclasses.fields(ScoringConfig) if f.name in SHARED_SCORING_FIELDS]
    return [*dataclasses.fields(HindsightConfig), *dataclasses.fields(VllmBackendConfig), *shared]


def main(argv: Sequence[str] | None = None) -> None:
    import pyarrow.parquet as pq

    from pipelines.backends.scoring_config import open_scorer
    from pipelines.io import write_table
    from pipelines.score import ScoreRun, score_interactions

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    backend_cfg = VllmBackendConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(VllmBackendConfig)})
    hindsight = HindsightConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(HindsightConfig)})
    scoring = ScoringConfig(
        args.model, "vllm", dtype=args.dtype, hindsight=hindsight, top_k=args.top_k, vllm=backend_cfg
    )
    scorer = open_scorer(scoring)  # the chat-template arguments are checked before the engine
    reply_source = "logged" if args.round == 0 else "regenerated"
    source = scorer.source
    cfg = ScoreRun(args.run_id, source.model_id, source.revision, args.round, reply_source, hindsight)
    # Whole table: score_interactions picks the columns it needs.
    interactions = pq.read_table(args.interactions)
    started = time.perf_counter()
    scores = score_interactions(interactions, scorer.score_fn, scorer.tokenizer, cfg)
    seconds = time.perf_counter() - started
    write_table(scores, args.out)
    n_tokens = sum(scores["n_tokens"].to_pylist())
    log.info(
        "scored %d interactions (%d reply tokens) in %.1f s (%.0f reply tokens/s) -> %s",
        scores.num_rows,
        n_tokens,
        seconds,
        n_tokens / max(seconds, 1e-9),
        args.out,
    )


if __name__ == "__main__":
    main()
