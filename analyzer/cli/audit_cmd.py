"""`llmcost audit`, the nightly job: ingest what is new, report on the last complete day(s), compare with the
window before, write the day's files and the folder's index, exit 3 past a threshold.

The comparison itself is analyzer/audit.py's; this module is the command around it: the lock, the files it writes
into DIR, and what it says on the terminal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import orjson

from analyzer import budgets
from analyzer import progress as tracking
from analyzer.audit import Windows, default_day, new_uncached_prefixes, prune_reports, remember_written
from analyzer.audit import compare as audit_compare
from analyzer.audit import history as audit_history
from analyzer.audit import locked as audit_lock
from analyzer.cli.common import (
    Intake,
    Session,
    db_option,
    intake_options,
    prices_option,
    render_failed,
    render_one,
    say,
    session,
)
from analyzer.errors import InputError, StrictError, ThresholdError
from analyzer.formatting import count
from analyzer.options import Finite, Moment
from analyzer.prices import load_catalogue
from analyzer.render import RENDERERS, render_audit_index, write_output
from analyzer.report import build_report
from analyzer.terminal import audit_summary


@click.command()
@click.argument("paths", nargs=-1)
@db_option(required=True)
@click.option("--out-dir", "out_dir", required=True, metavar="DIR", help="Folder for the day's report and audit files.")
@click.option(
    "--fail-on-increase",
    type=Finite(0, 1e9),
    metavar="PCT",
    help="Exit 3 when spend rose more than PCT percent against the window before.",
)
@click.option(
    "--fail-on-cache-drop",
    type=Finite(0, 100),
    metavar="PTS",
    help="Exit 3 when the share of input served from cache fell more than PTS percentage points.",
)
@click.option(
    "--day",
    type=Moment(["%Y-%m-%d"]),
    help="The last day to audit (UTC; default: yesterday, the last complete day).",
)
@click.option(
    "--window", "window_days", type=click.IntRange(1, 3660), default=1, show_default=True, help="Days per window."
)
@click.option(
    "--lock-wait", type=Finite(0, 7 * 86400), default=0.0, metavar="SECONDS", help="Wait for a running audit."
)
@prices_option
@click.option(
    "--keep-days",
    type=click.IntRange(min=1),
    metavar="N",
    help="Delete the dated reports llmcost wrote into DIR for days N or more before the audited day (the database "
    "keeps every row; other files are never touched).",
)
@click.option(
    "--budgets",
    "budgets_file",
    type=click.Path(dir_okay=False),
    help="A TOML file of [[budget]] tables: exit 3 when the month's spend reaches an alert share of a budget or "
    "its month-end forecast exceeds it.",
)
@intake_options
def audit(
    paths: tuple[str, ...],
    db: str,
    out_dir: str,
    fail_on_increase: float | None,
    fail_on_cache_drop: float | None,
    day: datetime | None,
    window_days: int,
    lock_wait: float,
    prices_file: str | None,
    keep_days: int | None,
    budgets_file: str | None,
    intake: Intake,
) -> None:
    """The nightly job: ingest what is new in PATHS, report on the last complete day, compare it with the day
    before, exit 3 past a threshold.

    Writes DIR/llmcost-DAY.html, .json and .md (the report of the window, opening with the comparison) and
    DIR/audit-DAY.json (the comparison, thresholds and alerts; copied to DIR/audit-latest.json unless an older
    day is being backfilled); DAY gets -wN for an N-day window. DIR/index.html lists every audited day with a
    spend trend. Re-running adds nothing and rewrites the same files.

    Exit codes: 0 no threshold crossed; 3 a threshold crossed (against the window before or the median day of
    the 7 before) or a --budgets alert; 1 no traffic on the day or unreadable input; 4 --strict and records were
    rejected.

    \b
    Example (cron, 01:10 UTC):
      llmcost audit /var/log/llm/ --db llm.duckdb --out-dir /srv/llmcost --fail-on-increase 25 --fail-on-cache-drop 10
    """
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create the output folder ({e.strerror})", path=out_dir) from None
    if not paths and not Path(db).exists():
        raise InputError("no such database, and no logs given to create it from", path=db)
    cat = load_catalogue(prices_file)
    budget_list = budgets.load(budgets_file) if budgets_file else None
    with audit_lock(db, lock_wait), session(paths, db, intake, display=tracking.on_terminal()) as s:
        last = day.date() if day else default_day(datetime.now(UTC).date())
        windows = Windows(last, window_days).check()
        outcome = audit_compare(s.store, cat, windows, fail_on_increase, fail_on_cache_drop, s.result)
        since, until = windows.current
        rep = build_report(s.store, cat, since=since, until=until, this_run=s.result, backend=s.backend)
        s.computed(rendering=True)
        outcome["alerts"] += new_uncached_prefixes(s.store, rep, windows)
        if budget_list:
            _budget_alerts(outcome, budgets.for_store(s.store, cat, budget_list, last))
        suffix = last.isoformat() + (f"-w{window_days}" if window_days > 1 else "")
        outcome["outputs"] = {k: str(folder / f"llmcost-{suffix}.{k}") for k in ("html", "json", "md")}
        rep["audit"] = outcome  # the day's page opens with the comparison, its thresholds and alerts
        failures = _write_day(folder, suffix, rep, outcome)
        if keep_days is not None:
            for gone in prune_reports(folder, keep_days, last):
                click.echo(f"llmcost: note: removed {gone} (older than --keep-days {keep_days})", err=True)
        skipped: list[str] = []
        index = render_one("audit index", render_audit_index, audit_history(folder, skipped), failures)
        if index is not None:
            write_output(index, str(folder / "index.html"))
        for note in skipped:
            say(f"llmcost: note: {note}")
        tracking.finish()
        click.echo(audit_summary(outcome), err=True)
        for note in outcome["notes"]:
            say(f"llmcost: note: {note}")
        _end(s, outcome, failures, intake.strict, db)


def _write_day(folder: Path, suffix: str, rep: dict[str, Any], outcome: dict[str, Any]) -> list[str]:
    """The day's report (HTML, JSON, Markdown) and its audit-DAY.json, remembered as written (what --keep-days
    may delete), and audit-latest.json unless an older day is being backfilled. Returns the outputs that could
    not be rendered, one line each."""
    failures: list[str] = []
    for kind, target in outcome["outputs"].items():
        tracking.stage(f"render {kind}")
        text = render_one(kind, RENDERERS[kind], rep, failures)
        if text is not None:
            write_output(text, target)
    text = orjson.dumps(outcome, option=orjson.OPT_INDENT_2).decode() + "\n"
    write_output(text, str(folder / f"audit-{suffix}.json"))
    remember_written(folder, [f"llmcost-{suffix}.{k}" for k in outcome["outputs"]] + [f"audit-{suffix}.json"])
    if _is_latest(folder / "audit-latest.json", outcome):  # a backfill does not replace the newest day
        write_output(text, str(folder / "audit-latest.json"))
    return failures


def _end(s: Session, outcome: dict[str, Any], failures: list[str], strict: bool, db: str) -> None:
    """The exit code: 3 for a crossed threshold, over 4 for --strict and rejected records, over 5 for an output
    that could not be rendered; each cause of a lower code is still said."""
    try:
        s.warn_rejects(strict, f"{outcome['outputs']['html']} and table `rejects` of {db}")
    except StrictError:
        if not outcome["crossed"]:
            if failures:
                say(f"llmcost: error: {render_failed(failures)}")
            raise
    if outcome["crossed"]:
        for c in outcome["crossed"]:
            say(f"llmcost: audit: {c['message']}")  # a model name in it cannot start a line
        if failures:
            say(f"llmcost: error: {render_failed(failures)}")
        raise ThresholdError(f"{count(len(outcome['crossed']), 'audit threshold')} crossed")
    if failures:
        raise render_failed(failures)


def _budget_alerts(outcome: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """The audit's budgets: each alert is an alert and a crossed threshold (exit 3)."""
    outcome["budgets"] = rows
    for r in rows:
        if r.get("note"):
            outcome["notes"].append(f"budget {r['name']}: {r['note']}")
        for a in r["alerts"]:
            outcome["alerts"].append({"kind": f"budget_{a['kind']}", "message": a["message"]})
            value = r["forecast"]["forecast_usd"] if a["kind"] == "forecast" else r["spent_usd"]
            crossed = {"check": f"budget_{a['kind']}", "value": value, "threshold": a["at"] * r["limit_usd"]}
            outcome["crossed"].append(crossed | {"message": a["message"]})


def _is_latest(path: Path, outcome: dict[str, Any]) -> bool:
    try:
        known = orjson.loads(path.read_bytes())
        return outcome["day"] >= known["day"]
    except (OSError, ValueError, KeyError, TypeError):
        return True
