import pytest
import torch

from train.losses import (
    alpha_divergence,
    centre_advantages,
    importance_weights,
    sampled_token_loss,
    skip_first_tokens,
    topk_tail_loss,
)


def test_sampled_token_gradient_equals_the_hand_derived_one():
    torch.manual_seed(0)
    logits_T_V = torch.randn(3, 5, requires_grad=True)
    tokens_T = torch.tensor([1, 4, 2])
    advantage_T = torch.tensor([0.5, -1.0, 2.0])
    logp_T = torch.log_softmax(logits_T_V, -1).gather(1, tokens_T[:, None])[:, 0]
    loss = sampled_token_loss(logp_T[None], advantage_T[None], torch.ones(1, 3), torch.ones(1, 3), n_replies=1)
    loss.backward()
    # d/dz_t of −A_t·log softmax(z_t)[y_t] / T = −A_t·(onehot(y_t) − softmax(z_t)) / T
    expected = -advantage_T[:, None] * (torch.nn.functional.one_hot(tokens_T, 5) - logits_T_V.softmax(-1)) / 3
    torch.testing.assert_close(logits_T_V.grad, expected.detach())


def test_sampled_token_loss_is_token_mean_per_reply_then_mean_over_the_step():
    logp_B_T = torch.tensor([[-1.0, -2.0, 0.0], [-3.0, -1.0, -1.0]])
    advantage_B_T = torch.tensor([[1.0, 1.0, 5.0], [2.0, 0.0, 1.0]])
    mask_B_T = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    loss = sampled_token_loss(logp_B_T, advantage_B_T, mask_B_T, torch.ones(2, 3), n_replies=4)
    # reply 0: −(−1 − 2)/2 = 1.5; reply 1: −(−6 + 0 − 1)/3 = 7/3; step of 4 replies.
    assert loss.item() == pytest.approx((1.5 + 7 / 3) / 4)


def test_first_tokens_are_skipped_and_advantages_centred_per_reply():
    mask_B_T = skip_first_tokens(torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]]), 2)
    assert mask_B_T.tolist() == [[0, 0, 1, 1], [0, 0, 1, 0]]
    centred = centre_advantages(torch.tensor([[9.0, 9.0, 1.0, 3.0], [9.0, 9.0, 4.0, 7.0]]), mask_B_T)
    assert centred.tolist() == [[0, 0, -1, 1], [0, 0, 0, 0]]


def test_importance_weight_is_the_ratio_clipped_at_the_cap():
    logp = torch.log(torch.tensor([[0.1, 0.5, 0.9]]))
    behaviour = torch.log(torch.tensor([[0.2, 0.1, 0.9]]))
    weights = importance_weights(logp, behaviour, clip=2.0)
    torch.testing.assert_close(weights, torch.tensor([[0.5, 2.0, 1.0]]))
    assert float(importance_weights(logp, behaviour - 30.0, clip=2.0).max()) == 2.0


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_topk_with_full_support_equals_the_exact_kl(alpha):
    torch.manual_seed(1)
    student_logits = torch.randn(2, 3, 7, requires_grad=True)
    teacher_logp = torch.log_softmax(torch.randn(2, 3, 7), -1)
    student_logp = torch.log_softmax(student_logits, -1)
    ids = torch.arange(7).expand(2, 3, 7)
    mask = torch.ones(2, 3)
    loss = topk_tail_loss(student_logp.gather(-1, ids), teacher_logp, mask, torch.ones(2, 3), alpha, n_replies=2)
    if alpha == 1.0:  # reverse KL(student ‖ teacher)
        exact = (student_logp.exp() * (student_logp - teacher_logp)).sum(-1).mean(-1).mean()
    else:  # forward KL(teacher ‖ student)
        exact = (teacher_logp.exp() * (teacher_logp - student_logp)).sum(-1).mean(-1).mean()
    torch.testing.assert_close(loss, exact, atol=1e-5, rtol=0)
    (grad,) = torch.autograd.grad(loss, student_logits, retain_graph=True)
    (exact_grad,) = torch.autograd.grad(exact, student_logits)
    torch.testing.assert_close(grad, exact_grad, atol=1e-5, rtol=0)


def test_topk_tail_bucket_holds_the_rest_of_the_mass_and_jsd_is_symmetric_at_half():
    student = torch.log(torch.tensor([[[0.5, 0.3, 0.2]]]))
    teacher = torch.log(torch.tensor([[[0.2, 0.3, 0.5]]]))
    # K = 1 on token 0: buckets are (0.5, 0.5) for the student and (0.2, 0.8) for the teacher.
    loss = topk_tail_loss(student[..., :1], teacher[..., :1], torch.ones(1, 1), torch.ones(1, 1), 1.0, 1)
    expected = 0.5 * torch.log(torch.tensor(0.5 / 0.2)) + 0.5 * torch.log(torch.tensor(0.5 / 0.8))
    torch.testing.assert_close(loss, expected)
    assert alpha_divergence(student, teacher, 0.5).item() == pytest.approx(
        alpha_divergence(teacher, student, 0.5).item()
    )


def test_importance_weight_scales_the_topk_loss():
    student = torch.log_softmax(torch.randn(1, 2, 4), -1)
    teacher = torch.log_softmax(torch.randn(1, 2, 4), -1)
    base = topk_tail_loss(student, teacher, torch.ones(1, 2), torch.ones(1, 2), 0.5, 1)
    doubled = topk_tail_loss(student, teacher, torch.ones(1, 2), torch.full((1, 2), 2.0), 0.5, 1)
    torch.testing.assert_close(doubled, 2 * base)


def test_student_support_sees_student_mass_the_teacher_support_lumps_into_the_tail():
    # Reverse KL sums over the student's mass: on the student's support the loss sees the confident student
    # tokens the teacher rejects one by one; on the teacher's support they only appear through the tail.
    student = torch.log_softmax(torch.tensor([[[5.0, 5.0, 0.0, 0.0]]]), dim=-1).requires_grad_()
    teacher = torch.log_softmax(torch.tensor([[[0.0, 5.0, 5.0, 0.0]]]), dim=-1)
    exact = (student.exp() * (student - teacher)).sum()
    losses = {}
    for support, ranked in (("student", student), ("teacher", teacher)):
        ids = ranked.detach().topk(2, dim=-1).indices
        there = (student.gather(-1, ids), teacher.gather(-1, ids))
        losses[support] = topk_tail_loss(*there, torch.ones(1, 1), torch.ones(1, 1), 1.0, 1)
    assert abs(losses["student"].item() - exact.item()) < abs(losses["teacher"].item() - exact.item())
