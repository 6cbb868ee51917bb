"""Cost per unit of work (issue 25, part 4): per conversation, session, end user, feature, tag and agent task,
the distribution of what one unit costs (mean, p50/p90/p99, the costliest tail), and for agent tasks whose log
records how the run ended, the spend split by exit status and the cost per successful task.

Percentiles interpolate linearly between the order statistics (numpy's default, DuckDB's `quantile_cont`):
p = v[floor(h)] + (h - floor(h)) * (v[floor(h) + 1] - v[floor(h)]) with h = q * (n - 1) over the n units'
costs sorted ascending. Units with no priced call have no cost and are counted apart, never as $0.

Success: mini-swe-agent records `info.exit_status` per run (the reader keeps it as the tag
`exit_status:<status>`): the name of the exception that ended the run, per its src/minisweagent/exceptions.py
(SWE-agent/mini-swe-agent, commit 2d4e3af): `Submitted` "when the agent has completed its task";
`LimitsExceeded` / `TimeExceeded` (cost, step or wall-clock limit), `UserInterruption`, `FormatError` and other
errors when it stopped without completing. Whether the patch resolved the
issue is judged by a later evaluation the trajectory does not hold: a "successful" task here is a completed
one.
"""

from __future__ import annotations

import math
from datetime import UTC
from typing import Any

from analyzer import queries
from analyzer.formatting import count, num, pct, table, usd

UNITS = ("conversation", "session", "user", "feature", "tag", "task")
PERCENTILES = (50, 90, 99)
TAIL = 10  # the costliest units listed per unit
SUCCESS = frozenset({"submitted"})  # exit statuses (lower case) that mean the task completed


