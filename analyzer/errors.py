"""The one exception hierarchy; analyzer/cli turns each into a one-line message and an exit code."""

from __future__ import annotations


class LlmcostError(Exception):
    """Base of every error a user can cause; never shown as a traceback."""

    exit_code = 1


class InputError(LlmcostError):
    """An unreadable path, an unknown format, a broken price file: exit 1.

    `path`: the file, database or name the error is about (None when it is about no one of them); `reason`: what
    is wrong, without the path. The message is `path: reason`, so a caller that needs the reason alone (a click
    parameter error names the option already) reads `.reason` instead of cutting the message apart."""

    exit_code = 1

    def __init__(self, reason: str, path: str | None = None) -> None:
        self.path = path
        self.reason = reason
        super().__init__(reason if path is None else f"{path}: {reason}")

    def __reduce__(self) -> tuple[type[InputError], tuple[str, str | None]]:
        # raised in a worker process: arrives with its path and reason, not with the message as its reason
        return (type(self), (self.reason, self.path))


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
