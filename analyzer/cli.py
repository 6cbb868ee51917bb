"""The `llmcost` command line: parses options, calls the pipeline, maps errors to exit codes in one place.

Exit codes: 0 ok (rejected records are reported, not fatal); 1 input error; 2 usage error (click);
3 an audit threshold was crossed; 4 `--strict` and some records were rejected; 5 an output could not be rendered
(the others were written; a bug to report, never a traceback).
"""

from __future__ import annotations

import os
import re
import sys
import zoneinfo
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import duckdb
import orjson

from analyzer import __version__, budgets, focus, parallel, tokens
from analyzer import progress as tracking
from analyzer.audit import Windows, default_day, new_uncached_prefixes, prune_reports, remember_written
from analyzer.audit import compare as audit_compare
from analyzer.audit import history as audit_history
from analyzer.audit import locked as audit_lock
from analyzer.errors import InputError, LlmcostError, RenderError, StrictError, ThresholdError
from analyzer.export import write_csvs
from analyzer.formatting import count, usd
from analyzer.inputs import LOG_SUFFIXES
from analyzer.options import MAX_REQUESTS_PER_MONTH, MAX_TOKENS_PER_REQUEST, Finite, Moment
from analyzer.prices import RATE_FIELDS, before_listing, load_catalogue, price_one
from analyzer.projection import Workload
from analyzer.projection import measured as measured_workload
from analyzer.projection import project as run_projection
from analyzer.redact import one_line
from analyzer.render import RENDERERS, render_audit_index, write_output
from analyzer.render.commands import render_projection, render_projection_by_model, render_savings
from analyzer.render.text import headline_lines, render_text
from analyzer.render.views import render_view, render_view_markdown
from analyzer.report import build_report
from analyzer.report.span import measured_days
from analyzer.report.views import VIEWS, view_json
from analyzer.report.workload import projection_by_model
from analyzer.savings.routing import load_rules
from analyzer.sources import SOURCES
from analyzer.store import IngestResult, Store, refuse_remote


class LlmcostGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # Ctrl-C: one line and the shell's code for it, not "Aborted!" and exit 1
            _interrupted(ctx)
        except LlmcostError as e:
            if _after_interrupt(e):
                _interrupted(ctx)
            _say(f"llmcost: error: {e}")
            ctx.exit(e.exit_code)
        except duckdb.Error as e:
            if _after_interrupt(e):  # Ctrl-C inside a database call: the cleanup's follow-up error is not news
                _interrupted(ctx)
            _say(f"llmcost: error: database: {_first_line(e)}")
            ctx.exit(1)
        except BrokenPipeError:  # `llmcost ... | head`: the reader has gone, which is no error
            _quiet_stdout()
            ctx.exit(0)
        except OSError as e:  # a full disk, a read-only folder: the cause in one line, not a traceback
            if _after_interrupt(e):
                _interrupted(ctx)
            where = f"{e.filename}: " if e.filename else ""
            _say(f"llmcost: error: {where}{e.strerror or e}")
            ctx.exit(1)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush does not report the broken pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _after_interrupt(e: BaseException) -> bool:
    """Was this error raised while a Ctrl-C was being handled (cleanup that failed because of it)?"""
    seen: set[int] = set()
    x: BaseException | None = e
    while x is not None and id(x) not in seen:
        if isinstance(x, KeyboardInterrupt):
            return True
        seen.add(id(x))
        x = x.__context__ or x.__cause__
    return False


def _interrupted(ctx: click.Context) -> None:
    _say("llmcost: interrupted")
    ctx.exit(130)


def _say(message: str, err: bool = True) -> None:
    """One line to the terminal: names and keys from logs are escaped, never acted on (see redact.one_line)."""
    click.echo(one_line(message), err=err)


def _first_line(e: BaseException) -> str:
    """A DuckDB error's cause: on a full disk the first line may be a follow-up, the cause is named further on."""
    text = str(e)
    for cause in ("No space left on device", "File too large", "Permission denied", "Read-only file system"):
        if cause in text and cause not in text.splitlines()[0]:
            return f"{text.splitlines()[0]} ({cause})"
    return text.splitlines()[0] if text else type(e).__name__


