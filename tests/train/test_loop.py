import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from pipelines.backends.transformers_backend import TransformersBackendConfig, make_scorer
from pipelines.score import ScoreRun, score_interactions
from pipelines.store import layout as storage
from schemas import scores as scores_schema
from schemas import training_rounds
from tests.helpers.scoring import make_model, make_tokenizer
from tests.helpers.training import tiny_config, write_interactions, write_tiny_model
from train import batches, data, loop, model, objective, round_replies, run_setup, steps
from train.config import TrainConfig

pytestmark = pytest.mark.slow


@pytest.fixture
def model_dir(tmp_path):
    return write_tiny_model(tmp_path / "tiny-model")


def test_two_onpolicy_rounds_write_shards_checkpoints_and_round_rows(tmp_path, model_dir):
    root = tmp_path / "root"
    write_interactions(root, 12)
    summary = loop.main(tiny_config(root, model_dir, rounds=2))
    run_id = summary["run_id"]
    assert summary["rounds_completed"] == 2 and summary["global_step"] == 4
    # The trainer republishes the catalog: its rounds are in the published views, not frozen empty ones.
    with duckdb.connect(str(root / "catalog.duckdb"), read_only=True) as con:
        con.execute("set file_search_path = ?", [str(root)])
        assert con.sql("select count(*) from training_rounds").fetchall() == [(2,)]
        sources = con.sql("select distinct source_model from advantages where round > 0 and response is not null")
        assert len(sources.fetchall()) == 2  # '<model> round 1' and '<model> round 2'

    for round_index in (1, 2):
        scores = pq.read_table(storage.score_shard_path(str(root), run_id, round_index, 0, 1))
        assert scores.schema.equals(scores_schema.SCHEMA) and scores.num_rows == 4
        assert set(scores["reply_source"].to_pylist()) == {"regenerated"}
        assert set(scores["round"].to_pylist()) == {round_index}
        reloaded = AutoModelForCausalLM.from_pretrained(
            root / "checkpoints" / f"run_id={run_id}" / f"round-{round_index:04d}"
        )
        assert reloaded.config.num_hidden_layers == 2

    rounds = pq.read_table(root / "training_rounds" / f"run_id={run_id}").sort_by("round")
    assert rounds.schema.equals(training_rounds.SCHEMA) and rounds["round"].to_pylist() == [1, 2]
    assert rounds["steps"].to_pylist() == [2, 2]
    for stage in ("sample", "score", "save"):  # the round's time split: every stage ran and took time
        assert all(v > 0 for v in rounds[f"{stage}_s"].to_pylist() + rounds[f"{stage}_tokens_per_s"].to_pylist())
    assert all(v > 0 for v in rounds["train_s"].to_pylist())
    assert all(x is not None for x in rounds["approval"].to_pylist() + rounds["drift_kl"].to_pylist())
    # Round 2 was sampled by the round-1 weights, whose revision is recorded.
    assert (
        rounds["model_revision"][1].as_py()
        == pq.read_table(storage.score_shard_path(str(root), run_id, 2, 0, 1))["model_revision"][0].as_py()
    )
    held_out = {i for i in data.read_interactions(str(root))["interaction_id"].to_pylist() if data.is_held_out(i, 0.25)}
    trained = set(pq.read_table(storage.score_shard_path(str(root), run_id, 1, 0, 1))["interaction_id"].to_pylist())
    assert held_out and not held_out & trained
    with open(summary["metrics"]) as lines:
        keys = {k for line in lines for k in json.loads(line)}
    with open(Path(__file__).parents[2] / "train" / "README.md") as readme:
        documented = readme.read()
    assert all(f"`{k}`" in documented for k in keys if "/" in k)


