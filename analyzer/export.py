"""CSV exports of the report's main tables (`--csv-dir`), for spreadsheets: one file per table, a header row,
raw numbers (USD as plain decimals, no formatting), UTF-8.

Cells that came from logs are text a spreadsheet may execute: a cell starting with = + - @ or a tab/CR is
prefixed with a single quote (the OWASP CSV-injection advice). Numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from analyzer import unit_costs
from analyzer.errors import InputError
from analyzer.render import write_output

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return v
    if isinstance(v, float):  # plain decimals, as a spreadsheet reads them: 0.0000717, not 7.17e-05
        return f"{v:.10f}".rstrip("0").rstrip(".") if v else "0"
    if isinstance(v, list | tuple):
        v = "; ".join(str(x) for x in v)
    s = str(v)
    return "'" + s if s.startswith(_FORMULA_START) else s


def _rows(rows: Iterable[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in columns])
    return buf.getvalue()


def tables(report: dict[str, Any]) -> dict[str, tuple[list[dict[str, Any]], list[str]]]:
    """file name -> (rows, columns)"""
    cv = report.get("conversations") or {}
    bt = (report.get("caching") or {}).get("backtest") or {}
    attribution = [{"dimension": dim, **row} for dim, rows in report["by_attribution"].items() for row in rows]
    segments = [{"segment": k, **v} for k, v in (cv.get("segments") or {}).items()]
    return {
        "levers.csv": (
            report["headline"]["levers"] + report["headline"]["other_levers"],
            [
                "rank",
                "lever",
                "policy",
                "saving_usd",
                "saving_low_usd",
                "saving_high_usd",
                "monthly_usd",
                "monthly_low_usd",
                "monthly_high_usd",
                "confidence",
                "confidence_reason",
                "action",
            ],
        ),
        "savings.csv": (
            [e | {"band_usd": (e.get("backtest") or {}).get("band_usd")} for e in report["savings"]],
            [
                "lever",
                "policy",
                "scope",
                "requests",
                "method",
                "baseline_usd",
                "counterfactual_usd",
                "saving_usd",
                "saving_low_usd",
                "saving_high_usd",
                "band_usd",
                "verdict",
                "assumptions",
                "evidence",
            ],
        ),
        "spend_by_model.csv": (
            report["by_model"],
            [
                "provider",
                "model",
                "model_key",
                "price_match",
                "requests",
                "input_tokens",
                "cached_share",
                "output_tokens",
                "cost_usd",
                "reported_cost_usd",
            ],
        ),
        "billed_vs_computed.csv": (
            (report.get("reconciliation") or {}).get("rows", []),
            [
                "day",
                "model",
                "model_key",
                "provider",
                "format",
                "figure",
                "requests",
                "billed_usd",
                "computed_usd",
                "gap_usd",
                "gap_pct",
                "unpriced_requests",
                "price_versions",
                "likely_cause",
            ],
        ),
        "spend_by_price_version.csv": (
            report["prices"].get("by_version", []),
            ["model_key", "price_version", "adjustments", "requests", "cost_usd", "first_day", "last_day"],
        ),
        "spend_by_day.csv": (
            report["by_day"],
            ["day", "model", "requests", "input_tokens", "output_tokens", "cost_usd", "has_unpriced"],
        ),
        "spend_by_attribution.csv": (
            attribution,
            ["dimension", "value", "requests", "input_tokens", "output_tokens", "cost_usd", "unpriced_requests"],
        ),
        "top_prefixes.csv": (
            [
                {
                    **p,
                    "volatile_from_token": (p.get("volatile_span") or {}).get("first_diff_token"),
                    "volatile_tokens": (p.get("volatile_span") or {}).get("volatile_tokens"),
                }
                for p in report["top_prefixes"]
            ],
            [
                "prefix",
                "excerpt",
                "last_excerpt",
                "messages",
                "tokens",
                "requests",
                "users",
                "threads",
                "reusable_tokens",
                "spend_usd",
                "median_gap_s",
                "reuses_within_5m",
                "reuses_within_1h",
                "logged_cached_share",
                "uncached_reuse_tokens",
                "example_request_id",
            ],
        ),
        "volatile_system_prompts.csv": (
            report["volatile_prefixes"],
            [
                "prompt_start",
                "stable_before",
                "volatile_example",
                "model",
                "variants",
                "requests",
                "tokens",
                "first_diff_token",
                "volatile_tokens",
                "gain_tokens",
                "saving_upper_usd",
            ],
        ),
        "top_threads.csv": (
            cv.get("top_threads") or [],
            [
                "thread_id",
                "model_key",
                "turns",
                "requests",
                "input_tokens",
                "max_input_tokens",
                "context_window",
                "near_limit",
                "cost_usd",
            ],
        ),
        "context_growth.csv": (
            cv.get("growth_by_turn") or [],
            ["turn", "requests", "median_input_tokens", "p90_input_tokens"],
        ),
        "input_segments.csv": (segments, ["segment", "tokens", "share", "cost_usd"]),
        "unpriced_models.csv": (
            report["unpriced"],
            ["provider", "model", "requests", "input_tokens", "output_tokens", "reported_cost_usd"],
        ),
        "rejected_records.csv": (report["ingest"]["rejects_by_reason"], ["reason", "records", "first_location"]),
        "caching_backtest.csv": (
            bt.get("by_model") or [],
            [
                "provider",
                "model",
                "requests",
                "reported_cache_read_tokens",
                "simulated_cache_read_tokens",
                "error_pct",
                "per_call_error_points_median",
                "per_call_error_points_p95",
                "reported_zero_simulated_hits",
                "reported_hits_simulated_zero",
                "cost_logged_usd",
                "cost_replayed_usd",
                "cost_error_pct",
            ],
        ),
        **_usage_tables(report.get("usage_export")),
        **unit_costs.csv_tables(report.get("unit_costs")),
    }


_USAGE_COLUMNS = [
    "requests",
    "input_tokens",
    "cache_read_tokens",
    "output_tokens",
    "cached_share",
    "cost_usd",
    "caching_saved_usd",
    "reported_cost_usd",
]


def _usage_tables(ux: dict[str, Any] | None) -> dict[str, tuple[list[dict[str, Any]], list[str]]]:
    """The usage exports' tables; only written when the report has exports."""
    if not ux:
        return {}
    gap = ["requests", "input_tokens", "cache_read_tokens", "output_tokens", "cost_usd"]
    return {
        "usage_export_by_day.csv": (ux["by_day"], ["day", *_USAGE_COLUMNS]),
        "usage_export_by_model.csv": (ux["by_model"], ["provider", "model", "model_key", *_USAGE_COLUMNS]),
        "usage_export_by_project.csv": (ux["by_project"], ["provider", "project", *_USAGE_COLUMNS]),
        "usage_export_by_api_key.csv": (ux["by_api_key"], ["provider", "api_key", *_USAGE_COLUMNS]),
        "usage_export_line_items.csv": (
            ux["billed_by_line_item"],
            ["provider", "project", "model", "line_item", "reported_cost_usd"],
        ),
        "billed_reconciliation.csv": (
            ux["billed_reconciliation"],
            ["day", "provider", "billed_usd", "logs_requests", "logs_cost_usd", "gap_usd"],
        ),
        "usage_reconciliation.csv": (
            ux["reconciliation"],
            ["day", "provider", "model"] + [f"{side}_{k}" for side in ("export", "logs", "gap") for k in gap],
        ),
    }


def write_csvs(report: dict[str, Any], folder: str) -> list[Path]:
    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create the CSV folder ({e.strerror})", path=str(folder)) from None
    written = []
    for name, (rows, columns) in tables(report).items():
        write_output(_rows(rows, columns), str(out / name))
        written.append(out / name)
    return written