def _check_db(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        if value.strip().lower() == ":memory:":
            # DuckDB's name for a database that vanishes with the process: "adds N records" and keeps none
            raise click.BadParameter(":memory: keeps nothing after the run; leave out --db for an in-memory run")
        try:
            refuse_remote(value)
        except InputError as e:
            raise click.BadParameter(str(e).split(": ", 1)[-1]) from None
    return value


_DATE_FORMATS = ["%Y-%m-%d", "%Y%m%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"]


def _db_option(required: bool = False):
    return click.option(
        "--db",
        "db",
        type=click.Path(dir_okay=False),
        required=required,
        callback=_check_db,
        help="DuckDB file to keep the data in." + ("" if required else " (default: in memory, gone after the run)"),
    )


def _ingest_options(fn):
    for opt in reversed(
        [
            click.option("--no-text", is_flag=True, help="Keep hashes and token counts but no prompt text."),
            click.option("--strict", is_flag=True, help="Exit 4 when any record was rejected."),
            click.option(
                "--format",
                "fmt",
                type=click.Choice([s.name for s in SOURCES]),
                help="Force the input format instead of detecting it.",
            ),
        ]
    ):
        fn = opt(fn)
    return fn


def _engine_options(fn):
    """Where the work runs (analyzer/parallel.py): this machine's cores (default) or Ray (optional extra;
    docs/ray.md)."""
    for opt in reversed(
        [
            click.option(
                "--workers",
                type=click.IntRange(min=1),
                metavar="N",
                help=f"Processes that parse logs and replay the savings (default: the cores, or "
                f"${parallel.WORKERS_ENV}); 1: all in this one. With --engine ray: how many at once (default: the "
                "cluster's CPUs).",
            ),
            click.option(
                "--engine",
                type=click.Choice(["local", "ray"]),
                default="local",
                show_default=True,
                help="Run on this machine's cores, or on a Ray cluster (pip install 'llmcost[ray]'; see docs/ray.md).",
            ),
            click.option(
                "--ray-address",
                metavar="ADDR",
                help="With --engine ray: an existing cluster ('auto', 'HOST:6379', 'ray://HEAD:10001'); "
                "default: RAY_ADDRESS, else a Ray started on this machine for the run.",
            ),
        ]
    ):
        fn = opt(fn)
    return fn


def _backend(engine: str, ray_address: str | None, workers: int | None = None) -> parallel.Backend:
    """The command's one backend. The command closes it once the work is done (before rendering, so the
    workers' memory goes first); closing it again when the command ends, however it ends, is a safety net
    (Ray's actors killed, a Ray started for this run shut down). Called once the progress display has begun:
    one that cannot be made ends the display too, which the next command in this process (a test's) would
    otherwise find still open."""
    try:
        if ray_address and engine != "ray":
            raise click.UsageError("--ray-address needs --engine ray")
        if engine == "ray":
            tracking.stage("start Ray")
        be = parallel.backend(engine, workers, ray_address)
    except BaseException:
        tracking.finish()
        raise
    click.get_current_context().call_on_close(be.close)
    return be


@click.group(cls=LlmcostGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="llmcost")
def cli() -> None:
    """What your LLM API traffic really costs, from the logs you already have. Offline.

    \b
    Examples:
      llmcost report logs/ -o report.html --json summary.json
      llmcost ingest logs/*.jsonl.gz --db llm.duckdb && llmcost report --db llm.duckdb
      llmcost prices claude-sonnet-4-5-20250929
    """


def _warn_rejects(store: Store, result: IngestResult, strict: bool, where: str) -> None:
    rejected = result.rejected
    if not rejected:
        return
    first = store.con.execute(
        "SELECT location, reason FROM rejects WHERE path IN (SELECT unnest(?)) ORDER BY rowid LIMIT 1",
        [[f.path for f in result.files]],
    ).fetchall()
    hint = f"; first: {first[0][0]}: {first[0][1]}" if first else ""
    _say(f"llmcost: warning: {count(rejected, 'record')} rejected{hint}; all are listed in {where}")
    if strict:
        raise StrictError(f"--strict: {count(rejected, 'record')} rejected")


def _trace_rows(store: Store, result: IngestResult) -> dict[str, int]:
    """Rows of block-hash traces (no model, no cost) among the files just read, by path."""
    paths = [f.path for f in result.files if f.rows and not f.skipped]
    if not paths:
        return {}
    rows = store.con.execute(
        "SELECT s.path, count(*) FROM requests r JOIN sources s USING (source_id) "
        "WHERE r.trace_ms IS NOT NULL AND s.source_id IN "
        "(SELECT max(source_id) FROM sources WHERE path IN (SELECT unnest(?)) GROUP BY path) GROUP BY s.path",
        [paths],
    ).fetchall()
    return {p: int(n) for p, n in rows}


def _need_input(paths: tuple[str, ...], db: str | None) -> None:
    """Logs to read, or an existing database to report on."""
    if not paths and not db:
        raise click.UsageError("give log files or folders to read, or --db with an ingested database")
    if not paths and not Path(db).exists():
        raise InputError(f"{db}: no such database (create it with `llmcost ingest PATH --db {db}`)")


def _ingest(
    store: Store,
    paths: tuple[str, ...],
    no_text: bool,
    fmt: str | None,
    workers: int | None = None,
    backend: parallel.Backend | None = None,
) -> IngestResult:
    """Ingest PATHS; when not one file of them could be read, exit 1 naming each file skipped and why (a
    report of $0.00 over nothing would look like a real, cheap month to whoever receives it). `backend`: the
    command's (it closes it); without one, a backend of `workers` for this ingest alone."""
    # On a terminal the progress display (analyzer/progress.py) names the file being read.
    own = backend is None
    be = parallel.backend("local", workers) if backend is None else backend
    try:
        result = store.ingest(paths, no_text=no_text, fmt=fmt, backend=None if isinstance(be, parallel.Inline) else be)
    finally:
        if own:
            be.close()
    ignored = _ignored_files(paths)
    for f in result.files:
        if f.skipped and not f.skipped.startswith("already ingested"):
            _say(f"llmcost: note: skipped {f.path}: {f.skipped}")
    read = [f for f in result.files if not f.skipped or f.skipped.startswith("already ingested")]
    if read and ignored:  # every file found is read or named: the walk's passed-over files on one line
        names = ", ".join(map(str, ignored[:5])) + (f" and {len(ignored) - 5} more" if len(ignored) > 5 else "")
        _say(
            f"llmcost: note: passed over {count(len(ignored), 'file')} not named like a log "
            f"({', '.join(LOG_SUFFIXES[:4])}, ...; name a file to read it): {names}"
        )
    if not read:
        for path in ignored:
            _say(f"llmcost: skipped {path}: not a log file (read: {', '.join(LOG_SUFFIXES[:4])}, ...)")
        if not result.files and not ignored:
            raise InputError(f"no log files ({', '.join(LOG_SUFFIXES[:4])}, ...) under {', '.join(paths)}")
        found = len(result.files) + len(ignored)
        raise InputError(f"nothing was read: none of the {count(found, 'file')} found is a recognised log")
    ignored = [p for p in ignored if p.name.lower().endswith(DATA_SUFFIXES)]  # not README.md, PROVENANCE.md
    if ignored:  # data files the walk passed over beside the logs it read: said once, not silently
        names = ", ".join(str(p) for p in ignored[:3]) + (f" and {len(ignored) - 3} more" if len(ignored) > 3 else "")
        _say(
            f"llmcost: note: skipped {count(len(ignored), 'file')} that {'is' if len(ignored) == 1 else 'are'} "
            f"not a log by name (read: {', '.join(LOG_SUFFIXES[:4])}, ...): {names}"
        )
    return result


# Files that look like data (a usage export saved as CSV, a table) but are not read: worth a note when passed over.
DATA_SUFFIXES = (".csv", ".tsv", ".parquet", ".xlsx", ".xls", ".csv.gz", ".tsv.gz")


def _ignored_files(paths: tuple[str, ...]) -> list[Path]:
    """Files inside the named folders that a folder walk passes over (their suffix is not a log's). Symlinked
    folders are not followed, as in the walk itself (a link to a parent would loop)."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if raw != "-" and p.is_dir():
            for root, _dirs, files in os.walk(p, followlinks=False):
                out.extend(
                    Path(root) / f
                    for f in files
                    if not f.startswith(".") and not f.lower().endswith(LOG_SUFFIXES) and (Path(root) / f).is_file()
                )
    return sorted(out)


@cli.command()
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
@_db_option()
@click.option("--since", type=Moment(_DATE_FORMATS), help="Only requests at or after this time (UTC).")
@click.option(
    "--until",
    type=Moment(_DATE_FORMATS),
    help="Only requests before this time (UTC); a date alone includes that whole day.",
)
@click.option(
    "--prices",
    "prices_file",
    type=click.Path(dir_okay=False),
    help="A newer LiteLLM price catalogue, or a small JSON file overriding some models' prices.",
)
@click.option(
    "--routing-rules",
    "routing_rules",
    type=click.Path(dir_okay=False),
    help="A TOML file of [[rule]] tables (match -> route_to) instead of the built-in classifier.",
)
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
@_ingest_options
@_engine_options
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
    no_text: bool,
    strict: bool,
    fmt: str | None,
    workers: int | None,
    engine: str,
    ray_address: str | None,
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
    _need_input(paths, db)
    if focus_out:
        focus.check_target(focus_out)
    budget_list = budgets.load(budgets_file) if budgets_file else None
    if since is not None and until is not None and since > until:
        raise click.UsageError(f"--since {since:%Y-%m-%d %H:%M} is after --until {until:%Y-%m-%d %H:%M}")
    if until is not None and until.time() == datetime.min.time():
        until = until + timedelta(days=1)  # a bare date means "through the end of that day"
    tracking.begin(display=tracking.on_terminal(html, json_out, md_out))
    tracking.stage("load prices")
    cat = load_catalogue(prices_file)
    # one backend for the whole command: the logs are parsed, then the savings replayed, on the same workers
    backend = _backend(engine, ray_address, workers)
    store = Store(db, read_only=not paths)  # a report never changes the database
    try:
        try:
            result = _ingest(store, paths, no_text, fmt, backend=backend) if paths else IngestResult()
            rules = load_rules(routing_rules) if routing_rules else None
            if since is not None or until is not None:
                _need_traffic_in_window(store, since, until)
            filters = {"model": models, "key": keys, "user": users, "tag": tags, "project": projects}
            filters = {k: list(v) for k, v in filters.items() if v}
            if filters:
                _keep_only(store, cat, filters)
            if hash_ids:
                store.hide_ids()
            rep = build_report(
                store,
                cat,
                since=since,
                until=until,
                this_run=result,
                cache_capacity=cache_capacity,
                routing_rules=rules,
                show_text=show_text,
                backend=backend,
                with_blocks=view == "blocks",
                tz=tz,
            )
        finally:
            backend.close()  # the workers' memory goes before the report is rendered
        if filters:
            rep["period"]["filters"] = filters
        if budget_list and rep["period"]["end"]:
            as_of = date.fromisoformat(rep["period"]["end"][:10])
            rep["budgets"] = budgets.for_store(store, cat, budget_list, as_of)
        outputs = [(html, "html"), (json_out, "json"), (md_out, "md")]
        failures: list[str] = []
        vopts = {"order": order, "breakdown": breakdown}  # the filters are applied to the whole report
        for target, kind in outputs:
            if not target:
                continue
            tracking.stage(f"render {kind}")
            if view and kind == "json":
                text = orjson.dumps(view_json(rep, view, **vopts), option=orjson.OPT_INDENT_2).decode() + "\n"
            elif view and kind == "md":
                text = render_view_markdown(rep, view, **vopts)
            else:
                text = _render(kind, RENDERERS[kind], rep, failures)
                if text is None:
                    continue
            write_output(text, target)
            _say_wrote(target)
        if csv_dir:
            tracking.stage("write csv")
            write_csvs(rep, csv_dir)
            _say_wrote(csv_dir)
        if focus_out:
            tracking.stage("write focus")
            _say_focus(focus.export(store, cat, rep, focus_out), focus_out)
        tracking.finish()  # the display is gone before the summary is printed
        if view and not any(t == "-" for t, _ in outputs):
            click.echo(render_view(rep, view, **vopts), nl=False)
        elif not any(t for t, _ in outputs) and not csv_dir and not focus_out:
            click.echo(render_text(rep), nl=False)
        elif not any(t == "-" for t, _ in outputs):  # files written: the headline, so the run is not silent
            for line in headline_lines(rep):
                _say(line, err=False)
        for line in budgets.lines(rep.get("budgets") or []):
            _say(line, err=any(t == "-" for t, _ in outputs))  # stdout, unless an output is written there
        where = "the report's Ingest section" + (f" and table `rejects` of {db}" if db else "")
        try:
            _warn_rejects(store, result, strict, where)
        finally:
            if failures:
                raise _render_failed(failures)
    finally:
        tracking.finish()
        store.close()


def _budget_alerts(outcome: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """The audit's budgets: each alert is an alert and a crossed threshold (exit 3)."""
    outcome["budgets"] = rows
    for r in rows:
        for a in r["alerts"]:
            outcome["alerts"].append({"kind": f"budget_{a['kind']}", "message": a["message"]})
            value = r["forecast"]["forecast_usd"] if a["kind"] == "forecast" else r["spent_usd"]
            crossed = {"check": f"budget_{a['kind']}", "value": value, "threshold": a["at"] * r["limit_usd"]}
            outcome["crossed"].append(crossed | {"message": a["message"]})


def _say_focus(res: focus.FocusResult, target: str) -> None:
    _say_wrote(target)
    left = "; ".join(f"{n} {why}" for why, n in res.left_out.items())
    _say(
        f"FOCUS: {res.rows} rows from the {res.source}, ${res.billed_usd:,.6f} billed"
        + (f"; left out: {left}" if left else "")
    )


def _render(kind: str, fn: Any, rep: Any, failures: list[str]) -> str | None:
    """One output rendered, or None with its failure recorded as one line: a rendering error is a bug in the
    report's shape, never a traceback; the other outputs are still written (exit 5 at the end)."""
    try:
        return fn(rep)
    except Exception as e:  # noqa: BLE001 - any renderer failure is reported, the run goes on
        failures.append(f"the {kind} output could not be rendered ({type(e).__name__}: {_first_line(e)})")
        return None


def _render_failed(failures: list[str]) -> RenderError:
    return RenderError("; ".join(failures) + " (the other outputs were written; please report this)")


def _time_zone(name: str | None) -> str | None:
    """`--tz`: an IANA zone name as zoneinfo knows it (UTC and None mean the default)."""
    if name is None or name.upper() == "UTC":
        return None
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"{name!r} is not a time zone (an IANA name such as Europe/Berlin)") from None
    return name


