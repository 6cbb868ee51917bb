"""Amazon Bedrock InvokeModel bodies: the native request and response of each model family.

InvokeModel passes the model provider's own body through, so the token counts sit in a different place per family:

- Anthropic Messages: `usage.input_tokens` (uncached), `cache_read_input_tokens`, `cache_creation_input_tokens`
  (and its 5m/1h split), `output_tokens`
- Amazon Nova: `usage.inputTokens` (uncached), `cacheReadInputTokenCount`, `cacheWriteInputTokenCount`,
  `outputTokens` (the Converse names `cacheReadInputTokens`/`cacheWriteInputTokens` are read too)
- Amazon Titan Text: `inputTextTokenCount` and `results[].tokenCount`; Titan embeddings: `inputTextTokenCount`
- Meta Llama: `prompt_token_count`, `generation_token_count`
- OpenAI-shaped bodies (Mistral Large chat, AI21 Jamba, gpt-oss, DeepSeek): `usage.prompt_tokens`,
  `usage.completion_tokens`
- Cohere: `meta.billed_units.input_tokens` / `output_tokens` when the body has them
- Cohere Command / Command R and Mistral text completions write no count in the body at all: Bedrock's response
  headers `X-Amzn-Bedrock-Input-Token-Count` / `-Output-Token-Count` (and `-Cache-Read-` / `-Cache-Write-Input-
  Token-Count`) carry them, as do the invocation log's `input.inputTokenCount` / `output.outputTokenCount`.

Where the metered counts (headers, or the invocation log's fields) are present they are used; the body's usage
fills what they leave out. A body whose usage is of no shape listed here, with no metered count, is a reject
with its reason, never a 0-token call.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from analyzer.sources.anthropic import anthropic_messages, apply_anthropic_usage
from analyzer.sources.base import RecordError, Request
from analyzer.sources.envelope import begin, pair
from analyzer.sources.fields import canonical_json, count, first_str, money, sub, text_of, timestamp_us


@dataclass(slots=True)
class BodyUsage:
    family: str
    uncached: int
    output: int
    read: int = 0
    write_5m: int = 0
    write_1h: int = 0
    reasoning: int = 0


def body_usage(body: Any) -> BodyUsage | None:
    """The token counts an InvokeModel (or Converse) response body states, by model family; None when the body
    states none in a shape known here."""
    if isinstance(body, list):
        return _stream_usage(body)
    if not isinstance(body, dict):
        return None
    usage = body.get("usage")
    if isinstance(usage, dict):
        if "input_tokens" in usage or "output_tokens" in usage:
            r = Request(model="")
            apply_anthropic_usage(r, usage)
            return BodyUsage(
                "anthropic",
                r.input_tokens - r.cache_read_tokens - r.cache_write_5m_tokens - r.cache_write_1h_tokens,
                r.output_tokens,
                r.cache_read_tokens,
                r.cache_write_5m_tokens,
                r.cache_write_1h_tokens,
                r.reasoning_tokens,
            )
        if "inputTokens" in usage or "outputTokens" in usage:
            read = usage.get("cacheReadInputTokenCount", usage.get("cacheReadInputTokens"))
            write = usage.get("cacheWriteInputTokenCount", usage.get("cacheWriteInputTokens"))
            return BodyUsage(
                "nova",
                count(usage.get("inputTokens"), "usage.inputTokens"),
                count(usage.get("outputTokens"), "usage.outputTokens"),
                count(read, "usage.cacheReadInputTokenCount"),
                count(write, "usage.cacheWriteInputTokenCount"),
            )
        if "prompt_tokens" in usage or "completion_tokens" in usage:
            details = usage.get("prompt_tokens_details")
            cached = (
                count(details.get("cached_tokens"), "prompt_tokens_details.cached_tokens")
                if isinstance(details, dict)
                else 0
            )
            prompt = count(usage.get("prompt_tokens"), "usage.prompt_tokens")
            if cached > prompt:
                raise RecordError(f"cached tokens ({cached}) exceed prompt_tokens ({prompt})")
            out_details = usage.get("completion_tokens_details")
            reasoning = (
                count(out_details.get("reasoning_tokens"), "completion_tokens_details.reasoning_tokens")
                if isinstance(out_details, dict)
                else 0
            )
            return BodyUsage(
                "openai",
                prompt - cached,
                count(usage.get("completion_tokens"), "usage.completion_tokens"),
                cached,
                reasoning=reasoning,
            )
        return None
    if "inputTextTokenCount" in body:
        results = body.get("results")
        output = 0
        if isinstance(results, list):
            for i, res in enumerate(results):
                if isinstance(res, dict):
                    output += count(res.get("tokenCount"), f"results[{i}].tokenCount")
        return BodyUsage("titan", count(body.get("inputTextTokenCount"), "inputTextTokenCount"), output)
    if "prompt_token_count" in body or "generation_token_count" in body:
        return BodyUsage(
            "llama",
            count(body.get("prompt_token_count"), "prompt_token_count"),
            count(body.get("generation_token_count"), "generation_token_count"),
        )
    billed = sub(body, "meta", "billed_units")
    if isinstance(billed, dict) and ("input_tokens" in billed or "output_tokens" in billed):
        return BodyUsage(
            "cohere",
            count(billed.get("input_tokens"), "meta.billed_units.input_tokens"),
            count(billed.get("output_tokens"), "meta.billed_units.output_tokens"),
        )
    return None


def _stream_usage(chunks: list[Any]) -> BodyUsage | None:
    """A streamed response logged as its list of chunks (InvokeModelWithResponseStream): Bedrock's own
    `amazon-bedrock-invocationMetrics` in the last chunk, whatever the family; else Anthropic's message_start and
    message_delta usage, or a Nova/Converse `metadata.usage` chunk."""
    for chunk in reversed(chunks):
        metrics = chunk.get("amazon-bedrock-invocationMetrics") if isinstance(chunk, dict) else None
        if isinstance(metrics, dict) and ("inputTokenCount" in metrics or "outputTokenCount" in metrics):
            return BodyUsage(
                "stream",
                count(metrics.get("inputTokenCount"), "invocationMetrics.inputTokenCount"),
                count(metrics.get("outputTokenCount"), "invocationMetrics.outputTokenCount"),
                count(metrics.get("cacheReadInputTokenCount"), "invocationMetrics.cacheReadInputTokenCount"),
                count(metrics.get("cacheWriteInputTokenCount"), "invocationMetrics.cacheWriteInputTokenCount"),
            )
    start = next(
        (
            c
            for c in chunks
            if isinstance(c, dict) and c.get("type") == "message_start" and isinstance(sub(c, "message", "usage"), dict)
        ),
        None,
    )
    if start is not None:
        usage = dict(sub(start, "message", "usage"))
        for c in chunks:  # message_delta's usage is cumulative: the last one is the call's output
            if isinstance(c, dict) and c.get("type") == "message_delta" and isinstance(c.get("usage"), dict):
                usage.update({k: v for k, v in c["usage"].items() if v is not None})
        return body_usage({"usage": usage})
    for c in reversed(chunks):
        metadata = sub(c, "metadata", "usage") if isinstance(c, dict) else None
        if isinstance(metadata, dict):
            return body_usage({"usage": metadata})
    return None


def describe(body: Any) -> str:
    """What a body without known usage looks like, for a reject's reason (key names only, never values)."""
    if isinstance(body, list):
        return f"a list of {len(body)} stream chunks without usage"
    if not isinstance(body, dict):
        return "no JSON body"
    usage = body.get("usage")
    if isinstance(usage, dict):
        return "usage keys " + ", ".join(sorted(map(str, usage))[:6])
    return "body keys " + ", ".join(sorted(map(str, body))[:6])


