"""Routing: send simple requests to a cheaper model, and what that would have cost.

The classifier is transparent (no model, no download): a request is simple when its last user message is
short, it asks for a short answer, carries no tools, shows no code or maths, and is early in its
conversation. Or a rules file decides (`--routing-rules FILE`, TOML): the first rule that matches routes the
request to its target. Routed requests are repriced on the target; tokens are kept within a model family and
re-tokenized across families (the request's o200k count, calibrated to the target provider). Every case is
two replays through the cache simulator (engine.py): a routed request moves to its target's cache scope, so a
conversation's first routed turns lose the cache they had. A request is never routed to a model that is dearer
for its own replayed token mix. The central case routes 70% of the eligible requests, the low 50%, the high
90%. A classifier model's own cost per request is
added (a small model reading the last user message). Quality is not measured: whether the cheaper model
answers well enough is for you to test.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import tomllib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import duckdb
import polars as pl

from analyzer import queries
from analyzer.errors import InputError
from analyzer.perf import gc_paused
from analyzer.prices import Catalogue, price_one
from analyzer.providers import ROUTING_TARGETS
from analyzer.savings import Estimate, Verdict, usd_text
from analyzer.savings.estimate import judge, lever_estimate, new_estimate
from analyzer.savings.levers import Lever
from analyzer.savings.replayer import Replayer
from analyzer.savings.traffic import ok_rows

CLASSIFIER = "gpt-4o-mini"
CLASSIFIER_PROMPT_TOKENS = 120  # instructions around the user message
SHARES = {"low": 0.5, "central": 0.7, "high": 0.9}
MAX_USER_TOKENS = 300
MAX_OUTPUT_TOKENS = 400
MAX_INPUT_TOKENS = 8000
MAX_TURN = 4
# Code or maths in the last user message: symbols first (case-sensitive), then words. _CODE_SYMBOLS defines the
# symbols; _has_code_symbols runs it branch by branch.
_CODE_SYMBOLS = re.compile(
    r"```|=>|\$\$|\\(?:frac|sum|int)\b|\d\s*[-+*/^=]\s*\d|\{\s*$|\bdef \w|\bclass \w", re.MULTILINE
)
_CODE_WORDS = frozenset({"function", "prove", "theorem", "integral", "derivative", "equation", "regex", "traceback"})
_DIGIT_OP_DIGIT = re.compile(r"\d\s*[-+*/^=]\s*\d")
_TEX = re.compile(r"\\(?:frac|sum|int)\b")
_OPEN_BRACE_AT_END = re.compile(r"\{\s*$", re.MULTILINE)
_DEF_OR_CLASS = re.compile(r"\bdef \w|\bclass \w")


def _has_code_symbols(text: str) -> bool:
    """`_CODE_SYMBOLS.search(text)`, branch by branch, each regex run only where its literal part occurs: one
    alternation of eight branches tried at every character was most of the classifier's time."""
    return (
        "```" in text
        or "=>" in text
        or "$$" in text
        or ("\\" in text and _TEX.search(text) is not None)
        or ("{" in text and _OPEN_BRACE_AT_END.search(text) is not None)
        or (("def " in text or "class " in text) and _DEF_OR_CLASS.search(text) is not None)
        or _DIGIT_OP_DIGIT.search(text) is not None
    )


# Every word the classifier looks for, as a whole word of the lower-cased text (a run of a-z letters, nothing
# more on either side), found in one pass
_WORDS_SOUGHT = re.compile(r"(?<![a-z])(" + "|".join(sorted({*_CODE_WORDS, "select", "from"})) + r")(?![a-z])")


@functools.lru_cache(maxsize=4096)  # a product's repeated messages are classified once
def looks_like_code_or_maths(text: str) -> bool:
    """Symbols of code or maths, one of the code words, SELECT .. FROM, or a stack trace. The words are searched
    for, not split out: a set of every word of every message was 2.8 s of the parent's 25 at 100k calls."""
    if _has_code_symbols(text):
        return True
    low = text.lower()
    if "stack trace" in low:
        return True
    found = set(_WORDS_SOUGHT.findall(low))
    return bool(found & _CODE_WORDS) or {"select", "from"} <= found


