"""The commands that answer from the price catalogue alone, or with a database: `prices` (what a model is priced
at), `tokens` (what a text counts and costs), `project` (a month's cost before you ship) and `formats` (what
llmcost reads). What each computes is in analyzer/commands/, its text in analyzer/terminal.py."""

from __future__ import annotations

from contextlib import closing
from datetime import datetime

import click

from analyzer.cli.common import echo_json, prices_option
from analyzer.commands.price_info import catalogue_info, price_info, unpriced
from analyzer.commands.projection_run import Inputs, each_model, measured
from analyzer.commands.token_count import count_text, priced_count, text_of
from analyzer.options import MAX_REQUESTS_PER_MONTH, MAX_TOKENS_PER_REQUEST, Finite, Moment
from analyzer.prices import load_catalogue
from analyzer.projection import project as run_projection
from analyzer.render.commands import render_projection, render_projection_by_model
from analyzer.sources import SOURCES
from analyzer.store import Store
from analyzer.terminal import catalogue_text, formats_text, price_lines, token_lines


@click.command()
@click.argument("model", required=False)
@click.option("--provider", help="The provider, when the model name alone is ambiguous (e.g. deepseek).")
@prices_option
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
        info = catalogue_info(cat)
        if as_json:
            echo_json(info)
        else:
            click.echo(catalogue_text(info))
        return
    info = price_info(cat, model, provider, on_day)
    if as_json:
        echo_json(info)
        return
    for line in price_lines(info):
        click.echo(line)


@click.command("tokens")
@click.argument("file_or_text")
@click.option("--text", "literal", is_flag=True, help="Count FILE_OR_TEXT itself as text, never as a file name.")
@click.option("--model", default="gpt-4o", show_default=True, help="Model whose tokenizer and price to use.")
@prices_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def tokens_cmd(file_or_text: str, literal: bool, model: str, prices_file: str | None, as_json: bool) -> None:
    """Count the tokens of a file (or '-' for stdin, or --text for literal text) and price it as input per 1,000
    calls. A model not in the price catalogue is exit 1, as in `llmcost prices`, after the count.

    \b
    Examples:
      llmcost tokens system_prompt.txt --model gpt-4.1
      llmcost tokens --text "You are a helpful assistant." --model claude-sonnet-4-5
    """
    counted = count_text(text_of(file_or_text, literal), model)
    cat = load_catalogue(prices_file)
    info = priced_count(counted, cat)
    if as_json:
        echo_json(info)
    else:
        for line in token_lines(info):
            click.echo(line)
    if info["input_cost_per_1k_calls_usd"] is None:
        raise unpriced(cat, model)


@click.command()
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
@prices_option
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
    given = Inputs(requests, input_tokens, output_tokens, model, cached_prefix, cache_hit_rate)
    if from_db and not given.given():
        # every model of the database, each on its own measured workload, summed: the report's projection
        cat = load_catalogue(prices_file)
        with closing(Store(from_db, read_only=True)) as store:
            by_model = each_model(store, cat, from_db, growth, route_share, route_to)
        if as_json:
            echo_json(by_model)
        else:
            click.echo(render_projection_by_model(by_model), nl=False)
        return
    m = {}
    if from_db:
        with closing(Store(from_db, read_only=True)) as store:
            m = measured(store, from_db)
    missing = given.missing(m)
    if missing:
        raise click.UsageError(
            f"give {', '.join('--' + k.replace('_', '-') for k in missing)} (or --from-db FILE to measure them)"
        )
    result = run_projection(given.workload(m, route_share, route_to, growth), load_catalogue(prices_file))
    if from_db:
        result["measured_from"] = from_db
    if as_json:
        echo_json(result)
        return
    click.echo(render_projection(result), nl=False)


@click.command()
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
        echo_json(rows)
        return
    click.echo(formats_text(rows))
