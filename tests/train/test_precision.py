"""Precision by measurement, and the sampler–trainer mismatch correction (DESIGN.md §8)."""

import math

import pytest
import torch

from pipelines.backends import precision
from tests.helpers.training import tiny_config, write_interactions, write_tiny_model
from train import batches, losses, objective, round_replies, run_setup
from train.config import TrainConfig


@pytest.fixture
def model_dir(tmp_path):
    return write_tiny_model(tmp_path / "tiny-model")


@pytest.fixture
def slow_bf16(monkeypatch, tmp_path):
    """A CPU without bf16 instructions (no AVX512-BF16, no AMX: bf16 emulated, slower than float32)."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512bw\n")
    monkeypatch.setattr(precision, "CPUINFO", str(cpuinfo))
    precision.fast_bf16.cache_clear()
    yield
    precision.fast_bf16.cache_clear()


def test_a_cpu_without_fast_bf16_runs_everything_in_float32(slow_bf16):
    cfg = TrainConfig(root="r")
    assert (cfg.precision, cfg.regen.dtype) == ("float32", "float32")
    assert precision.resolve_precision("", "cpu") == "float32"
    assert precision.resolve_precision("bfloat16", "cpu") == "bfloat16"  # an explicit choice is kept


def test_a_cpu_with_fast_bf16_samples_and_trains_in_bf16(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile\n")
    monkeypatch.setattr(precision, "CPUINFO", str(cpuinfo))
    precision.fast_bf16.cache_clear()
    try:
        cfg = TrainConfig(root="r")
        assert (cfg.precision, cfg.regen.dtype) == ("bfloat16", "bfloat16")
        explicit = TrainConfig.from_dict({"root": "r", "precision": "float32", "regen": {"dtype": "float32"}})
        assert (explicit.precision, explicit.regen.dtype) == ("float32", "float32")
        assert cfg.resolved_run_id() != explicit.resolved_run_id()  # another precision is another run
    finally:
        precision.fast_bf16.cache_clear()


def test_without_cpuinfo_a_timed_matmul_decides(monkeypatch, tmp_path):
    monkeypatch.setattr(precision, "CPUINFO", str(tmp_path / "absent"))
    for speedup, expected in ((0.6, "float32"), (2.1, "bfloat16")):
        precision.fast_bf16.cache_clear()
        monkeypatch.setattr(precision, "measure_bf16_speedup", lambda speedup=speedup: speedup)
        assert precision.resolve_precision("", "cpu") == expected
    precision.fast_bf16.cache_clear()
    speedup = precision.measure_bf16_speedup()  # the real measurement on this machine
    assert math.isfinite(speedup) and speedup > 0


def test_token_truncate_caps_the_weight_at_c_and_sequence_mask_drops_whole_replies():
    trainer_B_T = torch.tensor([[-1.0, -1.0, -1.0], [-1.0, -1.0, 0.0]])
    # token ratios p_trainer / p_sampler: e^0.5, e^-0.5, e^2 (row 0); e^3 on every token of row 1
    sampler_B_T = torch.tensor([[-1.5, -0.5, -3.0], [-4.0, -4.0, -3.0]])
    mask_B_T = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    token_B_T = losses.rollout_weights(trainer_B_T, sampler_B_T, mask_B_T, "token_truncate", 2.0)
    expected = torch.tensor([[math.exp(0.5), math.exp(-0.5), 2.0], [2.0, 2.0, 2.0]])
    torch.testing.assert_close(token_B_T, expected)
    # geometric means: e^{(0.5 − 0.5 + 2)/3} = e^{0.67} < 2 kept; e^3 > 2 masked
    sequence_B_T = losses.rollout_weights(trainer_B_T, sampler_B_T, mask_B_T, "sequence_mask", 2.0)
    torch.testing.assert_close(sequence_B_T, torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]))


def test_a_temperature_other_than_one_is_refused_unless_corrected():
    cooled = {"root": "r", "regen": {"temperature": 0.7}}
    with pytest.raises(ValueError, match="rollout_correction"):
        TrainConfig.from_dict(cooled)
    assert TrainConfig.from_dict({**cooled, "rollout_correction": "token_truncate"})
    assert TrainConfig.from_dict({**cooled, "mode": "logged"})  # logged replies are not sampled


@pytest.mark.parametrize("precision_name", ["float32", "bfloat16"])
def test_the_correction_caps_the_first_steps_weights_at_c(tmp_path, model_dir, precision_name):
    """At T = 0.5 the sampler draws from another distribution: token_truncate weights every token by
    min(p_trainer / p_sampler, C) in the loss, the round's first step included, and counts the capped ones."""
    write_interactions(tmp_path / "root", 8)
    cap = 1.5
    cfg = tiny_config(
        tmp_path / "root", model_dir, precision=precision_name, regen=dict(dtype=precision_name, temperature=0.5),
        rollout_correction="token_truncate", rollout_correction_cap=cap,
    )  # fmt: skip
    state = run_setup.setup_run(cfg)
    scored, _ = round_replies.regenerate_round(state, 1)
    assert all(r.sampler_logp_T is not None and len(r.sampler_logp_T) == len(r.reply_ids) for r in scored)
    order = batches.micro_batches(scored, 2, 0, 1, 1)
    rows, _ = objective.with_behaviour_logprobs(state.cfg, state.policy, scored, order)
    assert objective.sampler_mismatch(rows)["mismatch/mean_abs_logp"] > 0.05  # T = 0.5 is far from p_θ
    first = batches.collate([rows[i] for i in order[0]])
    logp_B_T, _ = objective.behaviour_logprobs(state.cfg, state.policy, first)
    weight_B_T, staleness_B_T, corrected_B_T = objective.token_weights(
        state.cfg, logp_B_T, first, first.mask_B_T, first.mask_B_T.float()
    )
    real = first.mask_B_T.bool()
    expected = torch.exp(first.behaviour_logp_B_T - first.sampler_logp_B_T).clamp(max=cap)
    torch.testing.assert_close(staleness_B_T[real], torch.ones_like(staleness_B_T[real]), atol=1e-5, rtol=0)
    torch.testing.assert_close(weight_B_T[real], expected[real], atol=1e-5, rtol=1e-5)
    assert float(weight_B_T[real].max()) <= cap + 1e-6
    assert int(corrected_B_T.sum()) == int((expected[real] >= cap).sum()) > 0
    _, stats = objective.micro_batch_loss(state.cfg, state.policy, state.policy, first, len(order[0]))
    assert stats["corrected"] == float(corrected_B_T.sum())
