"""The counterfactual engine: every lever is the logged traffic rebuilt with one change, replayed through one
cache simulator and repriced.

A saving is replay(traffic as it was) - replay(traffic with the lever), both under the same simulator, TTL
case and prices: never the log minus a replay. The simulator's own bias then cancels, and a lever that breaks
the cache (a sliding window changes the prefix of every turn) shows the breakage. The log is the simulator's
test: `backtest` compares the as-is replay with the cache reads and the cost the providers reported, and its
error is the band inside which a figure is "nothing to gain".

A lever is a `Lever` (levers.py): which requests move to which model (routing), how each conversation's history
is cut (trimming: sliding windows, compaction, clearing old tool results), which requests go through a Batch
API, and where explicit caches put their breakpoints or how long automatic caches are retained (caching). The
combined estimate is one `Lever` with several of these set: the levers are replayed together, never summed.

Here: a replay (the traffic rebuilt under a lever by traffic.py, run through the cache simulator of simulator.py
and priced as billed), the two-replay `Outcome`, and `Engine`, which shares the as-logged replay of each TTL case
between all levers. The estimators ask for these through `Replayer` (replayer.py), which the partitioned engine
(partitioned.py) answers too; backtest.py tests the simulator, estimate.py turns outcomes into estimates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field, fields, replace
from typing import Any

import polars as pl

from analyzer.prices import TOKEN_COLUMNS, Catalogue, order_free_sum
from analyzer.providers import (
    CASES,
    RULES,
    case_ttl,
    min_tokens,
    offers_extended_retention,
    rules_for,
)
from analyzer.savings.backtest import backtest_rows, backtest_summary
from analyzer.savings.columns import scopes_of
from analyzer.savings.levers import AS_LOGGED, Lever, same_lever
from analyzer.savings.simulator import Scope, simulate
from analyzer.savings.traffic import Call, Traffic, build, price_as_billed, with_bill

# ---- replays ------------------------------------------------------------------------------------------------


@dataclass
class Replay:
    """One replay's priced calls: call_id, base_id, changed and the priced columns (cost included)."""

    frame: pl.DataFrame
    extra_usd: float = 0.0
    sim: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    redone: set[str] = field(default_factory=set)  # base ids whose rows this replay computed itself

    @property
    def cost(self) -> float:
        return float(self.frame["cost"].sum()) + self.extra_usd

    @property
    def cost_today(self) -> float:
        return float(self.frame["cost_today"].sum()) + self.extra_usd

    def cost_of(self, ids: set[str]) -> float:
        return float(self.frame.filter(pl.col("base_id").is_in(_ids(ids)))["cost"].sum())

    def by_base(self) -> dict[str, float]:
        g = self.frame.group_by("base_id").agg(pl.col("cost").sum())
        return dict(zip(g["base_id"].to_list(), g["cost"].to_list(), strict=True))


@dataclass
class Base:
    """The as-logged replay's calls, scopes and per-case results: what a lever's replay reuses for every scope it
    cannot change."""

    calls: list[Call]
    index: dict[str, Call]
    scopes: set[Scope]
    replays: dict[str, Replay] = field(default_factory=dict)
    _writes_billed: frozenset[str] | None = None

    def writes_billed(self, cat: Catalogue) -> frozenset[str]:
        if self._writes_billed is None:
            self._writes_billed = writes_billed(self.calls, cat)
        return self._writes_billed


def _scope(c: Call) -> Scope:
    return (c.provider, c.model, c.key)


def _ids(ids: Iterable[str]) -> pl.Series:
    """Ids for `is_in`: one list value (a plain Series there is ambiguous, deprecated in polars 2), built once for
    several filters, where a Python list is turned into a Series at each."""
    return pl.Series("ids", list(ids), dtype=pl.String).implode()


def twin(calls: Seq[Call], case: str) -> str:
    """The first case of CASES whose replay of these calls is this case's, float for float: every cache rule they
    are replayed under keeps the same TTL in both, and the cases differ in nothing else (`simulate`). Most
    providers' cases share a TTL: OpenAI and Anthropic keep 5 minutes in the low case as in the central one,
    DeepSeek an hour in the high case as in the central one."""
    lookup = rules_for(case)  # once per model and side of DeepSeek's V4 alias date
    rules = [r for r in {lookup(c.provider, c.model, c.ts)[0] for c in calls} if r is not None]
    for other in CASES:
        if other == case or all(case_ttl(r, other) == case_ttl(r, case) for r in rules):
            return other
    return case


