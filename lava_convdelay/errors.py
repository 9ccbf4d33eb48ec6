"""Errors a user can meet; the CLI prints them without a traceback."""


class UserError(Exception):
    """A problem with the user's input (file, option, value) rather than a bug."""


class DelayRangeError(UserError, ValueError):
    """A delay cannot be represented (negative, or above the allowed maximum)."""