def _header(headers: Any, name: str) -> Any:
    if not isinstance(headers, dict):
        return None
    want = name.lower()
    for key, value in headers.items():
        if str(key).lower() == want:
            return value[0] if isinstance(value, list) and value else value
    return None


def _blocks(content: Any, breakpoints: dict[int, str], index: int, blocks: dict[int, int]) -> str:
    """Text of Converse content blocks without their cachePoint markers, which become a breakpoint (counted in
    `blocks` where a message carries more than one)."""
    if not isinstance(content, list):
        return text_of(content)
    kept = []
    marks = 0
    for b in content:
        if isinstance(b, dict) and "cachePoint" in b:
            breakpoints[index] = str(sub(b, "cachePoint", "ttl") or "5m")
            marks += 1
        else:
            kept.append(b)
    if marks > 1:
        blocks[index] = marks
    return text_of(kept)


def converse_messages(
    req: dict[str, Any], breakpoints: dict[int, str], blocks: dict[int, int] | None = None
) -> list[tuple[str, str, bool]]:
    """The Converse message shape (bedrock.py's Converse logs), which Nova's InvokeModel bodies share, in
    cache-prefix order: tools, system, messages. Each cachePoint block is one breakpoint (Bedrock allows 4 per
    request, as Anthropic's API)."""
    many = blocks if blocks is not None else {}
    out: list[tuple[str, str, bool]] = []
    tools = sub(req, "toolConfig", "tools")
    if isinstance(tools, list) and tools:
        plain = [t for t in tools if not (isinstance(t, dict) and "cachePoint" in t)]
        if len(plain) < len(tools):
            breakpoints[0] = "5m"
            if len(tools) - len(plain) > 1:
                many[0] = len(tools) - len(plain)
        out.append(("tools", canonical_json(plain), False))
    system = req.get("system")
    if system:
        out.append(("system", _blocks(system, breakpoints, len(out), many), False))
    for m in req.get("messages") or []:
        if isinstance(m, dict):
            out.append((str(m.get("role") or "user"), _blocks(m.get("content"), breakpoints, len(out), many), False))
    return out


