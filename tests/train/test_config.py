import pytest

from pipelines.config_loading import ConfigError
from pipelines.hindsight import HindsightConfig
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
    hindsight = 'truncation = "equal_cut"\nchat_template_kwargs = {enable_thinking = true}\n'
    path.write_text('[train]\nroot = "r"\n[train.hindsight]\n' + hindsight)
    cfg = load_train_config(str(path))
    assert (cfg.hindsight.truncation, cfg.hindsight.chat_template_kwargs) == ("equal_cut", {"enable_thinking": True})
    assert TrainConfig(root="r").hindsight.chat_template_kwargs == {"enable_thinking": False}
    with pytest.raises(ValueError, match="chat_template_kwargs"):
        TrainConfig(root="r", hindsight=HindsightConfig(chat_template_kwargs={"enable_thinking": None}))


def test_a_key_that_moved_to_a_nested_table_names_its_new_place(tmp_path):
    path = tmp_path / "refresh.toml"
    path.write_text('[train]\nroot = "r"\nmax_new_tokens = 32\n')
    with pytest.raises(
        ConfigError, match=r"\[train\] max_new_tokens has moved: set it as \[train.regen\] max_new_tokens"
    ):
        load_train_config(str(path))
    with pytest.raises(ConfigError, match=r"\[train.regen\] temperature = 'hot': expected a number"):
        TrainConfig.from_dict({"root": "r", "regen": {"temperature": "hot"}})


def test_the_run_id_hashes_the_settings_under_their_original_flat_names():
    # Stored runs keep their ids: the digest input is the flat dict the trainer hashed before the settings
    # were nested. The id below was written by the trainer before nesting, for the same settings.
    cfg = TrainConfig.from_dict(
        {
            "root": "r",
            "rounds": 1,
            "limit": 8,
            "interactions_per_round": 4,
            "eval_max_interactions": 2,
            "regen": {"max_new_tokens": 16, "batch_size": 4, "dtype": "float32"},
            "micro_batch_size": 4,
            "target_tokens_per_step": 256,
            "learning_rate": 1e-5,
            "hindsight": {"max_context_tokens": 512},
            "precision": "float32",  # what that run trained in (float32 sampling and training on CPU)
        }
    )
    settings = cfg.digest_settings()
    assert (settings["generate_batch_size"], settings["max_new_tokens"], settings["max_context_tokens"]) == (4, 16, 512)
    assert not {"regen", "hindsight", "batch_size"} & set(settings)
    assert cfg.resolved_run_id() == "refresh-onpolicy-6f690405cd"


def test_a_new_setting_reaches_the_trainer_from_toml_flags_and_deployments_and_keeps_earlier_run_ids(tmp_path):
    config = tmp_path / "train.toml"
    config.write_text("[train]\nadam_beta2 = 0.98\n")
    from_file = load_train_config(str(config), root="r")
    from_flag = load_train_config(None, {"train.adam_beta2": "0.98"}, root="r")
    assert from_file == from_flag == TrainConfig.from_dict(from_file.to_dict())  # the deployment's parameters
    assert from_file.adam_beta2 == 0.98 and from_file.resolved_run_id() != TrainConfig(root="r").resolved_run_id()
    assert "adam_beta2" not in TrainConfig(root="r").digest_settings()  # the default: earlier runs keep their ids
    with pytest.raises(ConfigError, match=r"adam_beta2 must be in \(0, 1\)"):
        load_train_config(None, {"train.adam_beta2": "1"}, root="r")
