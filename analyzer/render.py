"""Renderers: report model -> HTML (jinja2 templates in reports/), JSON, Markdown. They format, never compute.

`write_output` owns the output file: `-` is stdout, and a file is written to a temporary name and renamed
only when complete, so a failed run never leaves a half-written report behind.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import orjson
from markupsafe import Markup

from analyzer import charts
from analyzer.errors import InputError
from analyzer.redact import terminal_safe
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


def render_json(report: dict[str, Any]) -> str:
    return orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("reports"))),
        autoescape=True,  # everything from logs is attacker-controlled text
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(usd=usd, num=num, pct=pct)
    return env


def render_html(report: dict[str, Any]) -> str:
    """The self-contained page: charts as inline static SVG, one inline script allowed by its hash (so no
    other script can run, whatever a log smuggled in), no external resource of any kind."""
    script = (resource_dir("reports") / "sortable.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    figures = [
        {**{k: c[k] for k in ("id", "title", "caption")}, "svg": Markup(charts.to_svg(c["spec"]))}
        for c in charts.specs(report)
    ]
    return (
        _env()
        .get_template("report.html.j2")
        .render(r=report, charts=figures, script=Markup(script), script_hash=f"sha256-{digest}")
    )


def render_markdown(report: dict[str, Any]) -> str:
    env = _env()
    env.autoescape = False
    env.filters["md"] = _md_cell
    return env.get_template("summary.md.j2").render(r=report)


def _md_cell(v: Any) -> str:
    """A Markdown table cell that log text cannot break out of."""
    s = str(v).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
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


def render_text(report: dict[str, Any]) -> str:
    """A terminal summary: the headline and spend per model, for a run with no output file named."""
    t = report["totals"]
    p = report["period"]
    lines = [
        f"Period     {p['start'] or 'n/a'} .. {p['end'] or 'n/a'}",
        f"Requests   {num(t['requests'])} ({num(t['unpriced_requests'])} unpriced, {num(t['error_requests'])} failed)",
        f"Spend      {usd(t['cost_usd'])}"
        + (" in the request logs" if report.get("usage_export") else "")
        + (f"   (~{usd(t['projected_monthly_usd'])}/month at this rate)" if t["projected_monthly_usd"] else ""),
        f"Cached     {pct(t['cached_share'])} of {num(t['input_tokens'])} input tokens",
    ]
    billed = (report.get("reconciliation") or {}).get("line")
    if billed:  # billed vs computed (analyzer/reconcile.py): its own line, apart from the levers
        lines.append(f"Reconcile  {billed}")
    lines += [
        "",
    ]
    ux = report.get("usage_export")
    if ux:
        ut = ux["totals"]
        lines[-1:-1] = [
            f"Billed     {usd(ut['billed_usd'])} per the usage exports"
            + ("" if ut["billed_complete"] else f" (incomplete: {num(ut['unpriced_buckets'])} buckets unpriced)")
            + f", {(ux['period']['start'] or '')[:10]} .. {(ux['period']['end'] or '')[:10]}",
            f"           {pct(ut['cached_share'])} of {num(ut['input_tokens'])} input tokens from cache, "
            f"which saved {usd(ut['caching_saved_usd'])}; " + "; ".join(ut["billed_basis"]),
        ]
        rec = ux["reconciliation"]
        if rec:
            gap_in = sum(r["gap_input_tokens"] or 0 for r in rec)
            gap_usd = sum(r["gap_cost_usd"] or 0 for r in rec)
            lines[-1:-1] = [
                f"Logs gap   {num(gap_in)} input tokens, {usd(gap_usd)} (export - logs, {len(rec)} day x model rows; "
                "the billed total is the export's)"
            ]
        for mp in ux["missing_pages"]:
            lines[-1:-1] = [
                f"           {mp['export']}: pages missing (every page read says more follow): totals are short"
            ]
        if ux["needs_logs"]:
            lines[-1:-1] = ["", ux["needs_logs"]]
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
    if len(rows) == 1 and ux:
        rows = []  # an export alone: no request logs to list; its models are in the report's usage-export section
    widths = [min(max(len(r[i]) for r in rows), 40) for i in range(len(rows[0]))] if rows else []
    for r in rows:
        cells = [r[i][: widths[i]].ljust(widths[i]) if i < 2 else r[i].rjust(widths[i]) for i in range(len(r))]
        lines.append("  ".join(cells).rstrip())
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
    lines.append("Details, charts and assumptions: -o report.html")
    return terminal_safe("\n".join(lines) + "\n")


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
        f"{'':14}{'INPUT':>12}{'CACHE READ':>12}{'CACHE WRITE':>12}{'OUTPUT':>12}{'TOTAL':>12}",
    ]
    rows = [("as given", result["as_given"]), ("no levers", result["without_levers"])]
    rows += list(result["scenarios"].items())
    for name, r in rows:
        lines.append(
            f"{name:14}"
            + "".join(
                f"{usd(r[k]):>12}"
                for k in ("input_usd", "cache_read_usd", "cache_write_usd", "output_usd", "total_usd")
            )
        )
    lines += ["", f"Routing and caching save {usd(result['levers_save_usd'])}/month on this workload.", ""]
    lines += [f"- {a}" for a in result["assumptions"]]
    return "\n".join(lines) + "\n"


def render_savings(report: dict[str, Any]) -> str:
    """`llmcost savings` for people: one line per estimate with its range, then what each rests on."""
    est = report["savings"]
    if not est:
        return (
            "No lever applies to this traffic with the estimators available (caching, routing, batching, trimming).\n"
        )
    lines = [
        f"Spend in period: {usd(report['totals']['cost_usd'])}",
        "",
        f"{'LEVER':10}{'POLICY':52}{'REQUESTS':>10}{'SAVING':>12}{'RANGE':>26}",
    ]
    for e in est:
        rng = f"{usd(e['saving_low_usd'])} .. {usd(e['saving_high_usd'])}"
        lines.append(f"{e['lever']:10}{e['policy'][:50]:52}{num(e['requests']):>10}{usd(e['saving_usd']):>12}{rng:>26}")
    bt = report["caching"]["backtest"]
    if bt:
        lines += [
            "",
            f"Caching backtest ({', '.join(bt['providers'])}, {num(bt['requests'])} requests): simulated "
            f"{num(bt['simulated_cache_read_tokens'])} cache-read tokens vs {num(bt['reported_cache_read_tokens'])}"
            f" reported" + (f" ({bt['error_pct']:+.1f}%)" if bt["error_pct"] is not None else ""),
        ]
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
    return terminal_safe("\n".join(lines) + "\n")
