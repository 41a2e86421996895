"""The command line's argument parser: no abbreviations, unknown flags refused with "did you mean", short errors.

`CommandParser` is argparse's parser with three changes: a flag must be spelt out (`allow_abbrev=False`, so
`--select.language` is never taken for `--select.languages`); a flag no parser knows is refused naming the
closest known one (`did you mean --select.languages?`: the same key under another section first, e.g.
`--filter.languages`, then difflib over every flag of the command); an error is one line and exit 2, without
argparse's usage (a command with every config key as a flag has a usage of a hundred lines; `--help` shows it).
`EPILOGS` holds the examples `afterword <command> --help` ends with. `afterword_cli.build_parser` uses both.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from typing import NoReturn

EPILOGS = {
    "nightly": """examples:
  afterword nightly --input data/sample/wildchat_sample.jsonl --root out --date 2026-11-27 --no-score
  afterword nightly --input 'dumps/{night}/*.jsonl.gz' --root out --score-limit 64 --config night.toml
  afterword nightly --input hf:allenai/WildChat-1M --root out --select.languages '["English", "German"]'
""",
}


class CommandParser(argparse.ArgumentParser):
    """argparse without abbreviations, with "did you mean" for unknown flags and one-line errors."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        words = sys.argv[1:] if args is None else list(args)
        self._refuse_unknown_flags(words)  # before argparse's own checks, which would name a required flag instead
        namespace, extras = self.parse_known_args(words, namespace)
        if extras:
            command = self._chosen_command(namespace)
            flags = [word for word in extras if word.startswith("-")]
            unknown = flags[0] if flags else extras[0]
            hint = closest_flag(unknown.split("=", 1)[0], known_flags(command)) if flags else None
            suggestion = f"; did you mean {hint}?" if hint else f"; `{command.prog} --help` lists every flag"
            command.error(f"unrecognized argument {unknown}{suggestion}")
        return namespace

    def _refuse_unknown_flags(self, words: list[str]) -> None:
        """An error naming the first `--flag` neither this parser nor the chosen subcommand knows."""
        command = self
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = next((word for word in words if not word.startswith("-")), None)
                command = action.choices.get(chosen, self)
        known = set(known_flags(self, nested=command is self)) | set(known_flags(command))
        for word in words:
            if word == "--":
                return
            # argparse reads a word with a space as a value (`"-- a SQL comment ..."`), never as a flag.
            flag = word.split("=", 1)[0]
            if word.startswith("--") and " " not in word and flag not in known:
                hint = closest_flag(flag, sorted(known))
                suggestion = f"; did you mean {hint}?" if hint else f"; `{command.prog} --help` lists every flag"
                command.error(f"unrecognized argument {flag}{suggestion}")

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)

    def _chosen_command(self, namespace: argparse.Namespace) -> argparse.ArgumentParser:
        """The subcommand's parser the words chose (this parser when there is none)."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = getattr(namespace, action.dest, None)
                if chosen in action.choices:
                    return action.choices[chosen]
        return self


def known_flags(parser: argparse.ArgumentParser, nested: bool = True) -> list[str]:
    """Every long flag `parser` accepts, with those of its own subcommands (`models promote --reason`) when
    `nested`."""
    flags = [flag for action in parser._actions for flag in action.option_strings if flag.startswith("--")]
    for action in parser._actions:
        if nested and isinstance(action, argparse._SubParsersAction):
            flags += [flag for sub in action.choices.values() for flag in known_flags(sub)]
    return flags


def closest_flag(word: str, flags: list[str]) -> str | None:
    """The known flag `word` most likely meant: the same dotted key under another section when exactly one
    has it (`--filter.languages` → `--select.languages`,
    `--score.template` → `--score.hindsight.template`), else the closest spelling, else None."""
    if "." in word:
        key = word.rsplit(".", 1)[1]
        same_key = [flag for flag in flags if "." in flag and flag.rsplit(".", 1)[1] == key]
        if len(same_key) == 1:
            return same_key[0]
    matches = difflib.get_close_matches(word, flags, n=1, cutoff=0.6)
    return matches[0] if matches else None


def comma_separated(text: str) -> tuple[str, ...]:
    """`a,b,c` → ("a", "b", "c"): a flag that takes several values in one word (`--users`, `--arm`)."""
    items = tuple(item.strip() for item in text.split(","))
    if not all(items):
        raise argparse.ArgumentTypeError(f"{text!r}: an empty item; write the values comma-separated, e.g. a,b")
    return items


def comma_separated_integers(text: str) -> tuple[int, ...]:
    """`0,1,2` → (0, 1, 2) (`--seeds`)."""
    items = comma_separated(text)
    try:
        return tuple(int(item) for item in items)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write whole numbers, comma-separated, e.g. 0,1,2") from None
