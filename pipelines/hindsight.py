"""Hindsight contexts and the token sequences scored under them.

Takes one interaction (x, y, o) and a chat tokenizer; produces the student prefix render(x), the teacher
prefix render(x ⊕ o) and the reply ids render(x + [assistant: y]) minus render(x) (DESIGN.md §1).
Every render passes the same chat-template arguments (`chat_template_kwargs`, default
`enable_thinking=False`, as the published trainers do). Each prefix is left-truncated on its own, as the
published offline trainer tokenizes each context (`equal_cut` keeps the older shared cut). Used by
`pipelines/score.py`, the trainer and regeneration; not run on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import jinja2
import jinja2.meta

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
    # The follow-up itself, appended without a block: the teacher reads it as part of the request (what an
    # instruction arm's teacher is told; a template the competence check compares with the others).
    "appended": "\n\n{o}",
}

# Shown before the template's block when a regenerated reply is scored with the logged reply as context
# (DESIGN.md §2: `o` answered the logged reply, not the regenerated one). `{y}` is the logged reply, stripped.
EARLIER_REPLY_BLOCK = "\n\nAn earlier reply to this prompt was:\n{y}"

Message = Mapping[str, str]

# How over-long prefixes are cut. independent: each prefix keeps its last max_context_tokens tokens (the
# published offline trainer tokenizes x and x ⊕ o separately with left truncation at 2048). equal_cut:
# both lose the count the teacher prefix is over, so student and teacher see the same x, at the price of
# cutting a student context that fits.
TRUNCATIONS = ("independent", "equal_cut")

# The published trainers render every prompt with enable_thinking=False: Qwen3-style templates then end
# the generation prompt with an empty think block instead of scoring it as part of the reply.
DEFAULT_CHAT_TEMPLATE_KWARGS: dict[str, bool | int | float | str] = {"enable_thinking": False}

# apply_chat_template's own arguments, set by the renderer itself.
_RESERVED_TEMPLATE_NAMES = ("messages", "add_generation_prompt", "continue_final_message", "tools", "documents")


def default_chat_template_kwargs() -> dict[str, bool | int | float | str]:
    """A fresh copy of DEFAULT_CHAT_TEMPLATE_KWARGS (dataclass defaults must not share one dict)."""
    return dict(DEFAULT_CHAT_TEMPLATE_KWARGS)


def check_kwargs_types(kwargs: Mapping[str, object]) -> None:
    """Raise ValueError unless `kwargs` maps names to plain scalars (what a TOML table or CLI JSON gives)."""
    if not isinstance(kwargs, Mapping):
        raise ValueError(f"chat_template_kwargs={kwargs!r} must be a table of name = value")
    for name, value in kwargs.items():
        if not isinstance(name, str) or not isinstance(value, bool | int | float | str):
            raise ValueError(
                f"chat_template_kwargs: {name!r} = {value!r} must be a text name with a bool, number or string value"
            )
        if name in _RESERVED_TEMPLATE_NAMES:
            raise ValueError(f"chat_template_kwargs: {name!r} is set by the renderer itself; remove it")


@dataclass(frozen=True)
class HindsightConfig:
    template: str = "paper"  # key of TEMPLATES; recorded with every score
    max_context_tokens: int = 2048  # tokens kept from the end of each prefix (x, x ⊕ o); >= 1
    max_reply_tokens: int = 2048  # tokens kept from the start of the reply y; >= 1
    show_earlier_reply: bool = False  # teacher also sees the logged reply (EARLIER_REPLY_BLOCK) before the block
    truncation: str = "independent"  # independent (each prefix keeps its last tokens) or equal_cut; TRUNCATIONS
    # extra chat-template arguments of every render; enable_thinking=False applies where the template reads it
    chat_template_kwargs: dict[str, bool | int | float | str] = field(default_factory=default_chat_template_kwargs)

    def __post_init__(self) -> None:
        if self.template not in TEMPLATES:
            raise ValueError(f"template={self.template!r} is unknown; pick one of {sorted(TEMPLATES)}")
        if self.truncation not in TRUNCATIONS:
            raise ValueError(f"truncation={self.truncation!r} is unknown; pick one of {TRUNCATIONS}")
        check_kwargs_types(self.chat_template_kwargs)
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
    student_context_truncated: bool  # leading student prefix tokens were dropped
    teacher_context_truncated: bool  # leading teacher prefix tokens were dropped
    reply_truncated: bool  # trailing reply tokens were dropped

    @property
    def context_truncated(self) -> bool:
        """Either prefix lost leading tokens."""
        return self.student_context_truncated or self.teacher_context_truncated


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


def render_text(
    tokenizer: PreTrainedTokenizerBase,
    messages: Sequence[Message],
    add_generation_prompt: bool,
    chat_template_kwargs: Mapping[str, bool | int | float | str] | None = None,
) -> str:
    """Chat-template text of `messages`, with the configured template arguments."""
    kwargs = DEFAULT_CHAT_TEMPLATE_KWARGS if chat_template_kwargs is None else chat_template_kwargs
    try:
        return tokenizer.apply_chat_template(
            [dict(m) for m in messages], tokenize=False, add_generation_prompt=add_generation_prompt, **kwargs
        )
    except (jinja2.TemplateError, TypeError, ValueError) as error:
        raise ValueError(
            f"the chat template failed to render with chat_template_kwargs={dict(kwargs)!r}: {error}"
        ) from error


def template_variables(tokenizer: PreTrainedTokenizerBase) -> set[str] | None:
    """Names the tokenizer's chat template reads from its context (its undeclared Jinja variables).

    None when plain Jinja cannot parse the template (e.g. transformers' own `{% generation %}` tag): then
    no name can be called unknown, and only the probe render in check_chat_template_kwargs checks it.
    """
    template = tokenizer.chat_template
    if not template:
        raise ValueError("the tokenizer has no chat template; scoring needs one to render x and y")
    sources = template.values() if isinstance(template, dict) else [template]
    environment = jinja2.Environment(extensions=["jinja2.ext.loopcontrols"])
    names: set[str] = set()
    try:
        for source in sources:
            names |= jinja2.meta.find_undeclared_variables(environment.parse(source))
    except jinja2.TemplateSyntaxError:
        return None
    return names


def check_chat_template_kwargs(
    tokenizer: PreTrainedTokenizerBase, chat_template_kwargs: Mapping[str, bool | int | float | str]
) -> None:
    """Fail before any scoring when a template argument is unknown to the template or rejected by it.

    enable_thinking is the documented default for every template and is simply unused where a template
    does not read it; any other name the template never reads is a typo, not a setting.
    """
    check_kwargs_types(chat_template_kwargs)
    read = template_variables(tokenizer)
    unread = [] if read is None else sorted(set(chat_template_kwargs) - read - set(DEFAULT_CHAT_TEMPLATE_KWARGS))
    if unread:
        raise ValueError(
            f"chat_template_kwargs has keys the model's chat template never reads: {unread}; "
            "remove them (check the spelling against the template)"
        )
    probe = [{"role": "user", "content": "probe"}]
    render_text(tokenizer, probe, True, chat_template_kwargs)
    render_text(tokenizer, [*probe, {"role": "assistant", "content": "probe"}], False, chat_template_kwargs)


def _encode(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    # The template already writes BOS and turn markers as text; letting the tokenizer add them again
    # would shift every position by one.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def reply_token_ids(
    tokenizer: PreTrainedTokenizerBase,
    context: Sequence[Message],
    response: str,
    chat_template_kwargs: Mapping[str, bool | int | float | str] | None = None,
) -> tuple[list[int], list[int]]:
    """(student prefix ids, reply ids): render(x + [assistant: y]) minus render(x) with generation prompt."""
    prefix_text = render_text(tokenizer, context, True, chat_template_kwargs)
    full_text = render_text(
        tokenizer, [*context, {"role": "assistant", "content": response}], False, chat_template_kwargs
    )
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
    sampled_ids: Sequence[int] | None = None,
    sampled_cut: bool = False,
) -> HindsightSequences:
    """Student prefix, teacher prefix and reply ids for one (x, y, o), truncated to the configured limits.

    `earlier_reply` (the logged reply) is required when `cfg.show_earlier_reply` and ignored otherwise.
    `sampled_ids`: the reply is these ids as a sampler drew them after the student prefix (`response` is
    then only their text): nothing is re-tokenized and no end-of-turn marker is added; `sampled_cut` says
    the sampler stopped at its length limit, so the reply counts as truncated.
    """
    if cfg.show_earlier_reply and earlier_reply is None:
        raise ValueError("HindsightConfig.show_earlier_reply needs the logged reply: pass earlier_reply=")
    shown = earlier_reply if cfg.show_earlier_reply else None
    if sampled_ids is None:
        student_prefix, reply = reply_token_ids(tokenizer, context, response, cfg.chat_template_kwargs)
    else:
        student_prefix = _encode(tokenizer, render_text(tokenizer, context, True, cfg.chat_template_kwargs))
        reply = list(sampled_ids)
    teacher_messages = add_hindsight(context, followup, cfg.template, shown)
    teacher_prefix = _encode(tokenizer, render_text(tokenizer, teacher_messages, True, cfg.chat_template_kwargs))

    limit = cfg.max_context_tokens
    if cfg.truncation == "independent":
        student_cut = max(0, len(student_prefix) - limit)
        teacher_cut = max(0, len(teacher_prefix) - limit)
    else:
        # The teacher prefix is the longer one; the same count off both keeps x identical for student and
        # teacher (and their shared token prefix intact for KV reuse).
        student_cut = teacher_cut = max(0, len(teacher_prefix) - limit)
        if student_cut >= len(student_prefix):
            raise ValueError(
                f"max_context_tokens={limit} leaves no student context under truncation='equal_cut': the "
                f"hindsight part alone takes {len(teacher_prefix) - len(student_prefix)} tokens; raise "
                "max_context_tokens or use truncation='independent'"
            )
    return HindsightSequences(
        student_prefix_ids=student_prefix[student_cut:],
        teacher_prefix_ids=teacher_prefix[teacher_cut:],
        reply_ids=reply[: cfg.max_reply_tokens],
        student_context_truncated=student_cut > 0,
        teacher_context_truncated=teacher_cut > 0,
        reply_truncated=len(reply) > cfg.max_reply_tokens or sampled_cut,
    )
