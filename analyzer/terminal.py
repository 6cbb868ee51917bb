"""Text for the terminal from the commands other than `report`: what `ingest` read, what `prices` and `tokens`
found, the input formats, the audit's one-line summary.

Apart from render.py, which renders the report model (HTML, Markdown, the report's terminal summary): these
render the small results of the other commands, each a dict or an ingest result, into the lines they print.
"""

from __future__ import annotations

from typing import Any

from analyzer.prices import RATE_FIELDS
from analyzer.render import count, usd
from analyzer.store import IngestResult


def ingest_lines(result: IngestResult, traced: dict[str, int], db: str) -> list[str]:
    """`llmcost ingest`: a line per file (what it held, rejected and duplicate records) and the total added.
    `traced`: the block-hash trace rows of each file (no model, no cost), counted apart from the API calls."""
    out = []
    for f in result.files:
        if f.skipped:
            out.append(f"{f.path}: skipped: {f.skipped}")
            continue
        n = traced.get(f.path, 0)
        if f.buckets:
            what = count(f.buckets, "usage bucket")
        elif n and n == f.rows:
            what = f"{count(n, 'block-hash trace request')} (prefix reuse only, no cost)"
        else:
            what = count(f.rows - n, "API call") + (f" and {count(n, 'block-hash trace request')}" if n else "")
        out.append(f"{f.path}: {f.format}: {what}, {f.rejected} rejected, {count(f.duplicates, 'duplicate')} skipped")
    n = sum(traced.values())
    buckets = f", {count(result.buckets, 'usage bucket')}" if result.buckets else ""
    # the report's "Requests" counts API calls only: say how the records added split, so the figures agree
    out.append(
        f"{count(result.rows + result.buckets, 'record')} added to {db}: {count(result.rows - n, 'API call')}, "
        f"{count(n, 'block-hash trace request')}{buckets}"
    )
    return out


def catalogue_text(info: dict[str, Any]) -> str:
    """`llmcost prices` with no model: the catalogue, its date, how many models it prices, the overrides."""
    overrides = info["overrides"]
    return (
        f"{info['catalogue']}\nsnapshot {info['catalogue_date']}; {info['models']} priced chat "
        f"models{'; overrides: ' + ', '.join(overrides) if overrides else ''}"
    )


def price_lines(info: dict[str, Any]) -> list[str]:
    """`llmcost prices MODEL`: the key it matched, where its prices come from, the rates per mode and tier, the
    source of each base rate and the multipliers."""
    model, day = info["model"], info["on"]
    out = [
        f"{model} -> {info['key']} ({info['match']}); provider {info['provider']}; "
        f"context window {info['context_window'] or 'unknown'}",
        f"Prices{' on ' + day if day else ''}: {info['prices_from']}",
    ]
    if info["before_first_listing"]:
        out.append(f"Note: {model} was not in the catalogue on {day}; these are its earliest known prices.")
    out.append("USD per 1M tokens:")
    head = ["mode", "tier"] + list(RATE_FIELDS)
    out.append("  " + "  ".join(h.rjust(14) for h in head))
    for r in info["usd_per_million_tokens"]:
        tier = f">{r['above_input_tokens'] // 1000}k" if r["above_input_tokens"] else "base"
        out.append(
            "  " + "  ".join([r["mode"].rjust(14), tier.rjust(14)] + [f"{r[k]:.4f}".rjust(14) for k in RATE_FIELDS])
        )
    out.append("Where each base rate comes from:")
    out += [f"  {kind:15} {why}" for kind, why in info["rate_sources"].items()]
    if info["multipliers"]:
        out.append("Multipliers: " + ", ".join(f"{k} x{v:g}" for k, v in info["multipliers"].items()))
    return out


def token_lines(info: dict[str, Any]) -> list[str]:
    """`llmcost tokens`: the count with its tokenizer (an estimate when the model's is not public), and the
    price as input per 1,000 calls when the model is priced."""
    note = "" if info["exact"] else " (estimate: this model's tokenizer is not public; counted with o200k_base)"
    out = [f"{info['tokens']:,} tokens with {info['encoding']}{note}"]
    per_1k = info["input_cost_per_1k_calls_usd"]
    if per_1k is not None:
        out.append(f"as input to {info['price_key']}: {usd(per_1k)} per 1,000 calls")
    return out


def formats_text(rows: list[dict[str, Any]]) -> str:
    """`llmcost formats`: each input format, how it is detected, what it makes possible, an example."""
    out = []
    for r in rows:
        detected = f"\n  detected by: {r['detected_by']}" if r["detected_by"] else ""
        out.append(f"{r['name']}\n  {r['title']}{detected}\n  enables: {r['enables']}\n  example: {r['example']}")
    out.append("\nAll of them may be .gz or .zst compressed; folders are read recursively; globs are expanded.")
    return "\n".join(out)


def audit_summary(outcome: dict[str, Any]) -> str:
    """The audit's one line: the day's spend and requests, the change on the window before, the cached share,
    and where the day's report is."""
    cur, change = outcome["current"], outcome["change"]
    return (
        f"llmcost audit {outcome['day']}: {usd(cur['cost_usd'])} over {cur['requests']:,} requests"
        + (f" ({change['cost_pct']:+.1f}% on the window before)" if change["cost_pct"] is not None else "")
        + (f", {cur['cached_share']:.1%} of input from cache" if cur["cached_share"] is not None else "")
        + f"; {outcome['outputs']['html']}"
    )
