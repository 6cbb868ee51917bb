"""The levers: what a counterfactual changes in the logged traffic, as data the replay reads.

A `Lever` says which requests move to which model (routing), how each conversation's history is cut (a `Trim`:
sliding windows, compaction, clearing old tool results), which requests go through a Batch API, and where
explicit caches put their breakpoints or how long automatic caches are retained (caching). `compose` makes
several levers one: the combined estimate replays them together, never sums them. Apart from the replay
(traffic.py rebuilds the traffic under a lever, engine.py simulates and prices it) so that a new policy is a
few lines here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from analyzer import tokens

CONVERSATION_ROLES = ("user", "assistant", "tool")


@dataclass(slots=True)
class Body:
    roles: Sequence[str]  # one tuple per distinct sequence of roles as `prepare` makes them (columns.BodyTable)
    cids: Sequence[int]  # arrays of 64-bit integers as `prepare` makes them (columns.BodyTable)
    tokens: Sequence[int]  # counted (o200k) tokens per input message
    bps: Mapping[int, str]  # message index -> breakpoint TTL as logged ("5m", "1h", "auto")
    scale: float  # provider-reported input tokens per counted token (with per-message overhead)
    marks: int = 0  # content blocks carrying a breakpoint as logged (Anthropic's maximum of 4 counts these)
    fixed: list[int] | None = None  # the indices of the messages no policy trims (system prompt, tools), once known
    first_user: int | None = None  # the task's index, once known

    def task(self) -> int:
        """The index of the task: the first user message (-1 when there is none)."""
        if self.first_user is None:
            self.first_user = _task(self.roles)
        return self.first_user

    def never_trimmed(self) -> list[int]:
        """The indices of the messages outside the conversation (system prompt, tools): what every policy keeps."""
        if self.fixed is None:
            self.fixed = [i for i, r in enumerate(self.roles) if r not in CONVERSATION_ROLES]
        return self.fixed

    def kept_from(self, start: int, also: int = -1) -> list[int]:
        """The messages a policy keeps when it keeps the conversation from `start` on (and the message `also`):
        every message outside the conversation, then `start`.. the last."""
        n = len(self.roles)
        if start <= 0:
            return list(range(n))
        head = [i for i in self.never_trimmed() if i < start]
        if 0 <= also < start and also not in head:
            head = sorted([*head, also])
        return head + list(range(start, n))

    def size(self, keep: list[int]) -> int:
        """Counted tokens of the messages `keep` (ascending indices from kept_from), with their framing."""
        n = len(self.roles)
        if len(keep) == n:
            return sum(self.tokens) + n * tokens.TOKENS_PER_MESSAGE
        return sum(self.tokens[i] for i in keep) + len(keep) * tokens.TOKENS_PER_MESSAGE


class Trim:
    """A trimming policy: what each request of a conversation keeps, replayed turn by turn in time order."""

    name: str
    stateful = False

    def apply(self, state: dict[str, Any], body: Body, scale: float) -> tuple[list[int], list[tuple[str, int, int]]]:
        """(indices of the input messages kept, messages inserted after the system prompt: role, cid, counted
        tokens). May record in `state` (one dict per thread) and ask for a summariser call via state["call"]."""
        raise NotImplementedError

    def whole(self, size: float, users: int) -> bool:
        """Surely left whole: a request whose whole input counts `size` tokens at its scale (with framing) and has
        `users` user messages, in a thread this policy has not trimmed yet, is sent as logged and leaves its
        thread's state as it was. `traffic.build` does not rebuild such requests. False: not known."""
        return False


def _conversation(roles: Sequence[str]) -> list[int]:
    return [i for i, r in enumerate(roles) if r in CONVERSATION_ROLES]


