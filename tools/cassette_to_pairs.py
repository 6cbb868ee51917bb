"""Convert a VCR (vcrpy) cassette YAML into the JSON request/response pairs llmcost reads, losslessly.

Used to build the conformance cases from recorded API sessions (tests/conformance/*/PROVENANCE.md). Each
interaction becomes {"request": {"method", "uri", "body"}, "response": {"status", "body"}}: HTTP headers are
dropped; a JSON body becomes its parsed value (pydantic-ai's `parsed_body`, or `body: {type: json, content}`);
any other body (a streamed response's SSE text) is kept as its exact text. No value is changed.

    python tools/cassette_to_pairs.py CASSETTE.yaml > pairs.json
"""

from __future__ import annotations

import json
import sys

import yaml


def _body(part: dict) -> object:
    if "parsed_body" in part:
        return part["parsed_body"]
    body = part.get("body")
    if isinstance(body, dict) and "type" in body and "content" in body:
        return body["content"]  # pydantic-ai's newer cassettes: {type: json|text, content}
    if isinstance(body, dict) and "string" in body:
        body = body["string"]
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    if isinstance(body, str):
        try:
            value = json.loads(body)
        except ValueError:
            return body
        return value if isinstance(value, dict | list) else body
    return body


def convert(doc: dict) -> list[dict]:
    out = []
    for it in doc.get("interactions") or []:
        req, resp = it["request"], it["response"]
        status = resp.get("status")
        out.append(
            {
                "request": {"method": req.get("method"), "uri": req.get("uri"), "body": _body(req)},
                "response": {"status": status.get("code") if isinstance(status, dict) else status, "body": _body(resp)},
            }
        )
    return out


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        print(json.dumps(convert(yaml.safe_load(f)), indent=2, ensure_ascii=False))
