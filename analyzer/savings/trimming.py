"""Trimming: each conversation replayed with less history, and what its input would then have cost.

Policies: keep the last N turns (a turn starts at a user message), keep a token budget of the most recent
history, or summarise what is dropped into a short summary written by a cheap model (whose calls are added
back as a cost). System prompts and tool definitions are never trimmed. Tokens removed are counted with our
tokenizer and scaled to each request's reported input. The high case takes them out of uncached input; the
low case out of cache reads first (trimming history that was served from cache saves only the read price).
Trimming also changes every later prefix, which can destroy cache hits: that interaction is the combined
estimate's job, not this one's.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from analyzer import tokens
from analyzer.conversations import Sequence, requests_of
from analyzer.perf import gc_paused
from analyzer.prices import PRICE_COLUMNS, Catalogue, price_one, price_requests
from analyzer.savings import Estimate

CONVERSATION_ROLES = ("user", "assistant", "tool")
SUMMARY_TOKENS = 500
SUMMARISER = "gpt-4o-mini"


def _last_turns(n: int) -> Callable[[list[str], list[int]], int]:
    def removable(roles: list[str], toks: list[int]) -> int:
        users = [i for i, r in enumerate(roles) if r == "user"]
        if len(users) <= n:
            return 0
        start = users[-n]
        return sum(t for i, (r, t) in enumerate(zip(roles, toks, strict=True)) if i < start and r in CONVERSATION_ROLES)

    return removable


def _budget(limit: int) -> Callable[[list[str], list[int]], int]:
    def removable(roles: list[str], toks: list[int]) -> int:
        conv = [t for r, t in zip(roles, toks, strict=True) if r in CONVERSATION_ROLES]
        kept = 0
        for i, t in enumerate(reversed(conv)):
            if i > 0 and kept + t > limit:  # the newest message is always kept
                return sum(conv) - kept
            kept += t
        return 0

    return removable


POLICIES: dict[str, Callable[[list[str], list[int]], int]] = {
    "last 4 turns": _last_turns(4),
    "last 6 turns": _last_turns(6),
    "last 8 turns": _last_turns(8),
    "history budget 8k tokens": _budget(8000),
}


@gc_paused()
def removed_tokens(seq: Sequence, policy: Callable[[list[str], list[int]], int]) -> pl.DataFrame:
    """request_id -> counted tokens the policy removes, and the request's counted input."""
    rows = []
    for r in requests_of(seq):
        cut = policy(r.roles, r.tokens)
        if cut:
            counted = tokens.chat_input(r.tokens)
            rows.append((r.request_id, cut, counted))
    return pl.DataFrame(
        rows, schema={"request_id": pl.String, "removed_counted": pl.Int64, "counted": pl.Int64}, orient="row"
    )


def _take(rows: pl.DataFrame, reads_first: bool) -> pl.DataFrame:
    """Take `removed` tokens out of the input: from cache reads first (low saving) or from uncached input
    first (high saving), the rest from the other; cache writes are left as logged."""
    uncached = (
        pl.col("input_tokens")
        - pl.col("cache_read_tokens")
        - pl.col("cache_write_5m_tokens")
        - pl.col("cache_write_1h_tokens")
    )
    reads = pl.col("cache_read_tokens")
    first, second = (reads, uncached) if reads_first else (uncached, reads)
    from_first = pl.min_horizontal(pl.col("removed"), first)
    from_second = pl.min_horizontal(pl.col("removed") - from_first, second)
    from_reads = from_first if reads_first else from_second
    return rows.with_columns(
        input_tokens=pl.col("input_tokens") - from_first - from_second,
        cache_read_tokens=pl.col("cache_read_tokens") - from_reads,
    )


def estimate_trimming(priced: pl.DataFrame, seq: Sequence, cat: Catalogue) -> list[Estimate]:
    base_cols = priced.filter(pl.col("priced") & (pl.col("status") == "ok"))
    out = []
    for name, policy in [*POLICIES.items(), ("summarise older than 4 turns", POLICIES["last 4 turns"])]:
        cut = removed_tokens(seq, policy)
        rows = base_cols.join(cut, on="request_id", how="inner")
        if rows.is_empty():
            continue
        removed = (pl.col("removed_counted") * pl.col("input_tokens") / pl.col("counted")).round().cast(pl.Int64)
        summarise = name.startswith("summarise")
        if summarise:  # the summary goes back in, as uncached input
            removed = (removed - SUMMARY_TOKENS).clip(lower_bound=0)
        rows = rows.with_columns(removed=pl.min_horizontal(removed, pl.col("input_tokens")))
        high = _take(rows, reads_first=False)
        low = _take(rows, reads_first=True)
        base = float(rows["cost"].sum())
        cost_high = float(price_requests(high.select(*PRICE_COLUMNS), cat)["cost"].sum())
        cost_low = float(price_requests(low.select(*PRICE_COLUMNS), cat)["cost"].sum())
        extra = 0.0
        assumptions = [
            "Answers would be as good with less history: quality is not measured.",
            "Tokens removed are counted with our tokenizer and scaled to each request's reported input.",
        ]
        if summarise:
            per_call = price_one(cat, SUMMARISER, input_tokens=0, output_tokens=SUMMARY_TOKENS)["cost"] or 0.0
            reads = float(rows["removed_counted"].sum())
            extra = rows.height * per_call + (price_one(cat, SUMMARISER, input_tokens=int(reads))["cost"] or 0.0)
            assumptions.append(
                f"A {SUMMARY_TOKENS}-token summary by {SUMMARISER} replaces the dropped history; each trimmed "
                "request pays for summarising all of it (an upper bound: incremental summaries cost less)."
            )
        save_high = base - cost_high - extra
        save_low = base - cost_low - extra
        central = (save_high + save_low) / 2
        out.append(
            Estimate(
                lever="trimming",
                policy=name,
                scope=f"{rows.height} requests with history to trim",
                requests=rows.height,
                baseline_usd=base,
                counterfactual_usd=base - central,
                saving_usd=central,
                saving_low_usd=min(save_low, save_high),
                saving_high_usd=max(save_low, save_high),
                assumptions=assumptions,
                evidence=[
                    f"{int(rows['removed'].sum())} input tokens removed of {int(rows['input_tokens'].sum())} "
                    "in the affected requests; range: removed tokens taken from cache reads first (low) or "
                    "from uncached input (high)."
                ],
                detail={
                    "removed_tokens": int(rows["removed"].sum()),
                    "input_tokens": int(rows["input_tokens"].sum()),
                    "summarised": summarise,
                },
            )
        )
    return out