def invoke_messages(
    req: dict[str, Any], breakpoints: dict[int, str], blocks: dict[int, int] | None = None
) -> list[tuple[str, str, bool]]:
    """The request's messages, whatever the family's body (Anthropic/Nova messages, Titan inputText, a prompt)."""
    if isinstance(req.get("messages"), list):
        if "anthropic_version" in req or isinstance(req.get("tools"), list):
            return anthropic_messages(req, breakpoints, blocks)
        return converse_messages(req, breakpoints, blocks)
    out: list[tuple[str, str, bool]] = []
    if isinstance(req.get("chat_history"), list):  # Cohere Command R
        for m in req["chat_history"]:
            if isinstance(m, dict):
                out.append((str(m.get("role") or "user").lower(), text_of(m.get("message")), False))
    for key in ("inputText", "prompt", "message"):
        if isinstance(req.get(key), str):
            out.append(("user", req[key], False))
            break
    return out


def invoke_reply(body: dict[str, Any]) -> str | None:
    """The reply's text in each family's response body."""
    if body.get("type") == "message" or isinstance(body.get("content"), list):
        return text_of(body.get("content"))
    content = sub(body, "output", "message", "content")
    if content is not None:
        return text_of(content)
    for key, field in (("results", "outputText"), ("generations", "text"), ("outputs", "text")):
        items = body.get(key)
        if isinstance(items, list):
            return "\n".join(str(i.get(field) or "") for i in items if isinstance(i, dict))
    for key in ("generation", "text", "completion"):
        if isinstance(body.get(key), str):
            return body[key]
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return text_of(sub(choices[0], "message", "content"))
    return None


