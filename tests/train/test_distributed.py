"""Data-parallel training under torchrun (2 CPU ranks, gloo) against one process with the same global batch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from tests.helpers.training import write_interactions, write_tiny_model
from tests.train.test_loop import _write_logged_scores
from train import loop
from train.config import load_train_config

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
# One logged round of 8 replies: 2 steps of 4 replies (2 ranks × 1 micro-batch of 2, or 1 process × 2 of 2).
SETTINGS = dict(
    run_id="dp",
    mode="logged",
    interactions_per_round=8,
    eval_fraction=0.25,
    eval_max_interactions=2,
    regen=dict(max_new_tokens=6),
    micro_batch_size=2,
    learning_rate=1e-3,
    warmup_fraction=0.0,
    hindsight=dict(max_context_tokens=256, max_reply_tokens=32),
    tensorboard=False,
)


def _toml(values: dict) -> str:
    def literal(value):
        if isinstance(value, bool):
            return "true" if value else "false"
        return f'"{value}"' if isinstance(value, str) else repr(value)

    tables = {k: v for k, v in values.items() if isinstance(v, dict)}
    lines = ["[train]", *(f"{k} = {literal(v)}" for k, v in values.items() if k not in tables)]
    for name, table in tables.items():
        lines += [f"[train.{name}]", *(f"{k} = {literal(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"


def _root(path: Path) -> Path:
    write_interactions(path, 12)
    _write_logged_scores(path, "night-1", top_k=0)
    return path


def test_two_ranks_train_like_one_process_with_the_same_global_batch(tmp_path):
    model_dir = write_tiny_model(tmp_path / "tiny-model")
    config = tmp_path / "dp.toml"
    config.write_text(_toml({**SETTINGS, "model": str(model_dir), "accumulation_steps": 1}))
    ranks_root = _root(tmp_path / "ranks")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone"]
    command += ["-m", "train.loop", "--root", str(ranks_root), "--rounds", "1", "--config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]

    single_root = _root(tmp_path / "single")
    cfg = load_train_config(None, root=str(single_root), model=str(model_dir), accumulation_steps=2, **SETTINGS)
    single = loop.main(cfg)
    assert single["global_step"] == 2

    ranks_dir = ranks_root / "checkpoints" / "run_id=dp" / "round-0001"
    assert AutoModelForCausalLM.from_pretrained(ranks_dir).config.num_hidden_layers == 2
    assert not list(ranks_root.glob("checkpoints/run_id=dp/.*"))  # no leftover temp folders from a second writer
    rows = (ranks_root / "training" / "dp" / "metrics.jsonl").read_text().splitlines()
    assert len([r for r in rows if '"time/step_s"' in r]) == 2  # rank 0 alone logs each step once
    # Same data, same global batch: the ranks' summed gradients equal one process accumulating both
    # micro-batches, up to float summation order (AdamW turns near-zero gradients into ~lr-sized steps,
    # so the comparison is to a fraction of the 1e-3 learning rate, not bit-exact).
    expected = load_file(f"{single['checkpoint']}/model.safetensors")
    actual = load_file(ranks_dir / "model.safetensors")
    initial = load_file(model_dir / "model.safetensors")
    assert expected.keys() == actual.keys()
    assert any(not torch.equal(expected[k], initial[k]) for k in expected)
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], atol=1e-5, rtol=0)
