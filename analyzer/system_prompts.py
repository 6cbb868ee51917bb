"""System prompts: near-identical ones whose early volatile span (a date, a name, an id) keeps each variant
from sharing a cached prefix (`volatile_prefixes`), and long prompts shared word for word by many requests
(`shared_system_prefixes`). Apart from prefixes.py, which follows the requests' message chains."""

from __future__ import annotations

from typing import cast

import polars as pl

from analyzer import tokens


def _several(system_texts: pl.DataFrame) -> bool:
    """Whether there are two prompt texts to compare: with one (an agent's single system prompt), no group can
    form, and the tokenizer is not loaded for nothing (0.27 s of the command's own process on the real traces)."""
    return system_texts.height >= 2 and system_texts["text"].drop_nulls().len() >= 2


def volatile_prefixes(system_texts: pl.DataFrame, min_tokens: int = 64, limit: int = 20) -> list[dict[str, object]]:
    """Near-identical system prompts that differ early. Variants are grouped by their last 32 tokens (the
    shared tail); within a group the first differing token position and the longest common suffix bound the
    volatile span. Moving it to the end would make `len - span` tokens cacheable instead of `first_diff`.

    system_texts: content_id, text, requests (how many requests sent it), model (the one most sent to).
    """
    if not _several(system_texts):
        return []
    enc = tokens.encoding()
    if "model" not in system_texts.columns:
        system_texts = system_texts.with_columns(model=pl.lit(None, pl.String))
    groups: dict[tuple[int, ...], list[tuple[list[int], str, int, str | None, str]]] = {}
    for cid, text, n, model in system_texts.select("content_id", "text", "requests", "model").iter_rows():
        if text is None:
            continue
        toks = enc.encode_ordinary(text)
        if len(toks) < min_tokens:
            continue
        groups.setdefault(tuple(toks[-32:]), []).append((toks, text, n, model, cid))
    out = []
    for variants in groups.values():
        variants.sort(key=lambda v: (-v[2], v[1]))  # the most sent variant first: it is the one shown
        seqs = [v[0] for v in variants]
        lengths = sorted(len(s) for s in seqs)
        # variants of one template differ in a short span, so their lengths are close
        if len(variants) < 2 or lengths[0] < 0.9 * lengths[-1]:
            continue
        shortest = min(len(s) for s in seqs)
        first_diff = 0
        while first_diff < shortest and all(s[first_diff] == seqs[0][first_diff] for s in seqs):
            first_diff += 1
        suffix = 0
        while suffix < shortest - first_diff and all(s[-1 - suffix] == seqs[0][-1 - suffix] for s in seqs):
            suffix += 1
        length = round(sum(len(s) for s in seqs) / len(seqs))
        span = length - first_diff - suffix
        if span > max(32, length // 5):  # not a volatile span but a different prompt with the same ending
            continue
        base = seqs[0]
        models: dict[str, int] = {}
        for v in variants:
            if v[3]:
                models[v[3]] = models.get(v[3], 0) + v[2]
        out.append(
            {
                "variants": len(variants),
                "requests": sum(v[2] for v in variants),
                "tokens": length,
                "first_diff_token": first_diff,
                "volatile_tokens": span,
                "cacheable_now": first_diff,
                "cacheable_if_moved_to_end": length - span,
                "gain_tokens": length - span - first_diff,
                "stable_before": enc.decode(base[max(0, first_diff - 12) : first_diff]),
                "volatile_example": enc.decode(base[first_diff : len(base) - suffix]),
                "prompt_start": enc.decode(base[:24]),
                # the shown variant's text and where those three fragments lie in it (characters), for excerpts
                # that are redacted as part of the whole text
                "_text": variants[0][1],
                "_spans": {
                    "stable_before": (
                        len(enc.decode(base[: max(0, first_diff - 12)])),
                        len(enc.decode(base[:first_diff])),
                    ),
                    "volatile_example": (
                        len(enc.decode(base[:first_diff])),
                        len(enc.decode(base[: len(base) - suffix])),
                    ),
                    "prompt_start": (0, len(enc.decode(base[:24]))),
                },
                "model": max(models, key=lambda m: models[m]) if models else None,
                "content_ids": sorted(v[4] for v in variants),
            }
        )
    out.sort(key=lambda g: cast(int, g["gain_tokens"]) * cast(int, g["requests"]), reverse=True)
    return out[:limit]


def shared_system_prefixes(system_texts: pl.DataFrame, min_tokens: int = 256, limit: int = 20) -> list[dict]:
    """System prompts that are not identical but start with the same tokens (a shared persona or policy block
    followed by per-feature instructions): the common token prefix is what a provider cache can share.
    Distinct prompts are grouped by their first 64 tokens; each group reports its common prefix length.

    system_texts: content_id, text, requests.
    """
    if not _several(system_texts):
        return []
    enc = tokens.encoding()
    groups: dict[tuple[int, ...], list[tuple[list[int], int]]] = {}
    for text, n in system_texts.select("text", "requests").iter_rows():
        if text is None:
            continue
        toks = enc.encode_ordinary(text)
        if len(toks) >= min_tokens:
            groups.setdefault(tuple(toks[:64]), []).append((toks, n))
    out = []
    for variants in groups.values():
        if len(variants) < 2:
            continue
        seqs = [v[0] for v in variants]
        shortest = min(len(s) for s in seqs)
        common = 0
        while common < shortest and all(s[common] == seqs[0][common] for s in seqs):
            common += 1
        out.append(
            {
                "variants": len(variants),
                "requests": sum(v[1] for v in variants),
                "shared_tokens": common,
                "longest_variant_tokens": max(len(s) for s in seqs),
                "reusable_tokens": common * (sum(v[1] for v in variants) - 1),
            }
        )
    out.sort(key=lambda g: g["reusable_tokens"], reverse=True)
    return out[:limit]