def parse_invoke_pair(obj: dict[str, Any], model: str) -> Request:
    """One recorded InvokeModel call (request/response pair, Bedrock's headers kept in the response)."""
    env = pair(obj)
    req, resp = env.request, env.response
    headers = obj["response"].get("headers") if isinstance(obj.get("response"), dict) else None
    r = begin(obj, env, model, provider="bedrock", ids=(obj.get("requestId"), _header(headers, "x-amzn-RequestId")))
    if r.ts_us is None and (date := first_str(_header(headers, "Date"))):
        try:
            r.ts_us = timestamp_us(parsedate_to_datetime(date).isoformat(), "Date header")
        except (TypeError, ValueError, IndexError, OverflowError):
            raise RecordError("unparseable Date header", date) from None
    latency = _header(headers, "X-Amzn-Bedrock-Invocation-Latency")
    if r.latency_ms is None and latency is not None:
        r.latency_ms = money(latency, "X-Amzn-Bedrock-Invocation-Latency")
    metered_in = _header(headers, "X-Amzn-Bedrock-Input-Token-Count")
    metered_out = _header(headers, "X-Amzn-Bedrock-Output-Token-Count")
    read_h = _header(headers, "X-Amzn-Bedrock-Cache-Read-Input-Token-Count")
    write_h = _header(headers, "X-Amzn-Bedrock-Cache-Write-Input-Token-Count")
    if r.status == "error" and metered_in is None and metered_out is None and body_usage(resp) is None:
        r.endpoint = "invoke"
        return r.check()  # a failed call: counted, not billed
    apply_counts(
        r,
        resp,
        (metered_in, "X-Amzn-Bedrock-Input-Token-Count"),
        (metered_out, "X-Amzn-Bedrock-Output-Token-Count"),
        (read_h, "X-Amzn-Bedrock-Cache-Read-Input-Token-Count"),
        (write_h, "X-Amzn-Bedrock-Cache-Write-Input-Token-Count"),
    )
    r.endpoint = "invoke"
    r.has_tools = bool(req.get("tools") or sub(req, "toolConfig", "tools"))
    r.messages = invoke_messages(req, r.breakpoints, r.breakpoint_blocks)
    reply = invoke_reply(resp)
    if reply is not None:
        r.messages.append(("assistant", reply, True))
    return r.check()


def apply_counts(
    r: Request,
    body: Any,
    metered_in: tuple[Any, str],
    metered_out: tuple[Any, str],
    metered_read: tuple[Any, str],
    metered_write: tuple[Any, str],
) -> None:
    """The call's counts: Bedrock's metered ones (headers or invocation-log fields; input without the cache)
    where present, the body's usage for the rest. Neither -> RecordError, never a free call."""
    stated = body_usage(body)
    has_in, has_out = metered_in[0] is not None, metered_out[0] is not None
    if stated is None and not has_in:
        # Without the input count the call cannot be priced: rejected, never read as a 0-token call. (An input
        # count alone is a whole call: embeddings have no output.)
        missing = " or ".join(n for (v, n) in (metered_in, metered_out) if v is None)
        raise RecordError(f"no {missing}, and the body has no usage of a known shape ({describe(body)})")
    uncached = count(metered_in[0], metered_in[1]) if has_in else stated.uncached  # type: ignore[union-attr]
    output = count(metered_out[0], metered_out[1]) if has_out else (stated.output if stated else 0)
    if metered_read[0] is not None or metered_write[0] is not None:
        read = count(metered_read[0], metered_read[1])
        write = count(metered_write[0], metered_write[1])
        w1 = stated.write_1h if stated and stated.write_5m + stated.write_1h == write else 0
        w5 = write - w1
    elif stated is not None:
        read, w5, w1 = stated.read, stated.write_5m, stated.write_1h
    else:
        read = w5 = w1 = 0
    r.input_tokens = uncached + read + w5 + w1
    r.cache_read_tokens = read
    r.cache_write_5m_tokens = w5
    r.cache_write_1h_tokens = w1
    r.output_tokens = output
    if stated is not None and stated.reasoning <= output:
        r.reasoning_tokens = stated.reasoning
