"""One valid record of every format, and where its token count and its time are, for the tests that break
them on purpose. Kept beside the tests (not read from the samples at run time) would drift; reading the first
record of each sample keeps them real."""

from __future__ import annotations

import copy
from typing import Any

from tests.robustness.conftest import first_record

# format -> (sample, path of a token count, path of the record's time or None)
FORMATS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...] | None]] = {
    "openai_chat": ("openai_chat.jsonl", ("response", "usage", "prompt_tokens"), ("timestamp",)),
    "anthropic_messages": ("anthropic_messages.jsonl", ("response", "usage", "output_tokens"), ("timestamp",)),
    "claude_code": ("claude_code_ccusage.jsonl", ("message", "usage", "output_tokens"), ("timestamp",)),
    "litellm_payload": (
        "litellm_standard_logging_payload.json",
        ("response", "usage", "completion_tokens"),
        ("startTime",),
    ),
    "litellm_spend_log": (
        "litellm_spend_log.json",
        ("completion_tokens",),
        ("startTime",),
    ),
    "openai_batch_output": (
        "openai_batch_output.jsonl",
        ("response", "body", "usage", "completion_tokens"),
        ("response", "body", "created"),
    ),
    "mooncake_trace": ("mooncake_trace.jsonl", ("output_length",), None),
}


def template(fmt: str) -> dict[str, Any]:
    obj = copy.deepcopy(first_record(FORMATS[fmt][0]))
    if fmt == "litellm_spend_log":
        obj.pop("metadata", None)  # a JSON string holding the usage again; the row's own columns are tested
    return obj


def with_value(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    node = out
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return out


def distinct(obj: dict[str, Any], i: int) -> dict[str, Any]:
    """The record made a different call (its own id), so that copies are not counted as duplicates."""
    out = copy.deepcopy(obj)
    for keys in (("id",), ("request_id",), ("requestId",), ("custom_id",), ("response", "id")):
        node = out
        for k in keys[:-1]:
            node = node.get(k) if isinstance(node, dict) else None
        if isinstance(node, dict) and keys[-1] in node:
            node[keys[-1]] = f"{node[keys[-1]]}-{i}"
    if isinstance(out.get("message"), dict) and "id" in out["message"]:
        out["message"]["id"] = f"{out['message']['id']}-{i}"
    if isinstance(out.get("response"), dict) and isinstance(out["response"].get("body"), dict):
        out["response"]["body"]["id"] = f"{out['response']['body'].get('id')}-{i}"
    return out
