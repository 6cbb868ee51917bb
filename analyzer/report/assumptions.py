"""The report's assumptions section: what every figure rests on, in words, read from the built model.

Apart from the builder because it is prose: a sentence for each condition the model records (outlying dates,
the price history, estimated usage, rebuilt threads, block-hash traces, tokenizer ratios ...).
"""

from __future__ import annotations

from typing import Any

from analyzer import unit_costs


def assumptions(report: dict[str, Any]) -> list[str]:
    """What every figure rests on, in words, for the report's own assumptions section."""
    p = report["prices"]
    lo = report["period"].get("left_out")
    out = [
        *(
            [
                f"{lo['requests']:,} request{'' if lo['requests'] == 1 else 's'} dated {lo['first'][:10]}"
                + (f" to {lo['last'][:10]}" if lo["last"] != lo["first"] else "")
                + f" are left out of the period: {lo['reason']} (a clock reset or a test record, most likely)."
            ]
            if lo
            else []
        ),
        f"Costs are tokens x list prices from {p['catalogue']} (snapshot {p['catalogue_date']})"
        + (f", overridden by {', '.join(p['overrides'])}" if p["overrides"] else "")
        + "; negotiated discounts and credits are not known to llmcost.",
        *(
            [
                f"Each call is priced at the catalogue's prices of its day: a dated history from "
                f"{p['history']['first_day']} to {p['history']['last_day']} (the dates LiteLLM's catalogue changed, "
                "corrected to the provider's own dates where known), the snapshot after it; before a model's first "
                f"listing, its earliest listed prices. The same traffic at today's prices: "
                f"${p['cost_at_today_prices_usd'] or 0:,.6f}."
            ]
            if p.get("history")
            else []
        ),
        *(
            [
                "Priced at their model's first known listing, as the calls predate it (or predate the price "
                "history's first day): "
                + ", ".join(
                    f"{b['model_key']} ({b['requests']} requests, first listed {b['first_listed']})"
                    for b in p["before_first_listing"]
                )
                + "."
            ]
            if p.get("before_first_listing")
            else []
        ),
        "Each token type is priced at its own rate: uncached input, cache reads, 5-minute and 1-hour cache "
        "writes, output, and reasoning (at the output rate unless the catalogue lists a reasoning rate).",
        "Batch API calls are priced at the catalogue's batch rates (50% of standard where none is listed); "
        "above a tier threshold (e.g. 200k input tokens) the whole call is priced at the tier's rates.",
        "Failed calls and calls served by a proxy's own cache are counted but cost $0.",
    ]
    t = report["totals"]
    listed = sorted(
        {
            f"{m['model']} (as {m['model_key']})"
            for m in report["by_model"]
            if str(m.get("price_match", "")).startswith("same model")
        }
    )
    if listed:
        out.append(
            "Priced at another listing of the same model, as the catalogue has no first-party entry: "
            + ", ".join(listed)
            + "."
        )
    if t["unpriced_requests"]:
        out.append(
            f"{t['unpriced_requests']} requests use models missing from the catalogue: they are listed as "
            "unpriced and left out of every cost total (not counted as $0)."
        )
    if t["projected_monthly_usd"] is not None:
        out.append(
            f"Projected monthly spend = spend over the {report['period']['days']} days logged x 30 / "
            "days: it assumes the logged traffic continues at the same daily rate."
        )
    if t.get("estimated_requests"):
        out.append(
            f"{t['estimated_requests']} calls carry no usage of their own (a stream cut before its usage, a "
            "timeout, a client abort, a log without usage): they are counted, their tokens counted from their "
            f"text with tiktoken (an estimate), and their {_share(t['estimated_share'])} of spend is shown apart."
        )
    if report["period"]["undated_requests"]:
        out.append(
            f"{report['period']['undated_requests']} requests carry no timestamp: they count in totals "
            "but not in daily figures or date filters."
        )
    cv = report.get("conversations") or {}
    if cv.get("requests"):
        out.append(
            "Threads without a logged conversation id are rebuilt from content: a request continues the "
            "earlier request (same user or key) whose messages and reply it starts with."
        )
    traces = ((report.get("prefix_reuse") or {}).get("by_source") or {}).get("block_traces") or {}
    if traces.get("requests"):
        out.append(
            f"{traces['requests']} requests come from block-hash traces (no model, no price, no calendar "
            "time): they feed only the prefix-reuse figures, not spend or request totals."
        )
    if (report.get("prefix_reuse") or {}).get("input_tokens"):
        out.append(
            "Prefix reuse matches prefixes at message boundaries for request logs (a lower bound: partial "
            "matches inside a message are not counted) and at 512-token blocks for block-hash traces; "
            "TTLs expire an entry that long after its last use."
        )
    for c in report["tokenizer_calibration"]:
        if c["ratio"] is not None and c["encoding"] == "o200k_base" and c["provider"] not in ("openai", "azure"):
            out.append(
                f"{c['provider']}: token counts of message text are o200k_base estimates; on this log the "
                f"provider reported {c['ratio']:.3f}x our count (over {c['requests']} requests), the "
                "factor applied wherever an estimate of their tokens is needed."
            )
    if line := unit_costs.assumption(report.get("unit_costs")):
        out.append(line)
    return out


def _share(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"
