"""On-policy regeneration: sample fresh replies y' ~ p_θ(·|x) and score them through the nightly scoring path.

`sample_replies` returns the interactions with `response` replaced by a sampled reply (the logged one is kept
as `logged_response`), sampled as `RegenConfig` (train/config.py) says; `score_replies` hands that table to
`pipelines.score.score_interactions` with the transformers backend over the *same* weights, so the stored
student log-probs are the behaviour log-probs of the sample (exactly so at temperature 1.0 with no
top-k/top-p: the sampler draws from p_θ itself). `regenerate` does both; the loop calls the two apart to time
them and writes the result as a new round of score shards. Sampling is seeded per call, not from global RNG.
"""

from __future__ import annotations

import pyarrow as pa
import torch
from transformers import GenerationConfig, PreTrainedTokenizerBase

from pipelines.backends.transformers_backend import TransformersBackendConfig, make_scorer
from pipelines.hindsight import HindsightConfig, build_sequences, check_chat_template_kwargs
from pipelines.progress import report
from pipelines.score import ScoreRun, score_interactions
from train.config import RegenConfig


@torch.no_grad()
def sample_replies(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    interactions: pa.Table,
    cfg: RegenConfig,
    hindsight: HindsightConfig,
    seed: int,
) -> pa.Table:
    """`interactions` sorted by id, with `response` := a sampled reply and the logged reply in `logged_response`.

    Each prompt is the scorer's own student prefix (`hindsight`: same chat-template arguments, same
    truncation), so the sampled reply continues exactly the context it is scored in. The same `seed` and
    weights give the same replies.
    """
    check_chat_template_kwargs(tokenizer, hindsight.chat_template_kwargs)
    interactions = interactions.sort_by("interaction_id")
    rows = interactions.select(["context", "response", "followup"]).to_pylist()
    prompts = [
        build_sequences(
            r["context"], "", r["followup"], tokenizer, hindsight, earlier_reply=r["response"]
        ).student_prefix_ids
        for r in rows
    ]
    eos_id = tokenizer.eos_token_id
    generation = GenerationConfig(
        do_sample=True,
        temperature=cfg.temperature,
        top_k=0,  # no truncation of the distribution: the sample must come from p_θ
        top_p=1.0,
        max_new_tokens=cfg.max_new_tokens,
        eos_token_id=eos_id,
        pad_token_id=eos_id if tokenizer.pad_token_id is None else tokenizer.pad_token_id,
        use_cache=True,
    )
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    texts: list[str] = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for start in range(0, len(prompts), cfg.batch_size):
            chunk = prompts[start : start + cfg.batch_size]
            width = max(len(p) for p in chunk)
            # Left padding keeps every prompt's last token at the same column, where generation continues.
            ids = torch.zeros((len(chunk), width), dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for r, prompt in enumerate(chunk):
                ids[r, width - len(prompt) :] = torch.tensor(prompt)
                mask[r, width - len(prompt) :] = 1
            out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=generation)
            for row in out[:, width:].tolist():
                if eos_id in row:
                    row = row[: row.index(eos_id)]
                texts.append(tokenizer.decode(row, skip_special_tokens=False))
            report("sampling replies", len(texts), len(prompts))
    model.train(was_training)
    table = interactions.append_column("logged_response", interactions["response"])
    return table.set_column(table.schema.get_field_index("response"), "response", pa.array(texts, pa.string()))


def score_replies(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    sampled: pa.Table,
    score_run: ScoreRun,
    backend: TransformersBackendConfig,
) -> pa.Table:
    """Score `sample_replies`' output with the same weights (`backend`): a `schemas.scores` table.

    The sampled text is re-tokenized by the scorer (render(x + [assistant: y']) minus render(x)), so the
    scored ids can differ from the sampled ids where a tokenizer has several spellings of one text; the
    stored student log-probs are p_θ of the scored ids, which is what the trainer optimizes.
    """
    if score_run.reply_source != "regenerated":
        raise ValueError("regenerated replies are scored with reply_source='regenerated' and round >= 1")
    was_training = model.training
    scorer = make_scorer(model, backend)
    scores = score_interactions(sampled, scorer, tokenizer, score_run)
    model.train(was_training)
    return scores


def regenerate(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    interactions: pa.Table,
    cfg: RegenConfig,
    seed: int,
    score_run: ScoreRun,
    backend: TransformersBackendConfig,
) -> pa.Table:
    """Sample replies with `model` and score them with the same weights (`sample_replies`, `score_replies`)."""
    sampled = sample_replies(model, tokenizer, interactions, cfg, score_run.hindsight, seed)
    return score_replies(model, tokenizer, sampled, score_run, backend)
