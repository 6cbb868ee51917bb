"""OpenAI Batch API files: the input JSONL (`custom_id`, `method`, `url`, `body`) and the output JSONL
(`custom_id`, `response.status_code`, `response.body`, `error`).

The output carries usage and is what was billed (at the Batch API's discount); when the input file is given
too, its request bodies are joined by `custom_id` so the messages are known. An input file alone bills
nothing and adds no rows.
"""

from __future__ import annotations

from typing import Any

from analyzer.providers import guess_provider
from analyzer.sources.base import RecordError, Request, Source
from analyzer.sources.fields import first_str, sub
from analyzer.sources.hosts import compat_provider
from analyzer.sources.openai_chat import apply_openai_usage, chat_messages, created_us, reply_messages

BATCH_INPUTS = "openai_batch_inputs"  # ctx key: custom_id -> request body


class OpenAIBatchInput(Source):
    name = "openai_batch_input"
    title = "OpenAI Batch API input file (joined to its output by custom_id)"
    enables = "request messages for the matching batch output lines"
    example = "openai_batch_input.jsonl"
    detected_by = "lines with custom_id and a request body (no response)"
    companion = True
    shares_run = True

    def sniff(self, obj: dict[str, Any]) -> bool:
        return "custom_id" in obj and isinstance(obj.get("body"), dict) and "response" not in obj

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> None:
        cid = first_str(obj.get("custom_id"))
        if cid is None:
            raise RecordError("batch input line has no custom_id")
        ctx.setdefault(BATCH_INPUTS, {})[cid] = obj["body"]
        return None


class OpenAIBatchOutput(Source):
    name = "openai_batch_output"
    title = "OpenAI Batch API output file"
    enables = "cost at batch prices, cached and reasoning tokens; messages when the input file is given"
    example = "openai_batch_output.jsonl"
    detected_by = "lines with custom_id and a response or error (no body)"
    shares_run = True  # joins the inputs' bodies that the batch input files left in ctx

    def sniff(self, obj: dict[str, Any]) -> bool:
        return "custom_id" in obj and ("response" in obj or "error" in obj) and "body" not in obj

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Request:
        cid = first_str(obj.get("custom_id"))
        body = sub(obj, "response", "body")
        status = sub(obj, "response", "status_code")
        if body is None and isinstance(obj.get("response"), dict) and "usage" in obj["response"]:
            body = obj["response"]  # vLLM's run_batch until mid-2024: the completion itself, no status_code/body
        req = ctx.get(BATCH_INPUTS, {}).get(cid) if cid else None
        if not isinstance(body, dict):
            if obj.get("error"):
                failed = first_str(sub(req, "model")) or "unknown"
                return Request(model=failed, request_id=first_str(obj.get("id")), status="error", batch=True)
            raise RecordError("batch output line has neither response.body nor error")
        model = first_str(body.get("model"), sub(req, "model"))
        if model is None:
            raise RecordError("no model in batch response body")
        r = Request(model=model, batch=True, endpoint=first_str(sub(req, "url")) or "batch")
        r.request_id = first_str(obj.get("id"), sub(obj, "response", "request_id"), body.get("id"))
        r.ts_us = created_us(body)  # Chat Completions `created`, Responses API `created_at`
        # OpenAI's batch format is written by other providers too (Groq's lines carry `x_groq` and
        # `batch_req_out_` ids): the body's marks, else the model's name, else OpenAI.
        r.provider = compat_provider(body, model) or _batch_provider(obj) or guess_provider(model) or "openai"
        r.service_tier = "batch"
        usage = body.get("usage")
        if not isinstance(usage, dict):
            raise RecordError("batch response body has no usage")
        apply_openai_usage(r, usage)
        if isinstance(status, int) and status >= 400:
            r.status = "error"
        if isinstance(req, dict):
            r.has_tools = bool(req.get("tools"))
            r.messages = chat_messages(req)
            r.user = first_str(req.get("user"))
        r.messages = r.messages + reply_messages(body)
        return r.check()


def _batch_provider(obj: dict[str, Any]) -> str | None:
    """A batch output line's provider from its own metadata: Groq numbers its lines `batch_req_out_...`."""
    return "groq" if str(obj.get("id", "")).startswith("batch_req_out_") else None
