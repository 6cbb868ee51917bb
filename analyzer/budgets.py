"""Budgets, spend against them and the month-end forecast (issue 25 part 3).

A budgets file (TOML) lists `[[budget]]` tables:

    [[budget]]
    name = "team A"          # optional; default: the scope and period
    period = "month"         # "month" (default) or "day"
    limit_usd = 500
    project = "team-a"       # optional scope, one of: api_key, user, project, feature, tag, model
    alert_at = [0.5, 0.8]    # optional shares of the limit that alert (1.0 is always checked)

Each budget is measured on the day the report or audit is about (`as_of`): spend in its month (or day) up to and
including that day, and, for a monthly budget, the month-end forecast with a 90% interval. The forecast adds to
the month's spend the expected spend of each remaining day: the mean daily spend of that weekday over the last
8 weeks of history (zero-spend days counted) when the history holds at least 14 days, else the mean daily
spend of the whole history. The interval is +/- 1.645 x s x sqrt(remaining days), s the standard deviation of
the history's days around their weekday's (or the overall) mean, the days taken as independent; its low end is
never below the spend so far. With no spread to measure (a single day of history) the interval is null.
"""

from __future__ import annotations

import calendar
import math
import tomllib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from analyzer import queries
from analyzer.errors import InputError
from analyzer.prices import Catalogue, order_free_sum, price_requests

SCOPES = ("api_key", "user", "project", "feature", "tag", "model")
HISTORY_DAYS = 56
WEEKDAY_MIN_DAYS = 14
Z90 = 1.645


def load(path: str) -> list[dict[str, Any]]:
    """The budgets of a TOML file, checked; a bad file is one line naming the file and the budget."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read the budgets file ({e.strerror})", path=str(path)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"not a TOML file ({e})", path=str(path)) from None
    items = raw.get("budget")
    if not isinstance(items, list) or not items:
        raise InputError("no [[budget]] table", path=str(path))
    out = []
    for i, b in enumerate(items, 1):
        where = f"{path}: budget {i}"
        if not isinstance(b, dict):
            raise InputError("not a table", path=str(where))
        unknown = set(b) - {"name", "period", "limit_usd", "alert_at", *SCOPES}
        if unknown:
            raise InputError(f"unknown key(s) {', '.join(sorted(unknown))}", path=str(where))
        limit = b.get("limit_usd")
        if isinstance(limit, bool) or not isinstance(limit, int | float) or not math.isfinite(limit) or limit <= 0:
            raise InputError("limit_usd must be a positive number", path=str(where))
        period = b.get("period", "month")
        if period not in ("month", "day"):
            raise InputError('period must be "month" or "day"', path=str(where))
        scopes = [k for k in SCOPES if k in b]
        if len(scopes) > 1:
            raise InputError(f"one scope at most (got {', '.join(scopes)})", path=str(where))
        if scopes and (not isinstance(b[scopes[0]], str) or not b[scopes[0]].strip()):
            raise InputError(f"{scopes[0]} must be a non-empty string", path=str(where))
        shares = b.get("alert_at", [])
        if not isinstance(shares, list) or not all(
            isinstance(s, int | float) and not isinstance(s, bool) and 0 < s <= 10 for s in shares
        ):
            raise InputError("alert_at must be a list of shares of the limit (e.g. [0.5, 0.8])", path=str(where))
        scope = (scopes[0], b[scopes[0]]) if scopes else None
        name = b.get("name") or (f"{scope[0]} {scope[1]}" if scope else "all spend") + f" per {period}"
        out.append(
            {
                "name": str(name),
                "period": period,
                "limit_usd": float(limit),
                "scope": scope,
                "alert_at": sorted({float(s) for s in shares} | {1.0}),
            }
        )
    return out


def daily_spend(priced: pl.DataFrame, scope: tuple[str, str] | None) -> dict[date, float]:
    """Spend per UTC day of the priced requests in a budget's scope."""
    f = priced.filter(pl.col("ts").is_not_null() & pl.col("cost").is_not_null())
    if scope is not None:
        col, value = scope
        f = f.filter(pl.col("tags").list.contains(value)) if col == "tag" else f.filter(pl.col(col) == value)
    g = f.group_by(pl.col("ts").dt.date().alias("day")).agg(order_free_sum(pl.col("cost")))
    return {d: float(c) for d, c in g.iter_rows()}


