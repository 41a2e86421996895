"""Round checkpoints: `<root>/checkpoints/run_id=<run>/round-NNNN/`, written whole or not at all.

A checkpoint holds the policy as a plain transformers model (safetensors + config + tokenizer, LoRA merged,
so `AutoModelForCausalLM.from_pretrained(dir)` loads it), the LoRA adapter when there is one, the EMA
teacher's weights, the trainer state (optimizer, scheduler, RNG states, data cursor, step) as
`trainer_state.safetensors` + `trainer_state.json` (no pickle: loading a checkpoint never runs code) and
`meta.json`. It is assembled in a temporary folder and renamed into place; resuming loads the newest complete
one. Only the newest round keeps what resuming needs (trainer state, EMA teacher, adapter); older rounds keep
their weights, and `keep_last` bounds how many rounds are kept at all.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from pipelines.io import write_json
from pipelines.store import layout as storage
from train.model import merged_copy

STATE_TENSORS = "trainer_state.safetensors"
STATE_JSON = "trainer_state.json"
LEGACY_STATE_FILE = "trainer_state.pt"  # older checkpoints: read with weights_only=True only
EMA_FILE = "ema_teacher.safetensors"
ADAPTER_DIR = "adapter"
META_FILE = "meta.json"


def round_checkpoints(root: str, run_id: str) -> list[str]:
    """A run's complete round checkpoints (renamed into place, meta.json inside), oldest first."""
    return [path for path in storage.checkpoint_dirs(root, run_id) if os.path.exists(os.path.join(path, META_FILE))]


def latest_checkpoint(root: str, run_id: str) -> str | None:
    """The newest complete checkpoint of a run, or None."""
    complete = round_checkpoints(root, run_id)
    return complete[-1] if complete else None


