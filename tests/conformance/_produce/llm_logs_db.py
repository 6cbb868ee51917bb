"""How the llm_logs_db conformance files were produced: the real `llm` CLI (PyPI `llm`, run from its own venv)
against a local stub of the OpenAI Chat Completions API that replays responses recorded from the real API.

    python -m venv /tmp/llmvenv && /tmp/llmvenv/bin/pip install llm==0.36 llm-anthropic==0.30
    python tests/conformance/_produce/llm_logs_db.py /tmp/llmvenv/bin/llm OUT_DIR CASSETTES [OLD_LLM]

CASSETTES is tests/models/cassettes/test_anthropic of a pydantic-ai checkout; OLD_LLM an llm 0.31 (in its own
venv: `pip install llm==0.31 httpx`, as 0.31 imports httpx, which the openai it now gets no longer brings).

The stub answers each POST (OpenAI /v1/chat/completions, Anthropic /v1/messages) with the next recorded response
body, unchanged, and keeps the request bodies llm sent (OUT_DIR/<case>.requests.json). The recorded responses are
pydantic-ai's VCR cassettes recorded against api.openai.com and api.anthropic.com: the o3-mini one of
shared/samples/openai_chat_completions (see its PROVENANCE.txt), and two Anthropic event streams read from
CASSETTES = tests/models/cassettes/test_anthropic/ of a pydantic/pydantic-ai checkout (commit
4fda38988f2939fa6ea9cdefcf120693e10ef491), served byte for byte. llm writes
OUT_DIR/<case>/logs.db itself (LLM_USER_PATH); nothing here touches the database. Not a test: stdlib only, no
import from the project.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "openai_chat_completions"
if not SAMPLES.exists():
    SAMPLES = Path("/work/shared/samples/openai_chat_completions")


def _serve(responses: list, seen: list[dict]) -> ThreadingHTTPServer:
    """Each POST gets the next response: a JSON body (dict) as application/json, or a recorded event stream
    (str, the cassette's body bytes) as text/event-stream."""
    queue = list(responses)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            seen.append(json.loads(body))
            answer = queue.pop(0)
            sse = isinstance(answer, str)
            out = answer.encode() if sse else json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("content-type", "text/event-stream; charset=utf-8" if sse else "application/json")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run_case(llm: str, out: Path, name: str, model_id: str, answers: list, prompts: list[list], anthropic=False):
    """llm, its user dir OUT/<name>, asks the stub `prompts` in turn (each a list of CLI arguments)."""
    home = out / name
    home.mkdir(parents=True, exist_ok=True)
    seen: list[dict] = []
    server = _serve(answers, seen)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    env = {**os.environ, "LLM_USER_PATH": str(home)}
    if anthropic:  # llm-anthropic's client (the anthropic SDK) takes its base URL from the environment
        env["ANTHROPIC_BASE_URL"] = base
        subprocess.run([llm, "keys", "set", "anthropic", "--value", "sk-ant-stub"], env=env, check=True)
    else:  # llm's own OpenAI plugin: a model of extra-openai-models.yaml with the real model's name
        (home / "extra-openai-models.yaml").write_text(
            f"- model_id: {model_id}\n  model_name: {model_id}\n  api_base: {base}/v1\n  api_key_name: stub\n"
        )
        subprocess.run([llm, "keys", "set", "stub", "--value", "sk-stub"], env=env, check=True)
    for args in prompts:
        subprocess.run([llm, "-m", model_id, "--no-stream", *args], env=env, check=True)
    server.shutdown()
    log = out / f"{name}.requests.json"  # a case run by two llm versions keeps both runs' requests
    log.write_text(json.dumps((json.loads(log.read_text()) if log.exists() else []) + seen, indent=1))


def _stream(cassette: Path) -> str:
    """The recorded event stream of a one-interaction VCR cassette (PyYAML: run with a Python that has it)."""
    import yaml

    (interaction,) = yaml.safe_load(cassette.read_text())["interactions"]
    return interaction["response"]["body"]["string"]


def _response(cassette: Path) -> dict:
    """The recorded JSON body of a one-interaction VCR cassette (its `parsed_body`)."""
    import yaml

    (interaction,) = yaml.safe_load(cassette.read_text())["interactions"]
    return interaction["response"]["parsed_body"]


def main() -> None:
    llm, out, cassettes = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    o3 = json.loads((SAMPLES / "o3_mini_request_response.json").read_text())
    run_case(llm, out, "o3_mini", "o3-mini", [p["response"]["body"] for p in o3], [["hello"]])
    streams = [
        _stream(cassettes / "test_request_stream_fallback_for_high_max_tokens.yaml"),
        _stream(cassettes / "test_anthropic_model_thinking_part_stream.yaml"),
    ]
    prompts = [["Hello"], ["-c", "How do I cross the street?"]]
    run_case(llm, out, "sonnet_conversation", "claude-sonnet-4.5", streams, prompts, anthropic=True)
    if len(sys.argv) > 4:  # an older llm (0.31, the `responses` schema): its database, then upgraded by this llm
        old_llm = sys.argv[4]
        mini = _response(cassettes.parent / "test_openai" / "test_max_completion_tokens[gpt-4o-mini].yaml")
        run_case(old_llm, out, "upgraded", "gpt-4o-mini", [mini], [["hello"]])
        run_case(llm, out, "upgraded", "o3-mini", [p["response"]["body"] for p in o3], [["hello"]])


if __name__ == "__main__":
    main()
