"""Numbers, money, counts, periods and tables as people read them: the text helpers every renderer shares.

Apart from the renderers so that a module of any layer that writes a line for a terminal (the 5-hour blocks,
the cost per unit of work, the cache misses) formats its figures as the report does without importing the
renderers, which import the report model and so, through it, those modules back. Pure functions of their
arguments: no I/O, nothing computed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from analyzer.redact import one_line, terminal_safe


class Money(str):
    """An amount as `usd` wrote it, remembering the amount, so that a table can write a whole money column to
    one precision from the values ($6.1645 beside $0.3908) instead of padding $6.16 with made-up zeros. Text
    appended to it (" +unpriced") keeps the amount."""

    value: float

    def __new__(cls, text: str, value: float = 0.0) -> Money:  # the default: unpickling, which sets value after
        m = super().__new__(cls, text)
        m.value = value
        return m

    def __add__(self, other: str) -> Money:
        return Money(str(self) + other, self.value)


def usd(v: float | None) -> str:
    """Dollars with cents; sub-dollar amounts keep four decimals so that a sample's cents are not all 0."""
    if v is None:
        return "n/a"
    return Money(_usd_text(v, 2 if abs(v) >= 1 or v == 0 else 4), v)


def usd_fine(v: float | None, like: float | None = None) -> str:
    """Money that is often a fraction of a cent (a cache miss): six decimals below a cent, four below a dollar, so
    that it never reads $0.0000; `like`: v to the decimals that amount needs, so that the as-is and the ideal
    replays printed beside the misses' cost show it as their difference."""
    if v is None:
        return "n/a"
    ref = abs(v if like is None else like)
    return Money(_usd_text(v, 2 if ref >= 1 or ref == 0 else 4 if ref >= 0.01 else 6), v)


def _usd_text(v: float, decimals: int) -> str:
    sign = "-" if v < 0 and round(abs(v), decimals) > 0 else ""
    return f"{sign}${abs(v):,.{decimals}f}"


def num(v: int | float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 100:.1f}%"


def count(n: int | float | None, noun: str) -> str:
    """ "1 request", "2 requests": a count and its noun in the right number."""
    if n is None:
        return f"n/a {noun}s"
    if n == 1:
        return f"1 {noun}"
    return f"{num(n)} {noun[:-1] + 'ies' if noun.endswith('y') and noun[-2] not in 'aeiou' else noun + 's'}"


def duration(days: float | None) -> str:
    """A period's length as people say it: hours under a day (rounded down, so that 23.99 hours never reads as
    "1.0 days" beside "needs at least a day"), days above."""
    if days is None:
        return "n/a"
    if days < 1:
        return count(math.floor(days * 240) / 10, "hour")
    return count(math.floor(days * 10) / 10 if days < 10 else round(days), "day")


def _when(iso: str | None, minutes: bool = True) -> str:
    """An ISO timestamp as people read it: "2025-11-24 09:00" (UTC), no seconds or microseconds."""
    if not iso:
        return "n/a"
    return iso[:16].replace("T", " ") if minutes and len(iso) > 10 else iso[:10]


def _window_end(iso: str) -> str:
    """`--until` is kept exclusive (a bare date means through the end of that day): show the day it ends on."""
    t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if (t.hour, t.minute, t.second, t.microsecond) == (0, 0, 0, 0):
        return (t - timedelta(days=1)).date().isoformat()
    return _when(iso)


def _window_start(iso: str) -> str:
    return iso[:10] if iso[10:19] in ("", "T00:00:00") else _when(iso)


def period_words(p: dict[str, Any], minutes: bool = True) -> str:
    """The period of a report: the window asked for (--since/--until) and, beside it, the span of the data;
    without a window, the span of the data and its length."""
    only = _filters_words(p.get("filters"))
    tz = f"; days in {one_line(p['tz'])} time" if p.get("tz") else ""
    return _period_words(p, minutes) + tz + (f"; {only}" if only else "")


def _filters_words(filters: dict[str, list[str]] | None) -> str:
    """`--model/--key/--user/--tag/--project` as a reader says them: "only model gpt-4o; user alice, bob"."""
    if not filters:
        return ""
    return "only " + "; ".join(f"{k} {', '.join(one_line(v) for v in vs)}" for k, vs in filters.items())


