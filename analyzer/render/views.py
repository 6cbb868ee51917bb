"""`llmcost report --view V`: one view of the report (spend by period, sessions, blocks, units, keys, projects,
models), every row, for the terminal or as one Markdown table.

Apart from the terminal summary (`text`) because a view prints every row of one table rather than the first
screen's excerpt of each; the rows themselves come from the report model (`report.view_json`).
"""

from __future__ import annotations

from typing import Any

from analyzer import blocks, unit_costs
from analyzer.formatting import count, md_cell, num, table, terminal, usd
from analyzer.redact import one_line
from analyzer.render.text import month_label, period_lines, session_cells, session_lines, spend_cells, sum_periods
from analyzer.report.views import view_json  # the rows come from the model, not from here


def render_view(report: dict[str, Any], view: str, **opts: Any) -> str:
    """`llmcost report --view V`: one view, every row (`opts`: order, breakdown, models; see view_json)."""
    v = view_json(report, view, **opts)
    if view == "blocks":
        lines = blocks.lines(v)
    elif view == "sessions":
        lines = session_lines({"count": v["sessions"], "top": v["rows"]}) or ["No conversations or sessions."]
    elif view == "units":
        lines = unit_costs.lines(report["unit_costs"]) or ["No conversations, sessions, users, tags or tasks."]
    elif view in unit_costs.VIEWS:
        lines = unit_costs.tail_lines(v)
    elif "dimension" in v:
        head, rows = _spend_view_rows(v)
        lines = [SPEND_VIEW_TITLES[v["dimension"]]] + table([tuple(h.upper() for h in head), *rows], cap=60)
    else:
        lines = (
            period_lines({"unit": v["unit"], "periods": v["rows"], "undated": v.get("undated")})
            if v["rows"] or v.get("undated")
            else ["No requests."]
        )
    return terminal(lines)


SPEND_VIEW_TITLES = {"api_key": "Spend by API key", "project": "Spend by project", "model": "Spend by model"}


def _spend_view_rows(v: dict[str, Any]) -> tuple[list[str], list[tuple[str, ...]]]:
    """`--view keys|projects|models`: the heading and one row per key, project or model, the rest of a capped
    list on one line, and the total (the headline)."""
    head = [{"api_key": "API key", "project": "Project", "model": "Model"}[v["dimension"]], "Requests", "Input"]
    head += ["Cache read", "Cache write", "Output", "Cost"]

    def row(label: str, r: dict[str, Any]) -> tuple[str, ...]:
        cells = [num(r[k]) for k in ("requests", "input_tokens", "cache_read_tokens", "cache_write_tokens")]
        cost = usd(r["cost_usd"]) + (" +unpriced" if r["has_unpriced"] else "")
        return (label, *cells, num(r["output_tokens"]), cost)

    rows = [row(one_line(str(r["name"])), r) for r in v["rows"]]
    if v.get("other"):
        rows.append(row(f"(other {count(v['other']['requests'], 'request')})", v["other"]))
    rows.append(row("TOTAL", v["total"]))
    return head, rows


def render_view_markdown(report: dict[str, Any], view: str, **opts: Any) -> str:
    """`--view V --md FILE`: the one view as a Markdown table (with its undated row and total), not the whole
    summary."""
    v = view_json(report, view, **opts)
    if view in unit_costs.VIEWS:  # distributions and a tail: the terminal's lines, kept aligned in a code block
        lines = unit_costs.lines(report["unit_costs"]) if view == "units" else unit_costs.tail_lines(v)
        if not lines:
            return "No conversations, sessions, users, tags or tasks.\n"
        return "# " + lines[0] + "\n\n```\n" + "\n".join(lines[1:]).strip("\n") + "\n```\n"
    if view == "sessions":
        head = ["Session", "Last activity", "Requests", "Input", "Output", "Cost", "Models"]
        rows = [session_cells(x) for x in v["rows"]]
        title = f"# Conversations and sessions ({count(v['sessions'], 'session')})"
    elif "dimension" in v:
        head, spend = _spend_view_rows(v)
        rows = [list(r) for r in spend]
        rows[-1][0] = "**Total**"
        title = "# " + SPEND_VIEW_TITLES[v["dimension"]]
    else:
        lines = period_lines({"unit": v["unit"], "periods": v["rows"], "undated": v.get("undated")})
        title = "# " + lines[0]
        head = ["Day" if v["unit"] == "day" else v["unit"].capitalize(), "Requests", "Input", "Cache read"]
        head += ["Cache write", "Output", "Cost", "Models"]
        periods = v["rows"] + ([v["undated"] | {"start": "(undated)", "by_model": {}}] if v.get("undated") else [])
        rows = [
            [
                month_label(p["start"], v["unit"]),
                *spend_cells(p),
                ", ".join(sorted(p["by_model"], key=lambda m: -p["by_model"][m])),
            ]
            for p in periods
        ]
        if periods:
            t = sum_periods(periods)
            rows.append(["**Total**", *spend_cells(t), ""])
    right = {i for i, h in enumerate(head) if h in ("Requests", "Input", "Cache read", "Cache write", "Output", "Cost")}
    out = [
        title,
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---:" if i in right else "---" for i in range(len(head))) + "|",
    ]
    out += ["| " + " | ".join(c if c.startswith("**") else md_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"
