"""`llmcost prices`: what the catalogue holds, and what one model is priced at on a day and why (the key its name
matched, the dated price version in force, where each rate comes from).

Apart from analyzer/prices.py, which prices requests: this answers a person's question about one model, in the
shape `prices --json` prints.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from analyzer.errors import InputError
from analyzer.prices import RATE_FIELDS, Catalogue, before_listing


def catalogue_info(cat: Catalogue) -> dict[str, Any]:
    """The catalogue in use: its source and date, the overrides, how many chat models it prices, its history."""
    return {
        "catalogue": cat.source,
        "catalogue_date": cat.date,
        "overrides": cat.overrides,
        "models": cat.priced_models(),
        "history": None
        if cat.history is None
        else {"first_day": cat.history.first, "last_day": cat.history.last, "source": cat.history.source},
    }


def unpriced(cat: Catalogue, model: str) -> InputError:
    """A model the catalogue cannot price, with the close names it does know."""
    close = cat.close_names(model)
    hint = f"; close names: {', '.join(close)}" if close else ""
    return InputError(f"not in the price catalogue (unpriced){hint}", path=model)


def price_info(cat: Catalogue, model: str, provider: str | None, on_day: datetime | None) -> dict[str, Any]:
    """MODEL's prices (on `on_day`, from the dated history, when given): the rates per mode and context tier in
    USD per million tokens, the key matched and how, and where the prices come from. Unpriced: InputError."""
    res = cat.resolve(model, provider)
    if res.key is None:
        raise unpriced(cat, model)
    day = None if on_day is None else on_day.strftime("%Y-%m-%dT%H:%M" if on_day.hour or on_day.minute else "%Y-%m-%d")
    rate_key, version, origin = res.key, "snapshot", f"{cat.source} (snapshot {cat.date})"
    hit = cat.version_on(res.key, day) if day else None
    before_first_listing = False
    history = cat.history.source if cat.history else ""
    if hit is not None:
        rate_key, version = hit
        origin = f"price history: in force from {version} ({history})"
        if day is not None and day < version:
            before_first_listing = True
            origin = f"price history: not listed yet on {day}; priced at its first listing, of {version} ({history})"
            version = before_listing(version)
    elif day and res.key in cat.user_keys:
        origin = f"your price file ({', '.join(cat.overrides)}), on every day"
    return {
        "model": model,
        "key": res.key,
        "match": res.how,
        "provider": cat.entries[res.key].get("litellm_provider"),
        "context_window": cat.context_window(res.key),
        "usd_per_million_tokens": [
            {
                "mode": r["mode"],
                "above_input_tokens": max(r["threshold"], 0),
                **{k: round(r[f"r_{k}"] * 1e6, 6) for k in RATE_FIELDS},
            }
            for r in cat.rate_rows(rate_key)
        ],
        "catalogue_date": cat.date,
        "on": day,
        "price_version": version,
        "before_first_listing": before_first_listing,
        "prices_from": origin,
        "rate_sources": cat.rate_sources(rate_key),
        "multipliers": cat.multipliers(rate_key),
    }
