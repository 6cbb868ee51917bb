"""Produce a Bedrock ConverseStream request log by running the real boto3 SDK against a local server that replays
a recorded response (a VCR cassette's AWS event-stream bytes). Used for the conformance cases of bedrock_converse.

Each interaction of the cassette becomes one JSON line: the request (method, the cassette's uri, the JSON body) and
the response (status, and as body the list of events boto3's `converse_stream` yielded, as it yielded them).
`--stop-after N`: the client stops reading after N content deltas and closes the stream, as a client that cancels
(pydantic-ai's test_stream_cancel does this after the first delta): the events after are never seen.

    python tools/bedrock_stream_log.py CASSETTE.yaml [--stop-after N] > log.jsonl    (needs boto3 and pyyaml)
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import unquote

import boto3
import yaml


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cassette")
    ap.add_argument("--stop-after", type=int, default=None)
    args = ap.parse_args()
    with open(args.cassette, encoding="utf-8") as f:
        interactions = yaml.safe_load(f)["interactions"]
    replies: list[bytes] = []

    class Replay(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("content-length") or 0))
            body = replies.pop(0)
            self.send_response(200)
            self.send_header("content-type", "application/vnd.amazon.eventstream")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Replay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=f"http://127.0.0.1:{server.server_port}",
        region_name="us-east-1",
        aws_access_key_id="replay",
        aws_secret_access_key="replay",
    )
    for it in interactions:
        req, resp = it["request"], it["response"]
        body = req["body"]
        request = json.loads(body if isinstance(body, str) else body["string"])
        raw = resp["body"]["string"]
        replies.append(raw if isinstance(raw, bytes) else raw.encode())
        model_id = unquote(req["uri"].split("/model/", 1)[1].split("/", 1)[0])
        out = client.converse_stream(modelId=model_id, **request)
        events = []
        deltas = 0
        stream = out["stream"]
        for event in stream:
            events.append(event)
            deltas += "contentBlockDelta" in event
            if args.stop_after is not None and deltas >= args.stop_after:
                stream.close()
                break
        line = {
            "request": {"method": req["method"], "uri": req["uri"], "body": request},
            "response": {"status": out["ResponseMetadata"]["HTTPStatusCode"], "body": events},
        }
        print(json.dumps(line, ensure_ascii=False))
    server.shutdown()


if __name__ == "__main__":
    main()
