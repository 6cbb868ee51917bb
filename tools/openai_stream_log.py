"""Produce an OpenAI Chat Completions stream log by running the real openai SDK against a local server that
replays recorded responses (a VCR cassette's SSE bodies). Used for the conformance cases of openai_chat.

Each interaction of the cassette becomes one JSON line: the request (method, the cassette's uri, the JSON body) and
the response (status, and as body the list of chunks the SDK yielded, each `chunk.model_dump(exclude_unset=True)`).
`--stop-after N`: the client stops after N chunks and closes the stream, as a client that cancels or times out;
the chunks after (the usage chunk among them) are never seen.

    python tools/openai_stream_log.py CASSETTE.yaml [--stop-after N] > log.jsonl    (needs openai and pyyaml)
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import openai
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
            self.send_header("content-type", "text/event-stream; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Replay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{server.server_port}/v1", api_key="replay", max_retries=0)
    for it in interactions:
        req, resp = it["request"], it["response"]
        request = req.get("parsed_body") or json.loads(req["body"])
        raw = resp["body"]["string"]
        replies.append(raw if isinstance(raw, bytes) else raw.encode())
        stream = client.chat.completions.create(**request)
        chunks = []
        for chunk in stream:
            chunks.append(chunk.model_dump(exclude_unset=True))
            if args.stop_after is not None and len(chunks) >= args.stop_after:
                stream.close()
                break
        line = {
            "request": {"method": req["method"], "uri": req["uri"], "body": request},
            "response": {"status": 200, "body": chunks},
        }
        print(json.dumps(line, ensure_ascii=False))
    server.shutdown()


if __name__ == "__main__":
    main()
