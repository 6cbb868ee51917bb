"""The HTML report in a real headless browser: it loads quietly and offline, its charts are drawn, its tables sort,
it is small and fast, and the headline is on the first screen. Five pages: the samples (382 days), a synthetic
support-bot log, a DeepSeek-like agent log (long conversations: the page must stay short), a block-hash
(Mooncake) trace, and an audit's day page.

Playwright drives the system Chromium (never a downloaded one). Without Playwright or Chromium the tests skip, unless
LLMCOST_REQUIRE_BROWSER=1 (CI), where that is a failure. Other settings, all optional:

    LLMCOST_CHROMIUM        the browser binary (default: `chromium` on PATH, else /usr/bin/chromium)
    LLMCOST_BROWSER_CALLS   calls in the synthetic log (default 3000; CI uses 100000, the size the issue asks for)
    LLMCOST_SCREENSHOT_DIR  save a first-screen and a full-page screenshot of each report here
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_logs"
MAKE_LOG = ROOT / "bench" / "make_log.py"

CHROMIUM = os.environ.get("LLMCOST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
REQUIRE_BROWSER = os.environ.get("LLMCOST_REQUIRE_BROWSER") == "1"
CALLS = int(os.environ.get("LLMCOST_BROWSER_CALLS", "3000"))
SCREENSHOT_DIR = os.environ.get("LLMCOST_SCREENSHOT_DIR")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
MAX_REPORT_BYTES = 3_000_000  # the limit, for a 100k-call log
MAX_LOAD_SECONDS = 5.0
MIN_CHARTS = 4
MIN_CHART_SIDE_PX = 50
BUILD_TIMEOUT_S = 1800


def _unavailable(reason: str) -> NoReturn:
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason}; LLMCOST_REQUIRE_BROWSER=1, so this fails instead of skipping", pytrace=False)
    pytest.skip(reason)


# ---------------------------------------------------------------------------------------------------------------------
# Fixtures: the browser, the two reports (each built once), and a fresh page per test.


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        _unavailable(f"Playwright is not installed ({e}); pip install '.[test]'")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"no Chromium executable at {CHROMIUM} (set LLMCOST_CHROMIUM, or apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class Report:
    name: str  # used in test ids and screenshot names
    path: Path
    build_seconds: float
    min_charts: int = MIN_CHARTS
    sortable: bool = True  # has a sortable table with >= 3 rows and a numeric column

    @property
    def url(self) -> str:
        return self.path.as_uri()


def _run(cmd: list[str], what: str) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    if proc.returncode:
        pytest.fail(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-4000:]}", pytrace=False)
    return time.perf_counter() - t0


def _build_report(name: str, logs: Path, out_dir: Path) -> Report:
    out = out_dir / "report.html"
    seconds = _run([sys.executable, "-m", "analyzer", "report", str(logs), "-o", str(out)], f"report on {logs}")
    return Report(name, out, seconds)


@pytest.fixture(scope="module")
def sample_report(browser, tmp_path_factory) -> Report:
    return _build_report("sample", SAMPLES, tmp_path_factory.mktemp("sample_report"))


@pytest.fixture(scope="module")
def synthetic_report(browser, tmp_path_factory) -> Report:
    base = tmp_path_factory.mktemp("synthetic_report")
    logs = base / "logs"
    _run([sys.executable, str(MAKE_LOG), str(logs), "--calls", str(CALLS)], f"bench/make_log.py --calls {CALLS}")
    try:
        return _build_report("synthetic", logs, base)
    finally:
        shutil.rmtree(logs)  # 100k calls are ~1.7 GB of JSONL, and pytest keeps the last few runs' temporary folders


AGENT_CONVERSATIONS, AGENT_TURNS = 6, 176  # the real DeepSeek traces' longest run is 176 turns
MAX_AGENT_PAGE_PX = 8000  # the limit at 1280 px wide (the page was 16,000 px before tables folded)


@pytest.fixture(scope="module")
def agent_report(browser, tmp_path_factory) -> Report:
    sys.path.insert(0, str(ROOT))
    from tests.conftest import agent_calls, write_jsonl

    base = tmp_path_factory.mktemp("agent_report")
    log = write_jsonl(base / "agent.jsonl", agent_calls(conversations=AGENT_CONVERSATIONS, turns=AGENT_TURNS))
    return _build_report("deepseek_like", log, base)


@pytest.fixture(scope="module")
def mooncake_report(browser, tmp_path_factory) -> Report:
    base = tmp_path_factory.mktemp("mooncake_report")
    shutil.copy(SAMPLES / "mooncake_trace.jsonl", base / "trace.jsonl")
    r = _build_report("mooncake", base / "trace.jsonl", base)
    r.min_charts, r.sortable = 1, False  # a trace has no spend: only the prefix-reuse chart, one-row tables
    return r


@pytest.fixture(scope="module")
def audit_day(browser, tmp_path_factory) -> Report:
    """The page a nightly audit writes for its day: two days of traffic, the second audited."""
    sys.path.insert(0, str(ROOT))
    from datetime import timedelta

    from tests.conftest import write_jsonl
    from tests.test_audit import DAY1, calls

    base = tmp_path_factory.mktemp("audit_day")
    (base / "logs").mkdir()
    write_jsonl(base / "logs" / "d1.jsonl", calls(DAY1, 10, cached=1024, tag="d1"))
    write_jsonl(base / "logs" / "d2.jsonl", calls(DAY1 + timedelta(days=1), 15, model="gpt-4.1", tag="d2"))
    cmd = [sys.executable, "-m", "analyzer", "audit", str(base / "logs"), "--db", str(base / "a.duckdb")]
    cmd += ["--out-dir", str(base / "out"), "--day", "2025-11-21", "--fail-on-increase", "500"]
    seconds = _run(cmd, "audit")
    return Report("audit_day", base / "out" / "llmcost-2025-11-21.html", seconds, min_charts=1, sortable=False)


REPORTS = ["sample_report", "synthetic_report", "agent_report", "mooncake_report", "audit_day"]


@pytest.fixture(
    scope="module",
    params=REPORTS,
    ids=["sample_logs_382_days", f"synthetic{CALLS}", "deepseek_like", "mooncake", "audit_day"],
)
def report(request) -> Report:
    return request.getfixturevalue(request.param)


@dataclass
class Visit:
    """One page load of a report, with everything the page said or asked for while it was open."""

    page: Any
    report: Report
    load_seconds: float = 0.0
    console: list[str] = field(default_factory=list)  # console messages of type error or warning
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions
    requests: list[str] = field(default_factory=list)  # requests other than the report itself and data: URLs
    blocked: list[str] = field(default_factory=list)  # requests the route aborted

    def allowed(self, url: str) -> bool:
        return url == self.report.url or url.startswith("data:")


@pytest.fixture
def visit(browser, report):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    v = Visit(page, report)

    def on_console(msg) -> None:
        if msg.type in ("error", "warning"):
            loc = msg.location or {}
            v.console.append(f"console.{msg.type}: {msg.text} (at {loc.get('url')}:{loc.get('lineNumber')})")

    def on_request(req) -> None:
        if not v.allowed(req.url):
            v.requests.append(f"{req.method} {req.url} ({req.resource_type})")

    def route(r) -> None:
        if v.allowed(r.request.url):
            r.continue_()
        else:
            v.blocked.append(f"{r.request.method} {r.request.url} ({r.request.resource_type})")
            r.abort()

    page.on("console", on_console)
    page.on("pageerror", lambda err: v.page_errors.append(f"uncaught {err.name}: {err.message.strip()}"))
    page.on("request", on_request)
    context.route("**/*", route)

    t0 = time.perf_counter()
    page.goto(report.url, wait_until="load")
    v.load_seconds = time.perf_counter() - t0
    yield v
    context.close()


# ---------------------------------------------------------------------------------------------------------------------
# Tests


def test_loads_without_console_messages_errors_or_network(visit):
    page = visit.page
    page.wait_for_timeout(300)  # let late console messages and requests arrive
    if SCREENSHOT_DIR:
        out = Path(SCREENSHOT_DIR)
        out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=out / f"{visit.report.name}_first_screen.png")
        page.screenshot(path=out / f"{visit.report.name}_full_page.png", full_page=True)
    sections = [
        ("console error(s)/warning(s)", visit.console),
        ("uncaught error(s)", visit.page_errors),
        ("request(s) beyond the report's own file and data: URLs", visit.requests),
        ("request(s) aborted by the test's route (only the report file and data: URLs may load)", visit.blocked),
    ]
    found = [f"{len(items)} {what}:\n  " + "\n  ".join(items) for what, items in sections if items]
    assert not found, f"{visit.report.name} report, on load:\n" + "\n".join(found)


def test_report_is_small_and_loads_fast(visit, record_property):
    size = visit.report.path.stat().st_size
    name = visit.report.name
    record_property("report_bytes", size)
    record_property("report_build_seconds", round(visit.report.build_seconds, 2))
    record_property("load_seconds", round(visit.load_seconds, 3))
    print(
        f"\n{name}: {size:,} bytes, built in {visit.report.build_seconds:.1f} s, "
        f"load event after {visit.load_seconds:.3f} s"
    )
    assert size < MAX_REPORT_BYTES, f"{name} report is {size:,} bytes; the limit is {MAX_REPORT_BYTES:,}"
    assert visit.load_seconds < MAX_LOAD_SECONDS, (
        f"{name} report took {visit.load_seconds:.2f} s to the load event; the limit is {MAX_LOAD_SECONDS} s"
    )


# Per chart: its svg's size; its data marks (path/rect/line/circle in a Vega mark group, axes and legends excluded,
# since an empty chart still draws those); and, for SVG not made by Vega, its path/rect elements outside axes, legends
# and Vega's background/foreground frames.
_CHARTS_JS = """
() => Array.from(document.querySelectorAll('figure.chart[id^="chart-"]'), (fig) => {
  const svg = fig.querySelector("svg");
  if (!svg) return { id: fig.id, svg: false };
  const box = svg.getBoundingClientRect();
  const decoration = (el) => el.closest('[class*="role-axis"], [class*="role-legend"]') !== null;
  const groups = ["g.mark-rect", "g.mark-line", "g.mark-area", "g.mark-symbol", "g.mark-rule"].join(", ");
  const marks = Array.from(svg.querySelectorAll(groups)).filter((g) => !decoration(g))
    .reduce((n, g) => n + g.querySelectorAll("path, rect, line, circle").length, 0);
  const shapes = Array.from(svg.querySelectorAll("path, rect"))
    .filter((el) => !decoration(el) && !el.matches(".background, .foreground")).length;
  return { id: fig.id, svg: true, width: box.width, height: box.height, marks, shapes };
})
"""


def test_charts_are_drawn(visit):
    name = visit.report.name
    charts = visit.page.evaluate(_CHARTS_JS)
    want = visit.report.min_charts
    assert len(charts) >= want, (
        f'{name} report has {len(charts)} <figure class="chart" id="chart-..."> element(s) '
        f"({', '.join(c['id'] for c in charts) or 'none'}); expected at least {want}"
    )
    problems = []
    for c in charts:
        if not c["svg"]:
            problems.append(f"#{c['id']}: no inline <svg>")
            continue
        if c["width"] <= MIN_CHART_SIDE_PX or c["height"] <= MIN_CHART_SIDE_PX:
            problems.append(
                f"#{c['id']}: svg is {c['width']:.0f}x{c['height']:.0f} px, "
                f"not larger than {MIN_CHART_SIDE_PX}x{MIN_CHART_SIDE_PX}"
            )
        if c["marks"] == 0 and c["shapes"] <= 3:
            problems.append(
                f"#{c['id']}: no data drawn (no path/rect/line/circle in a g.mark-* group outside axes and legends, "
                f"and only {c['shapes']} path/rect element(s) besides those and the frame)"
            )
    assert not problems, f"{name} report has charts that are not drawn:\n" + "\n".join(problems)


# Every label of every chart, as the browser draws it: inside what shows it (the svg, which clips what it holds, or,
# when the svg lets its text overflow, the figure around it).
_CUT_LABELS_JS = """
() => {
  const out = [];
  document.querySelectorAll('figure.chart[id^="chart-"]').forEach((fig) => {
    const svg = fig.querySelector("svg");
    if (!svg) return;
    const box = (getComputedStyle(svg).overflow === "visible" ? fig : svg).getBoundingClientRect();
    svg.querySelectorAll("text").forEach((t) => {
      const r = t.getBoundingClientRect();
      if (!t.textContent.trim() || r.width === 0) return;
      const x = (a, b) => `${a.toFixed(1)}..${b.toFixed(1)}`;
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5)
        out.push(`#${fig.id}: "${t.textContent}" at x ${x(r.left, r.right)}, shown ${x(box.left, box.right)}`);
    });
  });
  return out;
}
"""


def test_chart_labels_are_not_cut(visit):
    """Issue 25 try-out: vl-convert sizes a chart with its own font's widths; the browser's font (DejaVu Sans on
    Linux) is wider, so the first letters of the longest axis label ("min length" of the cache-misses chart, "tool
    results" of the segments chart) were cut off at the svg's left edge."""
    cut = visit.page.evaluate(_CUT_LABELS_JS)
    assert not cut, f"{visit.report.name} report has chart labels cut off:\n" + "\n".join(cut)


# The first table.sortable with >= 3 body rows and a column whose cells all carry a numeric data-v with at least two
# distinct values; a column not already ascending is preferred, so that the first click has to move rows.
_FIND_SORTABLE_JS = """
() => {
  const found = [];
  document.querySelectorAll("table.sortable").forEach((table, t) => {
    const rows = table.tBodies[0] ? Array.from(table.tBodies[0].rows) : [];
    if (rows.length < 3) return;
    table.querySelectorAll("th").forEach((th, c) => {
      const vals = rows.map((r) => {
        const cell = r.cells[c];
        return cell && cell.dataset.v !== undefined ? Number(cell.dataset.v) : NaN;
      });
      if (vals.some((x) => !Number.isFinite(x)) || new Set(vals).size < 2) return;
      const ascending = vals.every((x, i) => i === 0 || vals[i - 1] <= x);
      found.push({ table: t, col: c, header: th.textContent.trim(), rows: rows.length, ascending });
    });
  });
  return found.find((f) => !f.ascending) || found[0] || null;
}
"""

_COLUMN_JS = """
([t, c]) => Array.from(
  document.querySelectorAll("table.sortable")[t].tBodies[0].rows, (r) => Number(r.cells[c].dataset.v))
"""


def test_sortable_table_sorts_numeric_column(visit):
    page, name = visit.page, visit.report.name
    if not visit.report.sortable:
        pytest.skip(f"{name}: no table with three rows to sort")
    target = page.evaluate(_FIND_SORTABLE_JS)
    assert target, f"{name} report has no table.sortable with >= 3 body rows and a numeric (data-v) column"
    where = f"table.sortable #{target['table']} ({target['rows']} rows), column {target['col']} {target['header']!r}"
    th = page.locator("table.sortable").nth(target["table"]).locator("th").nth(target["col"])
    ascending = sorted(page.evaluate(_COLUMN_JS, [target["table"], target["col"]]))

    th.click()
    first = page.evaluate(_COLUMN_JS, [target["table"], target["col"]])
    assert first == ascending, f"{name} {where}: after one click the data-v values are not ascending: {first}"
    assert th.get_attribute("aria-sort") == "ascending", f"{name} {where}: aria-sort is not 'ascending' after a click"

    th.click()
    second = page.evaluate(_COLUMN_JS, [target["table"], target["col"]])
    assert second == ascending[::-1], f"{name} {where}: after a second click the values are not descending: {second}"
    assert th.get_attribute("aria-sort") == "descending", f"{name} {where}: aria-sort is not 'descending' after two"
    assert not visit.page_errors, f"{name} {where}: sorting threw:\n" + "\n".join(visit.page_errors)


def test_headline_is_above_the_fold(visit):
    """The summary, or on an audit's day page the audit (the comparison and its thresholds), is on the first
    screen."""
    name = visit.report.name
    first = "#audit" if visit.page.locator("#audit").count() else "#headline"
    headline = visit.page.locator(first)
    assert headline.count() == 1, f"{name} report has {headline.count()} {first} element(s); expected exactly 1"
    assert headline.is_visible(), f"{name} report: {first} is not visible"
    box = headline.bounding_box()
    fold = VIEWPORT["height"]
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= fold, (
        f"{name} report: {first} spans y={box['y']:.0f}..{box['y'] + box['height']:.0f} px at "
        f"{VIEWPORT['width']}x{fold}; it should fit in the first {fold} px"
    )


def test_page_does_not_scroll_sideways(visit):
    """Wide tables scroll inside their section and charts scale to their column: the page itself never needs a
    horizontal scrollbar at 1280 px (a forwarded report is read, not panned)."""
    scroll, client = visit.page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= client, f"{visit.report.name} report is {scroll} px wide in a {client} px window"


# ---------------------------------------------------------------------------------------------------------------------
# One page each: what the first screen of a trace, a long period, an agent log and an audit day must show.


def _open(browser, report: Report):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(report.url, wait_until="load")
    return context, page


def test_agent_report_is_short_and_every_section_is_reachable(browser, agent_report):
    context, page = _open(browser, agent_report)
    try:
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height < MAX_AGENT_PAGE_PX, f"DeepSeek-like report is {height:,} px tall at 1280 px"
        assert page.locator("details.more").count() >= 1  # the long turn table folds
        links = page.locator("nav.toc a")
        assert links.count() >= 6
        for i in range(links.count()):
            target = links.nth(i).get_attribute("href")
            if page.locator(target).count() == 0:
                continue  # a section this log has no data for
            links.nth(i).click()
            box = page.locator(target).bounding_box()
            assert box and -2 <= box["y"] < VIEWPORT["height"], f"{target} is not on screen after its link"
        page.locator("details.more summary").first.click()  # the folded rows open without script
        opened = page.locator("details.more").first
        assert opened.get_attribute("open") is not None
    finally:
        context.close()


def test_mooncake_first_screen_shows_cache_reuse_not_zero_spend(browser, mooncake_report):
    context, page = _open(browser, mooncake_report)
    try:
        head = page.locator("#headline").inner_text().lower()  # card labels are upper-cased by CSS
        assert "prefix cache reuse" in head and "%" in head and "$0.00" not in head, head
        assert "no lever" not in head
    finally:
        context.close()


def test_a_382_day_report_draws_months_not_hairlines(browser, sample_report):
    context, page = _open(browser, sample_report)
    try:
        fig = page.locator("#chart-daily-spend")
        assert "Month (UTC)" in fig.inner_text()
        widths = page.evaluate(
            """() => Array.from(document.querySelectorAll('#chart-daily-spend g.mark-rect path'),
                 (p) => p.getBoundingClientRect().width)"""
        )
        assert widths and min(widths) > 10, f"bars {widths} px wide"
        labels = page.evaluate(
            """() => Array.from(document.querySelectorAll(
                 '#chart-daily-spend g[class*="role-axis-label"] text'), (t) => t.textContent)"""
        )
        assert len(labels) == len(set(labels)), labels
    finally:
        context.close()


def test_audit_day_first_screen_has_the_comparison_and_thresholds(browser, audit_day):
    context, page = _open(browser, audit_day)
    try:
        audit = page.locator("#audit")
        box = audit.bounding_box()
        assert box and box["y"] + box["height"] <= VIEWPORT["height"]
        text = audit.inner_text()
        assert "the window before" in text and "Median day of the 7 before" in text and "500%" in text
        assert "new model: gpt-4.1" in text
        assert page.locator("#audit a[href='index.html']").count() == 1
    finally:
        context.close()


REAL_DEEPSEEK = ROOT.parent / "shared" / "traces" / "mini_swe_agent_deepseek_test"


def test_real_deepseek_traces_report_is_short(browser, tmp_path_factory):
    """The real mini-swe-agent DeepSeek traces the issue measured at 16,000 px (read from ../shared when it is
    there; the installed tool never depends on it)."""
    if not REAL_DEEPSEEK.is_dir():
        pytest.skip(f"{REAL_DEEPSEEK} is not here")
    report = _build_report("deepseek_real", REAL_DEEPSEEK, tmp_path_factory.mktemp("deepseek_real"))
    context, page = _open(browser, report)
    try:
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height < MAX_AGENT_PAGE_PX, f"the real DeepSeek traces' report is {height:,} px tall at 1280 px"
    finally:
        context.close()
