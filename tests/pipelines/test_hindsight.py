import pytest

from pipelines.hindsight import (
    HindsightConfig,
    add_hindsight,
    build_sequences,
    check_chat_template_kwargs,
    hindsight_block,
    render_text,
)
from tests.helpers.scoring import make_tokenizer

SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
CONTEXT = [{"role": "user", "content": "Is water wet? Answer YES or NO."}]


def test_templates_render_exactly():
    o = "  I said YES or NO only \n"
    assert hindsight_block(o, "paper") == (
        "\n\nThe following is a future user message. Use this to guide your answer to the user prompt: "
        "I said YES or NO only"
    )
    assert hindsight_block(o, "offline") == (
        "\n\n[HINDSIGHT CONTEXT]\nThe following is a user response to your previous, insufficient attempt. "
        "Improve your response to the user prompt.\nFuture User Message: I said YES or NO only"
    )
    assert hindsight_block(o, "online") == (
        "\n\n=== HINDSIGHT CONTEXT ===\n[The following is a future user message. Use this to guide your "
        "answer to the user prompt.]\nI said YES or NO only"
    )


def test_braces_in_followup_are_kept_verbatim():
    assert hindsight_block("use {o} and {}", "online").endswith("\nuse {o} and {}")


def test_add_hindsight_changes_only_the_last_user_message():
    context = [
        {"role": "user", "content": "hi "},
        {"role": "assistant", "content": " hello"},
        {"role": "user", "content": "sum 2+2 "},
    ]
    messages = add_hindsight(context, " wrong, it's 4 ", "paper")
    assert messages[:2] == context[:2]
    assert messages[2] == {
        "role": "user",
        "content": "sum 2+2 \n\nThe following is a future user message. Use this to guide your answer to the "
        "user prompt: wrong, it's 4",
    }
    assert context[2]["content"] == "sum 2+2 "  # the input is not mutated


def test_add_hindsight_needs_a_final_user_message():
    with pytest.raises(ValueError, match="end with a user message"):
        add_hindsight([{"role": "assistant", "content": "x"}], "o", "paper")


def test_sequences_decode_to_the_rendered_chat():
    tokenizer = make_tokenizer()
    seq = build_sequences(CONTEXT, "Well, it depends.", "YES or NO only", tokenizer, HindsightConfig())
    assert tokenizer.decode(seq.reply_ids) == "Well, it depends.<|im_end|>"
    assert tokenizer.decode(seq.student_prefix_ids) == (
        SYSTEM + "<|im_start|>user\nIs water wet? Answer YES or NO.<|im_end|>\n<|im_start|>assistant\n"
    )
    assert tokenizer.decode(seq.teacher_prefix_ids) == (
        SYSTEM + "<|im_start|>user\nIs water wet? Answer YES or NO.\n\nThe following is a future user message. "
        "Use this to guide your answer to the user prompt: YES or NO only<|im_end|>\n<|im_start|>assistant\n"
    )
    assert (seq.context_truncated, seq.reply_truncated) == (False, False)


def test_reply_whitespace_is_kept_exactly():
    tokenizer = make_tokenizer()
    seq = build_sequences(CONTEXT, "\n  No.\n\n", "ok", tokenizer, HindsightConfig())
    assert tokenizer.decode(seq.reply_ids) == "\n  No.\n\n<|im_end|>"


def test_each_context_is_left_truncated_on_its_own_by_default():
    tokenizer = make_tokenizer()
    full = build_sequences(CONTEXT, "No.", "shorter", tokenizer, HindsightConfig())
    cut = build_sequences(CONTEXT, "No.", "shorter", tokenizer, HindsightConfig(max_context_tokens=150))
    assert len(full.student_prefix_ids) <= 150 < len(full.teacher_prefix_ids)
    # The student context fits, so it is kept whole; the teacher keeps its last 150 tokens.
    assert cut.student_prefix_ids == full.student_prefix_ids
    assert cut.teacher_prefix_ids == full.teacher_prefix_ids[-150:]
    assert cut.reply_ids == full.reply_ids
    assert (cut.student_context_truncated, cut.teacher_context_truncated, cut.reply_truncated) == (False, True, False)
    both = build_sequences(CONTEXT, "No.", "shorter", tokenizer, HindsightConfig(max_context_tokens=50))
    assert both.student_prefix_ids == full.student_prefix_ids[-50:]
    assert both.teacher_prefix_ids == full.teacher_prefix_ids[-50:]
    assert (both.student_context_truncated, both.teacher_context_truncated) == (True, True)


def test_equal_cut_option_cuts_the_same_count_from_student_and_teacher():
    tokenizer = make_tokenizer()
    full = build_sequences(CONTEXT, "No.", "shorter", tokenizer, HindsightConfig())
    cfg = HindsightConfig(max_context_tokens=150, truncation="equal_cut")
    cut = build_sequences(CONTEXT, "No.", "shorter", tokenizer, cfg)
    n_cut = len(full.teacher_prefix_ids) - 150
    assert n_cut > 0
    assert cut.teacher_prefix_ids == full.teacher_prefix_ids[n_cut:]
    assert cut.student_prefix_ids == full.student_prefix_ids[n_cut:]
    assert cut.reply_ids == full.reply_ids
    assert (cut.student_context_truncated, cut.teacher_context_truncated, cut.reply_truncated) == (True, True, False)


