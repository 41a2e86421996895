"""Rule-based simulated users: each holds one preference, checks a reply against it and writes the follow-up.

A user is a pure function of (reply, seed, key): violated preference → a complaint in one of several
wordings; satisfied → a short neutral reply. The **control** version of the same user decides exactly as
often and draws its message from the same seeded choice, but every complaint is replaced by a message of
the same word count that says nothing about the preference (a change of topic), so a preference arm and
its control see follow-ups of the same lengths at the same rate; only the content differs. The
**instruction** version answers every reply with the preference stated as an instruction (`INSTRUCTIONS`):
its teacher holds what the user wants, the positive control of the experiment.

Preferences (all expressible by a 135M model):
- `concise`: at most `max_words` words;
- `no-emoji`: no emoji characters;
- `no-lists`: no bulleted or numbered list lines;
- `sign-off`: the reply ends with the fixed sign-off "Hope this helps!".
`SimulateConfig` (the `[simulate]` table of `afterword simulate --config`) names the user and the evaluation.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

SIGN_OFF = "Hope this helps!"
EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f1e6-\U0001f1ff\U00002b00-\U00002bff\ufe0f\u200d\u2300-\u23ff]"
)
WORD = re.compile(r"[^\W\d_]{2,}")  # two letters in a row: a reply of dots, digits or emoji holds no word
LIST_LINE = re.compile(r"^\s*(?:[-*•+]|\d{1,2}[.)])\s+\S", re.MULTILINE)

# fmt: off
NEUTRAL = (
    "Thanks.", "OK, thank you.", "Great, thanks!", "Got it.", "Perfect, thank you.", "Nice, that works.",
    "Thanks, that is what I needed.", "Cool.",
)
COMPLAINTS = {
    "concise": (
        "Way too long. Answer in one short sentence.",
        "Too long, keep it short please.",
        "Shorter please.",
        "Please be brief, a sentence or two at most.",
        "That is far too wordy. Give me the short version.",
        "I only wanted a quick answer, not an essay.",
    ),
    "no-emoji": (
        "Please do not use emojis.",
        "No emojis, please.",
        "Drop the emojis, just plain text.",
        "I asked you not to use emojis in your replies.",
        "Please write without any emoji characters.",
    ),
    "no-lists": (
        "Please no lists, just write it as a paragraph.",
        "No bullet points please.",
        "Write it as normal prose, not a list.",
        "I do not want numbered lists. Use plain sentences.",
        "Skip the bullets and just tell me in a paragraph.",
    ),
    "sign-off": (
        f'Please always end your reply with "{SIGN_OFF}"',
        f'You forgot to finish with "{SIGN_OFF}"',
        f'End every answer with the words "{SIGN_OFF}" please.',
        f'Remember to close with "{SIGN_OFF}"',
        f'Sign off with "{SIGN_OFF}" at the end, like I asked.',
    ),
}
# Changes of topic, grouped by word count: the control's stand-in for a complaint of that many words.
CONTROL = (
    "Anyway.", "Oh, unrelated.", "By the way.", "Also, is it Tuesday?", "Also, what time is it?",
    "Different question: do cats dream?", "By the way, how old is the moon?",
    "Also, why do onions make people cry?", "Unrelated, but which fruit has most vitamin C?",
    "Also, which is bigger, a lion or a tiger?", "Another question: which animal sleeps the longest each day?",
    "What is the weather like?", "Also, what is the weather today?",
    "By the way, what is the tallest mountain in Europe?",
    "Also, what year did the first moon landing happen?", "Also, I wonder how tall the Eiffel Tower is.",
    "Also, can you tell me what the capital of Australia is?",
    "Unrelated question: how many legs does a spider have in total?",
    "Different topic: what is a good name for a small red boat?",
    "Another thing, what is the boiling point of water at sea level?",
    "Side question, do you know roughly how many people live in Tokyo today?",
    "Also, I have been wondering how long it takes light from the sun to reach us.",
    "By the way, what is the difference between a crocodile and an alligator, roughly speaking?",
)
# fmt: on


def word_count(text: str) -> int:
    return len(text.split())


def is_correct(reply: str, answers: list[str] | tuple[str, ...]) -> bool | None:
    """Whether `reply` holds one of `answers` as a whole word, case-insensitive (`56` is not found in `156`);
    None for a prompt without answers."""
    if not answers:
        return None
    return any(re.search(rf"(?<!\w){re.escape(answer)}(?!\w)", reply, re.IGNORECASE) for answer in answers)


def is_concise(reply: str, max_words: int) -> bool:
    return word_count(reply) <= max_words


def has_no_emoji(reply: str) -> bool:
    return EMOJI.search(reply) is None


def has_no_list(reply: str) -> bool:
    return LIST_LINE.search(reply) is None


def has_sign_off(reply: str) -> bool:
    return reply.strip().rstrip(" .!").lower().endswith(SIGN_OFF.rstrip("!").lower())


@dataclass(frozen=True)
class SimulatedUser:
    name: str  # one of USERS
    arm: str = "preference"  # preference, control (complaints → same-length changes of topic) or instruction
    max_words: int = 20  # concise: longest satisfying reply, words

    def __post_init__(self) -> None:
        if self.name not in USERS:
            raise ValueError(f"unknown simulated user {self.name!r}: use one of {', '.join(USERS)}")
        if self.arm not in ARMS:
            raise ValueError(f"unknown arm {self.arm!r}: use one of {', '.join(ARMS)}")
        if self.max_words < 1:
            raise ValueError("max_words must be >= 1")

    @property
    def instruction(self) -> str:
        """The preference stated as an instruction (what the instruction arm's teacher is told)."""
        return INSTRUCTIONS[self.name].format(max_words=max(1, self.max_words - 5))

    def satisfied(self, reply: str, ended: bool) -> bool:
        """The audited measure: `reply` ended on its own (not cut at the token limit) and meets the preference.
        An empty reply, or one of dots, would otherwise satisfy `concise`: a model that learned to say
        nothing would score 100%."""
        return ended and self.meets_preference(reply)

    def meets_preference(self, reply: str) -> bool:
        """Whether what the user reads has words and meets their preference: what they answer to (the control
        arm judges by the same rule). The token limit is the trainer's, not the user's business."""
        if WORD.search(reply) is None:
            return False
        check: Callable[[str], bool] = {
            "concise": lambda r: is_concise(r, self.max_words),
            "no-emoji": has_no_emoji,
            "no-lists": has_no_list,
            "sign-off": has_sign_off,
        }[self.name]
        return check(reply)

    def followup(self, reply: str, seed: int, key: str) -> tuple[str, bool]:
        """(the follow-up message, whether the reply satisfied the preference); seeded by (seed, key) only."""
        rng = random.Random(f"{seed}:{self.name}:{key}")  # str seeds hash the same way in every process
        satisfied = self.meets_preference(reply)
        if self.arm in ("instruction", "sft"):  # the teacher always holds the preference
            return self.instruction, satisfied
        if satisfied:
            return rng.choice(NEUTRAL), True
        complaint = rng.choice(COMPLAINTS[self.name])
        if self.arm == "preference":
            return complaint, False
        return control_message(word_count(complaint), rng), False


def control_message(n_words: int, rng: random.Random) -> str:
    """A change of topic with `n_words` words (the nearest count the pool has; ties drawn by `rng`)."""
    gap = min(abs(word_count(m) - n_words) for m in CONTROL)
    return rng.choice([m for m in CONTROL if abs(word_count(m) - n_words) == gap])


USERS = tuple(COMPLAINTS)
# The experiment's arms: the self-teacher told the user's complaint (preference), the same loop with each
# complaint replaced by a change of topic (control), and a teacher told the preference as an instruction
# that the student never sees (instruction: on-policy context distillation, the positive control).
ARMS = ("preference", "control", "instruction", "sft")
# "Answer in one short sentence of at most 15 words." moved the 135M model's median reply from 67 to 16 words
# when appended to the user message (DESIGN.md §6); `{max_words}` is the user's limit minus a margin of 5.
INSTRUCTIONS = {
    "concise": "Answer in one short sentence of at most {max_words} words.",
    "no-emoji": "Do not use any emoji in your answer.",
    "no-lists": "Answer in plain sentences, with no lists or bullet points.",
    "sign-off": f'End your answer with the words "{SIGN_OFF}"',
}


@dataclass(frozen=True)
class SimulateConfig:
    user: str = "concise"  # the simulated user's preference: concise, no-emoji, no-lists, sign-off
    arm: str = "preference"  # preference, control, instruction or sft (ARMS)
    max_words: int = 20  # concise: longest satisfying reply, words
    eval_prompts: int = 0  # held-out prompts evaluated each round (stable sample); 0 = all
    unrelated_prompts: int = 0  # unrelated prompts for drift each round (stable sample); 0 = all
    # evaluation replies' length limit, tokens: enough that a plain reply can end on its own
    eval_max_new_tokens: int = 128
    # round-0 held-out replies the teacher-competence check scores (10 scorings each); 0 = skip the check
    competence_replies: int = 32
    # a run of several nights (`afterword simulate --users a,b,c`): every night's preference in order, each
    # night's held-out replies judged by all of them; () = one night
    nights: tuple[str, ...] = ()
    night: int = 1  # which night of `nights` this run trains (1 = from the base model)
    # False: evaluate round 0 and a run's last round only (a night's end), not the rounds between: a night of
    # several rounds then costs one evaluation, the figures `simulation_nights` keeps
    evaluate_every_round: bool = True

    def __post_init__(self) -> None:
        SimulatedUser(self.user, self.arm, self.max_words)  # raises on an unknown user or arm
        if self.eval_prompts < 0 or self.unrelated_prompts < 0:
            raise ValueError("eval_prompts and unrelated_prompts must be >= 0 (0 = all)")
        if self.eval_max_new_tokens < 1 or self.competence_replies < 0:
            raise ValueError("eval_max_new_tokens must be >= 1 and competence_replies >= 0 (0 = no check)")
        for name in self.nights:
            SimulatedUser(name)  # raises on an unknown user
        if len(set(self.nights)) != len(self.nights):
            raise ValueError(f"nights={list(self.nights)}: each preference once")
        if not 1 <= self.night <= max(len(self.nights), 1) or (
            self.nights and self.nights[self.night - 1] != self.user
        ):
            raise ValueError(f"night {self.night} of {list(self.nights) or [self.user]} is not user {self.user!r}")

    @property
    def judged_users(self) -> tuple[str, ...]:
        """The preferences every held-out reply is judged by: every night's, or the one user's."""
        return self.nights or (self.user,)

    @property
    def simulated_user(self) -> SimulatedUser:
        return SimulatedUser(self.user, self.arm, self.max_words)
