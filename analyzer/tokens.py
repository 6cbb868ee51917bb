"""Token counting offline: tiktoken's BPE files ship inside the package and are hash-checked on load.

Which encoding a model uses, whether the count is exact (OpenAI's public tokenizers) or an estimate (Claude,
Gemini, DeepSeek: o200k scaled by a ratio calibrated on the log's own reported input tokens).
"""

from __future__ import annotations

import binascii
import hashlib
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib import resources

import tiktoken
import tiktoken.load
import tiktoken_ext.openai_public as openai_public

# The hashes tiktoken itself pins for these files (tiktoken_ext/openai_public.py).
EXPECTED_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
ENCODINGS = tuple(EXPECTED_SHA256)
DEFAULT_ENCODING = "o200k_base"


def _local_bpe(name: str):
    path = resources.files("analyzer") / "data" / "tokenizers" / f"{name}.tiktoken"

    def load(_url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        # What tiktoken.load.load_tiktoken_bpe returns for this file, read from our shipped copy and checked
        # against tiktoken's pinned hash: binascii decodes each token without base64.b64decode's Python wrapper
        # (0.4 of the 0.5 s the file took to load), and nothing is copied into a cache folder.
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != EXPECTED_SHA256[name]:
            raise ValueError(f"the shipped tokenizer file {name}.tiktoken does not match its pinned hash")
        a2b = binascii.a2b_base64
        return {a2b(token): int(rank) for token, rank in (line.split() for line in data.splitlines() if line)}

    return load


_LOADING = threading.Lock()


@cache
def _encoding(name: str) -> tiktoken.Encoding:
    # tiktoken's constructor for the encoding, reading our file: its loader swapped for the call (under _LOADING;
    # unittest.mock would do the same, at the cost of importing asyncio into every process)
    real = openai_public.load_tiktoken_bpe
    openai_public.load_tiktoken_bpe = _local_bpe(name)
    try:
        params = getattr(openai_public, name)()
    finally:
        openai_public.load_tiktoken_bpe = real
    return tiktoken.Encoding(**params)


def encoding(name: str = DEFAULT_ENCODING) -> tiktoken.Encoding:
    if name not in EXPECTED_SHA256:
        raise ValueError(f"unknown encoding {name!r}")
    with _LOADING:  # threads asking at once load the file once
        return _encoding(name)


def encoding_for(model: str) -> str:
    """cl100k for the GPT-4/3.5 generation and ada embeddings; o200k for everything newer and non-OpenAI."""
    m = model.lower().rsplit("/", 1)[-1]
    if m.startswith("gpt-4") and not m.startswith(("gpt-4o", "gpt-4.1", "gpt-4.5")):
        return "cl100k_base"
    if m.startswith(("gpt-3.5", "text-embedding-ada", "text-embedding-3", "gpt-35")):
        return "cl100k_base"
    return DEFAULT_ENCODING


def is_exact(model: str, provider: str | None = None) -> bool:
    """True when the model's real tokenizer is the one we count with (OpenAI models)."""
    m = model.lower().rsplit("/", 1)[-1]
    if provider not in (None, "openai", "azure", "openrouter"):
        return False
    return m.startswith(("gpt-", "o1", "o3", "o4", "chatgpt", "text-embedding", "codex"))


def count(text: str, name: str = DEFAULT_ENCODING) -> int:
    return len(encoding(name).encode_ordinary(text))


def count_many(texts: list[str], name: str = DEFAULT_ENCODING, threads: int = 2) -> list[int]:
    """Token counts of many texts. tiktoken releases the GIL while encoding, so the list is cut into one
    contiguous chunk per thread (not one task per text: per-task overhead dominates for short messages)."""
    if not texts:
        return []
    enc = encoding(name)

    def run(chunk: list[str]) -> list[int]:
        return [len(enc.encode_ordinary(t)) for t in chunk]

    if threads < 2 or len(texts) < 256:
        return run(texts)
    size = -(-len(texts) // threads)
    chunks = [texts[i : i + size] for i in range(0, len(texts), size)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return [n for part in pool.map(run, chunks) for n in part]


# Chat formatting overhead OpenAI documents for its chat models: ~3 tokens per message plus 3 to prime the
# reply. Used when estimating a request's input from its messages.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_REPLY = 3


def chat_input(message_tokens: Sequence[int]) -> int:
    """A chat request's input as counted from its messages' tokens, with OpenAI's formatting overhead."""
    return sum(message_tokens) + TOKENS_PER_MESSAGE * len(message_tokens) + TOKENS_PER_REPLY
