"""How the litellm_payload conformance file `litellm_generic_api_ndjson` was produced: the real LiteLLM SDK
(PyPI `litellm` 1.110.2, in its own venv) with its Generic API logger (`GenericAPILogger`, log_format "ndjson"),
calling a local stub of the OpenAI API that replays responses recorded from the real API.

    python -m venv /tmp/venv-x && /tmp/venv-x/bin/pip install litellm==1.110.2
    /tmp/venv-x/bin/python tests/conformance/_produce/litellm_generic_api.py RECORDINGS OUT_FILE

RECORDINGS holds two nock recordings of api.openai.com from open-telemetry/opentelemetry-js-contrib,
`packages/instrumentation-openai/test/mock-responses/` (`openai-chat-completions-adds-genai-conventions.json`,
commit c9c4f15a2d4ae080d28221fd0b365569abc475b9, 2025-07-11; `openai-streaming-chat-completions-records-usage.json`,
commit ef11a79276746a6cc9713788603b929bf00dfa3d, 2025-07-17; Apache-2.0). The stub answers /v1/chat/completions with
the recorded body (unpacked from the gzip hex, or the event stream as recorded) and keeps, unchanged, the body
LiteLLM's logger POSTs to /log: its StandardLoggingPayloads as NDJSON, one line per call. Not a test; no import from
the project.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RECORDINGS = [
    "openai-chat-completions-adds-genai-conventions.json",
    "openai-streaming-chat-completions-records-usage.json",
]


def _serve(bodies: list[tuple[bytes, str]], logged: list[bytes]) -> ThreadingHTTPServer:
    queue = list(bodies)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith("/log"):
                logged.append(data)
                payload, kind = b"{}", "application/json"
            else:
                payload, kind = queue.pop(0)
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def _run(base: str) -> None:
    import litellm
    from litellm.integrations.generic_api.generic_api_callback import GenericAPILogger

    logger = GenericAPILogger(endpoint=f"{base}/log", log_format="ndjson")
    litellm.callbacks = [logger]
    messages = [{"role": "user", "content": "Answer in up to 3 words: Which ocean contains Bouvet Island?"}]
    kw = {"model": "openai/gpt-4o-mini", "api_base": f"{base}/v1", "api_key": "sk-stub", "messages": messages}
    await litellm.acompletion(**kw)
    stream = await litellm.acompletion(**kw, stream=True, stream_options={"include_usage": True})
    async for _ in stream:
        pass
    await asyncio.sleep(2)  # let the success callbacks queue their payloads
    await logger.flush_queue()


def main(recordings: str, out_file: str) -> None:
    bodies = []
    for name in RECORDINGS:
        resp = json.loads((Path(recordings) / name).read_text())[0]["response"]
        if isinstance(resp, list):
            bodies.append((gzip.decompress(bytes.fromhex("".join(resp))), "application/json"))
        else:
            bodies.append((resp.encode(), "text/event-stream; charset=utf-8"))
    logged: list[bytes] = []
    server = _serve(bodies, logged)
    asyncio.run(_run(f"http://127.0.0.1:{server.server_address[1]}"))
    server.shutdown()
    Path(out_file).write_bytes(b"".join(logged))
    print(f"{len(logged)} POSTs to /log")


if __name__ == "__main__":
    main(*sys.argv[1:3])
