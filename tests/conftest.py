"""Shared fixtures: paths to the samples, a fresh catalogue, stores, and a CLI runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer.prices import load_catalogue
from analyzer.store import Store

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_logs"
SHARED = ROOT.parent / "shared" / "samples"


@pytest.fixture(scope="session")
def catalogue():
    return load_catalogue()


@pytest.fixture
def store():
    s = Store()
    yield s
    s.close()


@pytest.fixture
def runner():
    return CliRunner()


def write_jsonl(path: Path, records: list) -> Path:
    """Records as JSONL; a str is written as the raw line (to make broken lines)."""
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    return path


def openai_record(model="gpt-4o", prompt=100, completion=20, cached=0, ts=1_764_000_000, rid=None, **meta):
    resp = {
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }
    if rid:
        resp["id"] = rid
    rec = {
        "timestamp": ts,
        "request": {"model": model, "messages": [{"role": "user", "content": "hi"}]},
        "response": resp,
    }
    if meta:
        rec["metadata"] = meta
    return rec


def chat_call(
    rid: str,
    ts: float,
    messages: list[dict],
    usage: dict,
    model: str = "gpt-4o-mini",
    user: str | None = None,
    reply: str = "ok",
) -> dict:
    """One recorded Chat Completions call in the openai_chat format ({timestamp, request, response})."""
    request: dict = {"model": model, "messages": messages}
    if user is not None:
        request["user"] = user
    return {
        "timestamp": ts,
        "request": request,
        "response": {
            "id": rid,
            "object": "chat.completion",
            "model": model,
            "usage": usage,
            "choices": [{"message": {"role": "assistant", "content": reply}}],
        },
    }


def agent_calls(
    conversations: int = 3, turns: int = 40, model: str = "deepseek-chat", t0: float = 1_764_000_000, step: float = 20.0
) -> list[dict]:
    """A DeepSeek-like agent log: a long system prompt, then many turns each re-sending the whole history (as
    mini-swe-agent does), with the provider's reported cache hits on the re-sent part."""
    system = "You are a software engineering agent. " + " ".join(f"rule{i} keep changes minimal" for i in range(300))
    out = []
    for c in range(conversations):
        messages = [{"role": "system", "content": system}, {"role": "user", "content": f"Fix issue {c} in repo."}]
        sent = 0
        for t in range(turns):
            prompt = 1400 + 60 * t
            call = chat_call(
                f"c{c}t{t}",
                t0 + c * 3600 + t * step,
                list(messages),
                {"prompt_tokens": prompt, "completion_tokens": 50, "prompt_tokens_details": {"cached_tokens": sent}},
                model=model,
                reply=f"THOUGHT: step {t} of task {c}\n```bash\nls src/{t}\n```",
            )
            out.append(call)
            sent = prompt
            messages += [
                {"role": "assistant", "content": f"THOUGHT: step {t} of task {c}\n```bash\nls src/{t}\n```"},
                {"role": "user", "content": f"<returncode>0</returncode><output>file_{t}.py other_{c}.py</output>"},
            ]
    return out
