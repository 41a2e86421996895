"""Round checkpoints: `<root>/checkpoints/run_id=<run>/round-NNNN/`, written whole or not at all.

A checkpoint holds the policy as a plain transformers model (safetensors + config + tokenizer, LoRA merged,
so `AutoModelForCausalLM.from_pretrained(dir)` loads it), the LoRA adapter when there is one, the EMA
teacher's weights, `trainer_state.pt` (optimizer, scheduler, RNG states, data cursor, step) and `meta.json`.
It is assembled in a temporary folder and renamed into place; resuming loads the newest complete one.
"""

from __future__ import annotations

import glob
import os
import random
import shutil
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from pipelines.io import write_json
from train.model import merged_copy

STATE_FILE = "trainer_state.pt"
EMA_FILE = "ema_teacher.safetensors"
ADAPTER_DIR = "adapter"
META_FILE = "meta.json"


def checkpoints_dir(root: str, run_id: str) -> str:
    """Folder holding one training run's round checkpoints."""
    return os.path.join(root, "checkpoints", f"run_id={run_id}")


def checkpoint_path(root: str, run_id: str, round_index: int) -> str:
    """The checkpoint written at the end of round `round_index`."""
    return os.path.join(checkpoints_dir(root, run_id), f"round-{round_index:04d}")


def latest_checkpoint(root: str, run_id: str) -> str | None:
    """The newest complete checkpoint of a run (complete = renamed into place, meta.json inside), or None."""
    found = sorted(glob.glob(os.path.join(glob.escape(checkpoints_dir(root, run_id)), "round-[0-9][0-9][0-9][0-9]")))
    complete = [path for path in found if os.path.exists(os.path.join(path, META_FILE))]
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
        torch.save({**trainer_state, "rng": rng_state()}, os.path.join(tmp, STATE_FILE))
        write_json(meta, os.path.join(tmp, META_FILE))
        if os.path.exists(path):
            stale = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old-", dir=parent)
            os.rename(path, os.path.join(stale, "old"))
            shutil.rmtree(stale)
        os.rename(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def load_trainer_state(path: str) -> dict:
    """Optimizer, scheduler, cursor, step and RNG states of a checkpoint (restores nothing by itself)."""
    # Our own file: optimizer state holds plain tensors and Python numbers, plus numpy's RNG tuple.
    return torch.load(os.path.join(path, STATE_FILE), weights_only=False)


def load_ema(path: str, ema_teacher: torch.nn.Module) -> None:
    """Load the EMA teacher's weights saved with a checkpoint."""
    ema_teacher.load_state_dict(load_file(os.path.join(path, EMA_FILE)))
