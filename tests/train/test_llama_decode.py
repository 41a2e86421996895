"""The sampler's own decode step equals the model's forward, family by family; shared prefixes and batch
compaction leave every reply as it would be alone."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM

from tests.helpers.scoring import make_model
from train.sampling import llama_decode, sampler
from train.sampling.sampler import prefill, prompt_uniforms, sample_tokens

SHAPE = dict(
    vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, head_dim=8, max_position_embeddings=512, initializer_range=0.3,
    tie_word_embeddings=False, attn_implementation="sdpa",
)  # fmt: skip
FAMILIES = {
    "llama": lambda: LlamaForCausalLM(LlamaConfig(**SHAPE)),
    "qwen2": lambda: Qwen2ForCausalLM(Qwen2Config(**SHAPE)),  # q/k/v biases
    "qwen3": lambda: Qwen3ForCausalLM(Qwen3Config(**SHAPE)),  # per-head q/k norms
}
PROMPTS = [[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 20, 21], [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 30], [40, 41]]


def random_model(family: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = FAMILIES[family]().eval()
    if family == "qwen2":  # biases start at zero: make them count
        for layer in model.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                torch.nn.init.normal_(proj.bias, std=0.5)
    return model


@pytest.mark.parametrize("family", sorted(FAMILIES))
@torch.no_grad()
def test_decode_step_logits_are_the_forwards(family):
    model = random_model(family)
    assert llama_decode.supported(model)
    uniforms = [prompt_uniforms(0, i, 16) for i in range(len(PROMPTS))]
    ours = prefill(model, PROMPTS, [0, 1, 2], uniforms, 1.0, torch.device("cpu"))
    theirs = prefill(model, PROMPTS, [0, 1, 2], uniforms, 1.0, torch.device("cpu"))
    for _ in range(6):  # the same token fed to both, so their caches stay comparable step after step
        mask_B_L = torch.nn.functional.pad(ours.mask_B_L, (0, 1), value=1)
        got = llama_decode.decode_logits(model, ours.cache, ours.last_B, ours.positions_B, mask_B_L)
        expected = model(
            input_ids=theirs.last_B[:, None], attention_mask=mask_B_L, position_ids=theirs.positions_B[:, None],
            cache=theirs.cache, use_cache=True,
        ).logits[:, -1]  # fmt: skip
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-5)  # float rounding of other sums
        ours.mask_B_L = theirs.mask_B_L = mask_B_L
        next_B = expected.argmax(-1)
        ours.last_B = theirs.last_B = next_B
        ours.positions_B = theirs.positions_B = ours.positions_B + 1


def test_other_families_take_the_models_forward():
    from transformers import GPT2Config, GPT2LMHeadModel

    assert not llama_decode.supported(GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50)))


@pytest.mark.parametrize("family", ["qwen2", "qwen3"])
@torch.no_grad()
def test_sampled_logprobs_are_the_float32_forwards_for_every_family(family):
    model = random_model(family)
    replies = sample_tokens(model, PROMPTS, temperature=0.8, max_new_tokens=10, stop_ids=[0], seed=3, batch_size=4)
    for prompt, reply in zip(PROMPTS, replies, strict=True):
        logits_L_V = model(input_ids=torch.tensor([prompt + reply.token_ids])).logits[0, len(prompt) - 1 : -1]
        expected = torch.log_softmax(logits_L_V.float() / 0.8, -1).gather(1, torch.tensor(reply.token_ids)[:, None])
        torch.testing.assert_close(torch.tensor(reply.logprobs), expected[:, 0], atol=1e-4, rtol=0)


def test_a_shared_prefix_runs_once_and_changes_no_reply(monkeypatch):
    model = make_model()
    prompts = [[256, *range(60, 80), 30 + i, 31] for i in range(6)] + [[256, *range(60, 70)]]
    # The shortest prompt (11 ids) keeps its last id for its own first logits: 10 ids are shared.
    assert sampler.shared_prefix_length(prompts) == 10
    settings = dict(temperature=1.0, max_new_tokens=8, stop_ids=[257], seed=0, batch_size=8)
    prefix_runs = []
    forward = type(model).forward

    def counting_forward(self, input_ids=None, **kwargs):
        prefix_runs.append(input_ids.shape[0] == 1 and input_ids.shape[1] == 10)
        return forward(self, input_ids=input_ids, **kwargs)

    monkeypatch.setattr(type(model), "forward", counting_forward)
    shared = sample_tokens(model, prompts, **settings)
    assert sum(prefix_runs) == 1
    monkeypatch.setattr(sampler, "MIN_SHARED_PREFIX", 10**6)
    alone = sample_tokens(model, prompts, **settings)
    assert [r.token_ids for r in shared] == [r.token_ids for r in alone]
    for a, b in zip(shared, alone, strict=True):
        torch.testing.assert_close(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5, rtol=0)


def test_retired_rows_wait_for_a_whole_row_group_and_change_no_reply(monkeypatch):
    model = make_model()
    prompts = [[256, 40 + i, 41, 42 + i % 3] for i in range(21)]
    stops = list(range(0, 258, 12))  # a twelfth of the vocabulary stops a reply: rows retire at many steps
    settings = dict(temperature=1.0, max_new_tokens=12, stop_ids=stops, seed=0)
    widths = []
    step = sampler.decode_step

    def recording_step(model, batch, *args):
        widths.append(len(batch.rows))
        step(model, batch, *args)

    monkeypatch.setattr(sampler, "decode_step", recording_step)
    batched = sample_tokens(model, prompts, batch_size=16, **settings)
    assert any(r.finished for r in batched) and any(not r.finished for r in batched)
    assert all(w % sampler.ROW_MULTIPLE == 0 or w < sampler.ROW_MULTIPLE for w in widths[:-1]), widths
    alone = sample_tokens(model, prompts, batch_size=1, **settings)
    assert [r.token_ids for r in batched] == [r.token_ids for r in alone]
    assert [r.finished for r in batched] == [r.finished for r in alone]
