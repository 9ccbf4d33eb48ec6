"""Errors a user can meet; the CLI prints them without a traceback."""


class UserError(Exception):
    """A problem with the user's input (file, option, value) rather than a bug."""


class DelayRangeError(UserError, ValueError):
    """A delay cannot be represented (negative, or above the allowed maximum)."""


def one_line(text: str) -> str:
    """``text`` with control characters (a newline in a file name) escaped, so that a
    message stays on one line."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)
