"""Billed or logged vs computed: the cost a log carries beside llmcost's own cost of the same calls, per model and
day, with the gap in dollars and percent and its likely cause. The log's figure is "billed" only when it is the
charging party's own (OpenRouter `usage.cost`); a cost the logging client computed (LiteLLM `response_cost`/`spend`,
Claude Code `costUSD`, ...) is a "logged cost", and the section says which it compared with.

Not the usage-export reconciliation (logs vs a provider's usage export), which lives elsewhere: this compares
figures carried by the same records. Nothing here prices anything; the costs come from `prices`.
"""

from __future__ import annotations

from typing import Any

from analyzer import queries

MATCH_PCT = 1.0  # within this many percent overall, the log "matches what was billed"

# Why a gateway's figure can differ, by the format the cost came from.
_FORMAT_CAUSE = {
    "openrouter": "OpenRouter bills the routed provider's price, which can differ from the list price",
    "claude_code": "Claude Code's costUSD is its own estimate from the prices it shipped with",
    "litellm_payload": "LiteLLM priced it with the catalogue (or custom prices) its proxy ran with",
    "litellm_spend_log": "LiteLLM priced it with the catalogue (or custom prices) its proxy ran with",
}
# Ratios billed/computed with a known meaning.
_RATIOS = (
    (0.5, "a 50% discount the log does not show (batch or off-peak)"),
    (1.1, "a 1.1x premium the log does not show (regional or US-only inference)"),
    (2.0, "a 2x premium the log does not show (fast mode or priority tier)"),
)


# "Billed" is only the charging party's own figure: OpenRouter's `usage.cost` is what OpenRouter charged, and a
# provider's cost export is its bill. A cost computed by the logging client from a price table (LiteLLM's
# `response_cost`/`spend`, also when LiteLLM runs inside an agent such as mini-swe-agent; Claude Code's `costUSD`;
# Langfuse's calculated cost; any other log's `cost` field) is a "logged cost".
BILLED_PROVIDERS = {"openrouter"}
BILLED_FORMATS = {"anthropic_cost", "openai_costs", "anthropic_usage", "openai_usage", "claude_code_usage_report"}


def figure_kind(row: dict[str, Any]) -> str:
    """ "billed" for the provider's or gateway's own charge, else "logged cost"."""
    if row.get("provider") in BILLED_PROVIDERS or row.get("format") in BILLED_FORMATS:
        return "billed"
    return "logged cost"


def likely_cause(row: dict[str, Any]) -> str:
    """The most likely reason for one group's gap, from what the rows carry."""
    billed, computed = row["billed_usd"], row["computed_usd"]
    if row["unpriced"]:
        return "model not in the price catalogue: no computed cost"
    if computed is None or billed is None:
        return "no figure to compare"
    gap = computed - billed
    if abs(gap) <= max(abs(billed) * MATCH_PCT / 100, 1e-9):
        return "matches"
    if computed == 0 or billed == 0:
        return "one side is $0: the call was not billed (failed or cached by the gateway), or the cost field is empty"
    ratio = billed / computed
    if ratio > 3 or ratio < 1 / 3:
        return (
            "too large for a price difference: the cost field may not be this call's cost "
            "(a running total, another currency, or a test value)"
        )
    for r, why in _RATIOS:
        if abs(ratio - r) <= 0.02 * r:
            return why
    if row.get("cache_write_tokens") == 0 and row.get("cache_read_tokens") == 0 and ratio > 1:
        hint = "; the log carries no cache tokens, so cache writes it does not report would be missed"
    else:
        hint = ""
    cause = _FORMAT_CAUSE.get(row.get("provider") or "") or _FORMAT_CAUSE.get(row.get("format") or "")
    return (cause or "the catalogue's price differs from what was charged") + hint


