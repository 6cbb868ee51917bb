"""`llmcost report`: ingest the logs given (or read --db), build the report and write or print its outputs.

Apart from the other commands because it has the most to say: the filters and window that narrow the report,
and the several outputs (HTML, JSON, Markdown, CSV, FOCUS, one view) it may write in one run.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, timedelta
from typing import Any

import click
import orjson

from analyzer import budgets, focus, queries
from analyzer import progress as tracking
from analyzer.cli.common import (
    DATE_FORMATS,
    Intake,
    db_option,
    intake_options,
    need_input,
    rejects_where,
    render_failed,
    render_one,
    routing_rules_option,
    say,
    say_wrote,
    session,
)
from analyzer.errors import InputError
from analyzer.export import write_csvs
from analyzer.options import Moment
from analyzer.prices import Catalogue
from analyzer.render import RENDERERS, svg, write_output
from analyzer.render.text import headline_lines, render_text
from analyzer.render.views import render_view, render_view_markdown
from analyzer.report import build_report
from analyzer.report.views import VIEWS, view_json
from analyzer.savings.routing import load_rules
from analyzer.store import Store


@click.command()
@click.argument("paths", nargs=-1)
@click.option("-o", "--output", "html", metavar="FILE", help="Write the HTML report here ('-' for stdout).")
@click.option("--json", "json_out", metavar="FILE", help="Write the JSON summary here ('-' for stdout).")
@click.option("--md", "md_out", metavar="FILE", help="Write a Markdown summary here ('-' for stdout).")
@click.option("--csv-dir", "csv_dir", metavar="DIR", help="Write the main tables as CSV files into DIR.")
@click.option(
    "--focus",
    "focus_out",
    metavar="FILE",
    help="Write the spend as FinOps FOCUS 1.2 rows (.csv or .parquet): one per day, provider, model, key, "
    "project and token type.",
)
@click.option(
    "--budgets",
    "budgets_file",
    type=click.Path(dir_okay=False),
    help="A TOML file of [[budget]] tables: spend against each and the month-end forecast (docs/budgets.md).",
)
@click.option(
    "--show-text",
    is_flag=True,
    help="Show the start of prompts as logged; by default only short redacted excerpts appear in outputs.",
)
@db_option()
@click.option("--since", type=Moment(DATE_FORMATS), help="Only requests at or after this time (UTC).")
@click.option(
    "--until",
    type=Moment(DATE_FORMATS),
    help="Only requests before this time (UTC); a date alone includes that whole day.",
)
@click.option(
    "--prices",
    "prices_file",
    type=click.Path(dir_okay=False),
    help="A newer LiteLLM price catalogue, or a small JSON file overriding some models' prices.",
)
@routing_rules_option
@click.option(
    "--hash-ids",
    is_flag=True,
    help="Show users, API keys, projects, conversations and tags as stable hashes (for reports that leave the "
    "team; set LLMCOST_HASH_SALT to a secret so that guessable names cannot be guessed back).",
)
@click.option(
    "--cache-capacity",
    type=click.IntRange(min=0),
    metavar="TOKENS",
    help="Also replay prefix reuse through an LRU cache holding at most this many tokens.",
)
@click.option(
    "--view",
    type=click.Choice(VIEWS),
    help="Print one view in full (spend by day, week or month; 5-hour blocks; the costliest sessions; cost per unit of "
    "work, per user, tag or agent task; spend by API key, project or model); with --json, write it as JSON.",
)
@click.option(
    "--order",
    type=click.Choice(["asc", "desc"]),
    default="asc",
    show_default=True,
    help="--view: oldest first or newest first.",
)
@click.option("--breakdown", is_flag=True, help="--view: each model's own line within each day, week or month.")
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="NAME",
    help="Only this model (as logged or the catalogue key it prices as, any case); repeatable. Every figure of "
    "the report, the views included, then covers the requests the filters keep.",
)
@click.option(
    "--tz",
    callback=lambda _c, _p, v: _time_zone(v),
    metavar="ZONE",
    help="Count days (and so weeks and months) in this IANA time zone, e.g. Europe/Berlin (default UTC); "
    "--since/--until stay in UTC.",
)
@click.option("--key", "keys", multiple=True, metavar="KEY", help="Only this API key (as logged); repeatable.")
@click.option("--user", "users", multiple=True, metavar="USER", help="Only this user (as logged); repeatable.")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Only requests carrying this tag; repeatable.")
@click.option("--project", "projects", multiple=True, metavar="NAME", help="Only this project; repeatable.")
@intake_options
def report(
    paths: tuple[str, ...],
    html: str | None,
    json_out: str | None,
    md_out: str | None,
    csv_dir: str | None,
    focus_out: str | None,
    budgets_file: str | None,
    show_text: bool,
    db: str | None,
    since: datetime | None,
    until: datetime | None,
    prices_file: str | None,
    routing_rules: str | None,
    cache_capacity: int | None,
    hash_ids: bool,
    view: str | None,
    order: str,
    breakdown: bool,
    models: tuple[str, ...],
    keys: tuple[str, ...],
    users: tuple[str, ...],
    tags: tuple[str, ...],
    projects: tuple[str, ...],
    tz: str | None,
    intake: Intake,
) -> None:
    """Ingest PATHS (files, folders, globs; .gz/.zst) and report what the traffic cost.

    With no output option a summary is printed: totals, spend per model, the levers, spend by day (or week, or
    month, by the period's length) and the costliest sessions. With --db and no PATHS, reports on what the
    database holds.

    \b
    Examples:
      llmcost report sample_logs -o report.html --json summary.json --csv-dir tables/
      llmcost report --db llm.duckdb --since 2025-06-01 --until 2025-06-30 --md -
      llmcost report ~/.claude/projects --view daily
      llmcost report logs/ --view sessions --json -
      llmcost report s3://bucket/logs/ --engine ray --ray-address ray://head:10001 -o report.html
    """
    need_input(paths, db)
    if focus_out:
        focus.check_target(focus_out)
    budget_list = budgets.load(budgets_file) if budgets_file else None
    if since is not None and until is not None and since > until:
        raise click.UsageError(f"--since {since:%Y-%m-%d %H:%M} is after --until {until:%Y-%m-%d %H:%M}")
    if until is not None and until.time() == datetime.min.time():
        until = until + timedelta(days=1)  # a bare date means "through the end of that day"
    outputs = [(html, "html"), (json_out, "json"), (md_out, "md")]
    to_stdout = any(t == "-" for t, _ in outputs)
    filters = {"model": models, "key": keys, "user": users, "tag": tags, "project": projects}
    kept = {k: list(v) for k, v in filters.items() if v}
    display = tracking.on_terminal(html, json_out, md_out)
    if html:
        svg.start()  # the chart engine starts in a child process while the logs are read
        click.get_current_context().call_on_close(svg.stop)
    # one backend for the whole command: the logs are parsed, then the savings replayed, on the same workers
    with session(
        paths, db, intake, display=display, read_only=not paths, prices_file=prices_file, load_prices=True
    ) as s:
        store, cat = s.store, s.cat
        assert cat is not None  # the session loaded it (load_prices)
        rules = load_rules(routing_rules) if routing_rules else None
        _narrow(store, cat, since, until, kept, hash_ids)
        rep = build_report(
            store,
            cat,
            since=since,
            until=until,
            this_run=s.result,
            cache_capacity=cache_capacity,
            routing_rules=rules,
            show_text=show_text,
            backend=s.backend,
            with_blocks=view == "blocks",
            tz=tz,
        )
        s.computed(rendering=True)  # the workers' memory goes before the report is rendered
        if kept:
            rep["period"]["filters"] = kept
        if budget_list and rep["period"]["end"]:
            as_of = date.fromisoformat(rep["period"]["end"][:10])
            rep["budgets"] = budgets.for_store(store, cat, budget_list, as_of)
        failures = _write_outputs(rep, outputs, view, order, breakdown)
        if csv_dir:
            tracking.stage("write csv")
            write_csvs(rep, csv_dir)
            say_wrote(csv_dir)
        if focus_out:
            tracking.stage("write focus")
            _say_focus(focus.export(store, cat, rep, focus_out), focus_out)
        tracking.finish()  # the display is gone before the summary is printed
        if view and not to_stdout:
            click.echo(render_view(rep, view, order=order, breakdown=breakdown), nl=False)
        elif not any(t for t, _ in outputs) and not csv_dir and not focus_out:
            click.echo(render_text(rep), nl=False)
        elif not to_stdout:  # files written: the headline, so the run is not silent
            for line in headline_lines(rep):
                say(line, err=False)
        for line in budgets.lines(rep.get("budgets") or []):
            say(line, err=to_stdout)  # stdout, unless an output is written there
        try:
            s.warn_rejects(intake.strict, rejects_where(db))
        finally:
            if failures:
                raise render_failed(failures)


def _narrow(
    store: Store, cat: Catalogue, since: datetime | None, until: datetime | None, kept: dict[str, list[str]], hide: bool
) -> None:
    """What the report covers: a window that holds traffic, the requests the filters keep, and with --hash-ids
    the names hashed."""
    if since is not None or until is not None:
        _need_traffic_in_window(store, since, until)
    if kept:
        _keep_only(store, cat, kept)
    if hide:
        store.hide_ids()


def _write_outputs(
    rep: dict[str, Any], outputs: list[tuple[str | None, str]], view: str | None, order: str, breakdown: bool
) -> list[str]:
    """-o, --json and --md, each written where asked (with --view, that view alone as JSON or Markdown). Returns
    the outputs that could not be rendered, one line each (the others are written)."""
    failures: list[str] = []
    for target, kind in outputs:
        if not target:
            continue
        tracking.stage(f"render {kind}")
        text: str | None
        if view and kind == "json":
            text = orjson.dumps(view_json(rep, view, order, breakdown), option=orjson.OPT_INDENT_2).decode() + "\n"
        elif view and kind == "md":
            text = render_view_markdown(rep, view, order=order, breakdown=breakdown)
        else:
            text = render_one(kind, RENDERERS[kind], rep, failures)
            if text is None:
                continue
        write_output(text, target)
        say_wrote(target)
    return failures


def _say_focus(res: focus.FocusResult, target: str) -> None:
    say_wrote(target)
    left = "; ".join(f"{n} {why}" for why, n in res.left_out.items())
    say(
        f"FOCUS: {res.rows} rows from the {res.source}, ${res.billed_usd:,.6f} billed"
        + (f"; left out: {left}" if left else "")
    )


def _time_zone(name: str | None) -> str | None:
    """`--tz`: an IANA zone name as zoneinfo knows it (UTC and None mean the default)."""
    if name is None or name.upper() == "UTC":
        return None
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"{name!r} is not a time zone (an IANA name such as Europe/Berlin)") from None
    return name


def _keep_only(store: Store, cat: Catalogue, filters: dict[str, list[str]]) -> None:
    """The report covers only the requests the filters keep (store.keep_only); none kept is a mistake to say,
    as a window with no traffic is (exit 1)."""
    names = None
    if "model" in filters:
        want = {m.lower() for m in filters["model"]}
        pairs = queries.rows(store.con, "logged_models")
        names = sorted(
            {
                r["model"]
                for r in pairs
                if r["model"].lower() in want or (cat.resolve(r["model"], r["provider"]).key or "").lower() in want
            }
        )
    rest = [tuple(filters.get(k, ())) for k in ("key", "user", "tag", "project")]
    store.keep_only(names, *rest)
    if not queries.rows(store.con, "api_calls")[0]["requests"]:
        said = "; ".join(f"--{k} {', '.join(v)}" for k, v in filters.items())
        raise InputError(f"no requests match {said}")


def _need_traffic_in_window(store: Store, since: datetime | None, until: datetime | None) -> None:
    """A window with no traffic is a mistake to say, not a $0.00 report with n/a everywhere: exit 1 with the
    window asked for and the span the data covers, as for an empty folder."""
    (w,) = queries.rows(store.con, "traffic_in_window", since=since, until=until)
    (span,) = queries.rows(store.con, "data_span")
    if w["requests"] or w["buckets"] or span["first"] is None:  # no dated data at all: the report says what there is
        return
    shown_until = until - timedelta(days=1) if until is not None and until.time() == datetime.min.time() else until
    asked = (_moment(since, "the start"), _moment(shown_until, "now"))
    raise InputError(
        f"no requests between {asked[0]} and {asked[1]}; "
        f"the data spans {span['first']:%Y-%m-%d} to {span['last']:%Y-%m-%d}"
    )


def _moment(t: datetime | None, none: str) -> str:
    """A window's bound as asked: the day alone when it is midnight."""
    if t is None:
        return none
    return f"{t:%Y-%m-%d}" if t.time() == datetime.min.time() else f"{t:%Y-%m-%d %H:%M}"
