"""Renderers: report model -> HTML (jinja2 templates in reports/), JSON, Markdown. They format, never compute.

`write_output` owns the output file: `-` is stdout, and a file is written to a temporary name and renamed
only when complete, so a failed run never leaves a half-written report behind.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import orjson
from markupsafe import Markup

from analyzer import blocks, charts, unit_costs
from analyzer.errors import InputError
from analyzer.redact import one_line, terminal_safe
from analyzer.resources import resource_dir


def usd(v: float | None) -> str:
    """Dollars with cents; sub-dollar amounts keep four decimals so that a sample's cents are not all 0."""
    if v is None:
        return "n/a"
    sign = "-" if v < 0 and round(abs(v), 4) > 0 else ""
    v = abs(v)
    if v >= 1 or v == 0:
        return f"{sign}${v:,.2f}"
    return f"{sign}${v:,.4f}"


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
    from datetime import datetime, timedelta

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


def render_json(report: dict[str, Any]) -> str:
    return orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("reports"))),
        autoescape=True,  # everything from logs is attacker-controlled text
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.do"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(usd=usd, num=num, pct=pct, count=count, duration=duration, period_words=period_words)
    return env


def render_html(report: dict[str, Any]) -> str:
    """The self-contained page: charts as inline static SVG, one inline script allowed by its hash (so no
    other script can run, whatever a log smuggled in), no external resource of any kind."""
    script = (resource_dir("reports") / "sortable.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    wanted = charts.specs(report)
    svgs, charts_note = charts.to_svgs([c["spec"] for c in wanted])
    if charts_note:
        _note(charts_note)
    figures = [
        {**{k: c[k] for k in ("id", "title", "caption")}, "svg": Markup(svg)}
        for c, svg in zip(wanted, svgs or [], strict=False)
    ]
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            r=report, charts=figures, charts_note=charts_note, script=Markup(script), script_hash=f"sha256-{digest}"
        )
    )


def _note(text: str) -> None:
    """One line on standard error, as the CLI's other notes."""
    import sys

    print(f"llmcost: note: {text}", file=sys.stderr)


def render_audit_index(history: list[dict[str, Any]]) -> str:
    """DIR/index.html of the nightly audit: every audited day, newest first, with a spend trend and links.
    No script at all: a static page to open from the folder or a web server."""
    spec = charts.audit_trend(history)
    svgs, note = charts.to_svgs([spec] if spec else [])
    if note:
        _note(note)
    return (
        _env()
        .get_template("audit_index.html.j2")
        .render(days=list(reversed(history)), trend=Markup(svgs[0]) if svgs else None)
    )


def render_markdown(report: dict[str, Any]) -> str:
    env = _env()
    env.autoescape = False
    env.filters["md"] = _md_cell
    return env.get_template("summary.md.j2").render(r=report)