def writes_billed(calls: list[Call], cat: Catalogue) -> frozenset[str]:
    """The logged model names of OpenAI (and Azure OpenAI) calls whose catalogue entry prices cache writes: their
    automatic cache bills what it writes (gpt-5.6, gpt-6...), where older models cache for free."""
    out = set()
    for provider, model in {(c.provider, c.model) for c in calls if c.provider in ("openai", "azure")}:
        key = cat.resolve(model, provider).key
        if key is not None and (cat.entry(key).get("cache_creation_input_token_cost") or 0) > 0:
            out.add(model)
    return frozenset(out)


def replay(
    traffic: Traffic,
    lever: Lever,
    case: str,
    cat: Catalogue,
    calls: list[Call] | None = None,
    base: Base | None = None,
) -> Replay:
    """The calls under the lever, simulated and priced. With `base`, only the cache scopes the lever can change
    are simulated again (a scope with a new, moved or changed call; every explicit scope under a placement;
    every scope offering extended retention under a retention lever) and only their calls, plus newly batched
    ones, are repriced: the rest is the as-logged replay's, call for call, so both replays share it exactly."""
    calls = calls if calls is not None else build(traffic, lever, base.index if base else None)
    if base is None or case not in base.replays:
        sim = simulate(calls, case, lever, writes_billed(calls, cat))
        redo = calls
        kept = None
    else:
        touched: set[Scope] = set()
        new: list[Call] = []
        index = base.index
        for c in calls:
            if c is not index.get(c.call_id):
                new.append(c)
                touched.add((c.provider, c.model, c.key))
                orig = index.get(c.base_id)
                if orig is not None:
                    touched.add((orig.provider, orig.model, orig.key))
        if lever.placement is not None:
            touched |= {sc for sc in base.scopes if sc[0] in RULES and RULES[sc[0]].mode == "explicit"}
        if lever.retention is not None:
            touched |= {sc for sc in base.scopes if offers_extended_retention(sc[0], sc[1])}
        # every call's scope is a new call's (in touched) or an as-logged one's: all of them touched, all replayed
        in_scope = calls if touched >= base.scopes else [c for c in calls if (c.provider, c.model, c.key) in touched]
        # the models the as-logged calls bill cache writes for (found once) and any a new call brings: a model
        # listed that no call here uses changes nothing
        billed_writes = base.writes_billed(cat) | writes_billed(new, cat)
        sim = simulate(in_scope, case, lever, billed_writes)
        batched = lever.batch
        redo = [c for c in calls if c.call_id in sim or (c.base_id in batched and not c.batch)]
        if not redo:
            # The lever changes no call here: the as-logged replay's frame itself, not a filtered copy of it beside
            # two pricings of no rows (~7 ms each whatever the rows: 28 of the 36 pricings of one agent run's report)
            return Replay(base.replays[case].frame, lever.extra_usd, sim, set())
        missing = [c.call_id for c in redo if c.call_id not in sim]
        if missing:
            # As-logged calls in scopes the lever leaves alone, redone only to be batched: their cache is the
            # as-logged replay's, read from its rows (already clipped to each call's input as below, which clipping
            # again leaves as it is). Not a dict of every call's simulated cache kept per case and bin (~29 MiB
            # for each at a million calls).
            rows = base.replays[case].frame.filter(pl.col("call_id").is_in(_ids(missing)))
            sim.update(
                zip(
                    rows["call_id"].to_list(),
                    zip(*(rows[c].to_list() for c in CACHE_COLUMNS), strict=True),
                    strict=True,
                )
            )
        redo_ids = _ids(c.call_id for c in redo)
        kept = base.replays[case].frame.filter(~pl.col("call_id").is_in(redo_ids))
    # column by column, a comprehension each, not a Python step per call and column (8 -> 4 ms a replay of the
    # real traces' 7,924 calls, which the workers replay ~50 times)
    sims = [sim[c.call_id] for c in redo]
    inputs = [c.input_tokens for c in redo]
    reads = [min(s[0], n) for s, n in zip(sims, inputs, strict=True)]
    w5s = [min(s[1], n - r) for s, n, r in zip(sims, inputs, reads, strict=True)]
    w1s = [min(s[2], n - r - w) for s, n, r, w in zip(sims, inputs, reads, w5s, strict=True)]
    outputs = [c.output_tokens for c in redo]
    call_ids = pl.Series("call_id", [c.call_id for c in redo], dtype=pl.String)
    # a call that is its logged request (every call of the as-logged replays, kept for the whole savings stage):
    # one column of ids shared by both names, not a second copy of every id (~36 bytes a call)
    same = all(c.base_id == c.call_id for c in redo)
    cols: dict[str, Any] = {
        "call_id": call_ids,
        "base_id": call_ids.alias("base_id") if same else [c.base_id for c in redo],
        "model": [c.model for c in redo],
        "provider": [c.provider or None for c in redo],
    }
    values = (
        inputs,
        reads,
        w5s,
        w1s,
        outputs,
        [min(c.reasoning_tokens, o) for c, o in zip(redo, outputs, strict=True)],
    )
    ints = dict(zip(PRICE_INTS, values, strict=True))
    batched_now = lever.batch
    batch = [c.batch or c.base_id in batched_now for c in redo]
    changed = [c.changed for c in redo]
    frame = pl.DataFrame(
        {**cols, **ints, "batch": batch, "changed": changed},
        schema={
            "call_id": pl.String,
            "base_id": pl.String,
            "model": pl.String,
            "provider": pl.String,
            **{k: pl.Int64 for k in PRICE_INTS},
            "batch": pl.Boolean,
            "changed": pl.Boolean,
        },
    )
    billed = price_as_billed(with_bill(frame, traffic.rows), cat)
    # what a replay keeps: its calls, their tokens and costs; not the bill's other inputs, which are the logged
    # request's (`with_bill` joins them again to price a call anew), nor the pricing's working columns (the
    # as-logged replays, kept per TTL case and bin: 32 columns took ~384 bytes a call)
    priced = frame.with_columns(cost=billed["cost"], cost_today=billed["cost_today"]).select(REPLAY_FRAME)
    if kept is not None:
        priced = pl.concat([kept, priced], how="vertical")
    return Replay(priced, lever.extra_usd, sim, {c.base_id for c in redo})


