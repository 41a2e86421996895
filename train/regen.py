"""On-policy regeneration: sample fresh replies y' ~ p_θ(·|x) and score them through the nightly scoring path.

`sample_replies` draws a reply per interaction with `train.sampling.sampler` (p_θ at temperature T, nothing else) and
keeps the drawn ids beside their text; `score_replies` hands that table to `pipelines.score.score_interactions`
with the transformers backend over the *same* weights (`live_scorer`, the one way regeneration, evaluation and
simulation open a scorer), which scores the drawn ids themselves: no re-tokenization, and no end-of-turn marker
appended to a reply cut at the length limit. `regenerate` does both; the loop calls the two apart to time them
and writes the result as a new round of score shards. Sampling is seeded per call, not from global RNG.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import pyarrow as pa
import torch
from transformers import PreTrainedTokenizerBase

from pipelines.backends import ScoreFn
from pipelines.backends.transformers_backend import make_scorer
from pipelines.hindsight import HindsightConfig, build_sequences, check_chat_template_kwargs
from pipelines.progress import report
from pipelines.score import ScoreRun, score_interactions
from train.config import RegenConfig, TrainConfig
from train.sampling.sampler import SAMPLING_STAGE, sample

log = logging.getLogger(__name__)


def sample_replies(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    interactions: pa.Table,
    cfg: RegenConfig,
    hindsight: HindsightConfig,
    seed: int,
    weights_dir: str | None = None,
) -> pa.Table:
    """`interactions` sorted by id, each with a reply sampled from p_θ at `cfg.temperature`.

    Columns added or replaced: `response_token_ids` (the ids drawn: what is scored and trained),
    `response_finished` (the sampler drew the end-of-turn marker; False = cut at `cfg.max_new_tokens`, stored
    as drawn with nothing appended), `response_sampler_logprobs` (each drawn id's log-prob under the
    distribution it was drawn from, in the sampler's precision: the mismatch metrics compare them with the
    trainer's), `response` (their text, for people), `logged_response` (the reply the
    interaction came with) and `sample_engine` (`cfg.engine` resolved: torch or vllm; vllm samples from
    `weights_dir`, which must hold `model`'s weights; auto without it runs the in-process engine). Each
    prompt is the scorer's own student prefix (`hindsight`: same chat-template arguments, same truncation),
    so a reply continues exactly the context it is scored in.
    The same `seed` and weights give the same replies.
    """
    check_chat_template_kwargs(tokenizer, hindsight.chat_template_kwargs)
    interactions = interactions.sort_by("interaction_id")
    rows = interactions.select(["context", "response", "followup"]).to_pylist()
    prompts = [
        build_sequences(r["context"], "", r["followup"], tokenizer, hindsight, r["response"]).student_prefix_ids
        for r in rows
    ]
    replies, engine = sample(
        model,
        prompts,
        engine=cfg.engine,
        weights_dir=weights_dir,
        temperature=cfg.temperature,
        max_new_tokens=cfg.max_new_tokens,
        stop_ids=[tokenizer.eos_token_id],
        seed=seed,
        batch_size=cfg.batch_size,
        dtype=cfg.dtype,
        vllm_cfg=cfg.vllm,
    )
    log.info("sampled %d replies with the %s engine", len(replies), engine)
    report(SAMPLING_STAGE, len(replies), len(prompts))
    texts = [tokenizer.decode(r.token_ids[:-1] if r.finished else r.token_ids) for r in replies]
    table = interactions.append_column("logged_response", interactions["response"])
    table = table.set_column(table.schema.get_field_index("response"), "response", pa.array(texts, pa.string()))
    ids = pa.array([r.token_ids for r in replies], pa.list_(pa.int32()))
    table = table.append_column("response_token_ids", ids)
    table = table.append_column("response_finished", pa.array([r.finished for r in replies], pa.bool_()))
    logprobs = pa.array([r.logprobs for r in replies], pa.list_(pa.float32()))
    table = table.append_column("response_sampler_logprobs", logprobs)
    return table.append_column("sample_engine", pa.array([engine] * len(replies), pa.string()))


def in_process(cfg: RegenConfig) -> RegenConfig:
    """`cfg` on the in-process engine: for weights that have changed since they were last saved (evaluation
    after a round's steps), which a vLLM worker reading the disk would not see."""
    return replace(cfg, engine="torch")


def score_replies(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    sampled: pa.Table,
    score_run: ScoreRun,
    score_fn: ScoreFn,
) -> pa.Table:
    """Score `sample_replies`' output with the same weights (`score_fn`, a `live_scorer`): a `schemas.scores` table.

    The scored ids are the sampled ids (`response_token_ids`), so the stored student log-probs are p_θ of
    exactly what the sampler drew.
    """
    if score_run.reply_source != "regenerated":
        raise ValueError("regenerated replies are scored with reply_source='regenerated' and round >= 1")
    was_training = model.training
    scores = score_interactions(sampled, score_fn, tokenizer, score_run)
    model.train(was_training)
    return scores


def regenerate(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    interactions: pa.Table,
    cfg: RegenConfig,
    seed: int,
    score_run: ScoreRun,
    score_fn: ScoreFn,
) -> pa.Table:
    """Sample replies with `model` and score them with `score_fn` over the same weights (`sample_replies`,
    `score_replies`)."""
    sampled = sample_replies(model, tokenizer, interactions, cfg, score_run.hindsight, seed)
    return score_replies(model, tokenizer, sampled, score_run, score_fn)


def live_scorer(model: torch.nn.Module, cfg: TrainConfig, top_k: int) -> ScoreFn:
    """The transformers scorer over `model`'s current weights, batched as `[train.transformers]` says and run in
    the trainer's precision (`[train] precision`: bf16 autocast over the float32 weights where it pays);
    `top_k` teacher ids per reply token (0 = none; the loop's `cfg.stored_top_k`)."""
    score_fn = make_scorer(model, cfg.transformers, top_k=top_k)
    if cfg.precision != "bfloat16":
        return score_fn
    device_type = next(model.parameters()).device.type

    def score_in_bfloat16(*args, **kwargs):
        with torch.autocast(device_type, dtype=torch.bfloat16):
            return score_fn(*args, **kwargs)

    return score_in_bfloat16
