import pytest
import torch

from pipelines.backends.reply_head import _GatheredLogSoftmax, gathered_logprobs


def _head(vocab: int, hidden: int, bias: bool) -> torch.nn.Linear:
    torch.manual_seed(0)
    return torch.nn.Linear(hidden, vocab, bias=bias, dtype=torch.float64)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("top_k", [0, 3])
def test_values_and_gradients_equal_full_vocabulary_log_softmax(bias, top_k):
    head = _head(vocab=11, hidden=6, bias=bias)
    hidden_N_H = torch.randn(7, 6, dtype=torch.float64, requires_grad=True)
    ids_N_J = torch.randint(0, 11, (7, 2))
    logp_N_M, topk_ids_N_K = gathered_logprobs(hidden_N_H, head, ids_N_J, top_k=top_k, chunk=3)  # 3 + 3 + 1

    full_N_V = torch.log_softmax(head(hidden_N_H), dim=-1)
    expected_ids_N_K = full_N_V.detach().topk(top_k, dim=-1).indices
    assert torch.equal(topk_ids_N_K, expected_ids_N_K)
    expected_N_M = full_N_V.gather(1, torch.cat([ids_N_J, expected_ids_N_K], dim=1))
    torch.testing.assert_close(logp_N_M, expected_N_M, rtol=0, atol=1e-12)

    upstream_N_M = torch.randn_like(logp_N_M)
    inputs = [hidden_N_H, head.weight] + ([head.bias] if bias else [])
    grads = torch.autograd.grad((logp_N_M * upstream_N_M).sum(), inputs)
    expected = torch.autograd.grad((expected_N_M * upstream_N_M).sum(), inputs)
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_gradcheck_in_float64():
    """The hand-written backward against finite differences, in hidden states, weight and bias."""
    ids_N_J = torch.tensor([[0, 4], [2, 2], [1, 3]])
    inputs = tuple(torch.randn(shape, dtype=torch.float64, requires_grad=True) for shape in ((3, 3), (5, 3), (5,)))
    assert torch.autograd.gradcheck(lambda h, w, b: _GatheredLogSoftmax.apply(h, w, b, ids_N_J, 2, 2)[0], inputs)


def test_a_frozen_head_gets_no_gradient_and_empty_input_works():
    head = _head(vocab=9, hidden=4, bias=False).requires_grad_(False)
    hidden_N_H = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    logp_N_M, _ = gathered_logprobs(hidden_N_H, head, torch.zeros(5, 1, dtype=torch.long), chunk=2)
    logp_N_M.sum().backward()
    assert head.weight.grad is None and hidden_N_H.grad is not None
    empty, ids = gathered_logprobs(torch.zeros(0, 4, dtype=torch.float64), head, torch.zeros(0, 1, dtype=torch.long))
    assert empty.shape == (0, 1) and ids.shape == (0, 0)


@pytest.mark.parametrize("setting", ["cpu autocast bf16", "bf16 weights"])
def test_bf16_head_gives_float32_logprobs_and_gradients_of_the_input_dtypes(setting):
    torch.manual_seed(0)
    dtype = torch.bfloat16 if setting == "bf16 weights" else torch.float32
    head = torch.nn.Linear(16, 50, bias=False).to(dtype)
    hidden_N_H = torch.randn(9, 16, dtype=dtype, requires_grad=True)
    ids_N_J = torch.randint(0, 50, (9, 1))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=setting == "cpu autocast bf16"):
        logp_N_M, _ = gathered_logprobs(hidden_N_H, head, ids_N_J, top_k=4, chunk=4)
    logp_N_M.sum().backward()
    logits_N_V = torch.nn.functional.linear(hidden_N_H.detach().float(), head.weight.detach().float())
    reference_N_V = torch.log_softmax(logits_N_V, dim=-1)
    assert logp_N_M.dtype == torch.float32
    torch.testing.assert_close(logp_N_M[:, :1], reference_N_V.gather(1, ids_N_J), rtol=0, atol=0.1)
    assert hidden_N_H.grad.dtype == dtype and head.weight.grad.dtype == dtype
    assert torch.isfinite(hidden_N_H.grad).all() and head.weight.grad.abs().sum() > 0
