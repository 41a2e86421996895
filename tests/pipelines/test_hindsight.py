import pytest

from pipelines.hindsight import (
    HindsightConfig,
    add_hindsight,
    build_sequences,
    hindsight_block,
    render_text,
)
from tests.pipelines.conftest_scoring import make_tokenizer

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


def test_context_is_left_truncated_by_the_same_count_for_student_and_teacher():
    tokenizer = make_tokenizer()
    full = build_sequences(CONTEXT, "No.", "shorter", tokenizer, HindsightConfig())
    cut = build_sequences(CONTEXT, "No.", "shorter", tokenizer, HindsightConfig(max_context_tokens=150))
    n_cut = len(full.teacher_prefix_ids) - 150
    assert n_cut > 0
    assert cut.teacher_prefix_ids == full.teacher_prefix_ids[n_cut:]
    assert cut.student_prefix_ids == full.student_prefix_ids[n_cut:]
    assert cut.reply_ids == full.reply_ids
    assert (cut.context_truncated, cut.reply_truncated) == (True, False)


def test_reply_is_right_truncated():
    tokenizer = make_tokenizer()
    seq = build_sequences(CONTEXT, "abcdef", "o", tokenizer, HindsightConfig(max_reply_tokens=4))
    assert tokenizer.decode(seq.reply_ids) == "abcd"
    assert (seq.context_truncated, seq.reply_truncated) == (False, True)


def test_context_limit_below_the_hindsight_part_is_refused():
    tokenizer = make_tokenizer()
    with pytest.raises(ValueError, match="raise max_context_tokens"):
        build_sequences(CONTEXT, "No.", "a long follow-up " * 20, tokenizer, HindsightConfig(max_context_tokens=50))


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
