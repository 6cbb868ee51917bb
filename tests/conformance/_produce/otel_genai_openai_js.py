"""How the otel_genai conformance files were produced: the real OpenTelemetry JS instrumentation for the openai SDK
and the real OTLP/HTTP (JSON) trace exporter, around the real openai SDK, against a local stub of the OpenAI API
that replays responses recorded from the real API.

    mkdir /tmp/otel-x && cd /tmp/otel-x && npm init -y && npm install @opentelemetry/api \
        @opentelemetry/sdk-trace-node @opentelemetry/sdk-trace-base @opentelemetry/exporter-trace-otlp-http \
        @opentelemetry/instrumentation @opentelemetry/instrumentation-openai @opentelemetry/resources openai
    python tests/conformance/_produce/otel_genai_openai_js.py /tmp/otel-x RECORDINGS OUT_DIR

(used: @opentelemetry/instrumentation-openai 0.21.0, @opentelemetry/exporter-trace-otlp-http 0.223.1,
@opentelemetry/sdk-trace-node 2.12.1, openai 6.49.0, node v20.20.2). RECORDINGS holds two nock recordings of
open-telemetry/opentelemetry-js-contrib, `packages/instrumentation-openai/test/mock-responses/`
(`openai-chat-completions-adds-genai-conventions.json`, commit c9c4f15a2d4ae080d28221fd0b365569abc475b9, recorded
from api.openai.com 2025-07-11; `openai-streaming-chat-completions-records-usage.json`, commit
ef11a79276746a6cc9713788603b929bf00dfa3d, recorded 2025-07-17; Apache-2.0). The stub answers
/v1/chat/completions with the recorded body (the gzip hex unpacked, or the event stream, bytes unchanged) and
keeps the body the exporter POSTs to /v1/traces, unchanged, as OUT_DIR/<case>.otlp.json: the OTLP/JSON a
Collector's OTLP/HTTP receiver gets. Not a test: stdlib only, no import from the project.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CALL_JS = r"""
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { OpenAIInstrumentation } = require('@opentelemetry/instrumentation-openai');
const [base, otlp, mode] = process.argv.slice(2);
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'conformance-openai-node' }),
  spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: otlp }))],
});
provider.register();
registerInstrumentations({ instrumentations: [new OpenAIInstrumentation()] });
const { OpenAI } = require('openai');
(async () => {
  const client = new OpenAI({ apiKey: 'sk-stub', baseURL: base });
  const messages = [{ role: 'user', content: 'Answer in up to 3 words: Which ocean contains Bouvet Island?' }];
  if (mode === 'stream') {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true },
    });
    for await (const _ of stream) { /* drain */ }
  } else {
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
  }
  await provider.forceFlush();
  await provider.shutdown();
})();
"""

CASES = {
    "chat": "openai-chat-completions-adds-genai-conventions.json",
    "stream": "openai-streaming-chat-completions-records-usage.json",
}


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Content-Length"):
        return handler.rfile.read(int(handler.headers["Content-Length"]))
    data = b""
    while True:  # chunked, as the exporter sends it
        size = int(handler.rfile.readline().strip(), 16)
        if not size:
            handler.rfile.readline()
            return data
        data += handler.rfile.read(size)
        handler.rfile.readline()


def _serve(recording: dict, traces: list[bytes]) -> ThreadingHTTPServer:
    resp = recording["response"]
    if isinstance(resp, list):
        body, ctype = gzip.decompress(bytes.fromhex("".join(resp))), "application/json"
    else:
        body, ctype = resp.encode(), "text/event-stream; charset=utf-8"

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            data = _read_body(self)
            if self.path.endswith("/v1/traces"):
                traces.append(data)
                payload, kind = b"{}", "application/json"
            else:
                payload, kind = body, ctype
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


def main(node_dir: str, recordings: str, out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    script = Path(node_dir) / "conformance_call.js"
    script.write_text(CALL_JS)
    for mode, name in CASES.items():
        recording = json.loads((Path(recordings) / name).read_text())[0]
        traces: list[bytes] = []
        server = _serve(recording, traces)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        subprocess.run(["node", str(script), f"{base}/v1", f"{base}/v1/traces", mode], cwd=node_dir, check=True)
        server.shutdown()
        assert len(traces) == 1, f"{mode}: {len(traces)} export requests"
        (out / f"{mode}.otlp.json").write_bytes(traces[0])


if __name__ == "__main__":
    main(*sys.argv[1:4])