# looks_like_code_or_maths on ASCII text as polars expressions (Rust's regex, on every thread): the same patterns
# with Python's classes on ASCII spelled out (Rust's \s lacks \x1c-\x1f, which str.isspace counts) and the
# look-arounds as character classes (the regex crate has none). Other text is classified by the function itself.
_ASCII_ONLY = r"^[\x00-\x7f]*$"
_S = r"[\t\n\x0b\x0c\r\x1c-\x1f ]"  # Python's \s on ASCII
_NOT_W = r"[^A-Za-z0-9_]"  # not Python's \w on ASCII
_WHOLE = r"(?:^|[^a-z])(?:{})(?:[^a-z]|$)"  # a whole word of the lower-cased text


def _code_or_maths_ascii(text: pl.Expr) -> pl.Expr:
    low = text.str.to_lowercase()
    return (
        text.str.contains("```", literal=True)
        | text.str.contains("=>", literal=True)
        | text.str.contains("$$", literal=True)
        | text.str.contains(rf"\\(?:frac|sum|int)(?:{_NOT_W}|$)")
        | text.str.contains(rf"(?m)\{{{_S}*$")
        | text.str.contains(rf"(?:^|{_NOT_W})(?:def|class) [A-Za-z0-9_]")
        | text.str.contains(rf"[0-9]{_S}*[-+*/^=]{_S}*[0-9]")
        | low.str.contains("stack trace", literal=True)
        | low.str.contains(_WHOLE.format("|".join(sorted(_CODE_WORDS))))
        | (low.str.contains(_WHOLE.format("select")) & low.str.contains(_WHOLE.format("from")))
    )


def code_or_maths_all(texts: pl.Series) -> list[bool]:
    """`looks_like_code_or_maths` of each text (none null), in order: the ASCII ones as one polars query, the others
    here. At a million calls the function on every open text was 7.4 s of the parent's CPU, beside the workers."""
    frame = texts.to_frame("text").select(
        ascii=pl.col("text").str.contains(_ASCII_ONLY), code=_code_or_maths_ascii(pl.col("text"))
    )
    ascii_only = frame["ascii"]
    others = iter([looks_like_code_or_maths(t) for t in texts.filter(~ascii_only).to_list()])
    return [c if a else next(others) for a, c in zip(ascii_only.to_list(), frame["code"].to_list(), strict=True)]


@dataclass(frozen=True)
class Rule:
    route_to: str
    model: str | None = None
    user: str | None = None
    tag: str | None = None
    feature: str | None = None
    endpoint: str | None = None
    min_input_tokens: int | None = None
    max_input_tokens: int | None = None
    last_user_regex: re.Pattern[str] | None = None


