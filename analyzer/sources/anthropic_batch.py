"""Anthropic Message Batches results (`GET /v1/messages/batches/{id}/results`, the `.jsonl` the Console and the
SDKs download).

One line per request of the batch: `custom_id` and `result`. `result.type` "succeeded" holds the full Message
(`result.message`: `id`, `model`, `content`, `usage` as the Messages API writes it), billed at the batch prices
(half the standard ones; the catalogue's `*_batches` prices, else half). "errored" (`result.error`), "expired" and
"canceled" requests were never run or not charged: they are counted as failed calls, at $0, tagged with their
result type so they can be told apart. The lines carry no time; a results file is one batch, so `custom_id` is
the request's id within it.
"""

from __future__ import annotations

from typing import Any

from analyzer.sources.anthropic import apply_anthropic_usage
from analyzer.sources.base import RecordError, Request, Source
from analyzer.sources.fields import first_str, text_of

RESULT_TYPES = ("succeeded", "errored", "expired", "canceled")


class AnthropicBatchResults(Source):
    name = "anthropic_batch_results"
    title = "Anthropic Message Batches results (.jsonl: custom_id, result)"
    enables = "cost at batch prices (cache reads and 5m/1h writes), failed/expired/canceled requests counted apart"
    example = "tests/fixtures/anthropic_batch_results.jsonl"
    detected_by = '"custom_id" and a "result" whose type is succeeded, errored, expired or canceled'

    def sniff(self, obj: dict[str, Any]) -> bool:
        result = obj.get("result")
        return "custom_id" in obj and isinstance(result, dict) and result.get("type") in RESULT_TYPES

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Request:
        result = obj.get("result")
        if not isinstance(result, dict):
            raise RecordError("no result object")
        kind = result.get("type")
        custom_id = first_str(obj.get("custom_id"))
        if kind == "succeeded":
            message = result.get("message")
            if not isinstance(message, dict):
                raise RecordError("succeeded result has no message")
            model = first_str(message.get("model"))
            if model is None:
                raise RecordError("succeeded result's message has no model")
            usage = message.get("usage")
            if not isinstance(usage, dict):
                raise RecordError("succeeded result's message has no usage")
            r = Request(model=model, provider="anthropic", batch=True)
            apply_anthropic_usage(r, usage)
            r.batch = True  # whatever usage.service_tier says: a batch result is billed at batch prices
            r.request_id = first_str(message.get("id"), custom_id)
            content = message.get("content")
            if content is not None:
                r.messages = [("assistant", text_of(content), True)]
        elif kind in RESULT_TYPES:
            # errored, expired, canceled: not billed. The model is not in the line (the request params are in
            # the batch's input, not its results).
            r = Request(model="unknown", provider="anthropic", batch=True, status="error")
            r.request_id = custom_id
            r.tags = [f"batch_result:{kind}"]
        else:
            raise RecordError("result.type is not succeeded, errored, expired or canceled", kind)
        r.endpoint = "messages.batches"
        return r.check()