def test_behaviour_logprobs_from_the_scorer_match_the_trainers_forward(tmp_path, model_dir):
    write_interactions(tmp_path / "root", 8)
    state = run_setup.setup_run(tiny_config(tmp_path / "root", model_dir))
    rows, _ = round_replies.regenerate_round(state, 1)
    batch = batches.collate(rows)
    with torch.no_grad():
        logp_B_T = model.reply_logprobs(
            state.policy,
            batch.student_ids_B_L,
            batch.student_mask_B_L,
            batch.student_first_B,
            batch.reply_ids_B_T,
            batch.mask_B_T,
        ).token_B_T
    torch.testing.assert_close(logp_B_T, batch.behaviour_logp_B_T * batch.mask_B_T, atol=1e-5, rtol=0)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_first_step_importance_weights_are_one_for_every_precision(tmp_path, model_dir, precision):
    write_interactions(tmp_path / "root", 8)
    cfg = tiny_config(tmp_path / "root", model_dir, precision=precision, regen=dict(dtype=precision))
    state = run_setup.setup_run(cfg)
    scored, _ = round_replies.regenerate_round(state, 1)
    order = batches.micro_batches(scored, 2, 0, 1, 1)
    rows, entropy = objective.with_behaviour_logprobs(state.cfg, state.policy, scored, order)
    assert entropy > 0.0
    first = batches.collate([rows[i] for i in order[0]])
    _, stats = objective.micro_batch_loss(state.cfg, state.policy, state.policy, first, len(order[0]))
    logp_B_T, _ = objective.behaviour_logprobs(state.cfg, state.policy, first)
    weights = torch.exp(logp_B_T - first.behaviour_logp_B_T)[first.mask_B_T.bool()]
    assert (weights - 1).abs().max() <= 1e-5 and abs(stats["weight"] / stats["tokens"] - 1) <= 1e-5
    # The sampler's own log-probs are kept and measured against the trainer's: the same forward up to float
    # rounding in float32; in bfloat16 the sampler's copy rounds the weights too, a gap the mismatch shows.
    mismatch = objective.sampler_mismatch(rows)
    assert mismatch["mismatch/tokens"] == sum(len(r.reply_ids) for r in rows)
    assert mismatch["mismatch/max_abs_logp"] >= mismatch["mismatch/mean_abs_logp"] >= 0
    if precision == "float32":
        assert mismatch["mismatch/max_abs_logp"] <= 1e-4
    else:
        assert 1e-4 < mismatch["mismatch/mean_abs_logp"] < 0.5 and mismatch["mismatch/k3_kl"] > 0


def _one_step_with_sgd(state, rows):
    """One train_round with plain SGD (lr 1), so parameter deltas are exactly the accumulated gradients."""
    state.optimizer = torch.optim.SGD([p for p in state.policy.parameters() if p.requires_grad], lr=1.0)
    state.scheduler = torch.optim.lr_scheduler.LambdaLR(state.optimizer, lambda s: 1.0)
    before = {n: p.detach().clone() for n, p in state.policy.named_parameters()}
    steps.train_round(state, 1, rows)
    return {n: p.detach() - before[n] for n, p in state.policy.named_parameters()}


def test_micro_batch_1_times_4_equals_micro_batch_4_times_1(tmp_path, model_dir):
    write_interactions(tmp_path / "root", 8)
    common = dict(grad_clip=0.0, ignore_first_tokens=0)
    small = run_setup.setup_run(
        tiny_config(tmp_path / "root", model_dir, micro_batch_size=1, accumulation_steps=4, **common)
    )
    rows, _ = round_replies.regenerate_round(small, 1)
    large = run_setup.setup_run(
        tiny_config(tmp_path / "root", model_dir, micro_batch_size=4, accumulation_steps=1, **common)
    )
    delta_small, delta_large = _one_step_with_sgd(small, rows), _one_step_with_sgd(large, rows)
    assert small.global_step == large.global_step == 1
    for name, value in delta_small.items():
        torch.testing.assert_close(value, delta_large[name], atol=1e-6, rtol=1e-4)


def test_every_parameter_changes_after_one_step(tmp_path, model_dir):
    write_interactions(tmp_path / "root", 8)
    state = run_setup.setup_run(tiny_config(tmp_path / "root", model_dir, accumulation_steps=2))
    rows, _ = round_replies.regenerate_round(state, 1)
    before = {n: p.detach().clone() for n, p in state.policy.named_parameters()}
    steps.train_round(state, 1, rows)
    unchanged = [n for n, p in state.policy.named_parameters() if torch.equal(p, before[n])]
    assert state.global_step == 1 and unchanged == []


def test_lora_trains_only_the_adapters(tmp_path, model_dir):
    pytest.importorskip("peft")
    write_interactions(tmp_path / "root", 8)
    state = run_setup.setup_run(tiny_config(tmp_path / "root", model_dir, accumulation_steps=2, lora_rank=4))
    rows, _ = round_replies.regenerate_round(state, 1)
    before = {n: p.detach().clone() for n, p in state.policy.named_parameters()}
    steps.train_round(state, 1, rows)
    changed = {n for n, p in state.policy.named_parameters() if not torch.equal(p, before[n])}
    lora_b = {n for n in before if "lora_B" in n}
    assert lora_b and lora_b <= changed  # B starts at zero, so A gets no gradient on the first step
    assert all("lora_" in n for n in changed)
    path = loop.checkpoint_round(state, 1, {}, loop.datetime.now(loop.UTC))["checkpoint_path"]
    merged = AutoModelForCausalLM.from_pretrained(path)
    assert not any("lora" in n for n, _ in merged.named_parameters())