def load_rules(path: str | Path) -> list[Rule]:
    """[[rule]] tables with route_to and any of: model, user, tag, feature, endpoint (glob patterns),
    min_input_tokens, max_input_tokens, last_user_regex."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read routing rules ({e.strerror or e})", path=str(path)) from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"routing rules are not valid TOML ({e})", path=str(path)) from None
    rules = []
    allowed = {f for f in Rule.__dataclass_fields__}
    for i, raw in enumerate(data.get("rule", []), 1):
        unknown = set(raw) - allowed
        if unknown or "route_to" not in raw:
            raise InputError(
                f"rule {i}: needs route_to; unknown keys: {', '.join(sorted(unknown)) or 'none'}", path=str(path)
            )
        if "last_user_regex" in raw:
            try:
                raw = {**raw, "last_user_regex": re.compile(raw["last_user_regex"])}
            except re.error as e:
                raise InputError(f"rule {i}: bad last_user_regex ({e})", path=str(path)) from None
        rules.append(Rule(**raw))
    if not rules:
        raise InputError("no [[rule]] tables", path=str(path))
    return rules


def _matches(rule: Rule, row: dict[str, Any]) -> bool:
    def glob(pattern: str | None, value: Any) -> bool:
        return pattern is None or (value is not None and fnmatch.fnmatch(str(value), pattern))

    return (
        glob(rule.model, row["model"])
        and glob(rule.user, row["user"])
        and glob(rule.feature, row["feature"])
        and glob(rule.endpoint, row["endpoint"])
        and (rule.tag is None or any(fnmatch.fnmatch(t, rule.tag) for t in (row["tags"] or [])))
        and (rule.min_input_tokens is None or row["input_tokens"] >= rule.min_input_tokens)
        and (rule.max_input_tokens is None or row["input_tokens"] <= rule.max_input_tokens)
        and (
            rule.last_user_regex is None
            or (row["text"] is not None and rule.last_user_regex.search(row["text"]) is not None)
        )
    )


NO_TEXT = "no message text (ingested with --no-text, or no user message)"


def classify(row: dict[str, Any]) -> str | None:
    """Why the request is not simple, or None when it is."""
    if row["text"] is None:
        return NO_TEXT
    if row["user_tokens"] > MAX_USER_TOKENS:
        return "long user message"
    if row["output_tokens"] > MAX_OUTPUT_TOKENS:
        return "long answer"
    if row["input_tokens"] > MAX_INPUT_TOKENS:
        return "large context"
    if row["has_tools"]:
        return "uses tools"
    if (row["turn"] or 1) > MAX_TURN:
        return "deep in a conversation"
    if looks_like_code_or_maths(row["text"]):
        return "code or maths"
    return None


def classify_all(frame: pl.DataFrame) -> list[str | None]:
    """`classify` of every row, in order: the checks on numbers as one polars expression, the text looked at only
    where they pass (no dict per row: 100k of them were 1.6 s of the parent's savings thread)."""
    turn = pl.col("turn").fill_null(0)
    why = (
        pl.when(pl.col("text").is_null())
        .then(pl.lit(NO_TEXT))
        .when(pl.col("user_tokens") > MAX_USER_TOKENS)
        .then(pl.lit("long user message"))
        .when(pl.col("output_tokens") > MAX_OUTPUT_TOKENS)
        .then(pl.lit("long answer"))
        .when(pl.col("input_tokens") > MAX_INPUT_TOKENS)
        .then(pl.lit("large context"))
        .when(pl.col("has_tools").fill_null(False))
        .then(pl.lit("uses tools"))
        .when(pl.when(turn == 0).then(1).otherwise(turn) > MAX_TURN)
        .then(pl.lit("deep in a conversation"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    whys = frame.select(why.alias("why"))["why"]
    # only the texts the numbers left open are looked at, and only the non-ASCII ones become Python strings (at a
    # million calls every last user message as a str was ~260 MiB more in the parent, beside the workers)
    codes = iter(code_or_maths_all(frame.filter(whys.is_null())["text"]))
    return [w if w is not None else ("code or maths" if next(codes) else None) for w in whys.to_list()]


@dataclass
class RoutingPlan:
    """Which requests go where: the classified candidates, the target of each eligible one, why the others
    stay, and what classifying them all costs."""

    candidates: int  # requests classified (priced, successful, with a user message)
    targets: dict[str, str]  # request_id -> target model
    reasons: dict[str | None, int]
    classifier_usd: float
    target_provider: dict[str, str | None]  # target model -> provider (None: the catalogue names none)
    cheaper: dict[str, str] | None = None  # the targets left once dearer ones are dropped (estimate_routing)


# What the classifier and the routing rules read of each priced request (`classify_all`, `_matches`), besides its
# last user message and its turn
ROUTING_COLUMNS = (
    "request_id",
    "provider",
    "model",
    "model_key",
    "user",
    "feature",
    "endpoint",
    "tags",
    "input_tokens",
    "output_tokens",
    "has_tools",
)


PLAN_BATCH_ROWS = 100_000  # last user messages classified at a time: their texts are most of the plan's memory


@gc_paused()
def plan_routing(
    con: duckdb.DuckDBPyConnection,
    priced: pl.DataFrame,
    threads: pl.DataFrame,
    cat: Catalogue,
    rules: list[Rule] | None = None,
) -> RoutingPlan | None:
    """Every priced, successful request with a user message classified (or matched against `rules`), and each
    eligible one's target. The last user messages come from DuckDB PLAN_BATCH_ROWS at a time, each batch decided
    and let go: at a million calls their texts alone were 230 MB, beside the replay workers at the report's peak
    (the plan is made while they replay). The requests are then taken in the priced requests' order."""
    rows = ok_rows(priced, ROUTING_COLUMNS).join(
        threads.select("request_id", "turn"), on="request_id", how="left", maintain_order="left"
    )
    decided: list[pl.DataFrame] = []  # per batch: request_id, why it stays (None: eligible), its target
    user_tokens = 0
    reader = con.sql(queries.load("last_user_messages")).to_arrow_reader(PLAN_BATCH_ROWS)
    for batch in reader:
        part = rows.join(cast(pl.DataFrame, pl.from_arrow(batch)), on="request_id", how="inner")
        if part.is_empty():
            continue
        user_tokens += int(part["user_tokens"].fill_null(0).sum())
        if rules is not None:
            why: list[str | None] = [None] * part.height
            target = [next((r.route_to for r in rules if _matches(r, row)), None) for row in part.iter_rows(named=True)]
        else:
            why = classify_all(part)
            target = [
                ROUTING_TARGETS.get(p or "") if w is None else None for w, p in zip(why, part["provider"], strict=True)
            ]
            why = [w if w is not None or t else NO_TARGET for w, t in zip(why, target, strict=True)]
        decided.append(
            pl.DataFrame(
                {"request_id": part["request_id"], "why": why, "target": target},
                schema={"request_id": pl.String, "why": pl.String, "target": pl.String},
            )
        )
        del part
    if not decided:
        return None
    frame = rows.select("request_id", "model_key").join(
        pl.concat(decided, how="vertical"), on="request_id", how="inner", maintain_order="left"
    )
    del decided
    targets: dict[str, str] = {}
    reasons: dict[str | None, int] = {}
    resolved: dict[str, str | None] = {}  # target -> its catalogue key
    cols = (frame[c].to_list() for c in ("request_id", "why", "target", "model_key"))
    for rid, reason, goal, model_key in zip(*cols, strict=True):
        if rules is None:
            reasons[reason] = reasons.get(reason, 0) + 1
        if goal:
            if goal not in resolved:
                resolved[goal] = cat.resolve(goal).key
            if resolved[goal] not in (None, model_key):
                targets[rid] = goal
    classifier = 0.0
    if rules is None:  # every candidate is classified by a small model, routed or not
        read = user_tokens + CLASSIFIER_PROMPT_TOKENS * frame.height
        classifier = (price_one(cat, CLASSIFIER, input_tokens=read)["cost"] or 0.0) + frame.height * (
            price_one(cat, CLASSIFIER, output_tokens=1)["cost"] or 0.0
        )
    providers = {t: cat.provider(cat.resolve(t).key) for t in set(targets.values())}
    # the plan keeps the count, not the frame: the plan lives through the whole savings stage
    return RoutingPlan(frame.height, targets, reasons, classifier, providers)


NO_TARGET = "no cheaper model listed for this provider"


def _selected(request_id: str, share: float) -> bool:
    """A stable pseudo-random share of the eligible requests (the same ones in every run)."""
    return zlib.crc32(request_id.encode()) % 1000 < share * 1000


def routing_lever(plan: RoutingPlan, share: float, targets: dict[str, str] | None = None) -> Lever:
    targets = plan.targets if targets is None else targets
    route = {rid: t for rid, t in targets.items() if _selected(rid, share)}
    return Lever(
        f"route {share:.0%} of eligible requests",
        route=route,
        target_provider=plan.target_provider,
        extra_usd=plan.classifier_usd,
    )


def cheaper_targets(engine: Replayer, plan: RoutingPlan) -> tuple[dict[str, str], int]:
    """The eligible requests that are cheaper on their target, each replayed on its own token mix through the
    cache (cache reads included, and what the first routed turns lose): never route to a dearer model."""
    everything = Lever("route every eligible request", route=plan.targets, target_provider=plan.target_provider)
    cheaper = {rid for part in engine.each(cheaper_in, everything) for rid in part}
    keep = {rid: t for rid, t in plan.targets.items() if rid in cheaper}
    return keep, len(plan.targets) - len(keep)


def cheaper_in(engine: Replayer, lever: Lever) -> list[str]:
    """The requests of one engine's traffic (a bin's, where the partitioned engine runs it) that `lever` routes and
    whose replayed cost, their added calls included, is lower routed than as replayed. Only these ids travel: each
    request's cost as replayed and routed, a dict of the whole traffic twice, went from the workers to the parent
    to be compared there."""
    base = engine.by_base()
    alt = engine.by_base(lever)
    route = lever.route
    return [rid for rid, cost in alt.items() if rid in route and cost < base.get(rid, 0.0)]


def estimate_routing(engine: Replayer, plan: RoutingPlan | None, rules: list[Rule] | None = None) -> list[Estimate]:
    if plan is None or not plan.targets:
        return []
    targets, dearer = cheaper_targets(engine, plan)
    plan.cheaper = targets
    classifier = plan.classifier_usd
    counts: dict[str, int] = {}
    for t in targets.values():
        counts[t] = counts.get(t, 0) + 1
    by_target = ", ".join(f"{n} to {t}" for t, n in sorted(counts.items()))
    assumptions = [
        "Quality is not measured: the routed share must be checked on the cheaper model before relying on it.",
        f"Central: {SHARES['central']:.0%} of the eligible requests routed (low {SHARES['low']:.0%}, high "
        f"{SHARES['high']:.0%}); each routed request moves to its target's cache scope and rules, so the first "
        "routed turns of a conversation lose the cache they had.",
        "Tokens are kept within a model family; across families each request is re-tokenized (its o200k count, "
        "times the target provider's calibration ratio from this log).",
        "A request is routed only where its own replayed token mix costs less on the target.",
    ]
    if rules is None:
        assumptions.append(
            f"Simple = last user message <= {MAX_USER_TOKENS} tokens, answer <= {MAX_OUTPUT_TOKENS}, input <= "
            f"{MAX_INPUT_TOKENS}, no tools, turn <= {MAX_TURN}, no code or maths; classified by {CLASSIFIER} "
            f"at {usd_text(classifier)} for {plan.candidates} requests (included)."
        )
    routed = round(len(targets) * SHARES["central"])
    if dearer:
        evidence = [
            f"{len(plan.targets)} of {plan.candidates} requests simple enough to route; {len(targets)} of them "
            f"cheaper on their target ({by_target or 'none'}), {dearer} left alone (dearer on their target)."
        ]
    else:
        evidence = [f"{len(targets)} of {plan.candidates} requests eligible ({by_target or 'none'})."]
    if targets:
        evidence.append(
            f"{routed} routed in the central case ({SHARES['central']:.0%} of the {len(targets)}); the replay also "
            "counts later turns whose cost changes because the routed ones left their cache."
        )
    if plan.reasons:
        evidence.append("Not routed: " + "; ".join(f"{k} {v}" for k, v in sorted(plan.reasons.items(), key=str) if k))
    policy = "rules file" if rules is not None else "route simple requests to a cheaper model"
    detail = {
        "eligible_requests": len(targets),
        "dearer_on_target": dearer,
        "candidates": plan.candidates,
        "share": SHARES["central"],
        "share_low": SHARES["low"],
        "share_high": SHARES["high"],
        "targets": dict(sorted(counts.items())),
        "classifier_usd": round(classifier, 10),
    }
    if not targets:
        return [
            new_estimate(
                # nothing replayed: the classifier's cost alone, listed as costing more whatever its size
                judge(-classifier, [-classifier], 0.0)._replace(verdict=Verdict.COSTS_MORE),
                lever="routing",
                policy=policy,
                scope=f"{len(plan.targets)} eligible requests",
                requests=0,
                baseline_usd=0.0,
                counterfactual_usd=classifier,
                assumptions=assumptions,
                evidence=evidence,
                detail=detail,
                policies=[policy],
                # nothing replayed: no backtest, its band unknown
                backtest={"requests": 0, "band_usd": None, "note": "no request is cheaper on its target"},
                prices="the classifier at today's prices (nothing replayed)",
                saving_today_usd=-classifier,
            )
        ]
    cases = {case: routing_lever(plan, SHARES[case], targets) for case in ("central", "low", "high")}
    est = lever_estimate(
        engine,
        cases["central"],
        lever_kind="routing",
        policy=policy,
        scope=f"{len(targets)} eligible requests",
        assumptions=assumptions,
        evidence=evidence,
        detail=detail,
        cases=cases,
    )
    est.requests = routed
    # the chart of saving by share routed: each share's own two-replay saving (classifier included)
    by_case = est.detail.get("saving_by_case_usd", {})
    est.detail["saving_by_share_usd"] = {
        f"{SHARES[c]:g}": by_case[c] for c in ("low", "central", "high") if c in by_case
    }
    return [est]
