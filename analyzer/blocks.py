"""ccusage's `blocks` view (issue 25 part 3): spend per 5-hour billing window, with its burn rate and, for the
active block, the projection to its end.

Follows ccusage's `src/_session-blocks.ts` (github.com/ryoppippi/ccusage, `identifySessionBlocks`,
`calculateBurnRate`, `projectBlockUsage`):
- calls are taken in time order; a block starts at its first call's UTC hour, floored, and ends 5 h later;
- a call more than 5 h after its block's start, or more than 5 h after the previous call, closes the block and
  starts a new one; a pause of more than 5 h between calls is listed as a gap (from the last call + 5 h to the
  next call), with no calls;
- burn rate: the block's cost and tokens over the minutes from its first to its last call (none when that is
  0), tokens being uncached input + output as ccusage counts them (cache reads and writes are not in it);
- the block is active when "now" is less than 5 h after its last call and before its end; its projection is
  the cost and tokens so far plus the burn rate times the minutes left to the block's end.
One difference: "now" is the log's last dated call, not the clock, so that a report of old logs reads the same
every day (only the latest block can then be active). Unpriced calls count 0 dollars, as ccusage's `costUSD ?? 0`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import polars as pl

from analyzer import queries
from analyzer.formatting import count, num, usd

HOURS = 5
BLOCK = timedelta(hours=HOURS)
# the logs of coding agents, whose users read ccusage's blocks: the report JSON carries `blocks` for them
AGENT_FORMATS = frozenset({"claude_code", "codex_session"})


def for_report(con: Any, priced: pl.DataFrame, force: bool = False) -> dict[str, Any] | None:
    """The blocks of the agent logs' calls (Claude Code, Codex sessions) when the store holds any, as ccusage
    counts only those; else, when `force` (`--view blocks`), of every call; else none."""
    formats = sorted(AGENT_FORMATS)
    ids = [r[0] for r in queries.values(con, "sources_of_formats", formats=formats)]
    if ids:
        return section(priced.filter(pl.col("source_id").is_in(ids))) | {"calls_of": "agent logs"}
    return section(priced) | {"calls_of": "all calls"} if force else None


def _iso(v: datetime) -> str:
    return v.replace(microsecond=0).isoformat() + "Z"


def section(priced: pl.DataFrame) -> dict[str, Any]:
    """The blocks of the priced requests (columns ts, cost, model and the token counts)."""
    f = priced if priced.is_empty() else priced.filter(pl.col("ts").is_not_null()).sort("ts", maintain_order=True)
    if f.is_empty():
        return {"hours": HOURS, "as_of": None, "count": 0, "rows": []}
    f = f.with_columns(
        uncached=pl.col("input_tokens")
        - pl.col("cache_read_tokens")
        - pl.col("cache_write_5m_tokens")
        - pl.col("cache_write_1h_tokens"),
        cache_write=pl.col("cache_write_5m_tokens") + pl.col("cache_write_1h_tokens"),
        cost0=pl.col("cost").fill_null(0.0),
    )
    calls = f.select("ts", "cost0", "uncached", "output_tokens", "cache_read_tokens", "cache_write", "model").rows()
    now = calls[-1][0]
    groups: list[list[tuple[Any, ...]]] = []
    start: datetime | None = None
    rows: list[dict[str, Any]] = []
    for call in calls:
        ts = call[0]
        if start is not None and (ts - start > BLOCK or ts - groups[-1][-1][0] > BLOCK):
            last = groups[-1][-1][0]
            rows.append(_block(start, groups[-1], now))
            if ts - last > BLOCK:
                rows.append(_gap(last + BLOCK, ts))
            start = None
        if start is None:
            start = ts.replace(minute=0, second=0, microsecond=0)
            groups.append([])
        groups[-1].append(call)
    assert start is not None  # calls is not empty: the loop opened a block
    rows.append(_block(start, groups[-1], now))
    return {"hours": HOURS, "as_of": _iso(now), "count": len(groups), "rows": rows}


def _gap(start: datetime, end: datetime) -> dict[str, Any]:
    return {"start": _iso(start), "end": _iso(end), "gap": True, "calls": 0, "cost_usd": 0.0}


def _block(start: datetime, calls: list[tuple[Any, ...]], now: datetime) -> dict[str, Any]:
    end = start + BLOCK
    first, last = calls[0][0], calls[-1][0]
    cost = sum(c[1] for c in calls)
    tokens = sum(c[2] + c[3] for c in calls)
    models = list(dict.fromkeys(c[6] for c in calls))
    active = now - last < BLOCK and now < end
    minutes = (last - first).total_seconds() / 60
    burn = (
        {"tokens_per_minute": round(tokens / minutes, 4), "usd_per_hour": round(cost / minutes * 60, 10)}
        if minutes > 0
        else None
    )
    projection = None
    if active and burn is not None:
        left = max((end - now).total_seconds() / 60, 0.0)
        projection = {
            "remaining_minutes": round(left, 2),
            "tokens": round(tokens + tokens / minutes * left),
            "cost_usd": round(cost + cost / minutes * left, 10),
        }
    return {
        "start": _iso(start),
        "end": _iso(end),
        "last_call": _iso(last),
        "gap": False,
        "active": active,
        "calls": len(calls),
        "input_tokens": sum(c[2] for c in calls),  # uncached, as ccusage's inputTokens
        "output_tokens": sum(c[3] for c in calls),
        "cache_read_tokens": sum(c[4] for c in calls),
        "cache_write_tokens": sum(c[5] for c in calls),
        "cost_usd": round(cost, 10),
        "models": models,
        "burn_rate": burn,
        "projection": projection,
    }


def lines(sec: dict[str, Any] | None) -> list[str]:
    """`llmcost report --view blocks`: one line per block (and gap), the active block's projection last."""
    if not sec or not sec.get("rows"):
        return ["No dated calls: no 5-hour blocks."]
    rows = sec["rows"]
    out = [f"5-hour blocks (UTC; as of the last call, {sec['as_of']})"]
    for r in rows:
        span = f"{r['start'][:16].replace('T', ' ')} .. {r['end'][:16].replace('T', ' ')}"
        if r["gap"]:
            out.append(f"  {span}  gap, no calls")
            continue
        burn = r["burn_rate"]
        rate = (
            f"{usd(burn['usd_per_hour'])}/h, {num(round(burn['tokens_per_minute']))} tokens/min"
            if burn
            else "no burn rate (one instant)"
        )
        tokens = r["input_tokens"] + r["output_tokens"]
        out.append(
            f"  {span}  {usd(r['cost_usd'])}  {count(r['calls'], 'call')}, {num(tokens)} tokens; {rate}"
            + ("  ACTIVE" if r["active"] else "")
        )
        if r["projection"]:
            p = r["projection"]
            out.append(
                f"    projected to the block's end ({round(p['remaining_minutes'])} min left): "
                f"{usd(p['cost_usd'])}, {num(p['tokens'])} tokens"
            )
    return out