def _period_words(p: dict[str, Any], minutes: bool) -> str:
    span = f"{_when(p.get('start'), minutes)} .. {_when(p.get('end'), minutes)}" if p.get("start") else "no dated data"
    since, until = p.get("since"), p.get("until")
    if since or until:
        a, b = (_window_start(since) if since else "the start"), (_window_end(until) if until else "now")
        asked = a if a == b else f"{a} .. {b}"
        days = f" ({duration(p['days'])})" if p.get("days") and since and until else ""
        if not minutes and span in (f"{a} .. {b}", f"{a} .. {a}") and a == b:
            return f"{asked}{days}"  # an audited day: the window and the data are the same day
        return f"{asked} asked{days}; the data spans {span}" + (" UTC" if p.get("start") and minutes else "")
    utc = " UTC" if p.get("start") and minutes else ""
    return span + utc + (f" ({duration(p['days'])})" if p.get("days") else "")


# Every character a terminal, a Markdown reader or Python's splitlines ends a line at: log text carrying one
# would start a line of its own (a forged "llmcost: error:", a Markdown heading or table row).
LINE_BREAKS = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def md_cell(v: Any) -> str:
    """A Markdown table cell that log text cannot break out of (a lone CR ends a line in Markdown too)."""
    s = LINE_BREAKS.sub(" ", str(v)).replace("\\", "\\\\").replace("|", "\\|")
    for ch in "`*_[]<>":
        s = s.replace(ch, "\\" + ch)
    return s


def terminal(lines: list[str]) -> str:
    """Lines for a terminal: a line break inside one (from a model name, a conversation id) is shown escaped,
    so no output line can begin with text from a log; then every control character is removed."""
    return terminal_safe("\n".join(LINE_BREAKS.sub(_escaped, ln) for ln in lines) + "\n")


def _escaped(m: re.Match[str]) -> str:
    return m.group().encode("unicode_escape").decode("ascii")


def shorten(text: str, width: int) -> str:
    """A name that does not fit, shortened in the middle with an ellipsis: both its start and its end stay
    (`us.anthropic.claude-sonnet-4-…-20250929-v1:0`), so two long names never read the same."""
    if len(text) <= width:
        return text
    if width < 5:
        return text[:width]
    tail = (width - 1) // 2
    return text[: width - 1 - tail] + "…" + text[len(text) - tail :]


_MONEY = re.compile(r"^-?\$[\d,]+\.(\d+)(.*)$")


def _money_columns(rows: Sequence[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """One precision per money column: where some amounts carry four decimals, every amount in the column does
    (a $0.00 beside $0.0037 becomes $0.0000, $6.16 from usd(6.1645) beside it $6.1645); amounts of a dollar and
    more keep cents when all do."""
    if len(rows) < 2:
        return list(rows)
    out = [list(r) for r in rows]
    for i in range(len(rows[0])):
        cells = [r[i] for r in rows[1:] if r[i]]
        parsed = [_MONEY.match(c) for c in cells]
        if not cells or not all(parsed):
            continue
        digits = max(len(m.group(1)) for m in parsed if m)
        for r in out[1:]:
            cell = r[i]
            m = _MONEY.match(cell) if cell else None
            if m and len(m.group(1)) < digits and isinstance(cell, Money):  # written again from its amount
                r[i] = _usd_text(cell.value, digits) + m.group(2)
            elif m and len(m.group(1)) < digits:  # text only: an amount such as $0.00 padded with zeros
                whole, frac = r[i][: m.start(1) - 1], m.group(1)
                r[i] = f"{whole}.{frac}{'0' * (digits - len(frac))}{m.group(2)}"
    return [tuple(r) for r in out]


def table(rows: Sequence[tuple[str, ...]], left: tuple[int, ...] = (0,), cap: int = 40) -> list[str]:
    """Columns padded to their widest cell (at most `cap`, longer names shortened with an ellipsis); the `left`
    columns left-aligned, numbers right, each money column to one precision."""
    rows = _money_columns(rows)
    rows = [tuple(terminal_safe(LINE_BREAKS.sub(_escaped, c)) for c in r) for r in rows]  # measured as printed
    widths = [min(max(len(r[i]) for r in rows), cap) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [
            shorten(r[i], widths[i]).ljust(widths[i]) if i in left else r[i].rjust(widths[i]) for i in range(len(r))
        ]
        out.append("  ".join(cells).rstrip())
    return out
