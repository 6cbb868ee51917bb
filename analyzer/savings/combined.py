"""The levers replayed together: never the sum of the separate estimates.

Each request with a body is rebuilt as it would have been sent: routed (a stable 70% of the requests the
routing plan finds eligible) to its target model, which puts it in another cache scope under that provider's
rules; its history trimmed to the last TRIM_TURNS turns, which changes every later prefix; then the caching
rules replayed on the resulting prefixes, in time order, per provider, model and key; programmatic
single-request traffic at batch prices. The result is repriced through price_requests. The interaction is
reported: how many of the cache reads that caching alone would have had survive the trimming, and how the
combined saving compares with the sum of the separate ones.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import polars as pl

from analyzer import tokens
from analyzer.conversations import Sequence, requests_of
from analyzer.perf import gc_paused
from analyzer.prices import PRICE_COLUMNS, Catalogue, price_requests
from analyzer.savings import Estimate, usd_text
from analyzer.savings.batching import batch_candidates
from analyzer.savings.caching import RULES, RULES_POLICY, SimRequest, min_tokens, sim_requests, simulate
from analyzer.savings.routing import SHARES, RoutingPlan, token_scale
from analyzer.savings.trimming import CONVERSATION_ROLES

TRIM_TURNS = 6


def kept_messages(roles: list[str], n: int | None) -> list[int]:
    """Indices of the input messages kept when only the last n turns of conversation stay (None: all)."""
    if n is None:
        return list(range(len(roles)))
    users = [i for i, r in enumerate(roles) if r == "user"]
    start = users[-n] if len(users) > n else 0
    return [i for i, r in enumerate(roles) if r not in CONVERSATION_ROLES or i >= start]


def _selected(request_id: str, share: float) -> bool:
    """A stable pseudo-random share of the eligible requests (the same ones in every run)."""
    return zlib.crc32(request_id.encode()) % 1000 < share * 1000


@dataclass
class ReplayInput:
    """What every replay of one period shares: prepared once, replayed several times."""

    rows: pl.DataFrame  # priced, successful requests: request_id, api_key, cost and the PRICE_COLUMNS
    info: dict[str, tuple[Any, ...]]  # request_id -> the few fields the replay reads (see _FIELDS)
    ts: dict[str, float]
    reqs: list[Any]  # requests_of(seq)
    users: list[int]  # user messages per request, to tell quickly whether trimming changes it
    sims: dict[str, SimRequest]  # the caching simulator's chains as logged, reused for untouched requests


_FIELDS = (
    "provider",
    "model",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "api_key",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
)


_I = {name: i for i, name in enumerate(_FIELDS)}


def prepare(priced: pl.DataFrame, seq: Sequence, sims: list[SimRequest]) -> ReplayInput:
    rows = priced.filter(pl.col("priced") & (pl.col("status") == "ok")).select(
        "request_id", "api_key", "cost", *PRICE_COLUMNS
    )
    info = dict(zip(rows["request_id"].to_list(), rows.select(*_FIELDS).iter_rows(), strict=True))
    ts = {
        rid: t.timestamp() if t is not None else 0.0
        for rid, t in zip(seq.requests["request_id"].to_list(), seq.requests["ts"].to_list(), strict=True)
    }
    reqs = requests_of(seq)
    users = [r.roles.count("user") for r in reqs]
    return ReplayInput(rows, info, ts, reqs, users, {s.request_id: s for s in sims})


@gc_paused()
def replay(
    data: ReplayInput,
    calibration: dict[str, float],
    targets: dict[str, str],
    target_provider: dict[str, str],
    trim: int | None,
    route_share: float,
    ttl_case: str,
    batch_ids: set[str],
) -> tuple[pl.DataFrame, int]:
    """The priced rows rebuilt under the levers, ready to reprice, and the simulated cache-read tokens."""
    info, ts = data.info, data.ts
    sims: list[SimRequest] = []
    changed: dict[str, dict[str, Any]] = {}
    for r, n_users in zip(data.reqs, data.users, strict=True):
        row = info.get(r.request_id)
        if row is None or not r.roles:
            continue
        target = targets.get(r.request_id)
        if target and not _selected(r.request_id, route_share):
            target = None
        if not target and (trim is None or n_users <= trim):
            # neither routed nor trimmed: the request as logged, its cache left to the simulator
            same = data.sims.get(r.request_id)
            if same is not None:
                sims.append(same)
                changed[r.request_id] = {
                    "cache_read_tokens": 0,
                    "cache_write_5m_tokens": 0,
                    "cache_write_1h_tokens": 0,
                    "input_tokens": row[_I["input_tokens"]],
                }
            continue
        provider = target_provider[target] if target else row[_I["provider"]]
        model = target or row[_I["model"]]
        scale_t = token_scale(row[_I["provider"]], provider, calibration) if target else 1.0
        counted = tokens.chat_input(r.tokens)
        if scale_t != 1.0 and counted:  # another model family: re-tokenized, as the routing estimate does
            scale = calibration.get(provider or "", 1.0)
            scale_t = scale * counted / row[_I["input_tokens"]] if row[_I["input_tokens"]] else 1.0
        else:
            scale = row[_I["input_tokens"]] / counted * scale_t if counted else 0.0
        keep = kept_messages(r.roles, trim)
        h = hash(("model", model))
        nodes, cum, acc, sys_end = [], [], 0.0, -1
        for j, i in enumerate(keep):
            h = hash((h, r.roles[i], r.cids[i]))
            acc += (r.tokens[i] + tokens.TOKENS_PER_MESSAGE) * scale
            nodes.append(h)
            cum.append(int(acc))
            if r.roles[i] in ("system", "tools", "developer") and sys_end == j - 1:
                sys_end = j
        new_input = round(acc + tokens.TOKENS_PER_REPLY * scale)
        changed[r.request_id] = {
            "model": model,
            "provider": provider,
            "input_tokens": new_input,
            "output_tokens": round(row[_I["output_tokens"]] * scale_t),
            "reasoning_tokens": round(row[_I["reasoning_tokens"]] * scale_t),
        }
        rule = RULES.get(provider or "")
        untouched = not target and new_input == row[_I["input_tokens"]]
        if rule or not untouched:
            # simulated below; off the rules table a changed prompt is assumed to lose its logged cache,
            # an untouched one keeps it
            changed[r.request_id].update(cache_read_tokens=0, cache_write_5m_tokens=0, cache_write_1h_tokens=0)
        if rule and nodes:
            sims.append(
                SimRequest(
                    r.request_id,
                    ts.get(r.request_id, 0.0),
                    (provider, model, row[_I["api_key"]] or ""),
                    nodes,
                    cum,
                    sys_end,
                    min_tokens(rule, model),
                )
            )
    sims.sort(key=lambda s: (s.ts, s.request_id))
    reads = 0
    for provider in {s.scope[0] for s in sims}:
        rule = RULES[provider]
        ttl = {"central": rule.ttl_s, "low": rule.ttl_low_s, "high": rule.ttl_high_s}[ttl_case]
        for rid, (read, write) in simulate([s for s in sims if s.scope[0] == provider], ttl).items():
            c = changed[rid]
            c["cache_read_tokens"] = min(read, c["input_tokens"])
            c["cache_write_5m_tokens"] = min(write, c["input_tokens"] - c["cache_read_tokens"])
            reads += c["cache_read_tokens"]
    # the changed values as a frame, laid over the logged rows (columns not changed keep their logged value)
    keys = (
        "model",
        "provider",
        "input_tokens",
        "output_tokens",
        "reasoning_tokens",
        "cache_read_tokens",
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
    )
    upd = pl.DataFrame(
        {"request_id": list(changed), **{k: [c.get(k) for c in changed.values()] for k in keys}},
        schema={"request_id": pl.String, **{k: data.rows.schema[k] for k in keys}},
    )
    frame = (
        data.rows.join(upd, on="request_id", how="left", suffix="_new")
        .with_columns(
            *[pl.coalesce(f"{k}_new", k).alias(k) for k in keys],
            batch=pl.col("batch") | pl.col("request_id").is_in(list(batch_ids)),
        )
        .select(*PRICE_COLUMNS)
    )
    return frame, reads


def estimate_combined(
    priced: pl.DataFrame,
    seq: Sequence,
    threads: pl.DataFrame,
    cat: Catalogue,
    calibration: dict[str, float],
    separate: list[dict[str, Any]],
    plan: RoutingPlan | None,
    sims: list[SimRequest] | None = None,
    caching_reads: int | None = None,
) -> dict[str, Any] | None:
    """The combined estimate and its interaction figures; `plan` is the routing plan the routing estimate
    used, so both route the same requests."""
    data = prepare(priced, seq, sims if sims is not None else sim_requests(priced, seq))
    rows = data.rows
    if rows.is_empty() or seq.requests.is_empty():
        return None
    base = float(rows["cost"].sum())
    targets = plan.targets if plan else {}
    target_provider = plan.target_provider if plan else {}
    classifier = plan.classifier_usd if plan else 0.0
    cand = batch_candidates(priced, threads)
    batch_ids = (
        set(cand.filter(pl.col("single") & pl.col("programmatic"))["request_id"].to_list()) if cand.height else set()
    )

    def cost(trim: int | None, share: float, ttl_case: str, batch: set[str], route: bool) -> tuple[float, int]:
        frame, reads = replay(
            data, calibration, targets if route else {}, target_provider, trim, share, ttl_case, batch
        )
        return float(price_requests(frame, cat)["cost"].sum()) + (classifier if route and targets else 0.0), reads

    central, _ = cost(TRIM_TURNS, SHARES["central"], "central", batch_ids, True)
    low_cost, _ = cost(TRIM_TURNS, SHARES["low"], "low", batch_ids, True)
    high_cost, _ = cost(TRIM_TURNS, SHARES["high"], "high", batch_ids, True)
    reads_caching_alone = caching_reads if caching_reads is not None else cost(None, 0.0, "central", set(), False)[1]
    _, reads_with_trim = cost(TRIM_TURNS, 0.0, "central", set(), False)
    savings = {"central": base - central, "low": base - low_cost, "high": base - high_cost}
    # the separate estimates of exactly the policies replayed here (not Gemini's explicit caches, an alternative
    # to the caching rules, nor the other trimming windows): their sum is what adding them up would claim
    replayed = {("caching", RULES_POLICY), ("trimming", f"last {TRIM_TURNS} turns")}
    picked = [e for e in separate if e["lever"] in ("routing", "batching") or (e["lever"], e["policy"]) in replayed]
    separate_sum = sum(e["saving_usd"] for e in picked)
    lost = 1 - reads_with_trim / reads_caching_alone if reads_caching_alone else None
    interaction = [
        f"Replayed together the levers save {usd_text(savings['central'])}; the separate estimates would add up to "
        f"{usd_text(separate_sum)}. The difference is the interaction: a routed or trimmed token is not also a "
        "cache read, and a request routed away leaves the next turn of its conversation without its cache.",
    ]
    if lost is not None:
        interaction.append(
            f"Trimming to the last {TRIM_TURNS} turns removes {lost:.0%} of the cache reads the caching rules "
            f"alone would give ({reads_caching_alone:,} -> {reads_with_trim:,} tokens): a sliding window changes "
            "the prefix every turn."
        )
    est = Estimate(
        lever="combined",
        policy=f"caching rules + routing ({SHARES['central']:.0%} of eligible) + last {TRIM_TURNS} turns + batching",
        scope=f"all {rows.height} priced requests",
        requests=rows.height,
        baseline_usd=base,
        counterfactual_usd=central,
        saving_usd=savings["central"],
        saving_low_usd=min(savings.values()),
        saving_high_usd=max(savings.values()),
        assumptions=[
            "One replay, not a sum: routed requests move to their target's cache scope and rules, trimmed "
            "histories change every later prefix, and caching is simulated on what remains.",
            f"Low/high: {SHARES['low']:.0%}/{SHARES['high']:.0%} of eligible requests routed and each provider's "
            "short/long retention.",
            "Quality is not measured, for routing and trimming alike.",
        ],
        evidence=interaction,
    )
    return {
        "estimate": est.as_dict(),
        "separate_sum_usd": round(separate_sum, 10),
        "components": [{k: e[k] for k in ("lever", "policy", "saving_usd")} for e in picked],
        "cache_read_tokens_caching_alone": reads_caching_alone,
        "cache_read_tokens_with_trimming": reads_with_trim,
        "trimming_removes_cache_reads_share": round(lost, 6) if lost is not None else None,
    }