def forecast(days: dict[date, float], as_of: date) -> dict[str, Any]:
    """Month-end forecast of a daily series on `as_of` (see the module docstring). Hand-checkable: returns the
    spend so far, the remaining days, the expected rest and its interval."""
    month_start = as_of.replace(day=1)
    last = as_of.replace(day=calendar.monthrange(as_of.year, as_of.month)[1])
    spent = sum(v for d, v in days.items() if month_start <= d <= as_of)
    dated = [d for d in days if d <= as_of]
    first = max(min(dated), as_of - timedelta(days=HISTORY_DAYS - 1)) if dated else as_of
    # no spend in the scope yet: no history (not one day of $0), a forecast of the spend so far, no interval
    history = [(first + timedelta(days=i)) for i in range((as_of - first).days + 1)] if dated else []
    series = [(d, days.get(d, 0.0)) for d in history]
    weekly = len(series) >= WEEKDAY_MIN_DAYS
    groups: dict[int, list[float]] = {}
    for d, v in series:
        groups.setdefault(d.weekday() if weekly else 0, []).append(v)
    means = {k: sum(v) / len(v) for k, v in groups.items()}
    resid = [v - means[d.weekday() if weekly else 0] for d, v in series]
    dof = len(series) - len(means)
    sd = math.sqrt(sum(r * r for r in resid) / dof) if dof > 0 else 0.0
    remaining = [as_of + timedelta(days=i) for i in range(1, (last - as_of).days + 1)]
    rest = sum(means.get(d.weekday() if weekly else 0, 0.0) for d in remaining)
    half = Z90 * sd * math.sqrt(len(remaining))
    return {
        "spent_usd": round(spent, 10),
        "remaining_days": len(remaining),
        "history_days": len(series),
        "method": "weekday means" if weekly else "daily mean",
        "forecast_usd": round(spent + rest, 10),
        # one day of history (or one per weekday) says nothing of the spread: no interval rather than a false one
        "forecast_low_usd": round(spent + max(rest - half, 0.0), 10) if dof > 0 or not remaining else None,
        "forecast_high_usd": round(spent + rest + half, 10) if dof > 0 or not remaining else None,
    }


def evaluate(budgets: list[dict[str, Any]], priced: pl.DataFrame, as_of: date) -> list[dict[str, Any]]:
    """Each budget on `as_of`: spend, share of the limit, the alerts crossed and (monthly) the forecast."""
    out = []
    for b in budgets:
        days = daily_spend(priced, b["scope"])
        row: dict[str, Any] = {
            "name": b["name"],
            "period": b["period"],
            "scope": None if b["scope"] is None else {"dimension": b["scope"][0], "value": b["scope"][1]},
            "limit_usd": b["limit_usd"],
            "as_of": as_of.isoformat(),
        }
        if b["scope"] is not None and not days:  # a typo, or a name not as logged, would read as $0 spent
            dim, value = b["scope"]
            row["note"] = (
                f"no priced request with {dim} = {value} in the {HISTORY_DAYS} days to {as_of.isoformat()} "
                "(scopes match the values as logged)"
            )
        if b["period"] == "day":
            row |= {"spent_usd": round(days.get(as_of, 0.0), 10), "forecast": None}
        else:
            fc = forecast(days, as_of)
            row |= {"spent_usd": fc["spent_usd"], "forecast": fc}
        row["share"] = round(row["spent_usd"] / b["limit_usd"], 6)
        alerts = [
            {
                "kind": "share",
                "at": s,
                "message": f"budget {b['name']}: ${row['spent_usd']:,.2f} spent is "
                f"{row['share']:.0%} of ${b['limit_usd']:,.2f} (alert at {s:.0%})",
            }
            for s in b["alert_at"]
            if row["spent_usd"] >= s * b["limit_usd"]
        ][-1:]  # the highest share crossed
        fc = row["forecast"]
        if fc is not None and fc["forecast_usd"] > b["limit_usd"] and row["spent_usd"] < b["limit_usd"]:
            alerts.append(
                {
                    "kind": "forecast",
                    "at": 1.0,
                    "message": f"budget {b['name']}: month-end forecast ${fc['forecast_usd']:,.2f} "
                    f"({_interval(fc)}) exceeds ${b['limit_usd']:,.2f}",
                }
            )
        row["alerts"] = alerts
        out.append(row)
    return out


def for_store(store: Any, cat: Catalogue, budgets: list[dict[str, Any]], as_of: date) -> list[dict[str, Any]]:
    """The budgets on `as_of`, from the store's requests of the history and month before it (priced as the
    report prices them; the report's own `priced_requests` is left alone)."""
    start = min(as_of.replace(day=1), as_of - timedelta(days=HISTORY_DAYS - 1))
    since = datetime.combine(start, datetime.min.time())
    until = datetime.combine(as_of + timedelta(days=1), datetime.min.time())
    frame = queries.run(store.con, "requests_in_period", since=since, until=until)
    return evaluate(budgets, price_requests(frame, cat), as_of)


def last_day(store: Any) -> date | None:
    """The day of the last dated request the store holds."""
    ((_, last),) = queries.values(store.con, "request_span")
    return last.date() if last is not None else None


def _interval(fc: dict[str, Any]) -> str:
    if fc["forecast_low_usd"] is None:
        return f"no interval from {fc['history_days']} day of history"
    return f"90%: ${fc['forecast_low_usd']:,.2f} .. ${fc['forecast_high_usd']:,.2f}"


def lines(rows: list[dict[str, Any]]) -> list[str]:
    """One terminal line per budget."""
    out = []
    for r in rows:
        line = f"Budget     {r['name']}: ${r['spent_usd']:,.2f} of ${r['limit_usd']:,.2f} ({r['share']:.0%})"
        fc = r["forecast"]
        if r.get("note"):
            line += f"; {r['note']}"
        elif fc is not None:
            line += f"; month-end forecast ${fc['forecast_usd']:,.2f} ({_interval(fc)})"
        if r["alerts"]:
            line += " ALERT"
        out.append(line)
    return out
