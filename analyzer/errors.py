"""The one exception hierarchy; cli.py turns each into a one-line message and an exit code."""


class LlmcostError(Exception):
    """Base of every error a user can cause; never shown as a traceback."""

    exit_code = 1


class InputError(LlmcostError):
    """An unreadable path, an unknown format, a broken price file: exit 1."""

    exit_code = 1


class StrictError(LlmcostError):
    """`--strict` and some records were rejected: exit 4."""

    exit_code = 4


class ThresholdError(LlmcostError):
    """An audit threshold was crossed: exit 3."""

    exit_code = 3


class UsageError(LlmcostError):
    """A command line that cannot run as asked (an optional extra missing, a cluster unreachable): exit 2, as
    click's own usage errors, but in one line."""

    exit_code = 2


class RenderError(LlmcostError):
    """An output could not be rendered (a bug, never the user's input): the other outputs are written, the
    failure is one line, exit 5 (never 1, which means an input error or, in the audit, no traffic)."""

    exit_code = 5
