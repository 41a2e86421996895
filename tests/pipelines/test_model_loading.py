import hashlib

import pytest
import torch

from pipelines.backends.model_loading import (
    DEFAULT_MODEL,
    ensure_converted,
    load_model,
    load_tokenizer,
    weights_revision,
)
from tests.helpers.scoring import make_model, make_tokenizer, need_smollm2, smollm2_cache_dir


def save_tiny(path):
    make_model().save_pretrained(path)
    make_tokenizer().save_pretrained(path)
    return path


def test_local_directory_loads_with_a_weights_revision(tmp_path):
    path = save_tiny(tmp_path / "tiny")
    model, source = load_model(str(path))
    tokenizer = load_tokenizer(str(path))
    expected = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()[:12]
    assert (source.model_id, source.revision, source.path) == (str(path), expected, path)
    assert not model.training and model.dtype == torch.float32
    ids = torch.tensor([[1, 2, 3]])
    with torch.inference_mode():
        torch.testing.assert_close(model(ids).logits, make_model()(ids).logits, rtol=0, atol=0)
    assert (
        tokenizer("ab<|im_end|>", add_special_tokens=False)["input_ids"]
        == make_tokenizer()("ab<|im_end|>", add_special_tokens=False)["input_ids"]
    )


def test_bfloat16_is_loaded_on_request(tmp_path):
    model, _ = load_model(str(save_tiny(tmp_path / "tiny")), dtype="bfloat16")
    assert model.dtype == torch.bfloat16


def test_unknown_dtype_is_refused(tmp_path):
    with pytest.raises(ValueError, match="dtype='fp8'"):
        load_model(str(tmp_path), dtype="fp8")


def test_directory_without_safetensors_is_refused(tmp_path):
    make_model().save_pretrained(tmp_path / "tiny")
    (tmp_path / "tiny" / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="no .safetensors weights"):
        load_model(str(tmp_path / "tiny"))


def test_tokenizer_without_chat_template_is_refused(tmp_path):
    tokenizer = make_tokenizer()
    tokenizer.chat_template = None
    make_model().save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    with pytest.raises(ValueError, match="no chat template"):
        load_tokenizer(str(tmp_path / "tiny"))


def test_hub_id_missing_from_the_local_cache_fails_without_network():
    with pytest.raises(FileNotFoundError, match="not in the local Hugging Face cache"):
        load_model("afterword-tests/definitely-not-cached")


def test_conversion_runs_once_and_is_reused(tmp_path):
    calls = []

    def convert(tmp):
        calls.append(tmp)
        (tmp / "weights.txt").write_text("w")

    target = tmp_path / "cache" / "m"
    assert ensure_converted(target, convert) == target
    assert ensure_converted(target, convert) == target
    assert len(calls) == 1
    assert (target / "weights.txt").read_text() == "w"
    assert sorted(p.name for p in target.parent.iterdir()) == ["m"]  # no temp dirs left behind


def test_failed_conversion_leaves_nothing_behind(tmp_path):
    def convert(tmp):
        (tmp / "half.bin").write_text("partial")
        raise RuntimeError("killed mid-way")

    with pytest.raises(RuntimeError, match="killed mid-way"):
        ensure_converted(tmp_path / "cache" / "m", convert)
    assert list((tmp_path / "cache").iterdir()) == []


def test_weights_revision_changes_with_the_weights(tmp_path):
    path = save_tiny(tmp_path / "tiny")
    before = weights_revision(path)
    make_model(seed=1).save_pretrained(path)
    assert weights_revision(path) != before
    assert len(before) == 12


@pytest.mark.slow
def test_builtin_smollm2_converts_once_then_reloads(tmp_path_factory):
    need_smollm2()
    cache_dir = smollm2_cache_dir(tmp_path_factory)
    model, source = load_model(DEFAULT_MODEL, cache_dir=cache_dir)
    again, source_again = load_model(DEFAULT_MODEL, cache_dir=cache_dir)
    assert source == source_again and source.path == cache_dir / DEFAULT_MODEL
    assert source.revision == weights_revision(source.path)
    assert "quantization_config" not in (source.path / "config.json").read_text()
    assert (model.config.num_hidden_layers, model.config.hidden_size, model.config.vocab_size) == (30, 576, 49152)
    tokenizer = load_tokenizer(DEFAULT_MODEL, cache_dir=cache_dir)
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    assert tokenizer.eos_token == "<|im_end|>"