def test_reply_is_right_truncated():
    tokenizer = make_tokenizer()
    seq = build_sequences(CONTEXT, "abcdef", "o", tokenizer, HindsightConfig(max_reply_tokens=4))
    assert tokenizer.decode(seq.reply_ids) == "abcd"
    assert (seq.context_truncated, seq.reply_truncated) == (False, True)


def test_equal_cut_below_the_hindsight_part_is_refused():
    tokenizer = make_tokenizer()
    cfg = HindsightConfig(max_context_tokens=50, truncation="equal_cut")
    with pytest.raises(ValueError, match="raise max_context_tokens"):
        build_sequences(CONTEXT, "No.", "a long follow-up " * 20, tokenizer, cfg)


def test_template_that_rewrites_history_is_refused():
    tokenizer = make_tokenizer()
    # Marks the last message, so adding y changes how x renders.
    tokenizer.chat_template = (
        "{% for m in messages %}{% if loop.last %}LAST {% endif %}{{ m['content'] }}|{% endfor %}"
        "{% if add_generation_prompt %}A:{% endif %}"
    )
    with pytest.raises(ValueError, match="not render x with a generation prompt as a prefix"):
        build_sequences(CONTEXT, "No.", "o", tokenizer, HindsightConfig())


def test_render_text_uses_the_generation_prompt():
    text = render_text(make_tokenizer(), CONTEXT, add_generation_prompt=True)
    assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"template": "future"}, "template='future' is unknown"),
        ({"max_context_tokens": 0}, "max_context_tokens=0"),
        ({"max_reply_tokens": 0}, "max_reply_tokens=0"),
        ({"truncation": "both"}, "truncation='both' is unknown"),
        ({"chat_template_kwargs": {"enable_thinking": [1]}}, "chat_template_kwargs: 'enable_thinking'"),
        ({"chat_template_kwargs": {"add_generation_prompt": True}}, "set by the renderer itself"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HindsightConfig(**kwargs)


def test_earlier_reply_variant_renders_exactly_and_default_is_unchanged():
    tokenizer = make_tokenizer()
    assert hindsight_block(" no \n", "paper", earlier_reply=" Well, it depends. ") == (
        "\n\nAn earlier reply to this prompt was:\nWell, it depends.\n\nThe following is a future user message. "
        "Use this to guide your answer to the user prompt: no"
    )
    cfg = HindsightConfig(show_earlier_reply=True)
    seq = build_sequences(CONTEXT, "Yes.", "YES or NO only", tokenizer, cfg, earlier_reply="Well, it depends.")
    assert tokenizer.decode(seq.teacher_prefix_ids) == (
        SYSTEM + "<|im_start|>user\nIs water wet? Answer YES or NO.\n\nAn earlier reply to this prompt was:\n"
        "Well, it depends.\n\nThe following is a future user message. Use this to guide your answer to the user "
        "prompt: YES or NO only<|im_end|>\n<|im_start|>assistant\n"
    )
    plain = build_sequences(CONTEXT, "Yes.", "YES or NO only", tokenizer, HindsightConfig(), earlier_reply="ignored")
    assert plain == build_sequences(CONTEXT, "Yes.", "YES or NO only", tokenizer, HindsightConfig())
    with pytest.raises(ValueError, match="earlier_reply"):
        build_sequences(CONTEXT, "Yes.", "o", tokenizer, cfg)


# A template that reads a switch and refuses a wrong value, the way published templates call raise_exception.
STRICT_TEMPLATE = (
    "{% if enable_thinking is defined and enable_thinking is not boolean %}"
    "{{ raise_exception('enable_thinking must be true or false') }}{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_chat_template_kwargs_reach_every_render():
    tokenizer = make_tokenizer()
    tokenizer.chat_template = (
        "{% set head = 'T:' if style == 'terse' else 'A:' %}{% for m in messages %}"
        "{% if m['role'] == 'assistant' %}{{ head }}{% endif %}{{ m['content'] }}|{% endfor %}"
        "{% if add_generation_prompt %}{{ head }}{% endif %}"
    )
    cfg = HindsightConfig(chat_template_kwargs={"style": "terse"})
    check_chat_template_kwargs(tokenizer, cfg.chat_template_kwargs)
    seq = build_sequences(CONTEXT, "No.", "o", tokenizer, cfg)
    assert tokenizer.decode(seq.student_prefix_ids).endswith("|T:")
    assert tokenizer.decode(seq.teacher_prefix_ids).endswith("|T:")
    assert tokenizer.decode(seq.reply_ids) == "No.|"


def test_unknown_chat_template_kwarg_is_a_clear_error_naming_the_setting():
    tokenizer = make_tokenizer()
    with pytest.raises(ValueError, match=r"chat_template_kwargs has keys .* never reads: \['enable_thinkng'\]"):
        check_chat_template_kwargs(tokenizer, {"enable_thinkng": False})
    # The default switch is accepted everywhere and simply unused where the template does not read it.
    check_chat_template_kwargs(tokenizer, {"enable_thinking": False})


def test_template_that_rejects_a_kwarg_is_a_clear_error_naming_the_setting():
    tokenizer = make_tokenizer()
    tokenizer.chat_template = STRICT_TEMPLATE
    check_chat_template_kwargs(tokenizer, {"enable_thinking": False})
    with pytest.raises(ValueError, match="chat_template_kwargs=.*enable_thinking must be true or false"):
        check_chat_template_kwargs(tokenizer, {"enable_thinking": "no"})
