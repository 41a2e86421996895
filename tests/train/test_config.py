import pytest

from train.config import TrainConfig, load_train_config


def test_mode_defaults_follow_the_published_trainers():
    # Offline trainer: first 2 reply tokens ignored, no centring. Online trainer: none ignored, centred per reply.
    logged = TrainConfig(root="r", mode="logged")
    onpolicy = TrainConfig(root="r", mode="onpolicy")
    assert (logged.ignore_first_tokens, logged.center_advantages) == (2, False)
    assert (onpolicy.ignore_first_tokens, onpolicy.center_advantages) == (0, True)
    explicit = TrainConfig(root="r", mode="onpolicy", ignore_first_tokens=3, center_advantages=False)
    assert (explicit.ignore_first_tokens, explicit.center_advantages) == (3, False)


def test_topk_support_defaults_to_the_student_except_for_a_stored_teacher():
    assert {t: TrainConfig(root="r", teacher=t).topk_support for t in ("live", "ema", "frozen", "stored")} == {
        "live": "student",
        "ema": "student",
        "frozen": "student",
        "stored": "teacher",
    }
    assert TrainConfig(root="r", teacher="live", topk_support="teacher").topk_support == "teacher"
    with pytest.raises(ValueError, match="stored teacher keeps only its own top-K"):
        TrainConfig(root="r", teacher="stored", topk_support="student")
    with pytest.raises(ValueError, match="topk_support='both'"):
        TrainConfig(root="r", topk_support="both")


def test_rendering_settings_reach_the_hindsight_config(tmp_path):
    path = tmp_path / "refresh.toml"
    path.write_text('[train]\nroot = "r"\ntruncation = "equal_cut"\nchat_template_kwargs = {enable_thinking = true}\n')
    cfg = load_train_config(str(path))
    assert (cfg.hindsight.truncation, cfg.hindsight.chat_template_kwargs) == ("equal_cut", {"enable_thinking": True})
    assert TrainConfig(root="r").hindsight.chat_template_kwargs == {"enable_thinking": False}
    with pytest.raises(ValueError, match="chat_template_kwargs"):
        TrainConfig(root="r", chat_template_kwargs={"enable_thinking": None})
