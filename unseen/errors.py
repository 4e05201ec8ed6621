"""Errors that are the user's to fix.

Every failure a user can correct (a bad value, a missing file, a setting the data cannot meet)
is raised as a ``UserError`` or one of its subclasses; the CLI prints its message on one line
and exits with code 2. Anything else is a bug and keeps its traceback.
"""


class UserError(ValueError):
    """Bad input: the message names the problem and the fix."""


class ConfigError(UserError):
    """The command line or config does not compose (an unknown key, group choice or value type)."""


class NonFiniteError(UserError):
    """The model produced NaN or inf (a broken checkpoint, or a precision too low for it)."""


class GeometryRejectError(UserError):
    """``reject`` could not fill the requested count within the candidate budget."""
