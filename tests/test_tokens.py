"""Offline tokenizers: shipped files, hash-checked, counting like tiktoken's own encodings."""

from __future__ import annotations

import hashlib
from importlib import resources

import pytest
import tiktoken.load

from analyzer import tokens


@pytest.mark.parametrize("name", tokens.ENCODINGS)
def test_shipped_files_match_tiktoken_pinned_hashes(name):
    data = (resources.files("analyzer") / "data" / "tokenizers" / f"{name}.tiktoken").read_bytes()
    assert hashlib.sha256(data).hexdigest() == tokens.EXPECTED_SHA256[name]


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("hello world", "o200k_base", 2),
        ("hello world", "cl100k_base", 2),
        ("", "o200k_base", 0),
        # counts given in OpenAI's cookbook (How to count tokens with tiktoken)
        ("tiktoken is great!", "cl100k_base", 6),
        ("antidisestablishmentarianism", "cl100k_base", 6),
    ],
)
def test_counts(text, name, expected):
    assert tokens.count(text, name) == expected


def test_count_many_equals_count():
    texts = ["alpha beta", "x" * 1000, "ünïcödé ✓", ""]
    assert tokens.count_many(texts) == [tokens.count(t) for t in texts]


def _local_files_readable(monkeypatch) -> None:
    """tiktoken's own loader, the oracle below, reads a local path with open() from 0.12; before, only through the
    optional blobfile package. The same bytes either way: what is compared is its parsing and hash check."""
    real = tiktoken.load.read_file

    def read(blobpath: str) -> bytes:
        if blobpath.startswith(("http://", "https://")):
            return real(blobpath)
        with open(blobpath, "rb") as fh:
            return fh.read()

    monkeypatch.setattr(tiktoken.load, "read_file", read)


def test_tampered_file_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / "o200k_base.tiktoken"
    bad.write_bytes(b"aGVsbG8= 0\n")
    _local_files_readable(monkeypatch)
    with pytest.raises(ValueError, match="[Hh]ash"):
        tiktoken.load.load_tiktoken_bpe(str(bad), expected_hash=tokens.EXPECTED_SHA256["o200k_base"])


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4.1-mini", "o200k_base"),
        ("gpt-4-0613", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("openai/gpt-4-turbo", "cl100k_base"),
        ("claude-sonnet-4-5", "o200k_base"),
        ("o3-mini", "o200k_base"),
    ],
)
def test_encoding_for(model, encoding):
    assert tokens.encoding_for(model) == encoding


def test_exactness():
    assert tokens.is_exact("gpt-4o") and not tokens.is_exact("claude-sonnet-4-5", "anthropic")
    assert not tokens.is_exact("deepseek-chat", "deepseek")


def test_loading_never_reads_a_url(monkeypatch):
    seen = []
    real = tiktoken.load.read_file

    def spy(blobpath):
        seen.append(blobpath)
        assert not blobpath.startswith(("http://", "https://")), "tokenizer load tried the network"
        return real(blobpath)

    monkeypatch.setattr(tiktoken.load, "read_file", spy)
    tokens._encoding.cache_clear()
    try:
        assert tokens.count("offline", "cl100k_base") > 0
    finally:
        tokens._encoding.cache_clear()
    # the shipped file is read directly: tiktoken reads nothing, and never a URL
    assert all(p.endswith("cl100k_base.tiktoken") for p in seen)


@pytest.mark.parametrize("name", tokens.ENCODINGS)
def test_shipped_loader_gives_tiktokens_own_ranks(name, monkeypatch):
    """Our loader (binascii, no cache folder) must give exactly what tiktoken's load_tiktoken_bpe gives."""
    path = resources.files("analyzer") / "data" / "tokenizers" / f"{name}.tiktoken"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    _local_files_readable(monkeypatch)
    theirs = tiktoken.load.load_tiktoken_bpe(str(path), expected_hash=tokens.EXPECTED_SHA256[name])
    assert tokens._local_bpe(name)("unused") == theirs


def test_shipped_loader_refuses_a_file_that_does_not_match_its_hash(monkeypatch):
    monkeypatch.setitem(tokens.EXPECTED_SHA256, "cl100k_base", "0" * 64)
    with pytest.raises(ValueError, match="pinned hash"):
        tokens._local_bpe("cl100k_base")("unused")
