"""Trimming: each conversation replayed with less history, through the cache, and what it would then have cost.

Policies real agents and chat products use, each a `Trim` (levers.py) of the counterfactual engine:
- sliding windows (the last N turns; a token budget of the most recent history): they change the prefix of
  every turn, so on cached traffic every turn misses the cache, and the replay shows what that costs;
- compaction at a threshold (when the context reaches B tokens, one summariser call on the same model replaces
  the history with a summary; later turns append to the new prefix): the summariser's cost and the re-cached
  prefix are counted, as Claude Code's auto-compact works;
- clearing old tool results (keep the last K, when the context reaches B tokens), as Anthropic's context
  editing does: the cleared prefix stays stable until the next clearing.
System prompts and tool definitions are never trimmed. Each saving is replay(as logged) - replay(trimmed),
both through the same cache simulator.
"""

from __future__ import annotations

from analyzer.savings import Estimate, Verdict, usd_text
from analyzer.savings.estimate import lever_estimate
from analyzer.savings.levers import (
    EXTRA_TURNS_LOW,
    SUMMARY_TOKENS,
    SUMMARY_TOKENS_RANGE,
    Budget,
    ClearToolResults,
    Compact,
    LastTurns,
    Lever,
    Trim,
)
from analyzer.savings.replayer import Replayer

POLICIES: list[Trim] = [
    LastTurns(4),
    LastTurns(8),
    Budget(8000),
    Budget(32000),
    Compact(32000),
    Compact(64000),
    ClearToolResults(32000, 3),
]


def trimming_estimates(each: list[Estimate | None]) -> list[Estimate]:
    """The policies' estimates (`estimate_policy` of each of POLICIES, in order: independent, so run.py replays
    them side by side when the engine has lanes), those with nothing to trim left out, each scope's best policy
    marked."""
    out = [e for e in each if e is not None]
    _best_by_scope(out)
    return out


def estimate_policy(engine: Replayer, policy: Trim) -> Estimate | None:
    """One policy's estimate; None where it trims nothing on this traffic."""
    lever = Lever(policy.name, trim=policy)
    kind = type(policy).__name__
    assumptions = [
        "Answers would be as good with less history: quality is not measured.",
        "Replayed through the cache: a request whose prefix changes pays uncached (or cache-write) input "
        "for everything after the change, as the provider would bill it.",
    ]
    cases = None
    if isinstance(policy, Compact):
        low_s, high_s = SUMMARY_TOKENS_RANGE
        assumptions += [
            f"A compaction is one summariser call on the same model (the history as sent plus an instruction, "
            f"mostly read from cache) writing a {SUMMARY_TOKENS:,}-token summary that then replaces the history.",
            "What is sent after it can really be sent: the system prompt and tools, the task (the first user "
            "message, kept), the summary, then the newest messages, with any tool results kept together with "
            "the assistant call that asked for them.",
            f"Range from the assumptions that move the figure most, widened by the backtest band: the summary "
            f"from {low_s:,} tokens (high case) to {high_s:,} (low case), and in the low case "
            f"{EXTRA_TURNS_LOW} extra turns after each compaction while the agent finds its place again; "
            "each replayed with the central cache retention.",
        ]
        cases = {
            "central": lever,
            "low": Lever(policy.name, trim=Compact(policy.at, high_s, EXTRA_TURNS_LOW)),
            "high": Lever(policy.name, trim=Compact(policy.at, low_s)),
            f"summary {high_s // 1000}k tokens": Lever(policy.name, trim=Compact(policy.at, high_s)),
            f"{EXTRA_TURNS_LOW} extra turns per compaction": Lever(
                policy.name, trim=Compact(policy.at, extra_turns=EXTRA_TURNS_LOW)
            ),
        }
    if isinstance(policy, LastTurns | Budget):
        assumptions.append("A sliding window: the oldest kept message changes every turn, and with it the prefix.")
    est = lever_estimate(
        engine,
        lever,
        lever_kind="trimming",
        policy=policy.name,
        scope="requests whose history the policy changes",
        assumptions=assumptions,
        detail={
            "policy_kind": kind,
            "summarised": isinstance(policy, Compact),
            "at_tokens": getattr(policy, "at", None),
            "keep": getattr(policy, "keep", None),
        },
        cases=cases,
    )
    if not est.requests:
        return None  # nothing to trim on this traffic
    if isinstance(policy, Compact):
        n, usd = est.detail.pop("added_calls", 0), est.detail.pop("added_calls_usd", 0.0)
        est.detail |= {"compactions": n, "summariser_usd": usd}
        before, after = est.detail["input_tokens_before"], est.detail["input_tokens_after"]
        est.evidence.append(
            f"{n:,} compactions: {n:,} summariser calls costing {usd_text(usd)} in all (their input mostly read "
            f"from cache); the {est.requests:,} later requests send {before - after:,} fewer input tokens, and "
            "each compaction's new prefix is written to the cache again."
        )
    est.scope = f"{est.requests} requests whose history the policy changes"
    return est


def _best_by_scope(estimates: list[Estimate]) -> None:
    """Each scope (provider/model) gets the policy that saves most on its own requests, written into that
    policy's detail as `best_for_scopes`: one agent may want compaction where a chat product wants nothing."""
    best: dict[str, tuple[float, Estimate]] = {}
    for e in estimates:
        if e.verdict != Verdict.SAVES:
            continue
        for scope, saving in e.detail.get("saving_by_scope_usd", {}).items():
            if saving > 0 and (scope not in best or saving > best[scope][0]):
                best[scope] = (saving, e)
    for scope, (saving, e) in sorted(best.items()):
        e.detail.setdefault("best_for_scopes", []).append({"scope": scope, "saving_usd": round(saving, 10)})
