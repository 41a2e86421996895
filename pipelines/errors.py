"""The user's-mistake error every layer raises and the command line reports in one line (exit status 2).

It lives apart from the stages so a reader of the storage root, a flow or the trainer can raise it without
importing the input readers it used to live beside.
"""


class InputError(ValueError):
    """A mistake in what the user asked for: an input path that names nothing, a night or run not stored."""
