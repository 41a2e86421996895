"""Hindsight contexts and the token sequences scored under them.

Takes one interaction (x, y, o) and a chat tokenizer; produces the student prefix render(x), the teacher
prefix render(x ⊕ o) and the reply ids render(x + [assistant: y]) minus render(x) (DESIGN.md §1).
Both prefixes lose the same number of leading tokens when too long, so student and teacher always see
the same x. Used by `pipelines/score.py`; not run on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # transformers costs ~2 s to import; the nightly flow needs only this module's templates
    from transformers import PreTrainedTokenizerBase

# The hindsight block appended to the last user message of x. `{o}` is the stripped follow-up.
TEMPLATES: dict[str, str] = {
    "paper": ("\n\nThe following is a future user message. Use this to guide your answer to the user prompt: {o}"),
    "offline": (
        "\n\n[HINDSIGHT CONTEXT]\n"
        "The following is a user response to your previous, insufficient attempt. "
        "Improve your response to the user prompt.\n"
        "Future User Message: {o}"
    ),
    "online": (
        "\n\n=== HINDSIGHT CONTEXT ===\n"
        "[The following is a future user message. Use this to guide your answer to the user prompt.]\n"
        "{o}"
    ),
}

# Shown before the template's block when a regenerated reply is scored with the logged reply as context
# (DESIGN.md §2: `o` answered the logged reply, not the regenerated one). `{y}` is the logged reply, stripped.
EARLIER_REPLY_BLOCK = "\n\nAn earlier reply to this prompt was:\n{y}"

Message = Mapping[str, str]


@dataclass(frozen=True)
class HindsightConfig:
    template: str = "paper"  # key of TEMPLATES; recorded with every score
    max_context_tokens: int = 2048  # tokens kept from the end of the teacher prefix (x ⊕ o); >= 1
    max_reply_tokens: int = 2048  # tokens kept from the start of the reply y; >= 1
    show_earlier_reply: bool = False  # teacher also sees the logged reply (EARLIER_REPLY_BLOCK) before the block

    def __post_init__(self) -> None:
        if self.template not in TEMPLATES:
            raise ValueError(f"template={self.template!r} is unknown; pick one of {sorted(TEMPLATES)}")
        if self.max_context_tokens < 1:
            raise ValueError(f"max_context_tokens={self.max_context_tokens} must be >= 1 (default 2048)")
        if self.max_reply_tokens < 1:
            raise ValueError(f"max_reply_tokens={self.max_reply_tokens} must be >= 1 (default 2048)")


@dataclass(frozen=True)
class HindsightSequences:
    """Token ids for one interaction; the same `reply_ids` are scored after both prefixes."""

    student_prefix_ids: list[int]  # render(x, add_generation_prompt=True), left-truncated
    teacher_prefix_ids: list[int]  # render(x ⊕ o, add_generation_prompt=True), left-truncated
    reply_ids: list[int]  # y's content plus the end-of-turn marker, right-truncated
    context_truncated: bool  # leading prefix tokens were dropped
    reply_truncated: bool  # trailing reply tokens were dropped


def hindsight_block(followup: str, template: str, earlier_reply: str | None = None) -> str:
    """The text appended to the last user message: the template filled with the stripped follow-up.

    With `earlier_reply` (the logged reply that `o` answered), EARLIER_REPLY_BLOCK comes first.
    """
    # str.format leaves braces inside the substituted value alone, so any `o` is safe here.
    block = TEMPLATES[template].format(o=followup.strip())
    if earlier_reply is None:
        return block
    return EARLIER_REPLY_BLOCK.format(y=earlier_reply.strip()) + block


def add_hindsight(
    context: Sequence[Message], followup: str, template: str, earlier_reply: str | None = None
) -> list[dict[str, str]]:
    """x ⊕ o: x with the hindsight block appended to its last user message; nothing else changes."""
    messages = [{"role": m["role"], "content": m["content"]} for m in context]
    if not messages or messages[-1]["role"] != "user":
        raise ValueError("context must end with a user message (interactions.context contract)")
    messages[-1]["content"] = messages[-1]["content"] + hindsight_block(followup, template, earlier_reply)
    return messages


def render_text(tokenizer: PreTrainedTokenizerBase, messages: Sequence[Message], add_generation_prompt: bool) -> str:
    """Chat-template text of `messages`."""
    return tokenizer.apply_chat_template(
        [dict(m) for m in messages], tokenize=False, add_generation_prompt=add_generation_prompt
    )


def _encode(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    # The template already writes BOS and turn markers as text; letting the tokenizer add them again
    # would shift every position by one.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def reply_token_ids(
    tokenizer: PreTrainedTokenizerBase, context: Sequence[Message], response: str
) -> tuple[list[int], list[int]]:
    """(student prefix ids, reply ids): render(x + [assistant: y]) minus render(x) with generation prompt."""
    prefix_text = render_text(tokenizer, context, add_generation_prompt=True)
    full_text = render_text(tokenizer, [*context, {"role": "assistant", "content": response}], False)
    if not full_text.startswith(prefix_text):
        mismatch = next(
            (i for i, (a, b) in enumerate(zip(prefix_text, full_text, strict=False)) if a != b),
            len(full_text),
        )
        raise ValueError(
            "the chat template does not render x with a generation prompt as a prefix of "
            f"x + [assistant: y] (first difference at character {mismatch} of {len(prefix_text)}); "
            "reply tokens cannot be isolated. Templates that rewrite earlier turns when an assistant "
            "message follows are not supported."
        )
    # The reply is tokenized on its own, after the prompt ids, exactly as a model generating it would
    # have produced it; tokenizing the joined text could merge tokens across the assistant header.
    reply = _encode(tokenizer, full_text[len(prefix_text) :])
    return _encode(tokenizer, prefix_text), _drop_trailing_template_text(tokenizer, reply)


def _drop_trailing_template_text(tokenizer: PreTrainedTokenizerBase, reply: list[int]) -> list[int]:
    """Cut whitespace the template writes after the end-of-turn marker (e.g. ChatML's final newline).

    Generation stops at the marker, so the model never chooses those tokens; scoring them would add
    template noise to every reply's advantage.
    """
    end_id = tokenizer.eos_token_id
    if end_id is None or end_id not in reply:
        return reply
    last_end = len(reply) - 1 - reply[::-1].index(end_id)
    tail = reply[last_end + 1 :]
    if tail and tokenizer.decode(tail).strip() == "":
        return reply[: last_end + 1]
    return reply


def build_sequences(
    context: Sequence[Message],
    response: str,
    followup: str,
    tokenizer: PreTrainedTokenizerBase,
    cfg: HindsightConfig,
    earlier_reply: str | None = None,
) -> HindsightSequences:
    """Student prefix, teacher prefix and reply ids for one (x, y, o), truncated to the configured limits.

    `earlier_reply` (the logged reply) is required when `cfg.show_earlier_reply` and ignored otherwise.
    """
    if cfg.show_earlier_reply and earlier_reply is None:
        raise ValueError("HindsightConfig.show_earlier_reply needs the logged reply: pass earlier_reply=")
    shown = earlier_reply if cfg.show_earlier_reply else None
    student_prefix, reply = reply_token_ids(tokenizer, context, response)
    teacher_messages = add_hindsight(context, followup, cfg.template, shown)
    teacher_prefix = _encode(tokenizer, render_text(tokenizer, teacher_messages, True))

    # The teacher prefix is the longer one; cutting the same count from both keeps x identical for
    # student and teacher (and their shared token prefix intact for KV reuse).
    n_cut = max(0, len(teacher_prefix) - cfg.max_context_tokens)
    if n_cut >= len(student_prefix):
        raise ValueError(
            f"max_context_tokens={cfg.max_context_tokens} leaves no student context: the hindsight part "
            f"alone takes {len(teacher_prefix) - len(student_prefix)} tokens; raise max_context_tokens"
        )
    reply_truncated = len(reply) > cfg.max_reply_tokens
    return HindsightSequences(
        student_prefix_ids=student_prefix[n_cut:],
        teacher_prefix_ids=teacher_prefix[n_cut:],
        reply_ids=reply[: cfg.max_reply_tokens],
        context_truncated=n_cut > 0,
        reply_truncated=reply_truncated,
    )
