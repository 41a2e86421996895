"""Sampling replies from p_θ at temperature T: token-id prompts in, the drawn ids and their log-probs out.

`sample_tokens` runs its own decode loop over the model's forward (no `generate`), so no logits processor
from the model's `generation_config.json` can change the distribution: every token is drawn from
softmax(logits / T) and its log-prob under that distribution is returned with it. A reply cut at
`max_new_tokens` is returned as drawn, with `finished = False` and no stop id appended.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

ENGINES = ("auto", "torch", "vllm")


@dataclass(frozen=True)
class SampledReply:
    token_ids: list[int]  # the ids drawn, in order; ends with a stop id iff finished
    logprobs: list[float]  # log_softmax(logits / T) of each drawn id, float32 forward
    finished: bool  # True = drew a stop id; False = cut at max_new_tokens (nothing appended)


@torch.no_grad()
def sample_tokens(
    model: torch.nn.Module,
    prompts: list[list[int]],
    *,
    temperature: float,
    max_new_tokens: int,
    stop_ids: Sequence[int],
    seed: int,
    batch_size: int,
) -> list[SampledReply]:
    """In-process engine: one SampledReply per prompt, in prompt order."""
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    stops = torch.tensor(sorted(set(stop_ids)), device=device)
    was_training = model.training
    model.eval()
    out: list[SampledReply] = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        width = max(len(p) for p in chunk)
        ids = torch.zeros((len(chunk), width), dtype=torch.long, device=device)
        mask = torch.zeros((len(chunk), width), dtype=torch.long, device=device)
        for r, prompt in enumerate(chunk):
            ids[r, width - len(prompt) :] = torch.tensor(prompt, device=device)
            mask[r, width - len(prompt) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        drawn = [[] for _ in chunk]
        logps: list[list[float]] = [[] for _ in chunk]
        done = torch.zeros(len(chunk), dtype=torch.bool, device=device)
        cache = None
        step_ids, step_positions = ids, positions
        for _ in range(max_new_tokens):
            output = model(
                input_ids=step_ids,
                attention_mask=mask,
                position_ids=step_positions,
                past_key_values=cache,
                use_cache=True,
            )
            cache = output.past_key_values
            logp_B_V = torch.log_softmax(output.logits[:, -1].float() / temperature, dim=-1)
            token_B = torch.multinomial(logp_B_V.exp(), 1, generator=generator).squeeze(-1)
            token_logp_B = logp_B_V.gather(-1, token_B[:, None]).squeeze(-1)
            for r in range(len(chunk)):
                if not done[r]:
                    drawn[r].append(int(token_B[r]))
                    logps[r].append(float(token_logp_B[r]))
            done |= torch.isin(token_B, stops)
            if bool(done.all()):
                break
            step_ids = token_B[:, None]
            step_positions = step_positions[:, -1:] + 1
            mask = torch.cat([mask, torch.ones((len(chunk), 1), dtype=mask.dtype, device=device)], dim=1)
        for r in range(len(chunk)):
            finished = bool(drawn[r]) and drawn[r][-1] in set(stop_ids)
            out.append(SampledReply(drawn[r], logps[r], finished))
    model.train(was_training)
    return out