def percentile(ascending: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) of values sorted ascending, linearly interpolated; None when empty."""
    if not ascending:
        return None
    h = q / 100 * (len(ascending) - 1)
    lo = math.floor(h)
    hi = min(lo + 1, len(ascending) - 1)
    return ascending[lo] + (h - lo) * (ascending[hi] - ascending[lo])


def distribution(rows: list[dict[str, Any]], tail: int = TAIL) -> dict[str, Any]:
    """What one unit costs over `rows` (one per unit: value, requests, cost_usd, ...): counts, total, mean,
    percentiles, the costliest `tail` units and the share of the spend the costliest tenth of units make."""
    priced = [r for r in rows if r["cost_usd"] is not None]
    costs = sorted(r["cost_usd"] for r in priced)
    total = sum(costs)
    top_tenth = math.ceil(len(costs) / 10)
    out: dict[str, Any] = {
        "units": len(rows),
        "priced_units": len(priced),
        "unpriced_units": len(rows) - len(priced),
        "partly_priced_units": sum(1 for r in priced if r["unpriced_requests"]),
        "requests": sum(r["requests"] for r in rows),
        "cost_usd": _usd(total) if priced else None,
        "mean_usd": _usd(total / len(costs)) if costs else None,
        **{f"p{q}_usd": _usd(percentile(costs, q)) for q in PERCENTILES},
        "max_usd": _usd(costs[-1]) if costs else None,
        # how concentrated the spend is: the costliest 10% of units (at least one) and their share
        "top_tenth_units": top_tenth,
        "top_tenth_share": round(sum(costs[-top_tenth:]) / total, 4) if total > 0 else None,
        "costliest": [
            {
                "value": r["value"],
                "requests": r["requests"],
                "cost_usd": _usd(r["cost_usd"]),
                "share": round(r["cost_usd"] / total, 4) if total > 0 else None,
                "unpriced_requests": r["unpriced_requests"],
                **({"exit_status": r["exit_status"]} if r.get("exit_status") is not None else {}),
                "first_ts": _iso(r["first_ts"]),
                "last_ts": _iso(r["last_ts"]),
            }
            for r in sorted(priced, key=lambda r: (-r["cost_usd"], -r["requests"], str(r["value"])))[:tail]
        ],
    }
    return out


def outcomes(tasks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Agent tasks split by how their runs ended, and the cost per successful task: all the tasks' spend (the
    failed runs' included: they were paid for to get the successes) over the successful tasks, beside the mean
    cost of a successful one. None when no task's log records its exit status."""
    known = [t for t in tasks if t.get("exit_status") is not None]
    if not known:
        return None
    by: dict[str, list[dict[str, Any]]] = {}
    for t in known:
        by.setdefault(t["exit_status"], []).append(t)
    statuses = []
    for status, rows in sorted(by.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        d = distribution(rows, tail=0)
        statuses.append(
            {"exit_status": status, "success": status.lower() in SUCCESS}
            | {k: d[k] for k in ("units", "priced_units", "cost_usd", "mean_usd", "p50_usd", "p90_usd", "max_usd")}
        )
    ok = [t for t in known if t["exit_status"].lower() in SUCCESS]
    ok_cost = [t["cost_usd"] for t in ok if t["cost_usd"] is not None]
    all_cost = [t["cost_usd"] for t in known if t["cost_usd"] is not None]
    return {
        "tasks_with_status": len(known),
        "tasks_without_status": len(tasks) - len(known),
        "successful_tasks": len(ok),
        "success_rate": round(len(ok) / len(known), 4),
        "success_statuses": sorted(SUCCESS),
        "cost_usd": _usd(sum(all_cost)) if all_cost else None,
        "cost_per_successful_task_usd": _usd(sum(all_cost) / len(ok)) if ok and all_cost else None,
        "mean_successful_task_usd": _usd(sum(ok_cost) / len(ok_cost)) if ok_cost else None,
        "by_exit_status": statuses,
    }


def section(con: Any) -> dict[str, Any]:
    """The report's `unit_costs` section (needs `priced_requests` registered): one distribution per unit that
    the logs carry, and the tasks' outcomes."""
    rows = queries.rows(con, "unit_costs")
    by: dict[str, list[dict[str, Any]]] = {u: [] for u in UNITS}
    for r in rows:
        by[r.pop("unit")].append(r)
    out: dict[str, Any] = {"units": {u: distribution(v) for u, v in by.items() if v}}
    out["tasks"] = outcomes(by["task"])
    return out


def assumption(section: dict[str, Any] | None) -> str | None:
    """The report's assumption line for the cost per successful task, when there is one."""
    if not section or not section.get("tasks"):
        return None
    return (
        "A successful agent task is a run whose log records a completed exit status (mini-swe-agent's "
        '"Submitted": it submitted a patch); whether the patch resolved the issue is judged by a later '
        "evaluation not in the log. The cost per successful task divides every task's spend, the failed "
        "runs' included, by the successes."
    )


_DIST_COLUMNS = [
    "unit",
    "units",
    "priced_units",
    "unpriced_units",
    "requests",
    "cost_usd",
    "mean_usd",
    "p50_usd",
    "p90_usd",
    "p99_usd",
    "max_usd",
    "top_tenth_units",
    "top_tenth_share",
]


def csv_tables(section: dict[str, Any] | None) -> dict[str, tuple[list[dict[str, Any]], list[str]]]:
    """`--csv-dir`: unit_costs.csv (one row per unit) and costliest_units.csv (each unit's costliest)."""
    if not section or not section["units"]:
        return {}
    dist = [{"unit": u} | d for u, d in section["units"].items()]
    tail = [{"unit": u} | c for u, d in section["units"].items() for c in d["costliest"]]
    return {
        "unit_costs.csv": (dist, _DIST_COLUMNS),
        "costliest_units.csv": (
            tail,
            ["unit", "value", "requests", "cost_usd", "share", "unpriced_requests", "exit_status"]
            + ["first_ts", "last_ts"],
        ),
    }


VIEWS = ("units", "users", "tags", "tasks")  # `llmcost report --view`: the distributions, or one unit's tail
_VIEW_UNIT = {"users": "user", "tags": "tag", "tasks": "task"}


def view(section: dict[str, Any], name: str) -> dict[str, Any]:
    """`--view units`: one row per unit (its distribution without the tail) and the tasks' outcomes;
    `--view users|tags|tasks`: that unit's distribution and its costliest units as rows."""
    if name == "units":
        rows = [{"unit": u} | {k: v for k, v in d.items() if k != "costliest"} for u, d in section["units"].items()]
        return {"rows": rows, "tasks": section["tasks"]}
    unit = _VIEW_UNIT[name]
    d = section["units"].get(unit) or distribution([])
    out = {"unit": unit, "distribution": {k: v for k, v in d.items() if k != "costliest"}, "rows": d["costliest"]}
    return out | ({"tasks": section["tasks"]} if unit == "task" else {})


def lines(section: dict[str, Any] | None) -> list[str]:
    """The terminal's table: what one unit of work costs, per unit, and the cost per successful task."""
    if not section or not section["units"]:
        return []
    rows = [("UNIT", "UNITS", "TOTAL", "MEAN", "P50", "P90", "P99", "MAX", "TOP 10%")]
    for u, d in section["units"].items():
        rows.append(
            (
                u,
                num(d["units"]) + (f" ({d['unpriced_units']} unpriced)" if d["unpriced_units"] else ""),
                usd(d["cost_usd"]),
                usd(d["mean_usd"]),
                usd(d["p50_usd"]),
                usd(d["p90_usd"]),
                usd(d["p99_usd"]),
                usd(d["max_usd"]),
                pct(d["top_tenth_share"]),
            )
        )
    out = ["Cost per unit of work (TOP 10%: the costliest tenth's share of the spend)"] + table(rows)
    return out + task_lines(section.get("tasks"))


def task_lines(t: dict[str, Any] | None) -> list[str]:
    """The cost per successful task in one line, when the logs record how tasks ended."""
    if not t:
        return []
    split = ", ".join(f"{s['exit_status']} {s['units']} ({usd(s['cost_usd'])})" for s in t["by_exit_status"])
    return [
        f"Agent tasks: {count(t['successful_tasks'], 'successful task')} of {t['tasks_with_status']} with an exit "
        f"status ({pct(t['success_rate'])}): {usd(t['cost_per_successful_task_usd'])} per successful task (all "
        f"tasks' spend / successes), {usd(t['mean_successful_task_usd'])} the mean successful one; by exit status: "
        f"{split}"
    ]


def tail_lines(v: dict[str, Any]) -> list[str]:
    """`--view users|tags|tasks` for people: the distribution in one line, then the costliest units."""
    d = v["distribution"]
    if not d["units"]:
        return [f"No {v['unit']} in these logs."]
    out = [
        f"{count(d['units'], v['unit'])}: {usd(d['cost_usd'])}; per {v['unit']} mean {usd(d['mean_usd'])}, p50 "
        f"{usd(d['p50_usd'])}, p90 {usd(d['p90_usd'])}, p99 {usd(d['p99_usd'])}, max {usd(d['max_usd'])}"
    ]
    status = any("exit_status" in r for r in v["rows"])
    rows = [(v["unit"].upper(), "REQUESTS", "COST", "SHARE") + (("EXIT STATUS",) if status else ())]
    for r in v["rows"]:
        rows.append(
            (str(r["value"]), num(r["requests"]), usd(r["cost_usd"]), pct(r["share"]))
            + ((r.get("exit_status") or "",) if status else ())
        )
    out += ["", f"Costliest {len(v['rows'])}"] + table(rows, left=(0, 4), cap=48)
    if v.get("tasks"):
        out += [""] + task_lines(v["tasks"])
    return out


def _usd(v: float | None) -> float | None:
    return None if v is None else round(v, 6)


def _iso(v: Any) -> str | None:
    """As the rest of the report: UTC with a Z."""
    if v is None:
        return None
    return (v if v.tzinfo else v.replace(tzinfo=UTC)).isoformat().replace("+00:00", "Z")