def test_interrupted_round_resumes_to_the_same_weights_as_a_straight_run(tmp_path, model_dir, monkeypatch):
    straight_root, resumed_root = tmp_path / "straight", tmp_path / "resumed"
    for root in (straight_root, resumed_root):
        write_interactions(root, 12)
    straight = loop.main(tiny_config(straight_root, model_dir, rounds=2, teacher="ema"))

    real_step, calls = steps.apply_step, []

    def crash_in_round_two(state):
        calls.append(1)
        if len(calls) == 4:  # round 2 has taken one of its two steps
            raise KeyboardInterrupt
        return real_step(state)

    monkeypatch.setattr(steps, "apply_step", crash_in_round_two)
    with pytest.raises(KeyboardInterrupt):
        loop.main(tiny_config(resumed_root, model_dir, rounds=2, teacher="ema"))
    monkeypatch.setattr(steps, "apply_step", real_step)
    resumed = loop.main(tiny_config(resumed_root, model_dir, rounds=2, teacher="ema"))

    assert resumed["rounds_completed"] == 2 and [r["round"] for r in resumed["rounds"]] == [2]
    for name in ("model.safetensors", "ema_teacher.safetensors"):
        expected, actual = load_file(f"{straight['checkpoint']}/{name}"), load_file(f"{resumed['checkpoint']}/{name}")
        assert all(torch.equal(expected[k], actual[k]) for k in expected)
    with open(resumed["metrics"]) as lines:
        numbers = [json.loads(line)["step"] for line in lines if "loss/train" in line and "eval/approval" not in line]
    assert numbers == [1, 2, 3, 4]


def _write_logged_scores(root, run_id, top_k):
    interactions = data.read_interactions(str(root))
    cfg = ScoreRun(run_id, "tiny", "rev0")
    scorer = make_scorer(make_model(), TransformersBackendConfig(), top_k=top_k)
    scores = score_interactions(interactions, scorer, make_tokenizer(), cfg)
    path = storage.score_shard_path(str(root), run_id, 0, 0, 1)
    (root / "scores" / f"run_id={run_id}" / "round=0000").mkdir(parents=True)
    pq.write_table(scores, path)


@pytest.mark.parametrize(
    ("mode", "loss", "teacher"),
    [("logged", "sampled_token", "live"), ("logged", "topk", "stored"), ("onpolicy", "topk", "frozen")],
)
def test_modes_losses_and_teachers_run_a_round(tmp_path, model_dir, mode, loss, teacher):
    root = tmp_path / "root"
    write_interactions(root, 10)
    _write_logged_scores(root, "night-1", top_k=5)
    summary = loop.main(tiny_config(root, model_dir, mode=mode, loss=loss, teacher=teacher, top_k=5))
    row = summary["rounds"][0]
    assert row["mode"] == mode and row["steps"] == 2 and row["loss"] == row["loss"]  # not NaN
    assert row["train_s"] > 0 and row["save_s"] > 0
    if mode == "logged":
        assert row["scores_path"] is None and row["mean_importance_weight"] == 1.0
        assert row["sample_s"] == row["score_s"] == 0.0 and row["sample_tokens_per_s"] is None
    else:
        assert row["sample_s"] > 0 and row["score_tokens_per_s"] > 0


def test_config_rejects_bad_values_and_loads_toml(tmp_path):
    with pytest.raises(ValueError, match="teacher"):
        TrainConfig(root="r", teacher="oracle")
    path = tmp_path / "refresh.toml"
    path.write_text('[train]\nmode = "logged"\nlearning_rate = 2e-6\n')
    from train.config import load_train_config

    cfg = load_train_config(str(path), root="r", rounds=3, limit=None)
    assert (cfg.mode, cfg.learning_rate, cfg.rounds, cfg.limit) == ("logged", 2e-6, 3, 0)
    with pytest.raises(ValueError, match="unknown"):
        load_train_config(None, root="r", speed=1)
    assert cfg.resolved_run_id() == load_train_config(str(path), root="elsewhere", rounds=9).resolved_run_id()