def _keep_only(store: Store, cat: Any, filters: dict[str, list[str]]) -> None:
    """The report covers only the requests the filters keep (store.keep_only); none kept is a mistake to say,
    as a window with no traffic is (exit 1)."""
    names = None
    if "model" in filters:
        want = {m.lower() for m in filters["model"]}
        pairs = store.con.execute("SELECT DISTINCT model, provider FROM requests WHERE trace_ms IS NULL").fetchall()
        names = sorted({m for m, p in pairs if m.lower() in want or (cat.resolve(m, p).key or "").lower() in want})
    rest = [tuple(filters.get(k, ())) for k in ("key", "user", "tag", "project")]
    store.keep_only(names, *rest)
    kept = store.con.execute("SELECT count(*) FROM requests WHERE trace_ms IS NULL").fetchall()[0][0]
    if not kept:
        said = "; ".join(f"--{k} {', '.join(v)}" for k, v in filters.items())
        raise InputError(f"no requests match {said}")


def _need_traffic_in_window(store: Store, since: datetime | None, until: datetime | None) -> None:
    """A window with no traffic is a mistake to say, not a $0.00 report with n/a everywhere: exit 1 with the
    window asked for and the span the data covers, as for an empty folder."""
    bounds = "($since IS NULL OR {c} >= $since) AND ($until IS NULL OR {c} < $until)"
    sql = (
        "SELECT (SELECT count(*) FROM requests WHERE trace_ms IS NULL AND " + bounds.format(c="ts") + "), "
        "(SELECT count(*) FROM usage_buckets WHERE " + bounds.format(c="period_start") + "), "
        "least((SELECT min(ts) FROM requests WHERE trace_ms IS NULL), (SELECT min(period_start) FROM usage_buckets)), "
        "greatest((SELECT max(ts) FROM requests WHERE trace_ms IS NULL), "
        "(SELECT max(period_start) FROM usage_buckets))"
    )
    in_window, buckets, first, last = store.con.execute(sql, {"since": since, "until": until}).fetchall()[0]
    if in_window or buckets or first is None:  # no dated data at all: the report says what there is
        return
    shown_until = until - timedelta(days=1) if until is not None and until.time() == datetime.min.time() else until
    asked = (
        f"{since:%Y-%m-%d}"
        if since is not None and since.time() == datetime.min.time()
        else f"{since:%Y-%m-%d %H:%M}"
        if since is not None
        else "the start",
        f"{shown_until:%Y-%m-%d}"
        if until is not None and until.time() == datetime.min.time()
        else f"{shown_until:%Y-%m-%d %H:%M}"
        if shown_until is not None
        else "now",
    )
    raise InputError(
        f"no requests between {asked[0]} and {asked[1]}; the data spans {first:%Y-%m-%d} to {last:%Y-%m-%d}"
    )


