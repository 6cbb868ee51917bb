"""How a call and a content are recognised again: a content's id (a hash of its text), whether a request id is
unique everywhere, and a record's fingerprint for an id that is not. Apart because both the parsing (which
computes them) and the tests of identity name them, without the builder around them."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

from analyzer.sources import Request


def content_id(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def fingerprint(r: Request) -> Any:
    """The start of a hash of what a record says about its call (time, model, who, usage; the message contents
    are added by the caller): a repeated request id with another fingerprint is another call (item 1)."""
    head = (
        r.ts_us,
        r.trace_ms,
        r.model,
        r.provider,
        r.conversation_id,
        r.endpoint,
        r.input_tokens,
        r.cache_read_tokens,
        r.cache_write_5m_tokens,
        r.cache_write_1h_tokens,
        r.output_tokens,
        r.reasoning_tokens,
        r.batch,
        r.status,
        r.blocks,
    )
    return hashlib.blake2b(orjson.dumps(head, default=str), digest_size=8)


_UNIQUE_RUN = re.compile(r"[A-Za-z0-9]{8,}")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")


def unique_id(rid: str) -> bool:
    """Whether a request id looks made to be unique everywhere: a provider's or gateway's random id (OpenAI's
    chatcmpl-<29 random characters>, Anthropic's msg_01..., a UUID) holds a run of 8+ letters and digits mixed,
    and 20+ of them in all. Counters (`7`, `req-000123`) and Ollama's `chatcmpl-<0..999>` do not: for those the
    record's fingerprint is part of the identity."""
    if len(rid) < 20 or len(_NOT_ALNUM.sub("", rid)) < 20:
        return False
    return any(any(c.isdigit() for c in m) and any(c.isalpha() for c in m) for m in _UNIQUE_RUN.findall(rid))
