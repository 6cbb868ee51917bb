"""Anthropic Messages API request/response logs.

Same envelope as the OpenAI log (`request`, `response`, `timestamp`, `metadata`). Anthropic's
`usage.input_tokens` counts only the uncached input: the canonical `input_tokens` adds
`cache_read_input_tokens` and `cache_creation_input_tokens` back. Cache writes are split into 5-minute and
1-hour writes from `usage.cache_creation`; an older response without that breakdown is attributed by the
request's own `cache_control` TTLs (all 1 h only when every breakpoint asked for 1 h).
"""

from __future__ import annotations

from typing import Any

from analyzer.sources.base import RecordError, Request, Source
from analyzer.sources.envelope import STREAMED, begin, envelope, is_invoke_uri, pair, without_usage
from analyzer.sources.fields import breakpoint_blocks, breakpoint_ttl, canonical_json, count, first_str, text_of


def anthropic_messages(
    req: dict[str, Any], breakpoints: dict[int, str] | None = None, blocks: dict[int, int] | None = None
) -> list[tuple[str, str, bool]]:
    """In cache-prefix order: tools, system, messages. Fills `breakpoints` (message index -> TTL) with the
    cache_control markers found, and `blocks` (message index -> how many) where more than one block of a message
    carries one; a top-level `cache_control` (automatic caching) marks the last message, one breakpoint more."""
    out: list[tuple[str, str, bool]] = []
    bps = breakpoints if breakpoints is not None else {}
    many = blocks if blocks is not None else {}

    last: Any = None  # the content of the last entry, where a top-level cache_control puts its breakpoint

    def mark(node: Any) -> None:
        nonlocal last
        last = node
        if ttl := breakpoint_ttl(node):
            bps[len(out)] = ttl
            if (n := breakpoint_blocks(node)) > 1:
                many[len(out)] = n

    if req.get("tools"):
        mark(req["tools"])
        out.append(("tools", canonical_json(req["tools"]), False))
    system = req.get("system")
    if system:
        mark(system)
        out.append(("system", text_of(system), False))
    messages = req.get("messages") or []
    if not isinstance(messages, list):
        raise RecordError("request.messages is not a list")
    for m in messages:
        if isinstance(m, dict):
            content = m.get("content")
            mark(content)
            role = str(m.get("role") or "user")
            if (
                isinstance(content, list)
                and content
                and all(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
            ):
                role = "tool"  # a user turn that only returns tool results, as OpenAI's role "tool"
            out.append((role, text_of(content), False))
    if isinstance(req.get("cache_control"), dict) and out:
        i = len(out) - 1
        tail = last[-1] if isinstance(last, list) and last else last
        if i in bps and not (isinstance(tail, dict) and isinstance(tail.get("cache_control"), dict)):
            # the automatic breakpoint marks the last block, one more block with cache_control than the explicit
            # ones on this message (Anthropic counts them together: "Found 5" with four explicit)
            many[i] = many.get(i, 1) + 1
        bps[i] = str(req["cache_control"].get("ttl") or "5m")
    return out


def _ttls(req: dict[str, Any]) -> set[str]:
    found: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            cc = node.get("cache_control")
            if isinstance(cc, dict):
                found.add(str(cc.get("ttl") or "5m"))
            for v in node.values():
                if isinstance(v, list | dict):
                    visit(v)
        elif isinstance(node, list):
            for v in node:
                visit(v)

    visit(req)
    return found


def apply_anthropic_usage(r: Request, usage: dict[str, Any], default_ttl: str = "5m") -> None:
    """Anthropic usage into canonical counts: input_tokens there is the uncached part only, so reads and
    writes are added back; writes split by `cache_creation`, else all at `default_ttl`."""
    if "input_tokens" not in usage and "output_tokens" not in usage:
        # e.g. an OpenAI-style record in a file detected as Anthropic: never read as a free call
        raise RecordError("usage has no input_tokens/output_tokens (not Anthropic's usage)")
    uncached = count(usage.get("input_tokens"), "usage.input_tokens")
    read = count(usage.get("cache_read_input_tokens"), "usage.cache_read_input_tokens")
    write = count(usage.get("cache_creation_input_tokens"), "usage.cache_creation_input_tokens")
    split = usage.get("cache_creation")
    if isinstance(split, dict) and ("ephemeral_5m_input_tokens" in split or "ephemeral_1h_input_tokens" in split):
        w5 = count(split.get("ephemeral_5m_input_tokens"), "cache_creation.ephemeral_5m_input_tokens")
        w1 = count(split.get("ephemeral_1h_input_tokens"), "cache_creation.ephemeral_1h_input_tokens")
        if write and w5 + w1 != write:
            raise RecordError(f"cache_creation split ({w5}+{w1}) != cache_creation_input_tokens ({write})")
        write = w5 + w1
    elif default_ttl == "1h":
        w5, w1 = 0, write
    else:
        w5, w1 = write, 0
    r.input_tokens = uncached + read + write
    r.cache_read_tokens = read
    r.cache_write_5m_tokens = w5
    r.cache_write_1h_tokens = w1
    r.output_tokens = count(usage.get("output_tokens"), "usage.output_tokens")
    details = usage.get("output_tokens_details")
    if isinstance(details, dict):
        r.reasoning_tokens = count(details.get("thinking_tokens"), "output_tokens_details.thinking_tokens")
    r.service_tier = first_str(usage.get("service_tier"))
    # Priced by the catalogue's provider_specific_entry multipliers (data residency, fast mode).
    geo = first_str(usage.get("inference_geo"))
    r.inference_geo = None if geo in (None, "not_available") else geo
    r.speed = first_str(usage.get("speed"))


def _written(content: Any) -> tuple[str, str]:
    """What the model wrote in a reply's content blocks, as (text and tool input, thinking): signatures and
    redacted (encrypted) thinking are not the model's tokens and are left out of an estimate."""
    if isinstance(content, str):
        return content, ""
    written: list[str] = []
    thinking: list[str] = []
    for b in content if isinstance(content, list) else []:
        if not isinstance(b, dict):
            continue
        if isinstance(b.get("text"), str):
            written.append(b["text"])
        elif isinstance(b.get("thinking"), str):
            thinking.append(b["thinking"])
        elif "input" in b:
            written.append(b["input"] if isinstance(b["input"], str) else canonical_json(b["input"]))
    return "\n".join(written), "\n".join(thinking)


class Anthropic(Source):
    name = "anthropic_messages"
    title = "Anthropic Messages API request/response log"
    enables = "cost, cache reads and 5m/1h cache writes, messages (threads, prefixes, routing, trimming); " + STREAMED
    example = "anthropic_messages.jsonl"
    detected_by = (
        'a request/response pair whose response is "type": "message" or has Anthropic usage (cache_*_input_tokens)'
    )

    def sniff(self, obj: dict[str, Any]) -> bool:
        env = envelope(obj)
        if env is None or is_invoke_uri(env.uri):
            return False
        usage = env.response.get("usage")
        return env.response.get("type") == "message" or (
            isinstance(usage, dict)
            and "input_tokens" in usage
            and "output_tokens" in usage
            and (
                "cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage or "system" in env.request
            )
        )

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Request:
        env = pair(obj)
        req, resp = env.request, env.response
        model = first_str(resp.get("model"), req.get("model"))
        if model is None:
            raise RecordError("no model in request or response")
        r = begin(obj, env, model, provider="anthropic", ids=(resp.get("id"),))
        usage = resp.get("usage")
        reply = resp.get("content")
        r.messages = anthropic_messages(req, r.breakpoints, r.breakpoint_blocks) + (
            [("assistant", text_of(reply), True)] if reply is not None else []
        )
        if isinstance(usage, dict):
            apply_anthropic_usage(r, usage, "1h" if _ttls(req) == {"1h"} else "5m")
        if resp.get("type") == "error":
            r.status = "error"
        if not isinstance(usage, dict) or (env.stream is not None and env.stream.output_partial):
            # no usage, or a stream cut after message_start: its input count is exact, its output a placeholder
            written, thinking = _written(reply)
            so_far = r.output_tokens  # message_start's count: what the model had written when the stream began
            without_usage(r, obj, env, keep_input=isinstance(usage, dict), reasoning=thinking, reply=written)
            r.output_tokens = max(r.output_tokens, so_far)
        r.batch = r.service_tier == "batch"
        r.inference_geo = r.inference_geo or first_str(req.get("inference_geo"))
        r.speed = r.speed or first_str(req.get("speed"))
        r.endpoint = "messages"
        r.has_tools = bool(req.get("tools"))
        r.user = r.user or first_str(
            (req.get("metadata") or {}).get("user_id") if isinstance(req.get("metadata"), dict) else None
        )
        return r.check()
