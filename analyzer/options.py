"""Option types with bounds a user's typo cannot get past: every value reaches the code finite and in range.

click's FloatRange accepts ``nan``, ``inf`` and ``1e308``; each then ends in an OverflowError deep in polars or
datetime. These types refuse them at the command line, as a usage error (exit 2) naming the option.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import click

# Far above any real traffic (a trillion calls a month, a hundred million tokens in one request) and far below
# where integer or float arithmetic in polars would overflow: 1e12 x 1e8 x $1e-3 per token stays exact in float64.
MAX_REQUESTS_PER_MONTH = 1e12
MAX_TOKENS_PER_REQUEST = 1e8
# Dates the arithmetic of a window can move by a day and a year without leaving datetime's range.
LATEST_DATE = datetime(9000, 1, 1)
EARLIEST_DATE = datetime(1970, 1, 1)


class Finite(click.ParamType):
    """A finite float within [low, high] (both inclusive)."""

    name = "number"

    def __init__(self, low: float = 0.0, high: float = math.inf) -> None:
        self.low, self.high = low, high

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        else:
            try:
                number = float(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if number < self.low or number > self.high:
            self.fail(f"{value!r} is not in the range {self.low:g} to {self.high:g}", param, ctx)
        return number

    def __repr__(self) -> str:
        return f"Finite({self.low:g}, {self.high:g})"


class Moment(click.DateTime):
    """click's DateTime, limited to dates a window can be computed around (1970 to 9000)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        moment = super().convert(value, param, ctx)
        if moment is not None and not (EARLIEST_DATE <= moment < LATEST_DATE):
            self.fail(f"{value!r} is outside the dates a log can hold (1970 to 8999)", param, ctx)
        return moment
