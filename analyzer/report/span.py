"""The dated span of the store's API calls: how many days they cover, and the few calls dated so far from all
the others that the report leaves them out of its period.

Apart from the builder because `project --from-db` asks for the span without building a report.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from analyzer import queries
from analyzer.report.schema import iso

MIN_OUTLIER_GAP_DAYS = 30


def outlying_dates(con: Any) -> dict[str, Any] | None:
    """A few requests dated far from all the others (a 2016 record among 2025 traffic passes every range check
    but would stretch the period, and so every monthly figure, to years). Days at either end are left out when
    they hold at most 1% of the dated requests (and at most 20) and sit further from the rest than both 30 days
    and the rest's own span. Returns the window to report (since, until) and what was left out, or None."""
    days = queries.values(con, "requests_by_day")
    total = sum(n for _, n in days)
    if total < 20 or len(days) < 2:
        return None
    budget = min(max(total // 100, 1), 20)
    lo, hi, dropped = 0, len(days) - 1, 0
    changed = True
    while changed and hi - lo >= 1:
        changed = False
        span = (days[hi][0] - days[lo + 1][0]).days
        gap = (days[lo + 1][0] - days[lo][0]).days
        if gap > max(MIN_OUTLIER_GAP_DAYS, span) and dropped + days[lo][1] <= budget:
            dropped += days[lo][1]
            lo += 1
            changed = True
            continue
        span = (days[hi - 1][0] - days[lo][0]).days
        gap = (days[hi][0] - days[hi - 1][0]).days
        if gap > max(MIN_OUTLIER_GAP_DAYS, span) and dropped + days[hi][1] <= budget:
            dropped += days[hi][1]
            hi -= 1
            changed = True
    if not dropped:
        return None
    out_days = [d for d, _ in days[:lo] + days[hi + 1 :]]
    since = datetime.combine(days[lo][0], datetime.min.time())
    until = datetime.combine(days[hi][0], datetime.min.time()) + timedelta(days=1)
    return {
        "since": since,
        "until": until,
        "requests": dropped,
        "first": iso(min(out_days)),
        "last": iso(max(out_days)),
        "reason": f"dated more than {MIN_OUTLIER_GAP_DAYS} days (and more than the rest's span) from all other "
        "requests",
    }


def measured_days(con: Any) -> float | None:
    """The dated span of the database's API calls, in days, as the report counts it (an hour at least)."""
    ((first, last),) = queries.values(con, "request_span")
    if first is None or last is None:
        return None
    return max((last - first).total_seconds() / 86400, 1 / 24)