PRICE_INTS = TOKEN_COLUMNS  # the order `replay` fills them in
# a replay's frame: each call, its logged request, its model and provider, tokens, batch and costs
REPLAY_FRAME = ("call_id", "base_id", "model", "provider", *PRICE_INTS, "batch", "changed", "cost", "cost_today")
CACHE_COLUMNS = PRICE_INTS[1:4]  # reads, 5-minute and 1-hour writes: a simulated cache, as `simulate` gives it


@dataclass
class Outcome:
    """A lever's two-replay result in one TTL case."""

    baseline: float
    counterfactual: float
    affected: set[str]
    input_before: int = 0  # input tokens of the changed requests, as replayed and with the lever
    input_after: int = 0
    reads_before: int = 0  # cache-read tokens of the whole traffic, as replayed and with the lever
    reads_after: int = 0
    extra_calls: int = 0  # calls the lever adds (compaction summaries) and what they cost
    extra_calls_usd: float = 0.0
    by_scope: dict[str, float] = field(default_factory=dict)  # saving by provider/model of the logged requests
    # the same two replays at today's prices (the shipped snapshot): the forward-looking figure
    baseline_today: float = 0.0
    counterfactual_today: float = 0.0
    # the evidence behind the figure: cache tokens (reads and writes) the providers reported in the cache scopes
    # of the changed requests; cache tokens each replay simulated on them; in those cache scopes, the calls of
    # the lever's replay that read a cached prefix whose content the log shows (counted tokens, not the reported
    # input they were scaled to) at or above the provider's minimum cacheable length
    logged_cache_tokens: int = 0
    simulated_cache_before: int = 0
    simulated_cache_after: int = 0
    evidenced_reads: int = 0
    # the changed requests: how many, and what they cost in the as-is replay (central case) and as logged, the
    # backtest's figures on them (`Engine.band`), found where the replays run: the partitioned engine's workers
    # keep the ids (`affected` comes back empty), which went to the parent and back three times a lever
    affected_count: int = 0
    affected_replayed: float = 0.0
    affected_logged: float = 0.0

    def __add__(self, other: Outcome) -> Outcome:
        """Two parts of the traffic replayed apart, added: every field, so that a new one cannot be left out of a
        merge (sets are united, per-scope savings added key by key)."""
        merged: dict[str, Any] = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, set):
                merged[f.name] = a | b
            elif isinstance(a, dict):
                merged[f.name] = {k: a.get(k, 0.0) + b.get(k, 0.0) for k in {**a, **b}}
            else:
                merged[f.name] = a + b
        return Outcome(**merged)

    @property
    def band_known(self) -> bool:
        """Whether the backtest has something to compare: cache activity reported in the changed requests' cache
        scopes or simulated in their as-is replay, or none in either replay (then both are exact arithmetic).
        Unknown where only the lever's replay caches: the simulator is untested there."""
        return bool(self.logged_cache_tokens or self.simulated_cache_before or not self.simulated_cache_after)

    @property
    def band(self) -> float:
        """`Engine.band` of the changed requests: |as-is replay - as logged| on them."""
        return abs(self.affected_replayed - self.affected_logged) if self.affected_count else 0.0

    @property
    def saving(self) -> float:
        return self.baseline - self.counterfactual

    @property
    def saving_today(self) -> float:
        return self.baseline_today - self.counterfactual_today


