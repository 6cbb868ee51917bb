"""`llmcost project`: the monthly cost of a workload given as options, measured from a database, or both (the
options given win), or, from a database alone, every model on its own measured workload, summed.

Apart from analyzer/projection.py, which costs one workload: this assembles the workload from what the person
gave and what the database measured, and says which inputs are still missing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from analyzer.errors import InputError
from analyzer.prices import Catalogue
from analyzer.projection import Workload
from analyzer.projection import measured as measured_workload
from analyzer.report.span import measured_days
from analyzer.report.workload import projection_by_model
from analyzer.store import Store

REQUIRED = ("requests", "input_tokens", "output_tokens", "model")


@dataclass(frozen=True)
class Inputs:
    """A workload's inputs as given on the command line (None: not given)."""

    requests: float | None = None
    input_tokens: float | None = None
    output_tokens: float | None = None
    model: str | None = None
    cached_prefix: float | None = None
    cache_hit_rate: float | None = None

    def given(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))

    def missing(self, measured: dict[str, Any]) -> list[str]:
        """The required inputs neither given nor measured."""
        return [k for k in REQUIRED if getattr(self, k) is None and measured.get(k) is None]

    def workload(self, measured: dict[str, Any], route_share: float, route_to: str | None, growth: float) -> Workload:
        """The workload: each input as given, else as measured (none of REQUIRED may be missing)."""
        v: dict[str, Any] = {  # each required one is given or measured (see missing)
            f.name: measured.get(f.name) if getattr(self, f.name) is None else getattr(self, f.name)
            for f in fields(self)
        }
        return Workload(
            requests=v["requests"],
            input_tokens=v["input_tokens"],
            output_tokens=v["output_tokens"],
            model=v["model"],
            route_share=route_share,
            route_to=route_to,
            cached_prefix=v["cached_prefix"] or 0.0,
            cache_hit_rate=v["cache_hit_rate"] or 0.0,
            growth=growth,
            prefix_measured=self.cached_prefix is None and bool(measured.get("cached_prefix")),
        )


def each_model(
    store: Store, cat: Catalogue, from_db: str, growth: float, route_share: float, route_to: str | None
) -> dict[str, Any]:
    """Every model of the database, each on its own measured workload, summed: the report's projection."""
    by_model = projection_by_model(
        store.con,
        cat,
        None,
        None,
        measured_days(store.con),
        growth=growth,
        route_share=route_share,
        route_to=route_to,
    )
    if by_model is None:
        raise InputError("no successful API calls to measure", path=from_db)
    if "error" in by_model:
        raise InputError(by_model["error"], path=from_db)
    return {"schema_version": 2, "measured_from": from_db, **by_model}


def measured(store: Store, from_db: str) -> dict[str, Any]:
    """The database's one workload across all models (the most used model its model)."""
    m = measured_workload(store.con) or {}
    if not m:
        raise InputError("no successful API calls to measure", path=from_db)
    return m