def rng_state() -> dict:
    """Every random generator the run touches, to restore on resume."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def restore_rng(state: dict) -> None:
    """Inverse of `rng_state`."""
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def save_pretrained_plain(model: PreTrainedModel, path: str) -> None:
    """save_pretrained that also works for models converted from GGUF (their quantizer is stale)."""
    # A model loaded from GGUF is already dequantised; its leftover quantizer makes save_pretrained refuse.
    # transformers sets `hf_quantizer` only on models loaded through a quantizer (GGUF, bitsandbytes...).
    if getattr(model, "hf_quantizer", None) is not None or "quantization_config" in model.config.to_dict():
        model.hf_quantizer = None
        model.config.quantization_config = None
        del model.config.quantization_config
    model.save_pretrained(path, safe_serialization=True)


def save_checkpoint(
    path: str,
    policy: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    trainer_state: dict,
    meta: dict,
    ema_teacher: torch.nn.Module | None = None,
) -> str:
    """Write a checkpoint to `path` atomically (temp folder + rename); an existing one is replaced."""
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
    try:
        save_pretrained_plain(merged_copy(policy), tmp)
        tokenizer.save_pretrained(tmp)
        if not isinstance(policy, PreTrainedModel):  # a PEFT wrapper: keep the adapter to resume training it
            policy.save_pretrained(os.path.join(tmp, ADAPTER_DIR))
        if ema_teacher is not None:
            weights = {k: v.detach().clone().contiguous().cpu() for k, v in ema_teacher.state_dict().items()}
            save_file(weights, os.path.join(tmp, EMA_FILE))  # clones: tied embeddings share storage
        save_trainer_state({**trainer_state, "rng": rng_state()}, tmp)
        write_json(meta, os.path.join(tmp, META_FILE))
        _share(tmp)
        if os.path.exists(path):
            stale = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old-", dir=parent)
            os.rename(path, os.path.join(stale, "old"))
            shutil.rmtree(stale)
        os.rename(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def prune_checkpoints(root: str, run_id: str, keep_last: int) -> list[str]:
    """Drop resume-only files from every round but the newest, and whole rounds beyond the newest
    `keep_last` (0 = keep every round). Returns the removed paths."""
    rounds = round_checkpoints(root, run_id)
    removed = []
    for index, path in enumerate(rounds[:-1]):
        if keep_last and index < len(rounds) - keep_last:
            shutil.rmtree(path)
            removed.append(path)
            continue
        for name in (STATE_TENSORS, STATE_JSON, LEGACY_STATE_FILE, EMA_FILE, ADAPTER_DIR):
            target = os.path.join(path, name)
            if os.path.isdir(target):
                shutil.rmtree(target)
                removed.append(target)
            elif os.path.exists(target):
                os.remove(target)
                removed.append(target)
    return removed


def save_trainer_state(state: dict, folder: str) -> None:
    """Tensors (and numpy arrays) to safetensors, everything else to JSON: no pickle anywhere."""
    tensors: dict[str, torch.Tensor] = {}
    document = _encode(state, tensors)
    save_file(tensors, os.path.join(folder, STATE_TENSORS))
    write_json({"state": document}, os.path.join(folder, STATE_JSON))


def load_trainer_state(path: str) -> dict:
    """Optimizer, scheduler, cursor, step and RNG states of a checkpoint (restores nothing by itself)."""
    if not os.path.exists(os.path.join(path, STATE_JSON)) and os.path.exists(os.path.join(path, LEGACY_STATE_FILE)):
        # An older checkpoint: weights_only refuses anything but tensors and plain containers.
        return torch.load(os.path.join(path, LEGACY_STATE_FILE), weights_only=True)
    tensors = load_file(os.path.join(path, STATE_TENSORS))
    with open(os.path.join(path, STATE_JSON), encoding="utf-8") as handle:
        return _decode(json.load(handle)["state"], tensors)


def _encode(value, tensors: dict):
    """Plain JSON for `value`, with tensors and arrays moved into `tensors` and tagged by name."""
    if isinstance(value, torch.Tensor):
        name = f"t{len(tensors)}"
        tensors[name] = value.detach().cpu().clone().contiguous()  # clones: shared storage can't be saved
        return {"__tensor__": name}
    if isinstance(value, np.ndarray):
        name = f"t{len(tensors)}"
        tensors[name] = torch.from_numpy(value.copy())
        return {"__ndarray__": name}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(item, tensors) for item in value]}
    if isinstance(value, list):
        return [_encode(item, tensors) for item in value]
    if isinstance(value, dict):
        if all(isinstance(key, str) and not key.startswith("__") for key in value):
            return {key: _encode(item, tensors) for key, item in value.items()}
        # Optimizer state is keyed by parameter index: keep the key types.
        return {"__items__": [[_encode(k, tensors), _encode(v, tensors)] for k, v in value.items()]}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"trainer state holds a {type(value).__name__}, which has no pickle-free form")


def _decode(value, tensors: dict):
    if isinstance(value, list):
        return [_decode(item, tensors) for item in value]
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__ndarray__" in value:
            return tensors[value["__ndarray__"]].numpy()
        if "__tuple__" in value:
            return tuple(_decode(item, tensors) for item in value["__tuple__"])
        if "__items__" in value:
            return {_decode(k, tensors): _decode(v, tensors) for k, v in value["__items__"]}
        return {key: _decode(item, tensors) for key, item in value.items()}
    return value


def _share(folder: str) -> None:
    """Ordinary modes (0755 folders, 0644 files): mkdtemp makes a private folder, and checkpoints are shared."""
    os.chmod(folder, 0o755)
    for parent, subfolders, files in os.walk(folder):
        for name in subfolders:
            os.chmod(os.path.join(parent, name), 0o755)
        for name in files:
            os.chmod(os.path.join(parent, name), 0o644)


def load_ema(path: str, ema_teacher: torch.nn.Module) -> None:
    """Load the EMA teacher's weights saved with a checkpoint."""
    ema_teacher.load_state_dict(load_file(os.path.join(path, EMA_FILE)))