def reconcile(con: Any) -> dict[str, Any]:
    """The Reconciliation section: rows per day and model, totals, and the first-screen sentence. Needs the
    `priced_requests` view (report.priced_frame)."""
    rows = queries.rows(con, "billed_vs_computed")
    out_rows = []
    for r in rows:
        billed, computed = r["billed_usd"], r["computed_usd"]
        gap = None if (billed is None or computed is None or r["unpriced"]) else computed - billed
        out_rows.append(
            {
                "day": r["day"].isoformat() if r["day"] is not None else None,
                "model": r["model"],
                "model_key": r["model_key"],
                "provider": r["provider"],
                "format": r["format"],
                "requests": r["requests"],
                "figure": figure_kind(r),  # what the log's cost is: "billed" or "logged cost"
                "reported_usd": _usd(billed),
                "billed_usd": _usd(billed),  # the reported figure, whichever kind (kept for older readers)
                "computed_usd": _usd(computed),
                "gap_usd": _usd(gap),
                "gap_pct": None if gap is None or not billed else round(100 * gap / billed, 2),
                "unpriced_requests": r["unpriced"],
                "price_versions": r["price_versions"],
                "likely_cause": likely_cause(r),
            }
        )
    comparable = [r for r in out_rows if r["gap_usd"] is not None]
    billed = sum(r["billed_usd"] for r in comparable)
    computed = sum(r["computed_usd"] for r in comparable)
    gap = computed - billed
    pct = round(100 * gap / billed, 2) if billed else None
    kinds = sorted({r["figure"] for r in (comparable or out_rows)})
    compared_with = " and ".join(kinds) if kinds else None
    what = {"billed": "what was billed", "logged cost": "the logged cost"}.get(
        compared_with or "", "what was billed and logged"
    )
    if not out_rows:
        line = None
    elif not comparable:
        line = "The logs carry billed costs only for unpriced models: see Reconciliation."
    elif pct is not None and abs(pct) <= MATCH_PCT:
        n = sum(r["requests"] for r in comparable)
        line = f"Matches {what} within {abs(pct):.2f}% ({_money(billed)} {_verb(kinds)} on {n:,} calls)."
    else:
        line = (
            f"Differs from {what} by {_money(abs(gap))}: computed {_money(computed, billed)} vs "
            f"{_money(billed, computed)} {_verb(kinds)} on {sum(r['requests'] for r in comparable):,} calls "
            f"({pct:+.1f}%): see Reconciliation."
        )
    if line and "logged cost" in kinds:
        line += " The logged cost is the logging client's own computation, not the provider's bill."
    return {
        "compared_with": compared_with,  # "billed", "logged cost", or "billed and logged cost"
        "requests_with_billed_cost": sum(r["requests"] for r in out_rows),
        "billed_usd": _usd(billed) if comparable else None,
        "computed_usd": _usd(computed) if comparable else None,
        "gap_usd": _usd(gap) if comparable else None,
        "gap_pct": pct if comparable else None,
        "match_threshold_pct": MATCH_PCT,
        "line": line,
        "rows": out_rows,
    }


def _verb(kinds: list[str]) -> str:
    return "billed" if kinds == ["billed"] else "logged" if kinds == ["logged cost"] else "billed or logged"


def _money(v: float, beside: float | None = None) -> str:
    """Dollars: cents from $1, else up to six decimals. `beside`: the amount it is compared with in the same
    sentence, so that both are written to one precision ("$0.0140 vs $1.0200", not "$0.014011 vs $1.02")."""
    sign = "-" if v < 0 else ""
    v = abs(v)
    if beside is not None:
        small = min(v, abs(beside))
        digits = 2 if small >= 1 else 4 if small >= 0.0001 or small == 0 else 6
        return f"{sign}${v:,.{digits}f}"
    return f"{sign}${v:,.2f}" if v >= 1 else f"{sign}${v:.6f}".rstrip("0").rstrip(".")


def _usd(v: float | None) -> float | None:
    return None if v is None else round(float(v), 10)
