"""Errors that are the user's to fix: run.py prints their message on one line and exits non-zero."""


class UserError(ValueError):
    """Bad input: the message names the problem and the fix."""
