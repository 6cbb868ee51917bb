"""`llmcost tokens`: what a text (a file, stdin, or the argument itself) counts in a model's tokenizer, and what it
costs as the input of 1,000 calls.

Apart from analyzer/tokens.py, which holds the tokenizers: this decides what the argument names (a file, or
text) and prices the count, in the shape `tokens --json` prints.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from analyzer import tokens
from analyzer.errors import InputError
from analyzer.prices import Catalogue, price_one


def looks_like_a_path(arg: str) -> bool:
    """One word with a folder separator or a file suffix: meant as a file, so a typo must not be counted as text."""
    if any(c.isspace() for c in arg):
        return False
    return "/" in arg or "\\" in arg or re.search(r"\.\w{1,5}$", arg) is not None


def text_of(file_or_text: str, literal: bool) -> str:
    """The text to count: the argument itself with `literal`, stdin for '-', a file's contents, or the argument
    when it names no file and does not look like a file name (a missing file is an error, not a count)."""
    if literal:
        return file_or_text
    if file_or_text == "-":
        return sys.stdin.read()
    path = Path(file_or_text)
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            raise InputError(f"cannot read ({e.strerror or e})", path=file_or_text) from None
    if path.exists() or looks_like_a_path(file_or_text):
        what = "not a file" if path.exists() else "no such file"
        raise InputError(f"{what} (to count these characters as text, use --text)", path=file_or_text)
    return file_or_text


def count_text(text: str, model: str) -> dict[str, Any]:
    """The count in MODEL's tokenizer: exact, or an estimate where the tokenizer is not public."""
    enc = tokens.encoding_for(model)
    return {
        "model": model,
        "encoding": enc,
        "tokens": tokens.count(text, enc),
        "exact": tokens.is_exact(model),
        "chars": len(text),
    }


def priced_count(counted: dict[str, Any], cat: Catalogue) -> dict[str, Any]:
    """The count with the text's price as input per 1,000 calls (None when the catalogue does not price the
    model): what `tokens --json` prints."""
    priced = price_one(cat, counted["model"], input_tokens=counted["tokens"])
    per_1k = None if priced["cost"] is None else priced["cost"] * 1000
    return counted | {"price_key": priced["model_key"], "input_cost_per_1k_calls_usd": per_1k}