def _say_wrote(target: str) -> None:
    """Where each output went and how big it is, so a run with only -o FILE is not silent."""
    if target == "-":
        return
    path = Path(target)
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file()) if path.is_dir() else path.stat().st_size
    click.echo(f"wrote {target} ({max(1, round(size / 1024)):,} KB)", err=True)


def _is_latest(path: Path, outcome: dict[str, Any]) -> bool:
    try:
        known = orjson.loads(path.read_bytes())
        return outcome["day"] >= known["day"]
    except (OSError, ValueError, KeyError, TypeError):
        return True


@cli.command()
@click.argument("paths", nargs=-1)
@_db_option(required=True)
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
@click.option("--prices", "prices_file", type=click.Path(dir_okay=False), help="Price file to overlay.")
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
@_ingest_options
@_engine_options
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
    no_text: bool,
    strict: bool,
    fmt: str | None,
    workers: int | None,
    engine: str,
    ray_address: str | None,
) -> None:
    """The nightly job: ingest what is new in PATHS, report on the last complete day, compare it with the day
    before, exit 3 past a threshold.

    Writes DIR/llmcost-DAY.html, .json and .md (the report of the window, opening with the comparison) and
    DIR/audit-DAY.json (the comparison, thresholds and alerts; copied to DIR/audit-latest.json unless an older
    day is being backfilled); DAY gets -wN for an N-day window. DIR/index.html lists every audited day with a
    spend trend. Re-running adds nothing and rewrites the same files.

    Exit codes: 0 no threshold crossed; 3 a threshold crossed (against the window before or the median day of
    the 7 before); 1 no traffic on the day or unreadable input; 4 --strict and records were rejected.

    \b
    Example (cron, 01:10 UTC):
      llmcost audit /var/log/llm/ --db llm.duckdb --out-dir /srv/llmcost --fail-on-increase 25 --fail-on-cache-drop 10
    """
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{out_dir}: cannot create the output folder ({e.strerror})") from None
    if not paths and not Path(db).exists():
        raise InputError(f"{db}: no such database, and no logs given to create it from")
    cat = load_catalogue(prices_file)
    budget_list = budgets.load(budgets_file) if budgets_file else None
    with audit_lock(db, lock_wait):
        tracking.begin(display=tracking.on_terminal())
        backend = _backend(engine, ray_address, workers)
        store = Store(db)
        try:
            try:
                result = _ingest(store, paths, no_text, fmt, backend=backend) if paths else IngestResult()
                last = day.date() if day else default_day(datetime.now(UTC).date())
                windows = Windows(last, window_days).check()
                outcome = audit_compare(store, cat, windows, fail_on_increase, fail_on_cache_drop, result)
                since, until = windows.current
                rep = build_report(store, cat, since=since, until=until, this_run=result, backend=backend)
            finally:
                backend.close()
            outcome["alerts"] += new_uncached_prefixes(store, rep, windows)
            if budget_list:
                _budget_alerts(outcome, budgets.for_store(store, cat, budget_list, last))
            suffix = last.isoformat() + (f"-w{window_days}" if window_days > 1 else "")
            outcome["outputs"] = {k: str(folder / f"llmcost-{suffix}.{k}") for k in ("html", "json", "md")}
            rep["audit"] = outcome  # the day's page opens with the comparison, its thresholds and alerts
            failures: list[str] = []
            for kind, target in outcome["outputs"].items():
                tracking.stage(f"render {kind}")
                text = _render(kind, RENDERERS[kind], rep, failures)
                if text is not None:
                    write_output(text, target)
            text = orjson.dumps(outcome, option=orjson.OPT_INDENT_2).decode() + "\n"
            write_output(text, str(folder / f"audit-{suffix}.json"))
            remember_written(folder, [f"llmcost-{suffix}.{k}" for k in outcome["outputs"]] + [f"audit-{suffix}.json"])
            if _is_latest(folder / "audit-latest.json", outcome):  # a backfill does not replace the newest day
                write_output(text, str(folder / "audit-latest.json"))
            if keep_days is not None:
                for gone in prune_reports(folder, keep_days, last):
                    click.echo(f"llmcost: note: removed {gone} (older than --keep-days {keep_days})", err=True)
            skipped: list[str] = []
            index = _render("audit index", render_audit_index, audit_history(folder, skipped), failures)
            if index is not None:
                write_output(index, str(folder / "index.html"))
            for note in skipped:
                _say(f"llmcost: note: {note}")
            tracking.finish()
            cur, change = outcome["current"], outcome["change"]
            click.echo(
                f"llmcost audit {outcome['day']}: {usd(cur['cost_usd'])} over {cur['requests']:,} requests"
                + (f" ({change['cost_pct']:+.1f}% on the window before)" if change["cost_pct"] is not None else "")
                + (f", {cur['cached_share']:.1%} of input from cache" if cur["cached_share"] is not None else "")
                + f"; {outcome['outputs']['html']}",
                err=True,
            )
            for note in outcome["notes"]:
                _say(f"llmcost: note: {note}")
            try:
                _warn_rejects(store, result, strict, f"{outcome['outputs']['html']} and table `rejects` of {db}")
            except StrictError:
                if not outcome["crossed"]:
                    if failures:
                        _say(f"llmcost: error: {_render_failed(failures)}")
                    raise
            if outcome["crossed"]:
                for c in outcome["crossed"]:
                    _say(f"llmcost: audit: {c['message']}")  # a model name in it cannot start a line
                if failures:
                    _say(f"llmcost: error: {_render_failed(failures)}")
                raise ThresholdError(f"{count(len(outcome['crossed']), 'audit threshold')} crossed")
            if failures:
                raise _render_failed(failures)
        finally:
            tracking.finish()
            store.close()


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@_db_option(required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_ingest_options
@_engine_options
def ingest(
    paths: tuple[str, ...],
    db: str,
    as_json: bool,
    no_text: bool,
    strict: bool,
    fmt: str | None,
    workers: int | None,
    engine: str,
    ray_address: str | None,
) -> None:
    """Read PATHS into the DuckDB file --db. Re-running on the same files adds nothing.

    \b
    Example:
      llmcost ingest /var/log/llm/ --db llm.duckdb --no-text
    """
    tracking.begin(display=tracking.on_terminal("-" if as_json else None))
    backend = _backend(engine, ray_address, workers)
    store = Store(db)
    try:
        try:
            result = _ingest(store, paths, no_text, fmt, backend=backend)
        finally:
            backend.close()
        tracking.finish()
        if as_json:
            click.echo(
                orjson.dumps(
                    {
                        "schema_version": 1,
                        "database": db,
                        "rows": result.rows,
                        "buckets": result.buckets,
                        "rejected": result.rejected,
                        "files": [f.as_dict() for f in result.files],
                    },
                    option=orjson.OPT_INDENT_2,
                ).decode()
            )
        else:
            traced = _trace_rows(store, result)
            for f in result.files:
                if f.skipped:
                    _say(f"{f.path}: skipped: {f.skipped}", err=False)
                    continue
                n = traced.get(f.path, 0)
                if f.buckets:
                    what = count(f.buckets, "usage bucket")
                elif n and n == f.rows:
                    what = f"{count(n, 'block-hash trace request')} (prefix reuse only, no cost)"
                else:
                    what = count(f.rows - n, "API call") + (f" and {count(n, 'block-hash trace request')}" if n else "")
                _say(
                    f"{f.path}: {f.format}: {what}, {f.rejected} rejected, {count(f.duplicates, 'duplicate')} skipped",
                    err=False,
                )
            n = sum(traced.values())
            buckets = f", {count(result.buckets, 'usage bucket')}" if result.buckets else ""
            # the report's "Requests" counts API calls only: say how the records added split, so the figures agree
            _say(
                f"{count(result.rows + result.buckets, 'record')} added to {db}: {count(result.rows - n, 'API call')}, "
                f"{count(n, 'block-hash trace request')}{buckets}",
                err=False,
            )
        _warn_rejects(store, result, strict, f"table `rejects` of {db}")
    finally:
        tracking.finish()
        store.close()


@cli.command()
@click.argument("model", required=False)
@click.option("--provider", help="The provider, when the model name alone is ambiguous (e.g. deepseek).")
@click.option("--prices", "prices_file", type=click.Path(dir_okay=False), help="Price file to overlay.")
@click.option(
    "--on",
    "on_day",
    type=Moment(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]),
    help="The prices in force on this day, or at this UTC minute (YYYY-MM-DDTHH:MM), from the dated price history "
    "(the snapshot after it ends).",
)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def prices(
    model: str | None, provider: str | None, prices_file: str | None, on_day: datetime | None, as_json: bool
) -> None:
    """What MODEL is priced at, and which catalogue key its name matched.

    \b
    Examples:
      llmcost prices gpt-4o-2024-08-06
      llmcost prices bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0
      llmcost prices deepseek-chat --on 2025-09-10
    """
    cat = load_catalogue(prices_file)
    if model is None:
        info = {
            "catalogue": cat.source,
            "catalogue_date": cat.date,
            "overrides": cat.overrides,
            "models": cat.priced_models(),
            "history": None
            if cat.history is None
            else {"first_day": cat.history.first, "last_day": cat.history.last, "source": cat.history.source},
        }
        if as_json:
            click.echo(orjson.dumps(info, option=orjson.OPT_INDENT_2).decode())
        else:
            click.echo(
                f"{info['catalogue']}\nsnapshot {info['catalogue_date']}; {info['models']} priced chat "
                f"models{'; overrides: ' + ', '.join(cat.overrides) if cat.overrides else ''}"
            )
        return
    res = cat.resolve(model, provider)
    if res.key is None:
        close = cat.close_names(model)
        hint = f"; close names: {', '.join(close)}" if close else ""
        raise InputError(f"{model}: not in the price catalogue (unpriced){hint}")
    day = None if on_day is None else on_day.strftime("%Y-%m-%dT%H:%M" if on_day.hour or on_day.minute else "%Y-%m-%d")
    rate_key, version, origin = res.key, "snapshot", f"{cat.source} (snapshot {cat.date})"
    hit = cat.version_on(res.key, day) if day else None
    before_first_listing = False
    if hit is not None:
        rate_key, version = hit
        origin = f"price history: in force from {version} ({cat.history.source if cat.history else ''})"
        if day is not None and day < version:
            before_first_listing = True
            origin = (
                f"price history: not listed yet on {day}; priced at its first listing, of {version} "
                f"({cat.history.source if cat.history else ''})"
            )
            version = before_listing(version)
    elif day and res.key in cat.user_keys:
        origin = f"your price file ({', '.join(cat.overrides)}), on every day"
    rows = cat.rate_rows(rate_key)
    info = {
        "model": model,
        "key": res.key,
        "match": res.how,
        "provider": cat.entries[res.key].get("litellm_provider"),
        "context_window": cat.context_window(res.key),
        "usd_per_million_tokens": [
            {
                "mode": r["mode"],
                "above_input_tokens": max(r["threshold"], 0),
                **{k: round(r[f"r_{k}"] * 1e6, 6) for k in RATE_FIELDS},
            }
            for r in rows
        ],
        "catalogue_date": cat.date,
        "on": day,
        "price_version": version,
        "before_first_listing": before_first_listing,
        "prices_from": origin,
        "rate_sources": cat.rate_sources(rate_key),
        "multipliers": cat.multipliers(rate_key),
    }
    if as_json:
        click.echo(orjson.dumps(info, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(
        f"{model} -> {res.key} ({res.how}); provider {info['provider']}; "
        f"context window {info['context_window'] or 'unknown'}"
    )
    click.echo(f"Prices{' on ' + day if day else ''}: {origin}")
    if before_first_listing:
        click.echo(f"Note: {model} was not in the catalogue on {day}; these are its earliest known prices.")
    click.echo("USD per 1M tokens:")
    head = ["mode", "tier"] + list(RATE_FIELDS)
    click.echo("  " + "  ".join(h.rjust(14) for h in head))
    for r in info["usd_per_million_tokens"]:
        tier = f">{r['above_input_tokens'] // 1000}k" if r["above_input_tokens"] else "base"
        click.echo(
            "  " + "  ".join([r["mode"].rjust(14), tier.rjust(14)] + [f"{r[k]:.4f}".rjust(14) for k in RATE_FIELDS])
        )
    click.echo("Where each base rate comes from:")
    for kind, why in info["rate_sources"].items():
        click.echo(f"  {kind:15} {why}")
    if info["multipliers"]:
        click.echo("Multipliers: " + ", ".join(f"{k} x{v:g}" for k, v in info["multipliers"].items()))


def _looks_like_a_path(arg: str) -> bool:
    """One word with a folder separator or a file suffix: meant as a file, so a typo must not be counted as text."""
    if any(c.isspace() for c in arg):
        return False
    return "/" in arg or "\\" in arg or re.search(r"\.\w{1,5}$", arg) is not None


@cli.command("tokens")
@click.argument("file_or_text")
@click.option("--text", "literal", is_flag=True, help="Count FILE_OR_TEXT itself as text, never as a file name.")
@click.option("--model", default="gpt-4o", show_default=True, help="Model whose tokenizer and price to use.")
@click.option("--prices", "prices_file", type=click.Path(dir_okay=False), help="Price file to overlay.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def tokens_cmd(file_or_text: str, literal: bool, model: str, prices_file: str | None, as_json: bool) -> None:
    """Count the tokens of a file (or '-' for stdin, or --text for literal text) and price it as input per 1,000
    calls. A model not in the price catalogue is exit 1, as in `llmcost prices`, after the count.

    \b
    Examples:
      llmcost tokens system_prompt.txt --model gpt-4.1
      llmcost tokens --text "You are a helpful assistant." --model claude-sonnet-4-5
    """
    if literal:
        text = file_or_text
    elif file_or_text == "-":
        text = sys.stdin.read()
    elif Path(file_or_text).is_file():
        try:
            text = Path(file_or_text).read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            raise InputError(f"{file_or_text}: cannot read ({e.strerror or e})") from None
    elif Path(file_or_text).exists() or _looks_like_a_path(file_or_text):
        what = "not a file" if Path(file_or_text).exists() else "no such file"
        raise InputError(f"{file_or_text}: {what} (to count these characters as text, use --text)")
    else:
        text = file_or_text
    enc = tokens.encoding_for(model)
    n = tokens.count(text, enc)
    cat = load_catalogue(prices_file)
    priced = price_one(cat, model, input_tokens=n)
    per_1k = None if priced["cost"] is None else priced["cost"] * 1000
    exact = tokens.is_exact(model)
    info = {
        "model": model,
        "encoding": enc,
        "tokens": n,
        "exact": exact,
        "chars": len(text),
        "price_key": priced["model_key"],
        "input_cost_per_1k_calls_usd": per_1k,
    }
    if as_json:
        click.echo(orjson.dumps(info, option=orjson.OPT_INDENT_2).decode())
    else:
        note = "" if exact else " (estimate: this model's tokenizer is not public; counted with o200k_base)"
        click.echo(f"{n:,} tokens with {enc}{note}")
        if per_1k is not None:
            click.echo(f"as input to {priced['model_key']}: {usd(per_1k)} per 1,000 calls")
    if per_1k is None:
        close = cat.close_names(model)
        hint = f"; close names: {', '.join(close)}" if close else ""
        raise InputError(f"{model}: not in the price catalogue (unpriced){hint}")


@cli.command()
@click.argument("paths", nargs=-1)
@_db_option()
@click.option("--prices", "prices_file", type=click.Path(dir_okay=False), help="Price file to overlay.")
@click.option("--json", "as_json", is_flag=True, help="Print the estimates as JSON.")
@click.option(
    "--routing-rules",
    "routing_rules",
    type=click.Path(dir_okay=False),
    help="A TOML file of [[rule]] tables (match -> route_to) instead of the built-in classifier.",
)
@_ingest_options
@_engine_options
def savings(
    paths: tuple[str, ...],
    db: str | None,
    prices_file: str | None,
    as_json: bool,
    routing_rules: str | None,
    no_text: bool,
    strict: bool,
    fmt: str | None,
    workers: int | None,
    engine: str,
    ray_address: str | None,
) -> None:
    """What each lever would have saved on PATHS (or --db): the estimates, with ranges and assumptions.

    \b
    Example:
      llmcost savings logs/ --json
    """
    _need_input(paths, db)
    tracking.begin(display=tracking.on_terminal("-" if as_json else None))
    backend = _backend(engine, ray_address, workers)
    store = Store(db, read_only=not paths)  # a report never changes the database
    try:
        try:
            result = _ingest(store, paths, no_text, fmt, backend=backend) if paths else IngestResult()
            rules = load_rules(routing_rules) if routing_rules else None
            rep = build_report(
                store, load_catalogue(prices_file), this_run=result, routing_rules=rules, backend=backend
            )
        finally:
            backend.close()
        tracking.finish()
        if as_json:
            click.echo(
                orjson.dumps(
                    {"schema_version": rep["schema_version"], "savings": rep["savings"]}, option=orjson.OPT_INDENT_2
                ).decode()
            )
        else:
            click.echo(render_savings(rep), nl=False)
        _warn_rejects(
            store, result, strict, "the report's Ingest section" + (f" and table `rejects` of {db}" if db else "")
        )
    finally:
        tracking.finish()
        store.close()


@cli.command("why-missed")
@click.argument("paths", nargs=-1)
@_db_option()
@click.option("--prices", "prices_file", type=click.Path(dir_okay=False), help="Price file to overlay.")
@click.option("--json", "as_json", is_flag=True, help="Print the cache_misses block as JSON.")
@click.option("--top", type=click.IntRange(1, 50), default=20, show_default=True, help="Misses to list.")
@_ingest_options
@_engine_options
def why_missed(
    paths: tuple[str, ...],
    db: str | None,
    prices_file: str | None,
    as_json: bool,
    top: int,
    no_text: bool,
    strict: bool,
    fmt: str | None,
    workers: int | None,
    engine: str,
    ray_address: str | None,
) -> None:
    """Why each cache miss happened on PATHS (or --db), and what it cost: the costliest misses with their
    request, conversation and cause (expired, prefix changed, another cache scope, below the minimum length,
    explicit breakpoints), the causes adding up to the as-is replay minus the ideal one.

    \b
    Example:
      llmcost why-missed logs/ --top 10
    """
    from analyzer.savings.misses import render_why_missed

    _need_input(paths, db)
    tracking.begin(display=tracking.on_terminal("-" if as_json else None))
    backend = _backend(engine, ray_address, workers)
    store = Store(db, read_only=not paths)
    try:
        try:
            result = _ingest(store, paths, no_text, fmt, backend=backend) if paths else IngestResult()
            rep = build_report(store, load_catalogue(prices_file), this_run=result, backend=backend)
        finally:
            backend.close()
        tracking.finish()
        block = rep.get("cache_misses")
        if as_json:
            out = dict(block or {})
            if "top" in out:
                out["top"] = out["top"][:top]
            click.echo(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
        else:
            click.echo(render_why_missed(block, top), nl=False)
        _warn_rejects(
            store, result, strict, "the report's Ingest section" + (f" and table `rejects` of {db}" if db else "")
        )
    finally:
        tracking.finish()
        store.close()


@cli.command()
@click.option("--requests", type=Finite(0, MAX_REQUESTS_PER_MONTH), help="Requests per month.")
@click.option("--input-tokens", type=Finite(0, MAX_TOKENS_PER_REQUEST), help="Input tokens per request (all of it).")
@click.option("--output-tokens", type=Finite(0, MAX_TOKENS_PER_REQUEST), help="Output tokens per request.")
@click.option("--model", help="The model the traffic runs on.")
@click.option(
    "--route-share",
    type=Finite(0, 1),
    default=0.0,
    show_default=True,
    help="Share of requests routed to --route-to.",
)
@click.option("--route-to", metavar="MODEL", help="The cheaper model routed requests go to.")
@click.option(
    "--cached-prefix", type=Finite(0, MAX_TOKENS_PER_REQUEST), help="Tokens of stable prefix caching can serve."
)
@click.option("--cache-hit-rate", type=Finite(0, 1), help="Share of requests that hit the cache.")
@click.option(
    "--growth",
    type=Finite(-1, 1000),
    default=0.0,
    show_default=True,
    help="Context growth of the non-prefix input: 0.3 = +30%.",
)
@click.option(
    "--from-db",
    "from_db",
    type=click.Path(exists=True, dir_okay=False),
    help="Take the inputs from an ingested database (options given still win).",
)
@click.option("--prices", "prices_file", type=click.Path(dir_okay=False), help="Price file to overlay.")
@click.option("--json", "as_json", is_flag=True, help="Print every figure as JSON.")
def project(
    requests: float | None,
    input_tokens: float | None,
    output_tokens: float | None,
    model: str | None,
    route_share: float,
    route_to: str | None,
    cached_prefix: float | None,
    cache_hit_rate: float | None,
    growth: float,
    from_db: str | None,
    prices_file: str | None,
    as_json: bool,
) -> None:
    """Before you ship: monthly cost = requests x tokens x price, with routing, caching and growth.

    \b
    Examples:
      llmcost project --requests 500000 --input-tokens 2000 --output-tokens 300 --model gpt-4o
      llmcost project --requests 500000 --input-tokens 2000 --output-tokens 300 --model gpt-4o \\
                      --route-share 0.7 --route-to gpt-4o-mini
      llmcost project --from-db llm.duckdb --json

    With --from-db alone, every model of the database is projected on its own measured workload (as the
    report's projection does) and the models are summed; with --model or token options, one workload is
    measured across all models and the options given override it.
    """
    measured: dict[str, Any] = {}
    overrides = (requests, input_tokens, output_tokens, model, cached_prefix, cache_hit_rate)
    if from_db and all(v is None for v in overrides):
        # every model of the database, each on its own measured workload, summed: the report's projection
        cat = load_catalogue(prices_file)
        store = Store(from_db, read_only=True)
        try:
            by_model = projection_by_model(
                store.con,
                cat,
                None,
                None,
                measured_days(store.con),
                growth=growth,
                route_share=route_share,
                route_to=route_to,
            )
        finally:
            store.close()
        if by_model is None:
            raise InputError(f"{from_db}: no successful API calls to measure")
        if "error" in by_model:
            raise InputError(f"{from_db}: {by_model['error']}")
        by_model = {"schema_version": 2, "measured_from": from_db, **by_model}
        if as_json:
            click.echo(orjson.dumps(by_model, option=orjson.OPT_INDENT_2).decode())
        else:
            click.echo(render_projection_by_model(by_model), nl=False)
        return
    if from_db:
        store = Store(from_db, read_only=True)
        try:
            measured = measured_workload(store.con) or {}
        finally:
            store.close()
        if not measured:
            raise InputError(f"{from_db}: no successful API calls to measure")
    given = {
        "requests": requests,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "model": model,
        "cached_prefix": cached_prefix,
        "cache_hit_rate": cache_hit_rate,
    }
    values = {k: v if v is not None else measured.get(k) for k, v in given.items()}
    missing = [k for k in ("requests", "input_tokens", "output_tokens", "model") if values[k] is None]
    if missing:
        raise click.UsageError(
            f"give {', '.join('--' + m.replace('_', '-') for m in missing)} (or --from-db FILE to measure them)"
        )
    w = Workload(
        requests=values["requests"],
        input_tokens=values["input_tokens"],
        output_tokens=values["output_tokens"],
        model=values["model"],
        route_share=route_share,
        route_to=route_to,
        cached_prefix=values["cached_prefix"] or 0.0,
        cache_hit_rate=values["cache_hit_rate"] or 0.0,
        growth=growth,
        prefix_measured=cached_prefix is None and bool(measured.get("cached_prefix")),
    )
    result = run_projection(w, load_catalogue(prices_file))
    if from_db:
        result["measured_from"] = from_db
    if as_json:
        click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(render_projection(result), nl=False)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def formats(as_json: bool) -> None:
    """The input formats llmcost reads, and what each makes possible."""
    rows = [
        {
            "name": s.name,
            "title": s.title,
            "detected_by": s.detected_by or None,
            "enables": s.enables,
            "example": s.example if "/" in s.example else f"sample_logs/{s.example}",
        }
        for s in SOURCES
    ]
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    for r in rows:
        detected = f"\n  detected by: {r['detected_by']}" if r["detected_by"] else ""
        click.echo(f"{r['name']}\n  {r['title']}{detected}\n  enables: {r['enables']}\n  example: {r['example']}")
    click.echo("\nAll of them may be .gz or .zst compressed; folders are read recursively; globs are expanded.")


def main() -> None:
    cli(prog_name="llmcost")
