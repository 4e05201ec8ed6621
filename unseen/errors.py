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


def check_float(value, key: str, low: float | None = None, high: float | None = None, why: str = "",
                low_open: bool = False) -> float:
    """``value`` as a finite float in [low, high] (``low_open``: (low, high]), or a UserError naming ``key``."""
    import math

    try:
        x = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{key} must be a number, got {value!r}") from None
    bad = not math.isfinite(x) or (low is not None and (x <= low if low_open else x < low)) or \
        (high is not None and x > high)
    if bad:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}, "
        span = f"in {lo}{'inf)' if high is None else f'{high:g}]'}" if low is not None else "finite"
        raise UserError(f"{key} must be a finite number {span}, got {value}" + (f" ({why})" if why else ""))
    return x
