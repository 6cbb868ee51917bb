"""The dated price history: which prices each catalogue key had on each day, so a call is priced as billed then.

Apart from the catalogue because it is a second, independent data set (the git history of LiteLLM's catalogue,
built by tools/build_price_history.py) with its own lookup by day; the catalogue consults it.
"""

from __future__ import annotations

import bisect
import gzip
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

HISTORY_FILE = "price_history.json.gz"  # built by tools/build_price_history.py


@dataclass
class PriceHistory:
    """The price fields of each catalogue key and the days each set was in force, from the git history of
    LiteLLM's catalogue (built by tools/build_price_history.py). A key's versions are `[from_day, fields]`
    in date order, each in force until the next one's day; `fields` None means the key had left the catalogue.
    """

    models: dict[str, list[tuple[str, dict[str, Any] | None]]]
    first: str  # the first day the history covers
    last: str  # the last day; later calls are priced at the shipped snapshot
    source: str

    @cached_property
    def intraday_days(self) -> set[str]:
        """Days on which some key's prices changed at an announced time of day (a version from `YYYY-MM-DDTHH:MM`,
        UTC): calls on those days are looked up to the minute, all others by day."""
        return {d[:10] for versions in self.models.values() for d, _ in versions if len(d) > 10}

    def version_on(self, key: str, day: str) -> tuple[str, dict[str, Any]] | None:
        """(from, fields) in force for `key` at `day`: a day (YYYY-MM-DD) or a UTC minute (YYYY-MM-DDTHH:MM).
        A version's `from` is a day (in force from its midnight UTC) or a minute, as the provider announced the
        change; the two spellings sort in time order as strings. None when the history has nothing for it
        (after the history ends, or a key it never listed): the shipped snapshot prices it.

        Before a key's first listing, its twin with or without the provider prefix prices it when that was
        listed then (the catalogue added `deepseek-chat` in September 2025; `deepseek/deepseek-chat` priced
        the same model before); else the key's earliest version."""
        versions = self.models.get(key)
        if not versions or day[:10] > self.last:
            return None
        if day < versions[0][0]:
            provider = next((f.get("litellm_provider") for _, f in versions if f), None)
            twin = key.split("/", 1)[1] if "/" in key else f"{provider}/{key}"
            tw = self.models.get(twin)
            if tw and tw[0][0] <= day:
                versions = tw
        days = [v[0] for v in versions]
        i = max(bisect.bisect_right(days, day) - 1, 0)  # before the history starts: its earliest version
        frm, fields = versions[i]
        if fields is None:  # retired by then: its last listed prices
            frm, fields = next(((d, f) for d, f in reversed(versions[:i]) if f is not None), (frm, None))
        return None if fields is None else (frm, fields)

    def last_listed(self, key: str) -> tuple[str, dict[str, Any]] | None:
        """The last prices the history lists for `key` and the day they came into force."""
        return next(((d, f) for d, f in reversed(self.models.get(key, [])) if f is not None), None)

    def retired_on(self, key: str) -> str | None:
        versions = self.models.get(key)
        return versions[-1][0] if versions and versions[-1][1] is None else None


def load_history(path: Path | str | None = None) -> PriceHistory:
    """The dated price history shipped with llmcost (or the file given, same format)."""
    data = (
        Path(path).read_bytes()
        if path
        else (resources.files("analyzer") / "data" / "prices" / HISTORY_FILE).read_bytes()
    )
    h = orjson.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    models = {k: [(d, f) for d, f in v] for k, v in h["models"].items()}
    return PriceHistory(models, h["first"], h["last"], h.get("source", ""))
