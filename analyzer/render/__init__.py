"""Renderers: report model -> HTML (jinja2 templates in reports/), JSON, Markdown. They format, never compute.

`write_output` owns the output file: `-` is stdout, and a file is written to a temporary name and renamed
only when complete, so a failed run never leaves a half-written report behind.

This package's modules: the whole report as a page (here), the terminal summary (`text`), one view of it
(`views`), the other commands' terminal output (`commands`), and the charts drawn to SVG (`svg`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
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
from analyzer.formatting import count, duration, md_cell, num, pct, period_words, usd, usd_fine
from analyzer.render.svg import draw_started, to_svgs
from analyzer.resources import resource_dir


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
    env.filters.update(
        usd=usd, usd_fine=usd_fine, num=num, pct=pct, count=count, duration=duration, period_words=period_words
    )
    return env


def render_html(report: dict[str, Any]) -> str:
    """The self-contained page: charts as inline static SVG, one inline script allowed by its hash (so no
    other script can run, whatever a log smuggled in), no external resource of any kind."""
    script = (resource_dir("reports") / "sortable.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    wanted = charts.specs(report)
    specs = [c["spec"] for c in wanted]
    drawing = draw_started(specs) if specs else None
    if drawing is not None:
        # the chart child draws while the page is rendered around one mark per chart: a comment with this run's
        # nonce, which no text from a log can hold (its "<" is escaped), replaced by the SVG once drawn
        nonce = secrets.token_hex(8)
        marks = [f"<!--llmcost-chart-{nonce}-{i}-->" for i in range(len(wanted))]
        page = _page(report, wanted, marks, None, script, digest)
        svgs = drawing()
        if svgs is not None:
            for mark, drawn in zip(marks, svgs, strict=True):
                page = page.replace(mark, drawn, 1)
            return page
    drawn_here, charts_note = to_svgs(specs)
    if charts_note:
        _note(charts_note)
    return _page(report, wanted, drawn_here or [], charts_note, script, digest)


def _page(
    report: dict[str, Any],
    wanted: list[dict[str, Any]],
    svgs: list[str],
    charts_note: str | None,
    script: str,
    digest: str,
) -> str:
    figures = [
        {**{k: c[k] for k in ("id", "title", "caption")}, "svg": Markup(drawn)}
        for c, drawn in zip(wanted, svgs, strict=False)
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
    print(f"llmcost: note: {text}", file=sys.stderr)


def render_audit_index(history: list[dict[str, Any]]) -> str:
    """DIR/index.html of the nightly audit: every audited day, newest first, with a spend trend and links.
    No script at all: a static page to open from the folder or a web server."""
    spec = audit_trend(history)
    svgs, note = to_svgs([spec] if spec else [])
    if note:
        _note(note)
    return (
        _env()
        .get_template("audit_index.html.j2")
        .render(days=list(reversed(history)), trend=Markup(svgs[0]) if svgs else None)
    )


def audit_trend(history: list[dict[str, Any]]) -> dict | None:
    """Spend of each audited day (DIR/index.html), red where a threshold was crossed."""
    rows = [h for h in history if h["window_days"] == 1] or history
    if not rows:
        return None
    data = [
        {"day": h["day"], "cost_usd": h["cost_usd"], "state": "threshold crossed" if h["crossed"] else "ok"}
        for h in rows
    ]
    return charts.vega_lite(
        data,
        {
            "mark": {"type": "bar"},
            "encoding": {
                "x": {
                    "field": "day",
                    "type": "ordinal",
                    "title": None,
                    "axis": {"labelAngle": -45, "labelOverlap": True},
                },
                "y": {
                    "field": "cost_usd",
                    "type": "quantitative",
                    "title": "Spend (USD)",
                    "axis": {"format": charts.money_format(max(d["cost_usd"] for d in data)), "titlePadding": 12},
                },
                "color": {
                    "field": "state",
                    "type": "nominal",
                    "title": None,
                    "scale": {"domain": ["ok", "threshold crossed"], "range": ["#4c78a8", "#e45756"]},
                },
            },
        },
        width=900,
        height=200,
    )


def render_markdown(report: dict[str, Any]) -> str:
    env = _env()
    env.autoescape = False
    env.filters["md"] = md_cell
    return env.get_template("summary.md.j2").render(r=report)


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
        raise InputError(f"folder {folder} does not exist", path=str(target))
    if path.is_dir():
        raise InputError("is a folder; name a file to write", path=str(target))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    except OSError as e:
        raise InputError(f"cannot write ({e.strerror or e})", path=str(target)) from None
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
        raise InputError(f"cannot write ({e.strerror or e})", path=str(target)) from None
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
