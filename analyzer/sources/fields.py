"""The helpers sources share to read a record's fields: counts, amounts, times, texts, names.

Each turns a value as a logger wrote it into the canonical one, or raises `RecordError` with the reason; apart
from `base.py` so that the canonical record and its ranges read on their own.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from analyzer.sources.base import INT64_MAX, MAX_AMOUNT, TS_MAX_US, RecordError, canonical_bytes, in_window
from analyzer.timeparse import iso_us

_DIGITS = re.compile(r"\s*-?[0-9]{1,30}\s*")  # ASCII digits only: "²".isdigit() is True but int() refuses it


def count(value: Any, name: str, limit: int = INT64_MAX) -> int:
    """A token count: absent/None is 0; negative, fractional, non-numeric or above `limit` is a RecordError."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise RecordError(f"{name} is not a number", value)
    if isinstance(value, int):
        n = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        if abs(value) > limit:
            raise RecordError(f"{name} is out of range (more than {limit:,})", value)
        n = int(value)
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        n = int(value)
    else:
        raise RecordError(f"{name} is not a whole number", value)
    if n < 0:
        raise RecordError(f"{name} is negative: {n}")
    if n > limit:
        raise RecordError(f"{name} is out of range (more than {limit:,})", n)
    return n


def money(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RecordError(f"{name} is not a number", value)
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise RecordError(f"{name} is not a number", value) from None
    if not math.isfinite(v) or v < 0 or v > MAX_AMOUNT:
        raise RecordError(f"{name} is not a valid amount", value)
    return v


def timestamp_us(value: Any, name: str = "timestamp") -> int | None:
    """Unix seconds/ms/us/ns (number or numeric string) or ISO 8601 -> microseconds UTC. Naive times are UTC.
    A time outside 2015..2100 is a RecordError (see TS_MIN_US)."""
    if value is None or value == "":
        return None
    raw = value
    if isinstance(value, bool):
        raise RecordError(f"unparseable {name}", value)
    if isinstance(value, str):
        s = value.strip()
        try:
            value = float(s)
        except ValueError:
            try:
                iso = iso_us(s)  # any RFC 3339 / ISO 8601 spelling, BigQuery's "... UTC", HTTP dates
            except (ValueError, OverflowError):
                raise RecordError(f"unparseable {name}", raw) from None
            return in_window(iso, name, raw)
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise RecordError(f"unparseable {name}", raw)
        # Seconds until year ~5138; larger values are milliseconds, microseconds or nanoseconds.
        us: int | float
        if value > 1e17:
            us = value // 1000 if isinstance(value, int) else value / 1000
        elif value > 1e14:
            us = value
        elif value > 1e11:
            us = value * 1000
        else:
            us = value * 1_000_000
        if us > TS_MAX_US:
            raise RecordError(f"{name} is out of range (after 2100)", raw)
        return in_window(int(round(us)), name, raw)
    raise RecordError(f"unparseable {name}", raw)


def text_of(content: Any) -> str:
    """Normalised text of a message's content, identical for identical content whatever its wrapping.

    Strings are kept as they are; text blocks contribute their text; any other block (image, tool use,
    tool result, document) is its canonical JSON with cache markers removed, so that adding a
    `cache_control` breakpoint does not make the same content look new.
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict):
                if block.get("type", "text") in ("text", "input_text", "output_text") and isinstance(
                    block.get("text"), str
                ):
                    parts.append(block["text"])
                else:
                    parts.append(canonical_json(block))
            else:
                parts.append(canonical_json(block))
        return "\n".join(parts)
    if isinstance(content, dict):
        if isinstance(content.get("text"), str) and len(content) <= 3:
            return content["text"]
        return canonical_json(content)
    return str(content)


_CACHE_MARKERS = ("cache_control", "prompt_cache_breakpoint")


def breakpoint_ttl(node: Any) -> str | None:
    """The TTL of a cache breakpoint set anywhere in this content (Anthropic `cache_control`, or OpenAI's
    `prompt_cache_breakpoint`), or None."""
    if isinstance(node, dict):
        cc = node.get("cache_control")
        if isinstance(cc, dict):
            return str(cc.get("ttl") or "5m")
        if isinstance(node.get("prompt_cache_breakpoint"), dict):
            return "auto"
        for v in node.values():
            if isinstance(v, list | dict) and (ttl := breakpoint_ttl(v)):
                return ttl
    elif isinstance(node, list):
        for v in node:
            if ttl := breakpoint_ttl(v):
                return ttl
    return None


def breakpoint_blocks(node: Any) -> int:
    """How many blocks in this content carry a cache breakpoint: Anthropic counts each block with cache_control
    towards its maximum of 4 per request (more is a 400, "A maximum of 4 blocks with cache_control may be
    provided"), so a message sent as two marked blocks sets two."""
    if isinstance(node, dict):
        n = int(isinstance(node.get("cache_control"), dict) or isinstance(node.get("prompt_cache_breakpoint"), dict))
        return n + sum(breakpoint_blocks(v) for v in node.values() if isinstance(v, list | dict))
    if isinstance(node, list):
        return sum(breakpoint_blocks(v) for v in node)
    return 0


def canonical_json(value: Any) -> str:
    if isinstance(value, dict) and any(k in value for k in _CACHE_MARKERS):
        value = {k: v for k, v in value.items() if k not in _CACHE_MARKERS}
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return canonical_bytes(value).decode()


def as_object(value: Any) -> dict[str, Any]:
    """The value when it is a JSON object, else {} (so that reading its fields goes on)."""
    return value if isinstance(value, dict) else {}


def first_str(*values: Any) -> str | None:
    for v in values:
        if isinstance(v, str) and v.strip():
            return v
        if isinstance(v, int | float) and not isinstance(v, bool):
            return str(v)
    return None


def str_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value] if value else None
    if isinstance(value, list):
        out = [str(v) for v in value if v is not None and v != ""]
        return out or None
    if isinstance(value, dict):
        out = [f"{k}={v}" for k, v in value.items() if v is not None]
        return out or None
    return None


def sub(obj: Any, *keys: str) -> Any:
    """obj[k1][k2]... or None when any level is missing or not an object."""
    for k in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(k)
    return obj