class Engine:
    """Replays of one period, the as-logged replay of each TTL case computed once and shared by every lever."""

    def __init__(self, traffic: Traffic, cat: Catalogue) -> None:
        self.traffic = traffic
        self.cat = cat
        calls = build(traffic, AS_LOGGED)
        self.base = Base(calls, {c.call_id: c for c in calls}, {_scope(c) for c in calls})
        self._by_base: dict[str, pl.DataFrame] = {}  # per case: base_id, the as-logged replay's cost
        # the last calls compared, with their lever, and the outcome in each case
        self._compared: tuple[list[Call], Lever | None, dict[str, Outcome]] = ([], None, {})
        self._reported_by_scope: dict[Scope, int] | None = None
        self._meta_frame: pl.DataFrame | None = None

    def baseline(self, case: str = "central") -> Replay:
        if case not in self.base.replays:
            same = twin(self.base.calls, case)
            if same != case:
                self.base.replays[case] = self.baseline(same)
            else:
                # kept for the whole savings stage: its frame alone (a lever's replay reads the cache of the calls
                # it does not simulate again from the frame's rows), not the simulator's answer for every call
                # nor the set of every request id
                whole = replay(self.traffic, AS_LOGGED, case, self.cat, self.base.calls)
                self.base.replays[case] = Replay(whole.frame, whole.extra_usd)
        return self.base.replays[case]

    def build(self, lever: Lever) -> list[Call]:
        return build(self.traffic, lever, self.base.index)

    def replay(self, lever: Lever, case: str = "central", calls: list[Call] | None = None) -> Replay:
        self.baseline(case)
        return replay(self.traffic, lever, case, self.cat, calls if calls is not None else self.build(lever), self.base)

    def release(self, calls: list[Call]) -> None:
        """No comparison will be given `calls` again: the outcomes kept for their twin cases go, and the calls with
        them once the caller lets them go."""
        if self._compared[0] is calls:
            self._compared = ([], None, {})

    def compare(self, lever: Lever, case: str = "central", calls: list[Call] | None = None) -> Outcome:
        """Two replays, one simulator: the traffic as logged and with the lever, in the same TTL case. Given the
        calls it compared in a case that replays them alike (`twin`), that comparison's outcome, not recomputed."""
        if calls is None:
            return self._compare(lever, case, calls)
        if self._compared[0] is not calls or not same_lever(self._compared[1], lever):
            self._compared = (calls, lever, {})
        done = self._compared[2]
        same = twin(calls, case)
        if same in done:
            return replace(done[same])
        done[case] = self._compare(lever, case, calls)
        return done[case]

    def _compare(self, lever: Lever, case: str, calls: list[Call] | None) -> Outcome:
        base = self.baseline(case)
        alt = self.replay(lever, case, calls)
        if case not in self._by_base:
            self._by_base[case] = base.frame.group_by("base_id").agg(pl.col("cost").sum())
        # the requests whose replayed cost moved: a join, not a dict of every request's cost per case (~100 bytes a
        # request, kept for the whole savings stage)
        moved = (
            alt.frame.filter(pl.col("base_id").is_in(_ids(alt.redone)))
            .group_by("base_id")
            .agg(pl.col("cost").sum())
            .join(self._by_base[case], on="base_id", how="left", suffix="_base")
            .with_columns(d=(pl.col("cost") - pl.col("cost_base").fill_null(0.0)).abs())
            .filter((pl.col("d") > 1e-12) & ~pl.col("d").is_nan())  # as Python compares: NaN is not above
        )
        affected = set(moved["base_id"].to_list())
        # the affected requests' rows of each replay, filtered once (a list of ids turned into a Series for each
        # filter cost ~1 s of 42 in an inline run of 100k calls)
        ids = _ids(affected)
        base_rows = base.frame.filter(pl.col("base_id").is_in(ids))
        alt_rows = alt.frame.filter(pl.col("base_id").is_in(ids))
        added = alt.frame.filter(pl.col("call_id") != pl.col("base_id"))
        by_scope: dict[str, float] = {}
        if affected:
            scopes = self.traffic.rows.select(
                base_id="request_id", scope=pl.concat_str(pl.col("provider").fill_null("?"), pl.lit("/"), "model")
            )
            per = (
                pl.concat([base_rows.select("base_id", "cost"), alt_rows.select("base_id", cost=-pl.col("cost"))])
                .join(scopes, on="base_id")
                .group_by("scope")
                .agg(order_free_sum(pl.col("cost")))
            )
            by_scope = dict(zip(per["scope"].to_list(), per["cost"].to_list(), strict=True))
        return Outcome(
            base.cost,
            alt.cost,
            affected,
            int(base_rows["input_tokens"].sum()),
            int(alt_rows["input_tokens"].sum()),
            int(base.frame["cache_read_tokens"].sum()),
            int(alt.frame["cache_read_tokens"].sum()),
            added.height,
            float(added["cost"].sum()),
            by_scope,
            base.cost_today,
            alt.cost_today,
            *self._evidence(affected, ids, base_rows, alt_rows, alt),
            affected_count=len(affected),
            affected_replayed=self.replayed_cost_of(affected),
            affected_logged=self.logged_cost_of(affected),
        )

    def _evidence(
        self, affected: set[str], ids: pl.Series, base_rows: pl.DataFrame, alt_rows: pl.DataFrame, alt: Replay
    ) -> tuple[int, int, int, int]:
        """The evidence behind an outcome (see Outcome): `ids` are the affected requests for `is_in` (`_ids`), and
        `base_rows` and `alt_rows` their rows of the two replays."""
        if not affected:
            return 0, 0, 0, 0
        meta = self._meta()
        # the logged requests' cache scopes (provider, model, key), found in the frame: a set of every affected
        # request's took ~0.5 s at 100k calls
        logged_scopes = (
            meta.filter(pl.col("logged") & pl.col("base_id").is_in(ids)).select("provider", "model", "key").unique()
        )
        reported = self._reported()
        logged = sum(reported.get(sc, 0) for sc in logged_scopes.iter_rows())
        simulated = [int(sum(int(f[c].sum()) for c in CACHE_COLUMNS)) for f in (base_rows, alt_rows)]
        # the lever's cache scopes: every call there that reads a prefix the log shows is evidence for its figure
        scopes = (
            alt_rows.select("base_id", "provider", "model")
            .join(meta.select("base_id", "key"), on="base_id", how="left")
            .select("provider", "model", pl.col("key").fill_null(""))
            .unique()
        )
        reads = (
            alt.frame.filter((pl.col("cache_read_tokens") > 0) & pl.col("provider").is_in(list(RULES)))
            .select("base_id", "provider", "model", "cache_read_tokens")
            .join(meta.select("base_id", "key", "scale"), on="base_id", how="left")
            .with_columns(pl.col("key").fill_null(""))
            .join(scopes, on=["provider", "model", "key"], how="semi")
        )
        pairs = reads.select("provider", "model").unique()
        minimum = pairs.with_columns(
            minimum=pl.Series([min_tokens(RULES[p], m) for p, m in pairs.iter_rows()], dtype=pl.Int64)
        )
        evidenced = (
            reads.join(minimum, on=["provider", "model"])
            .filter((pl.col("scale") > 0) & (pl.col("cache_read_tokens") / pl.col("scale") >= pl.col("minimum")))
            .height
        )
        return logged, simulated[0], simulated[1], evidenced

    def _reported(self) -> dict[Scope, int]:
        """Cache tokens (reads and writes) the providers reported, per cache scope of the logged requests."""
        if self._reported_by_scope is None:
            out: dict[Scope, int] = {}
            for x in self.traffic.logged.values():
                sc = (x.provider, x.model, x.key)
                out[sc] = out.get(sc, 0) + sum(x.cache)
            self._reported_by_scope = out
        return self._reported_by_scope

    def _meta(self) -> pl.DataFrame:
        """base_id; logged (whether the request was logged), its provider, model and key ("" when not logged);
        scale (its body's, null without one): what the evidence asks of every call."""
        if self._meta_frame is None:
            t = self.traffic
            lg, body = t.logged, t.body
            ids = [*lg, *(rid for rid in body if rid not in lg)]
            provider, model, key = scopes_of(lg, ids)
            self._meta_frame = pl.DataFrame(
                {
                    "base_id": ids,
                    "logged": [rid in lg for rid in ids],
                    "provider": provider,
                    "model": model,
                    "key": key,
                    "scale": [t.scale_of(rid) for rid in ids],
                },
                schema={
                    "base_id": pl.String,
                    "logged": pl.Boolean,
                    "provider": pl.String,
                    "model": pl.String,
                    "key": pl.String,
                    "scale": pl.Float64,
                },
            )
        return self._meta_frame

    parallel = 1  # one replay at a time (the partitioned engine may have several lanes)

    def lane(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    # What the estimators ask besides two-replay comparisons; the partitioned engine (partitioned.py) answers
    # the same questions by merging each bin's answer.

    @property
    def requests(self) -> int:
        """The priced, successful requests replayed."""
        return self.traffic.rows.height

    def backtest(self) -> dict[str, Any]:
        return backtest_summary(*self.backtest_rows())

    def backtest_rows(self) -> tuple[pl.DataFrame, set[str]]:
        return backtest_rows(self.traffic, self.baseline("central").frame)

    def logged_cost_of(self, ids: set[str]) -> float:
        return self.traffic.cost_logged(ids) if ids else 0.0

    def replayed_cost_of(self, ids: set[str]) -> float:
        return self.baseline("central").cost_of(ids) if ids else 0.0

    def band(self, affected: set[str]) -> float:
        """The backtest's error in dollars on the requests a lever changes: |as-is replay - as logged|. A saving
        smaller than this is inside what the simulator gets wrong about the same requests."""
        if not affected:
            return 0.0
        return abs(self.replayed_cost_of(affected) - self.logged_cost_of(affected))

    def by_base(self, lever: Lever | None = None, case: str = "central") -> dict[str, float]:
        """Each logged request's replayed cost (its added calls included), as logged or under `lever`."""
        return (self.baseline(case) if lever is None else self.replay(lever, case)).by_base()

    def each(self, fn: Any, *args: Any) -> list[Any]:
        """[fn(engine, *args)] for each bin's engine, in bin order (here: this one). `fn` must be a module-level
        function: the partitioned engine runs it where the bins are."""
        return [fn(self, *args)]

    def simulated(self) -> pl.DataFrame:
        """request_id, provider, model of the requests the cache simulator replays (a body, a provider with
        cache rules), in time order."""
        ids = [rid for rid in self.traffic.body if self.traffic.logged[rid].provider in RULES]
        lg = self.traffic.logged
        return pl.DataFrame(
            {
                "request_id": ids,
                "provider": [lg[r].provider for r in ids],
                "model": [lg[r].model for r in ids],
            },
            schema={"request_id": pl.String, "provider": pl.String, "model": pl.String},
        )

    def split_variants(self, split: Mapping[int, Any]) -> int:
        """How many simulated requests send a variant of a volatile system prompt."""
        t = self.traffic
        return sum(
            1 for rid, b in t.body.items() if t.logged[rid].provider in RULES and any(c in split for c in b.cids)
        )
