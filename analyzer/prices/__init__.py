"""The price catalogue and the money: the only package that multiplies tokens by prices.

`catalogue` loads LiteLLM's catalogue (and a user's overrides) and resolves logged model names to its keys;
`history` holds the prices of past days; `rates` says what an entry's fields mean as per-token rates;
`money` prices frames of requests, usage buckets and single calls. A model that cannot be resolved is
unpriced, its cost NULL, never $0. The names others use are imported from here.
"""

from analyzer.prices.catalogue import CATALOGUE_DATE, CATALOGUE_SOURCE, Catalogue, Resolution, load_catalogue
from analyzer.prices.history import PriceHistory, load_history
from analyzer.prices.money import (
    BEFORE_LISTING,
    COST_COLUMNS,
    NOT_BILLED,
    PRICE_COLUMNS,
    TOKEN_COLUMNS,
    before_listing,
    order_free_sum,
    price_buckets,
    price_one,
    price_requests,
)
from analyzer.prices.rates import NO_BATCH_API, RATE_FIELDS, UNIT_PRICES, other_units

__all__ = [
    "BEFORE_LISTING",
    "CATALOGUE_DATE",
    "CATALOGUE_SOURCE",
    "COST_COLUMNS",
    "NOT_BILLED",
    "NO_BATCH_API",
    "PRICE_COLUMNS",
    "RATE_FIELDS",
    "TOKEN_COLUMNS",
    "UNIT_PRICES",
    "Catalogue",
    "PriceHistory",
    "Resolution",
    "before_listing",
    "load_catalogue",
    "load_history",
    "order_free_sum",
    "other_units",
    "price_buckets",
    "price_one",
    "price_requests",
]
