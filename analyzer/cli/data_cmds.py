"""The commands that read logs (or --db) and print one result: `ingest` (the records added), `savings` (what
each lever would have saved) and `why-missed` (the cache misses and their causes)."""

from __future__ import annotations

import click

from analyzer import progress as tracking
from analyzer import queries
from analyzer.cli.common import (
    Intake,
    db_option,
    echo_json,
    intake_options,
    need_input,
    prices_option,
    rejects_where,
    routing_rules_option,
    say,
    session,
)
from analyzer.ingest.results import IngestResult
from analyzer.prices import load_catalogue
from analyzer.render.commands import render_savings
from analyzer.report import build_report
from analyzer.savings.misses import render_why_missed
from analyzer.savings.routing import load_rules
from analyzer.store import Store
from analyzer.terminal import ingest_lines


@click.command()
@click.argument("paths", nargs=-1, required=True)
@db_option(required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@intake_options
def ingest(paths: tuple[str, ...], db: str, as_json: bool, intake: Intake) -> None:
    """Read PATHS into the DuckDB file --db. Re-running on the same files adds nothing.

    \b
    Example:
      llmcost ingest /var/log/llm/ --db llm.duckdb --no-text
    """
    with session(paths, db, intake, display=tracking.on_terminal("-" if as_json else None)) as s:
        s.computed()
        result = s.result
        if as_json:
            echo_json(
                {
                    "schema_version": 1,
                    "database": db,
                    "rows": result.rows,
                    "buckets": result.buckets,
                    "rejected": result.rejected,
                    "files": [f.as_dict() for f in result.files],
                }
            )
        else:
            for line in ingest_lines(result, _trace_rows(s.store, result), db):
                say(line, err=False)
        s.warn_rejects(intake.strict, f"table `rejects` of {db}")


def _trace_rows(store: Store, result: IngestResult) -> dict[str, int]:
    """Rows of block-hash traces (no model, no cost) among the files just read, by path."""
    paths = [f.path for f in result.files if f.rows and not f.skipped]
    if not paths:
        return {}
    return {r["path"]: int(r["requests"]) for r in queries.rows(store.con, "trace_rows_by_file", paths=paths)}


@click.command()
@click.argument("paths", nargs=-1)
@db_option()
@prices_option
@click.option("--json", "as_json", is_flag=True, help="Print the estimates as JSON.")
@routing_rules_option
@intake_options
def savings(
    paths: tuple[str, ...],
    db: str | None,
    prices_file: str | None,
    as_json: bool,
    routing_rules: str | None,
    intake: Intake,
) -> None:
    """What each lever would have saved on PATHS (or --db): the estimates, with ranges and assumptions.

    \b
    Example:
      llmcost savings logs/ --json
    """
    need_input(paths, db)
    # a report never changes the database
    with session(paths, db, intake, display=tracking.on_terminal("-" if as_json else None), read_only=not paths) as s:
        rules = load_rules(routing_rules) if routing_rules else None
        rep = build_report(
            s.store, load_catalogue(prices_file), this_run=s.result, routing_rules=rules, backend=s.backend
        )
        s.computed()
        if as_json:
            echo_json({"schema_version": rep["schema_version"], "savings": rep["savings"]})
        else:
            click.echo(render_savings(rep), nl=False)
        s.warn_rejects(intake.strict, rejects_where(db))


@click.command("why-missed")
@click.argument("paths", nargs=-1)
@db_option()
@prices_option
@click.option("--json", "as_json", is_flag=True, help="Print the cache_misses block as JSON.")
@click.option("--top", type=click.IntRange(1, 50), default=20, show_default=True, help="Misses to list.")
@intake_options
def why_missed(
    paths: tuple[str, ...],
    db: str | None,
    prices_file: str | None,
    as_json: bool,
    top: int,
    intake: Intake,
) -> None:
    """Why each cache miss happened on PATHS (or --db), and what it cost: the costliest misses with their
    request, conversation and cause (expired, prefix changed, another cache scope, below the minimum length,
    explicit breakpoints), the causes adding up to the as-is replay minus the ideal one.

    \b
    Example:
      llmcost why-missed logs/ --top 10
    """
    need_input(paths, db)
    with session(paths, db, intake, display=tracking.on_terminal("-" if as_json else None), read_only=not paths) as s:
        rep = build_report(s.store, load_catalogue(prices_file), this_run=s.result, backend=s.backend)
        s.computed()
        block = rep.get("cache_misses")
        if as_json:
            out = dict(block or {})
            if "top" in out:
                out["top"] = out["top"][:top]
            echo_json(out)
        else:
            click.echo(render_why_missed(block, top), nl=False)
        s.warn_rejects(intake.strict, rejects_where(db))