# Every character a terminal, a Markdown reader or Python's splitlines ends a line at: log text carrying one
# would start a line of its own (a forged "llmcost: error:", a Markdown heading or table row).
_LINE_BREAKS = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def _md_cell(v: Any) -> str:
    """A Markdown table cell that log text cannot break out of (a lone CR ends a line in Markdown too)."""
    s = _LINE_BREAKS.sub(" ", str(v)).replace("\\", "\\\\").replace("|", "\\|")
    for ch in "`*_[]<>":
        s = s.replace(ch, "\\" + ch)
    return s


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "html": render_html,
    "json": render_json,
    "md": render_markdown,
}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_output(text: str, target: str) -> None:
    """Write atomically: a temporary file beside the target, flushed to disk, renamed over it, and the folder
    flushed too, so that a crash leaves the old output or the new one, never a half-written or empty file."""
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    path = Path(target)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{target}: folder {folder} does not exist")
    if path.is_dir():
        raise InputError(f"{target}: is a folder; name a file to write")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    except OSError as e:
        raise InputError(f"{target}: cannot write ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fchmod(fh.fileno(), 0o666 & ~_umask())  # as open() would have made it, not mkstemp's 0600
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_folder(folder)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"{target}: cannot write ({e.strerror or e})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; some file systems cannot open a folder for this, which is no error."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _terminal(lines: list[str]) -> str:
    """Lines for a terminal: a line break inside one (from a model name, a conversation id) is shown escaped,
    so no output line can begin with text from a log; then every control character is removed."""
    return terminal_safe("\n".join(_LINE_BREAKS.sub(_escaped, ln) for ln in lines) + "\n")


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


def _money_columns(rows: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """One precision per money column: where some amounts carry four decimals, every amount in the column does
    (a $0.00 beside $0.0037 becomes $0.0000); amounts of a dollar and more keep cents when all do."""
    if len(rows) < 2:
        return rows
    out = [list(r) for r in rows]
    for i in range(len(rows[0])):
        cells = [r[i] for r in rows[1:] if r[i]]
        parsed = [_MONEY.match(c) for c in cells]
        if not cells or not all(parsed):
            continue
        digits = max(len(m.group(1)) for m in parsed if m)
        for r in out[1:]:
            m = _MONEY.match(r[i]) if r[i] else None
            if m and len(m.group(1)) < digits:
                whole, frac = r[i][: m.start(1) - 1], m.group(1)
                r[i] = f"{whole}.{frac}{'0' * (digits - len(frac))}{m.group(2)}"
    return [tuple(r) for r in out]


def _table(rows: list[tuple[str, ...]], left: tuple[int, ...] = (0,), cap: int = 40) -> list[str]:
    """Columns padded to their widest cell (at most `cap`, longer names shortened with an ellipsis); the `left`
    columns left-aligned, numbers right, each money column to one precision."""
    rows = _money_columns(rows)
    rows = [tuple(terminal_safe(_LINE_BREAKS.sub(_escaped, c)) for c in r) for r in rows]  # measured as printed
    widths = [min(max(len(r[i]) for r in rows), cap) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [
            shorten(r[i], widths[i]).ljust(widths[i]) if i in left else r[i].rjust(widths[i]) for i in range(len(r))
        ]
        out.append("  ".join(cells).rstrip())
    return out


def _trace_summary(report: dict[str, Any]) -> list[str]:
    """What a block-hash trace (no model, no price) tells: how much of its input a prefix cache could serve."""
    b = ((report.get("prefix_reuse") or {}).get("by_source") or {}).get("block_traces") or {}
    if not b.get("requests"):
        return []
    apart = " (apart from the request logs above)" if (report.get("totals") or {}).get("requests") else ""
    return [
        f"Trace      {count(b['requests'], 'request')} from block-hash traces, {num(b['input_tokens'])} input tokens "
        "(no model or price: cache reuse only, not in the spend)",
        f"Reuse      an ideal prefix cache serves {pct(b['ideal_hit_ratio'])} of the trace's input{apart}; "
        f"{pct(b['ttl_5m_hit_ratio'])} with a 5-minute TTL, {pct(b['ttl_1h_hit_ratio'])} with 1 hour",
    ]


PERIOD_TITLES = {"day": "Spend by day", "week": "Spend by week (from Monday)", "month": "Spend by month"}


def _sum_periods(periods: list[dict[str, Any]]) -> dict[str, Any]:
    """Periods added up into one row, as the report model adds days into periods (cost over the priced calls;
    None when none was priced)."""
    from analyzer.report import add_spend, spend_row

    out: dict[str, Any] = {**spend_row(), "by_model": {}}
    for p in periods:
        add_spend(out, p, digits=10)
        for m, c in (p.get("by_model") or {}).items():
            out["by_model"][m] = out["by_model"].get(m, 0.0) + c
    return out


def _spend_cells(p: dict[str, Any]) -> list[str]:
    """A spend row's requests, tokens (cache read and write apart) and cost, as the tables print them."""
    return [
        num(p["requests"]),
        num(p["input_tokens"]),
        num(p["cache_read_tokens"]),
        num(p.get("cache_write_tokens") or 0),
        num(p["output_tokens"]),
        usd(p["cost_usd"]) + (" +unpriced" if p["has_unpriced"] else ""),
    ]


def period_lines(view: dict[str, Any], last: int | None = None) -> list[str]:
    """`ccusage daily` for llmcost: one line per day, week or month (the latest `last` of them), the earlier
    ones summed on one line, the undated calls on theirs and a total, so that the column adds up to the
    headline."""
    periods = view["periods"]
    shown = periods if last is None else periods[-last:]
    earlier = periods[: len(periods) - len(shown)]
    undated = view.get("undated")
    head = [PERIOD_TITLES[view["unit"]] + (f" (the latest {len(shown)} of {len(periods)})" if earlier else "")]
    rows = [(view["unit"].upper(), "REQUESTS", "INPUT", "CACHE READ", "CACHE WRITE", "OUTPUT", "COST", "MODELS")]

    def row(label: str, p: dict[str, Any], models: bool = True) -> tuple[str, ...]:
        names = sorted(p.get("by_model") or {}, key=lambda m: -p["by_model"][m]) if models else []
        return (
            label,
            *_spend_cells(p),
            ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else ""),
        )

    if earlier:
        rows.append(row(f"(earlier {count(len(earlier), view['unit'])})", _sum_periods(earlier), models=False))
    for p in shown:
        detail = p.get("models")
        rows.append(row(_month(p["start"], view["unit"]), p, models=not detail))
        for name, m in sorted((detail or {}).items(), key=lambda x: (-(x[1]["cost_usd"] or 0), x[0])):
            rows.append(row(f"  └ {name}", m | {"by_model": {}}, models=False))
    if undated:
        rows.append(row("(undated)", undated | {"by_model": {}}))
    if len(rows) > 2:
        rows.append(row("TOTAL", _sum_periods(periods + ([undated | {"by_model": {}}] if undated else [])), False))
    return head + _table(rows, left=(0, 7), cap=60)


def session_lines(sessions: dict[str, Any], last: int | None = None) -> list[str]:
    """`ccusage session` for llmcost: the costliest conversations or sessions."""
    top = sessions["top"] if last is None else sessions["top"][:last]
    if not top:
        return []
    more = sessions["count"] - len(top)
    head = [
        f"Costliest conversations and sessions ({len(top)} of {sessions['count']})"
        if more
        else "Conversations and sessions"
    ]
    rows = [("SESSION", "LAST ACTIVITY", "REQUESTS", "INPUT", "OUTPUT", "COST", "MODELS")]
    for x in top:
        rows.append(
            (
                shorten(str(x["session"]), 36) + (" (rebuilt)" if x["source"] == "rebuilt" else ""),
                (x["last_ts"] or "")[:16].replace("T", " "),
                num(x["requests"]),
                num(x["input_tokens"]),
                num(x["output_tokens"]),
                usd(x["cost_usd"]),
                x["models"] or "",
            )
        )
    return head + _table(rows, left=(0, 1, 6), cap=48)


def render_view(report: dict[str, Any], view: str, **opts: Any) -> str:
    """`llmcost report --view V`: one view, every row (`opts`: order, breakdown, models; see view_json)."""
    from analyzer.report import view_json  # the rows come from the model, not from here

    v = view_json(report, view, **opts)
    if view == "blocks":
        lines = blocks.lines(v)
    elif view == "sessions":
        lines = session_lines({"count": v["sessions"], "top": v["rows"]}) or ["No conversations or sessions."]
    elif view == "units":
        lines = unit_costs.lines(report["unit_costs"]) or ["No conversations, sessions, users, tags or tasks."]
    elif view in unit_costs.VIEWS:
        lines = unit_costs.tail_lines(v)
    elif "dimension" in v:
        head, rows = _spend_view_rows(v)
        lines = [SPEND_VIEW_TITLES[v["dimension"]]] + _table([tuple(h.upper() for h in head), *rows], cap=60)
    else:
        lines = (
            period_lines({"unit": v["unit"], "periods": v["rows"], "undated": v.get("undated")})
            if v["rows"] or v.get("undated")
            else ["No requests."]
        )
    return _terminal(lines)


SPEND_VIEW_TITLES = {"api_key": "Spend by API key", "project": "Spend by project", "model": "Spend by model"}


def _spend_view_rows(v: dict[str, Any]) -> tuple[list[str], list[tuple[str, ...]]]:
    """`--view keys|projects|models`: the heading and one row per key, project or model, the rest of a capped
    list on one line, and the total (the headline)."""
    head = [{"api_key": "API key", "project": "Project", "model": "Model"}[v["dimension"]], "Requests", "Input"]
    head += ["Cache read", "Cache write", "Output", "Cost"]

    def row(label: str, r: dict[str, Any]) -> tuple[str, ...]:
        cells = [num(r[k]) for k in ("requests", "input_tokens", "cache_read_tokens", "cache_write_tokens")]
        cost = usd(r["cost_usd"]) + (" +unpriced" if r["has_unpriced"] else "")
        return (label, *cells, num(r["output_tokens"]), cost)

    rows = [row(one_line(str(r["name"])), r) for r in v["rows"]]
    if v.get("other"):
        rows.append(row(f"(other {count(v['other']['requests'], 'request')})", v["other"]))
    rows.append(row("TOTAL", v["total"]))
    return head, rows


def headline_lines(report: dict[str, Any]) -> list[str]:
    """The few lines a run that wrote files prints, so that `report logs -o report.html` is not silent: the
    spend, the period, and the top lever with its range."""
    t, h = report["totals"], report["headline"]
    lines = [
        f"Spend      {usd(t['cost_usd'])} over {count(t['requests'], 'API call')}, "
        f"{period_words(report['period'], minutes=False)}"
    ]
    ux = report.get("usage_export")
    if ux:
        ut = ux["totals"]
        lines.append(
            f"Billed     {usd(ut['billed_usd'])}, the bill per the providers' usage exports"
            + ("" if ut["billed_complete"] else f" (incomplete: {num(ut['unpriced_buckets'])} buckets unpriced)")
        )
    if not t["requests"]:
        return lines
    if h["levers"]:
        lv = h["levers"][0]
        k = "monthly" if h["scaled_to_month"] else "saving"
        lines.append(
            f"Top lever  {lv['lever']}: {usd(lv[f'{k}_usd'])}{'/month' if k == 'monthly' else ''} "
            f"({usd(lv[f'{k}_low_usd'])} .. {usd(lv[f'{k}_high_usd'])}, {lv['confidence']} confidence): {lv['action']}"
        )
    else:
        lines.append("Top lever  none saves money beyond the simulator's accuracy (see the report)")
    return lines


def render_view_markdown(report: dict[str, Any], view: str, **opts: Any) -> str:
    """`--view V --md FILE`: the one view as a Markdown table (with its undated row and total), not the whole
    summary."""
    from analyzer.report import view_json

    v = view_json(report, view, **opts)
    if view in unit_costs.VIEWS:  # distributions and a tail: the terminal's lines, kept aligned in a code block
        lines = unit_costs.lines(report["unit_costs"]) if view == "units" else unit_costs.tail_lines(v)
        if not lines:
            return "No conversations, sessions, users, tags or tasks.\n"
        return "# " + lines[0] + "\n\n```\n" + "\n".join(lines[1:]).strip("\n") + "\n```\n"
    if view == "sessions":
        head = ["Session", "Last activity", "Requests", "Input", "Output", "Cost", "Models"]
        rows = [
            [
                str(x["session"]) + (" (rebuilt)" if x["source"] == "rebuilt" else ""),
                (x["last_ts"] or "")[:16].replace("T", " "),
                num(x["requests"]),
                num(x["input_tokens"]),
                num(x["output_tokens"]),
                usd(x["cost_usd"]),
                x["models"] or "",
            ]
            for x in v["rows"]
        ]
        title = f"# Conversations and sessions ({count(v['sessions'], 'session')})"
    elif "dimension" in v:
        head, table = _spend_view_rows(v)
        rows = [list(r) for r in table]
        rows[-1][0] = "**Total**"
        title = "# " + SPEND_VIEW_TITLES[v["dimension"]]
    else:
        lines = period_lines({"unit": v["unit"], "periods": v["rows"], "undated": v.get("undated")})
        title = "# " + lines[0]
        head = ["Day" if v["unit"] == "day" else v["unit"].capitalize(), "Requests", "Input", "Cache read"]
        head += ["Cache write", "Output", "Cost", "Models"]
        periods = v["rows"] + ([v["undated"] | {"start": "(undated)", "by_model": {}}] if v.get("undated") else [])
        rows = [
            [
                _month(p["start"], v["unit"]),
                *_spend_cells(p),
                ", ".join(sorted(p["by_model"], key=lambda m: -p["by_model"][m])),
            ]
            for p in periods
        ]
        if periods:
            t = _sum_periods(periods)
            rows.append(["**Total**", *_spend_cells(t), ""])
    right = {i for i, h in enumerate(head) if h in ("Requests", "Input", "Cache read", "Cache write", "Output", "Cost")}
    out = [
        title,
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---:" if i in right else "---" for i in range(len(head))) + "|",
    ]
    out += ["| " + " | ".join(c if c.startswith("**") else _md_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def _month(start: str, unit: str) -> str:
    """A period's label: the day, the week's Monday, or the month as `2025-11`."""
    return start[:7] if unit == "month" and start[:1].isdigit() else start


def render_text(report: dict[str, Any]) -> str:
    """A terminal summary for a run with no output file named: the totals (or, for a block-hash trace, its cache
    reuse), spend per model, the levers, then spend by day or week and the costliest sessions."""
    t = report["totals"]
    p = report["period"]
    ux = report.get("usage_export")
    trace_only = not t["requests"] and not ux and bool(_trace_summary(report))
    lines = []
    if not trace_only:
        lines += [
            f"Period     {period_words(p)}",
            f"Requests   {count(t['requests'], 'API call')} ({num(t['unpriced_requests'])} unpriced, "
            f"{num(t['error_requests'])} failed"
            + (f", {num(p['undated_requests'])} undated" if p.get("undated_requests") else "")
            + ")",
            f"Spend      {usd(t['cost_usd'])}"
            + (f" (~{usd(t['projected_monthly_usd'])}/month at this rate)" if t["projected_monthly_usd"] else "")
            + (", computed from the request logs at list prices; the bill is below" if ux else ""),
        ]
        if t.get("estimated_requests"):
            lines.append(
                f"Estimated  {usd(t['estimated_cost_usd'])} ({pct(t['estimated_share'])} of spend) from "
                f"{count(t['estimated_requests'], 'call')} without usage, counted from their text"
            )
        lines += [
            f"Cached     {pct(t['cached_share'])} of {num(t['input_tokens'])} input tokens",
        ]
    billed = (report.get("reconciliation") or {}).get("line")
    if billed:  # billed vs computed (analyzer/reconcile.py): its own line, apart from the levers
        lines.append(f"Reconcile  {billed}")
    if ux:
        ut = ux["totals"]
        lines += [
            f"Billed     {usd(ut['billed_usd'])}, the bill per the providers' usage exports"
            + ("" if ut["billed_complete"] else f" (incomplete: {num(ut['unpriced_buckets'])} buckets unpriced)")
            + f", {(ux['period']['start'] or '')[:10]} .. {(ux['period']['end'] or '')[:10]}",
            f"           {pct(ut['cached_share'])} of {num(ut['input_tokens'])} input tokens from cache, "
            f"which saved {usd(ut['caching_saved_usd'])}; " + "; ".join(ut["billed_basis"]),
        ]
        rec = ux["reconciliation"]
        if rec:
            gap_in = sum(r["gap_input_tokens"] or 0 for r in rec)
            costs = [r["gap_cost_usd"] for r in rec if r["gap_cost_usd"] is not None]
            if not costs:
                money = "cost unknown (the export's buckets are unpriced)"
            elif len(costs) < len(rec):
                money = f"{usd(sum(costs))} on the {count(len(costs), 'priced row')}, {len(rec) - len(costs)} unpriced"
            else:
                money = usd(sum(costs))
            lines.append(
                f"Logs gap   {num(gap_in)} input tokens, {money} (export - logs, "
                f"{count(len(rec), 'day x model row')}; the bill is the export's)"
            )
        for mp in ux["missing_pages"]:
            lines.append(
                f"           {mp['export']}: pages missing (every page read says more follow): totals are short"
            )
        if ux["needs_logs"]:
            lines += ["", ux["needs_logs"]]
    lines += _trace_summary(report)
    if report["by_model"]:
        lines.append("")
        rows = [("MODEL", "PRICED AS", "REQUESTS", "INPUT", "OUTPUT", "COST")]
        for m in report["by_model"]:
            rows.append(
                (
                    m["model"],
                    m["model_key"] or "UNPRICED",
                    num(m["requests"]),
                    num(m["input_tokens"]),
                    num(m["output_tokens"]),
                    usd(m["cost_usd"]),
                )
            )
        if len(report["by_model"]) > 1:
            rows.append(
                (
                    "TOTAL" + (f" ({len(report['by_model'])} models)" if len(report["by_model"]) > 2 else ""),
                    "",
                    num(t["requests"]),
                    num(t["input_tokens"]),
                    num(t["output_tokens"]),
                    usd(t["cost_usd"]),
                )
            )
        lines += _table(rows, left=(0, 1))
    if not trace_only:
        h = report["headline"]
        monthly = h["scaled_to_month"]
        lines += ["", "What to change first" + (" (per month at the logged rate)" if monthly else " (over the period)")]
        for lv in h["levers"]:
            k = "monthly" if monthly else "saving"
            lines.append(
                f"{lv['rank']}. {lv['lever']:14}{usd(lv[f'{k}_usd']):>12}  ({usd(lv[f'{k}_low_usd'])} .. "
                f"{usd(lv[f'{k}_high_usd'])}, {lv['confidence']} confidence)"
            )
            lines.append(f"   {lv['action']}")
        if not h["levers"]:
            lines.append(h["no_lever_reason"])
    lat = report.get("latency_by_model") or []
    if lat:
        lines += ["", "Latency by model (where the logs carry it)"]
        rows = [("MODEL", "CALLS", "MEDIAN", "P95")]
        rows += [
            (
                x["model"] or "",
                num(x["requests"]),
                f"{math.floor(x['median_ms'] + 0.5):,} ms",
                f"{math.floor(x['p95_ms'] + 0.5):,} ms",
            )
            for x in lat[:10]
        ]
        lines += _table(rows, left=(0,))
    view = report.get("spend_by_period") or {}
    if view.get("periods") and (len(view["periods"]) > 1 or view.get("undated")):
        lines += [""] + period_lines(view, last=14)
    if (report.get("sessions") or {}).get("top"):
        lines += [""] + session_lines(report["sessions"], last=10)
    if unit_lines := unit_costs.lines(report.get("unit_costs")):
        lines += [""] + unit_lines
    lines.append("")
    lines.append(
        "Details, charts and assumptions: -o report.html; one view: --view daily|weekly|monthly|sessions|units|users|"
        "tags|tasks"
    )
    return _terminal(lines)


def render_projection(result: dict[str, Any]) -> str:
    """`llmcost project` for people: the workload as given, what the levers save, the three scenarios."""
    w = result["as_given"]["workload"]
    lines = [
        f"{num(w['requests'])} requests/month x ({num(w['input_tokens'])} in, {num(w['output_tokens'])} out) "
        f"on {w['model']}"
        + (f", {pct(w['route_share'])} routed to {w['route_to']}" if w["route_share"] else "")
        + (
            f", {num(w['cached_prefix'])}-token prefix cached at {pct(w['cache_hit_rate'])} hits"
            if w["cached_prefix"]
            else ""
        )
        + (f", context growth {w['growth']:+.0%}" if w["growth"] else ""),
        "",
    ]
    words = result.get("scenarios_assume") or {}
    rows = [("as given", result["as_given"]), ("no levers", result["without_levers"])]
    rows += [(words.get(k, k), v) for k, v in result["scenarios"].items()]
    lines += _scenario_table(rows)
    given = [x for x, on in (("routing", w["route_share"]), ("caching", w["cached_prefix"])) if on]
    if given:
        verb = "saves" if len(given) == 1 else "save"
        lines += [
            "",
            f"{' and '.join(given).capitalize()} {verb} {usd(result['levers_save_usd'])}/month on this workload.",
            "",
        ]
    else:
        lines += ["", "No routing or caching given (--route-share, --cached-prefix): the cost as it is.", ""]
    lines += [f"- {a}" for a in result["assumptions"]]
    return "\n".join(lines) + "\n"


PROJECTION_PARTS = ("input_usd", "cache_read_usd", "cache_write_usd", "output_usd", "total_usd")


def _scenario_table(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Scenarios by cost part per month, each header over its numbers."""
    table = [("", "INPUT", "CACHE READ", "CACHE WRITE", "OUTPUT", "TOTAL")]
    table += [(name, *(usd(r[k]) for k in PROJECTION_PARTS)) for name, r in rows]
    return _table(table, left=(0,), cap=60)


def render_projection_by_model(result: dict[str, Any]) -> str:
    """`llmcost project --from-db` for people: each model's measured workload and monthly cost, the sum, and the
    scenarios named for what they assume."""
    rows = [("MODEL", "REQUESTS/MONTH", "INPUT/REQUEST", "OUTPUT/REQUEST", "CACHE HITS", "COST/MONTH")]
    for m in sorted(result["models"], key=lambda m: -m["total_usd"]):
        per_month = m["requests_per_month"]
        rows.append(
            (
                m["model"],
                "under 1" if per_month < 1 else num(round(per_month, 1) if per_month < 10 else round(per_month)),
                num(round(m["input_tokens"])),
                num(round(m["output_tokens"])),
                pct(m["cache_hit_rate"]),
                usd(m["total_usd"]),
            )
        )
    lines = [
        f"Measured from {result['measured_from']}: {count(len(result['models']), 'model')}, each on its own workload",
        "",
    ]
    rows.append(("TOTAL", "", "", "", "", usd(result["as_given"]["total_usd"])))
    lines += _table(rows, left=(0,))
    if any(m["requests_per_month"] < 1 for m in result["models"]):
        lines.append("Requests per month at the measured rate: a model seen a few times over a long period is under 1.")
    if result["unpriced_models"]:
        lines.append(f"Not projected (no price): {', '.join(result['unpriced_models'])}")
    words = result.get("scenarios_assume") or {}
    scen = [("as measured", result["as_given"]), ("without routing or caching", result["without_levers"])]
    lines += [""] + _scenario_table(scen + [(words.get(k, k), v) for k, v in result["scenarios"].items()])
    lines += [""] + [f"- {a}" for a in result["assumptions"]]
    return _terminal(lines)


def render_savings(report: dict[str, Any]) -> str:
    """`llmcost savings` for people: one line per estimate with its range, then what each rests on."""
    est = report["savings"]
    if not est:
        return (
            "No lever applies to this traffic with the estimators available (caching, routing, batching, trimming).\n"
        )
    spend = report["totals"]["cost_usd"]
    lines = [f"Spend in period: {usd(spend)}"]
    bases = sorted({round(e["baseline_usd"], 6) for e in est if e.get("baseline_usd") is not None})
    if len(bases) == 1 and spend is not None and round(bases[0] - spend, 4):
        # every saving below starts from the simulator's replay of the traffic as logged, not from the spend
        gap = bases[0] - spend
        lines.append(
            f"As replayed:     {usd(bases[0])}, the simulator's replay of the same calls as logged (the base of every "
            f"saving below): {usd(abs(gap))} {'above' if gap > 0 else 'below'} the spend, the simulator's difference"
        )
    lines += [
        "",
        "Each saving is two replays under one simulator (as logged, and with the lever); BAND is the simulator's",
        "error on the requests the lever changes: a saving inside it is nothing to gain. Savings are at the prices",
        "billed (each call at the prices in force at its time); TODAY is the same saving at today's prices.",
        "",
    ]
    rows = [("LEVER", "REQUESTS", "SAVING", "RANGE", "BAND", "TODAY", "VERDICT", "POLICY")]
    for e in est:
        verdict = e.get("verdict", "")
        if not e["requests"] and not round(e["saving_usd"] or 0, 6):
            verdict = "no request changes"  # a lever that touches nothing saves nothing, whatever its sign
        rows.append(
            (
                e["lever"],
                num(e["requests"]),
                usd(e["saving_usd"]),
                f"{usd(e['saving_low_usd'])} .. {usd(e['saving_high_usd'])}",
                usd((e.get("backtest") or {}).get("band_usd")),
                usd(e.get("saving_today_usd")),
                verdict,
                e["policy"],
            )
        )
    lines += _table(rows, left=(0, 6, 7), cap=200)
    bt = report["caching"]["backtest"]
    if bt:
        lines += [
            "",
            f"Caching backtest ({', '.join(bt['providers'])}, {num(bt['requests'])} requests): simulated "
            f"{num(bt['simulated_cache_read_tokens'])} cache-read tokens vs {num(bt['reported_cache_read_tokens'])}"
            f" reported" + (f" ({bt['error_pct']:+.1f}%)" if bt["error_pct"] is not None else ""),
        ]
        if bt.get("per_call_error_points_p95") is not None:
            lines.append(
                f"  per call: median {bt['per_call_error_points_median']} and p95 {bt['per_call_error_points_p95']} "
                "points of the call's input; "
                f"{num(bt.get('reported_zero_simulated_hits'))} calls reported no cache read where the simulator "
                "finds one"
            )
        w = bt["after_first_request_of_each_scope"]
        if w["error_pct"] is not None:
            lines.append(
                f"  without each scope's first request (cached before the log began): {w['error_pct']:+.1f}% "
                f"on {num(w['requests'])} requests"
            )
    lines.append("")
    for e in est:
        lines.append(f"{e['lever']} ({e['policy']}):")
        lines += [f"  - {a}" for a in e["assumptions"] + e["evidence"]]
    return _terminal(lines)
