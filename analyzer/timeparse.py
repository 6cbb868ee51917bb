"""Timestamps as logs and exports spell them (issue 23, item 4): every RFC 3339 date-time, the ISO 8601 forms
loggers write, and the common export spellings, to microseconds since the Unix epoch, UTC.

Python's `datetime.fromisoformat` refuses some of what RFC 3339 allows (a lower-case `t`/`z`, the leap second
`23:59:60`) and what ISO 8601 or exports write (`24:00:00`, ordinal dates `2025-032`, BigQuery's
`2025-01-02 03:04:05.123456 UTC`, Java's `+0000`, HTTP's `Thu, 02 Jan 2025 03:04:05 GMT`). Rules:
- a time without an offset is UTC; a fraction finer than a microsecond is cut (not rounded) to microseconds;
- a leap second `:60` is the first instant of the next minute (what POSIX time does); `24:00:00` is the next
  day's midnight.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime

_EPOCH_DAYS = date(1970, 1, 1).toordinal()

_DATE = (
    r"(?P<y>[0-9]{4})(?:"
    r"-(?P<m>[0-9]{2})-(?P<d>[0-9]{2})|(?P<m2>[0-9]{2})(?P<d2>[0-9]{2})"  # calendar, extended or basic
    r"|-?W(?P<w>[0-9]{2})-?(?P<wd>[1-7])"  # week date
    r"|-?(?P<o>[0-9]{3})"  # ordinal date
    r")"
)
_TIME = (
    r"(?P<H>[0-9]{2})(?::?(?P<M>[0-9]{2})(?::?(?P<S>[0-9]{2}))?)?"
    r"(?:[.,](?P<f>[0-9]+))?"
)
_ZONE = (
    r"(?:\s*(?P<z>[Zz]|UTC|GMT|utc|gmt)"
    r"|\s*(?P<sign>[+-])(?P<zh>[0-9]{2})(?::?(?P<zm>[0-9]{2}))?"
    r"|\s*(?:UTC|GMT)(?P<sign2>[+-])(?P<zh2>[0-9]{2})(?::?(?P<zm2>[0-9]{2}))?)?"
)
_ISO = re.compile(rf"{_DATE}(?:[Tt _]\s*{_TIME}{_ZONE})?", re.ASCII)


def iso_us(text: str) -> int:
    """Microseconds since 1970-01-01 UTC of a date or date-time string; ValueError when it is not one."""
    s = text.strip()
    m = _ISO.fullmatch(s)
    if m is None:
        return _other(s)
    g = m.groupdict()
    y = int(g["y"])
    if g["w"] is not None:
        day = date.fromisocalendar(y, int(g["w"]), int(g["wd"]))
    elif g["o"] is not None:
        n = int(g["o"])
        if not 1 <= n <= (366 if date(y, 12, 31).timetuple().tm_yday == 366 else 365):
            raise ValueError(f"day of year out of range: {s!r}")
        day = date(y, 1, 1) + timedelta(days=n - 1)
    else:
        day = date(y, int(g["m"] or g["m2"]), int(g["d"] or g["d2"]))
    hour, minute, sec = int(g["H"] or 0), int(g["M"] or 0), int(g["S"] or 0)
    frac = g["f"] or ""
    if hour > 24 or minute > 59 or sec > 60 or hour == 24 and (minute or sec or frac.strip("0")):
        raise ValueError(f"time out of range: {s!r}")
    if frac and g["M"] is None:
        raise ValueError(f"a fraction of an hour is not read: {s!r}")
    # a fraction of the second, or of the minute when there are no seconds
    micro = int(frac[:8].ljust(8, "0")) * 60 // 100 if frac and g["S"] is None else int(frac[:6].ljust(6, "0"))
    offset = 0
    sign, zh, zm = (g["sign"], g["zh"], g["zm"]) if g["sign"] else (g["sign2"], g["zh2"], g["zm2"])
    if sign:
        oh, om = int(zh), int(zm or 0)
        if oh > 23 or om > 59:
            raise ValueError(f"offset out of range: {s!r}")
        offset = (oh * 60 + om) * (1 if sign == "+" else -1)
    days = day.toordinal() - _EPOCH_DAYS
    seconds = days * 86400 + hour * 3600 + minute * 60 + sec - offset * 60
    return seconds * 1_000_000 + micro


def _other(s: str) -> int:
    """RFC 2822 / HTTP dates, then whatever else Python reads as ISO 8601."""
    dt: datetime | None = None
    if "," in s or s[:1].isalpha():
        try:
            dt = parsedate_to_datetime(s)
        except (TypeError, ValueError, IndexError):
            dt = None
    if dt is None:
        dt = datetime.fromisoformat(s)  # ValueError when it is not a date either
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