class LastTurns(Trim):
    """Sliding window: the last n turns (a turn starts at a user message). Changes the prefix every turn."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.name = f"last {n} turns"

    def apply(self, state: dict[str, Any], body: Body, scale: float) -> tuple[list[int], list[tuple[str, int, int]]]:
        roles, seen, start = body.roles, 0, 0
        for i in range(len(roles) - 1, -1, -1):  # the n-th user message from the end, if an older one exists
            if roles[i] == "user":
                seen += 1
                if seen == self.n:
                    start = i if "user" in roles[:i] else 0
                    break
        return body.kept_from(start), []

    def whole(self, size: float, users: int) -> bool:
        return users <= self.n  # no user message older than the n-th from the end: kept from the start


class Budget(Trim):
    """Sliding window: the most recent history within a token budget. Changes the prefix every turn."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.name = f"history budget {limit // 1000}k tokens"

    def apply(self, state: dict[str, Any], body: Body, scale: float) -> tuple[list[int], list[tuple[str, int, int]]]:
        conv = _conversation(body.roles)
        kept, start = 0.0, 0
        for j, i in enumerate(reversed(conv)):
            t = (body.tokens[i] + tokens.TOKENS_PER_MESSAGE) * scale
            if j > 0 and kept + t > self.limit:  # the newest message is always kept
                start = conv[len(conv) - j]
                break
            kept += t
        return body.kept_from(start), []

    def whole(self, size: float, users: int) -> bool:
        # the conversation's messages are part of the input: within the budget (the margin covers the order in
        # which apply adds them up), none is cut
        return size <= self.limit * (1 - 1e-9)


SUMMARY_TOKENS = 2000  # a compaction summary (Claude Code's run to a few thousand tokens)
SUMMARY_TOKENS_RANGE = (1000, 8000)  # what the range covers: summaries from 1k to 8k tokens
EXTRA_TURNS_LOW = 2  # the low case: turns the agent spends after each compaction finding its place again
SUMMARY_PROMPT_TOKENS = 300  # the instruction appended to the history for the summariser call


def _task(roles: Sequence[str]) -> int:
    """The index of the task: the first user message (-1 when there is none)."""
    return next((i for i, r in enumerate(roles) if r == "user"), -1)


def _repaired_cut(roles: Sequence[str], n: int) -> int:
    """Where the history kept after a summary starts: the newest message, moved back to the assistant message
    whose tool calls the newest tool results answer, so the request can be sent (a tool result without the
    assistant call that asked for it is rejected by the APIs)."""
    cut = n - 1
    j = cut
    while j > 0 and roles[j] == "tool":
        j -= 1
    if j < cut and roles[j] == "assistant":
        cut = j
    return cut


class Compact(Trim):
    """Compaction at a threshold: when the context reaches `at` tokens, one summariser call (the same model,
    reading the whole history, mostly from cache) replaces the history with a summary; later turns append to
    the new prefix until it reaches the threshold again. Claude Code's auto-compact works this way.

    What a real compaction sends: the system prompt and tools, the task (the first user message, kept), the
    summary (`summary_tokens`), then the newest messages, repaired so that tool results keep the assistant call
    that asked for them. `extra_turns`: calls the agent spends after each compaction finding its place again
    (each re-sends the compacted context and writes an answer as long as the request's own)."""

    stateful = True

    def __init__(self, at: int, summary_tokens: int = SUMMARY_TOKENS, extra_turns: int = 0) -> None:
        self.at = at
        self.summary_tokens = summary_tokens
        self.extra_turns = extra_turns
        self.name = f"compact at {at // 1000}k tokens"

    @staticmethod
    def _keep(body: Body, cut: int) -> list[int]:
        return body.kept_from(cut, body.task())

    def apply(self, state: dict[str, Any], body: Body, scale: float) -> tuple[list[int], list[tuple[str, int, int]]]:
        cut = state.get("cut", 0)
        n = len(body.roles)
        summary = state.get("summary")
        if cut >= n:  # a branch shorter than the compacted history: sent as logged
            cut, summary = 0, None
        head = state["head"] = body.task()  # the summary goes after the task
        keep = self._keep(body, cut)
        extra = [("user", summary, self.summary_tokens)] if summary is not None else []
        size = body.size(keep) * scale
        if extra:
            size += sum(t + tokens.TOKENS_PER_MESSAGE for _, _, t in extra) * scale
        if size >= self.at and (new_cut := _repaired_cut(body.roles, n)) > max(cut, head + 1):
            # the summariser reads what would have been sent, plus its instruction, and writes the summary
            state["call"] = (keep, extra)
            state["count"] = state.get("count", 0) + 1
            state["cut"] = cut = new_cut
            state["summary"] = summary = hash(("summary", state["thread"], state["count"]))
            state["after"] = self.extra_turns
            keep = self._keep(body, cut)
            extra = [("user", summary, self.summary_tokens)]
        return keep, extra

    def whole(self, size: float, users: int) -> bool:
        return size < self.at  # nothing compacted yet: the whole history, below the threshold


CLEARED_TOKENS = 12  # the placeholder left where a tool result was cleared


class ClearToolResults(Trim):
    """Clearing old tool results (Anthropic's context editing): when the context reaches `at` tokens, every
    tool result but the last `keep` is replaced by a short placeholder; the cleared prefix then stays stable
    (and cacheable) until the context reaches the threshold again."""

    stateful = True

    def __init__(self, at: int, keep: int) -> None:
        self.at, self.keep = at, keep
        self.name = f"clear tool results (keep last {keep}) at {at // 1000}k tokens"

    def apply(self, state: dict[str, Any], body: Body, scale: float) -> tuple[list[int], list[tuple[str, int, int]]]:
        cleared: set[int] = state.setdefault("cleared", set())
        n = len(body.roles)
        size = body.size(list(range(n)))
        size -= sum(body.tokens[i] - CLEARED_TOKENS for i in cleared if i < n)
        if size * scale >= self.at:
            tools = [i for i, r in enumerate(body.roles) if r == "tool"]
            if len(tools) > self.keep:
                cleared.update(tools[: -self.keep])
        return list(range(n)), []

    def whole(self, size: float, users: int) -> bool:
        return size < self.at  # nothing cleared yet: the whole history, below the threshold


@dataclass
class Lever:
    """One counterfactual: the changes applied to the logged traffic (any combination)."""

    name: str
    route: Mapping[str, str] = field(default_factory=dict)  # request_id -> target model
    target_provider: Mapping[str, str | None] = field(default_factory=dict)  # target model -> provider
    trim: Trim | None = None
    batch: frozenset[str] = frozenset()
    placement: float | None = None  # explicit caches: breakpoints after system+tools and at the end, this TTL
    retention: float | None = None  # automatic caches that offer it: retained this long
    extra_usd: float = 0.0  # costs outside the calls (a routing classifier)
    # volatile system prompts sent stable part first: content -> (stable content, stable tokens)
    split: Mapping[int, tuple[int, int]] = field(default_factory=dict)


AS_LOGGED = Lever("as logged")


def same_lever(a: Lever | None, b: Lever | None) -> bool:
    """Whether two levers are the same counterfactual: equal fields, and trims of one type with equal settings (a
    Trim defines no equality, and a worker gets a new copy of the lever with each question)."""
    if a is None or b is None:
        return a is b
    if type(a.trim) is not type(b.trim) or (a.trim is not None and vars(a.trim) != vars(b.trim)):
        return False
    return replace(a, trim=None) == replace(b, trim=None)


def compose(levers: list[Lever], name: str) -> Lever:
    """Several levers as one counterfactual (routing, trimming, caching and batching replayed together)."""
    out = Lever(name)
    route: dict[str, str] = {}
    targets: dict[str, str | None] = {}
    batch: set[str] = set()
    for lv in levers:
        route.update(lv.route)
        targets.update(lv.target_provider)
        batch |= lv.batch
        out.trim = out.trim or lv.trim
        out.placement = out.placement if out.placement is not None else lv.placement
        out.retention = out.retention if out.retention is not None else lv.retention
        out.extra_usd += lv.extra_usd
        out.split = {**out.split, **lv.split}
    out.route, out.target_provider, out.batch = route, targets, frozenset(batch)
    return out
