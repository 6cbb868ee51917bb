"""Convert VCR (vcrpy) cassettes into a JSON array of request/response pairs, the envelope llmcost reads.

    python tests/conformance/_tools/vcr_to_pairs.py OUT.json CASSETTE.yaml [CASSETTE.yaml ...]

For each interaction, in order: {"request": {"method", "uri", "body"}, "response": {"status", "headers", "body"}},
where each body is the recorded body parsed as JSON (kept as the recorded string when it is not JSON) and the
response headers are kept as recorded (Bedrock's token counts travel in `X-Amzn-Bedrock-*-Token-Count`). Request
headers (signatures, user agents) are dropped. No value is changed. Needs PyYAML; used once to make a case, never
by a test.
"""

import json
import sys

import yaml


def _body(raw):
    if isinstance(raw, dict):
        raw = raw.get("string")
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def main(out, *cassettes):
    pairs = []
    for path in cassettes:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        for it in doc["interactions"]:
            req, resp = it["request"], it["response"]
            pairs.append(
                {
                    "request": {"method": req["method"], "uri": req["uri"], "body": _body(req.get("body"))},
                    "response": {
                        "status": resp["status"],
                        "headers": resp.get("headers") or {},
                        "body": _body(resp.get("body")),
                    },
                }
            )
    with open(out, "w", encoding="utf-8") as f:
        json.dump(pairs, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
