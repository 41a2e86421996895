"""The chunked micro-batch loss against the plain full-vocabulary one (float64, tiny random Llama)."""

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from train import losses, model, objective
from train.batches import TrainingRow, collate
from train.config import TrainConfig

VOCAB = 40


def _llama(tied: bool) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=8, initializer_range=0.3, tie_word_embeddings=tied,
        attn_implementation="eager",
    )  # fmt: skip
    torch.manual_seed(0)
    return LlamaForCausalLM(config).double()


def _rows(top_k: int) -> list[TrainingRow]:
    rng = np.random.default_rng(0)
    rows = []
    for prefix, extra, reply in ((5, 2, 6), (3, 4, 2), (7, 1, 4)):
        student = rng.integers(0, VOCAB, prefix).tolist()
        rows.append(
            TrainingRow(
                interaction_id=f"i{prefix}",
                student_prefix_ids=student,
                teacher_prefix_ids=student + rng.integers(0, VOCAB, extra).tolist(),
                reply_ids=rng.integers(0, VOCAB, reply).tolist(),
                behaviour_logp_T=None,
                teacher_logp_T=-rng.exponential(2.0, reply).astype(np.float32),
                topk_ids_T_K=rng.permuted(np.tile(np.arange(VOCAB), (reply, 1)), axis=1)[:, :top_k] if top_k else None,
                topk_logp_T_K=np.sort(-rng.exponential(2.0, (reply, top_k)), axis=1)[:, ::-1].astype(np.float32)
                if top_k
                else None,
            )
        )
    return rows


def _log_softmax(llama, *args) -> torch.Tensor:
    return torch.log_softmax(llama.get_output_embeddings()(model.reply_hidden(llama, *args)), dim=-1)


def _full_vocabulary_loss(cfg, policy, judge, batch, n_replies):
    """The loss as computed before chunking: [B, T, V] log-softmax, top-K picked from it, plain autograd."""
    student = (batch.student_ids_B_L, batch.student_mask_B_L, batch.student_first_B, batch.reply_ids_B_T.shape[1])
    teacher = (batch.teacher_ids_B_L, batch.teacher_mask_B_L, batch.teacher_first_B, batch.reply_ids_B_T.shape[1])
    logp_B_T_V = _log_softmax(policy, *student)
    logp_B_T = logp_B_T_V.gather(-1, batch.reply_ids_B_T[..., None])[..., 0]
    if cfg.teacher == "stored":
        teacher_B_T, ids_B_T_K, teacher_K = batch.stored_teacher_B_T, batch.topk_ids_B_T_K, batch.topk_logp_B_T_K
    else:
        with torch.no_grad():
            teacher_B_T_V = _log_softmax(judge, *teacher)
        teacher_B_T = teacher_B_T_V.gather(-1, batch.reply_ids_B_T[..., None])[..., 0]
        ranked = logp_B_T_V if cfg.topk_support == "student" else teacher_B_T_V
        ids_B_T_K = ranked.detach().topk(cfg.top_k, dim=-1).indices
        teacher_K = teacher_B_T_V.gather(-1, ids_B_T_K)
    mask_B_T = losses.skip_first_tokens(batch.mask_B_T, cfg.ignore_first_tokens).double()
    advantage_B_T = (teacher_B_T - logp_B_T.detach()) * mask_B_T
    weight_B_T = torch.ones_like(logp_B_T)
    if cfg.loss == "sampled_token":
        return losses.sampled_token_loss(logp_B_T, advantage_B_T, mask_B_T, weight_B_T, n_replies)
    student_K = logp_B_T_V.gather(-1, ids_B_T_K.long())
    return losses.topk_tail_loss(student_K, teacher_K, mask_B_T, weight_B_T, cfg.alpha, n_replies)


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize(
    ("loss", "teacher", "support", "lora"),
    [
        ("sampled_token", "live", "", 0),
        ("topk", "live", "student", 0),
        ("topk", "frozen", "teacher", 0),
        ("topk", "stored", "teacher", 0),
        ("sampled_token", "live", "", 4),
        ("topk", "live", "student", 4),
    ],
)
def test_chunked_loss_and_gradients_equal_the_full_vocabulary_ones(tied, loss, teacher, support, lora, monkeypatch):
    monkeypatch.setattr(model, "LOGITS_CHUNK", 5)  # 12 reply positions: chunks of 5, 5 and 2
    if lora:
        pytest.importorskip("peft")
    cfg = TrainConfig(
        root="r", mode="logged", loss=loss, teacher=teacher, topk_support=support, top_k=5, alpha=0.5,
        lora_rank=lora, ignore_first_tokens=1,
    )  # fmt: skip
    policy = model.prepare_policy(_llama(tied), cfg.lora_rank, cfg.lora_alpha, gradient_checkpointing=False)
    judge = {"live": policy, "frozen": model.frozen_copy(_llama(tied)), "stored": None}[teacher]
    batch = collate(_rows(top_k=5))
    batch = type(batch)(
        **{k: v.double() if v is not None and v.is_floating_point() else v for k, v in vars(batch).items()}
    )
    trained = [p for p in policy.parameters() if p.requires_grad]

    chunked, _ = objective.micro_batch_loss(cfg, policy, judge, batch, n_replies=4)
    chunked_grads = torch.autograd.grad(chunked, trained, allow_unused=True)
    full = _full_vocabulary_loss(cfg, policy, judge, batch, n_replies=4)
    full_grads = torch.autograd.grad(full, trained, allow_unused=True)

    torch.testing.assert_close(chunked, full, rtol=0, atol=1e-10)
    assert any(g is not None and g.abs().sum() > 0 for g in chunked_grads)
    for got, want in zip(chunked_grads, full_grads, strict=True):
        if want is None:
            assert got is None or not got.any()
        else:
            torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    assert policy.get_output_embeddings().weight.requires_grad == (not lora)


def test_the_sft_loss_is_the_cross_entropy_of_the_replies_whatever_the_teacher_says():
    cfg = TrainConfig(root="r", mode="logged", loss="sft", ignore_first_tokens=0)
    policy = model.prepare_policy(_llama(True), 0, 16.0, gradient_checkpointing=False)
    batch = collate(_rows(top_k=0))
    batch = type(batch)(
        **{k: v.double() if v is not None and v.is_floating_point() else v for k, v in vars(batch).items()}
    )
    loss, _ = objective.micro_batch_loss(cfg, policy, policy, batch, n_replies=3)
    student = (batch.student_ids_B_L, batch.student_mask_B_L, batch.student_first_B, batch.reply_ids_B_T.shape[1])
    logp_B_T = _log_softmax(policy, *student).gather(-1, batch.reply_ids_B_T[..., None])[..., 0]
    mask_B_T = batch.mask_B_T.double()
    cross_entropy = (-(logp_B_T * mask_B_T).sum(1) / mask_B_T.sum(1)).sum() / 3
    torch.testing.assert_close(loss, cross_entropy, rtol=0, atol=1e-10)
