"""The simulated users on their own: rules, seeded wording, and the control arm's matched follow-ups."""

import pytest

from train.simulation.simulated_users import (
    COMPLAINTS,
    CONTROL,
    NEUTRAL,
    SIGN_OFF,
    USERS,
    SimulatedUser,
    control_message,
    word_count,
)

LONG = " ".join(["word"] * 40)


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("concise", "Boil it for nine minutes.", LONG),
        ("no-emoji", "Have a great day!", "Have a great day! 😊"),
        ("no-lists", "First rinse it, then dry it.", "Steps:\n- rinse it\n- dry it"),
        ("no-lists", "It costs 3.50 dollars.", "Steps:\n1. rinse it\n2. dry it"),
        ("sign-off", f"Rinse it first. {SIGN_OFF}", "Rinse it first."),
    ],
)
def test_each_user_tells_a_satisfying_reply_from_a_violating_one(name, good, bad):
    user = SimulatedUser(name)
    assert user.satisfied(good, ended=True) and not user.satisfied(bad, ended=True)
    assert user.followup(good, 0, "k") == (user.followup(good, 0, "k")[0], True)
    assert user.followup(good, 0, "k")[0] in NEUTRAL
    message, ok = user.followup(bad, 0, "k")
    assert not ok and message in COMPLAINTS[name]


def test_concise_threshold_is_inclusive_and_configurable():
    user = SimulatedUser("concise", max_words=3)
    assert user.meets_preference("one two three") and not user.meets_preference("one two three four")


@pytest.mark.parametrize("name", ["concise", "no-emoji", "no-lists", "sign-off"])
def test_an_empty_reply_a_reply_of_dots_and_a_cut_reply_are_never_satisfied(name):
    user = SimulatedUser(name)
    for nothing in ("", "   ", "." * 128, "… … 123 !!"):
        assert not user.satisfied(nothing, ended=True), repr(nothing)
        assert not user.followup(nothing, 0, "k")[1]
    short = f"Rinse it first. {SIGN_OFF}"
    assert user.satisfied(short, ended=True) and not user.satisfied(short, ended=False)


def test_wording_is_seeded_and_varies_with_the_key():
    user = SimulatedUser("concise")
    first = [user.followup(LONG, 7, f"1:{i}")[0] for i in range(40)]
    assert first == [user.followup(LONG, 7, f"1:{i}")[0] for i in range(40)]  # same seed, same words
    assert len(set(first)) >= 4  # varied wording across replies
    assert first != [user.followup(LONG, 8, f"1:{i}")[0] for i in range(40)]


@pytest.mark.parametrize("name", USERS)
def test_control_matches_the_complaints_rate_and_length_but_not_their_content(name):
    preference, control = SimulatedUser(name), SimulatedUser(name, arm="control")
    replies = [LONG + " 😊\n- item", f"Short. {SIGN_OFF}", "Plain text here."] * 10
    for i, reply in enumerate(replies):
        said, ok = preference.followup(reply, 3, str(i))
        stand_in, control_ok = control.followup(reply, 3, str(i))
        assert ok == control_ok  # same rate: the same replies draw a non-neutral message
        assert word_count(said) == word_count(stand_in)  # same length, word for word
        if not ok:
            assert stand_in in CONTROL and stand_in not in COMPLAINTS[name]


def test_every_complaint_length_has_a_control_message_of_that_length():
    lengths = {word_count(m) for m in CONTROL}
    assert all(word_count(c) in lengths for wordings in COMPLAINTS.values() for c in wordings)
    import random

    assert word_count(control_message(100, random.Random(0))) == max(lengths)  # nearest when out of range


@pytest.mark.parametrize("name", USERS)
def test_instruction_arm_always_tells_the_preference_and_judges_by_the_same_rule(name):
    preference, told = SimulatedUser(name), SimulatedUser(name, arm="instruction")
    for i, reply in enumerate([LONG + " 😊\n- item", f"Short. {SIGN_OFF}", "Plain text here."]):
        said, ok = told.followup(reply, 3, str(i))
        assert said == told.instruction and ok == preference.followup(reply, 3, str(i))[1]
    assert SimulatedUser("concise", max_words=20).instruction == "Answer in one short sentence of at most 15 words."
    with pytest.raises(ValueError, match="unknown arm 'both'"):
        SimulatedUser(name, arm="both")


def test_unknown_user_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown simulated user 'polite'.*concise"):
        SimulatedUser("polite")
