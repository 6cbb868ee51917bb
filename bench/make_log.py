"""Generate a large request log for the benchmark by replaying the sample formats with new ids.

Shape: support-bot style conversations (1-8 turns, the whole history re-sent each turn) behind one of a few
2-3k-token system prompts, 70% OpenAI Chat Completions (gpt-4o / gpt-4o-mini) and 30% Anthropic Messages
(claude-sonnet-4-5), spread over 7 days and 500 users. Every user message and reply is distinct, as in real
traffic; only system prompts and re-sent history repeat. Each user calls through one API key
(`key-{user % keys}`, 6 keys by default): a conversation does not hop between keys turn by turn in a real product,
and the partitioned engine splits the traffic by API key and user, so a random key per call would join every
user into one partition.

    python bench/make_log.py OUT_DIR [--calls 100000] [--seed 7] [--days 7] [--start 2025-11-24] [--keys 6]

--days and --start place the calls (a 30-day database, then one more day on top of it, for the audit's
incremental cost); ids carry the seed, so logs made with different seeds never share a call.
"""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime
from pathlib import Path

import orjson

T0 = 1_764_000_000
_VOCAB = (
    "order shipping return refund size boots tent jacket warranty delivery address invoice discount "
    "exchange colour stock tracking parcel courier waterproof zipper seam strap lining sole"
)
WORDS = _VOCAB.split()


def system_prompt(rng: random.Random, k: int) -> str:
    rules = [
        f"Rule {i}: when a customer asks about {rng.choice(WORDS)} and {rng.choice(WORDS)}, check the "
        f"{rng.choice(WORDS)} policy section {i} and answer in at most {rng.randint(2, 6)} sentences."
        for i in range(110)
    ]
    return f"You are assistant #{k} for Northwind Outfitters.\n" + "\n".join(rules)


def sentence(rng: random.Random, n: int, tag: str) -> str:
    return f"[{tag}] " + " ".join(rng.choice(WORDS) for _ in range(n)) + f" #{rng.randrange(10**9)}?"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--days", type=float, default=7.0, help="spread conversation starts over this many days")
    ap.add_argument("--start", help="first day (YYYY-MM-DD, UTC); default 2025-11-24")
    ap.add_argument("--keys", type=int, default=6, help="API keys; user N calls through key N %% KEYS")
    args = ap.parse_args()
    t0 = T0 if args.start is None else int(datetime.fromisoformat(args.start).replace(tzinfo=UTC).timestamp())
    rng = random.Random(args.seed)
    prompts = [system_prompt(rng, k) for k in range(4)]
    args.out.mkdir(parents=True, exist_ok=True)
    oa = open(args.out / "openai.jsonl", "wb")  # noqa: SIM115
    an = open(args.out / "anthropic.jsonl", "wb")  # noqa: SIM115
    calls = 0
    conv = 0
    while calls < args.calls:
        conv += 1
        anthropic = rng.random() < 0.3
        model = "claude-sonnet-4-5-20250929" if anthropic else rng.choice(["gpt-4o-2024-08-06", "gpt-4o-mini"])
        sys_text = rng.choice(prompts)
        user_index = rng.randrange(500)
        user = f"u_{user_index}"
        api_key = f"key-{user_index % args.keys}"
        ts = t0 + rng.uniform(0, args.days * 86_400)
        history: list[dict] = []
        for turn in range(rng.randint(1, 8)):
            if calls >= args.calls:
                break
            calls += 1
            history.append({"role": "user", "content": sentence(rng, rng.randint(8, 40), f"c{conv}t{turn}")})
            reply = sentence(rng, rng.randint(20, 120), f"r{conv}t{turn}")
            hist_chars = sum(len(m["content"]) for m in history)
            prompt = (len(sys_text) + hist_chars) // 4
            cached = (len(sys_text) // 4) // 128 * 128 if turn else 0
            out_tokens = len(reply) // 4
            # The draw that used to pick a random key per call, at its old place: kept so that a seed makes the
            # same texts, sizes and usage as before, and the logs differ from earlier ones only in their api_key.
            rng.randrange(6)
            meta = {
                "user": user,
                "conversation_id": f"conv-{conv}",
                "tags": ["support"],
                "api_key": api_key,
                "feature": "support-bot",
            }
            if anthropic:
                req = {
                    "model": model,
                    "max_tokens": 1024,
                    "messages": history,
                    "system": [{"type": "text", "text": sys_text, "cache_control": {"type": "ephemeral"}}],
                }
                write = 0 if turn else len(sys_text) // 4
                resp = {
                    "id": f"msg_bench_{args.seed}_{calls}",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [{"type": "text", "text": reply}],
                    "usage": {
                        "input_tokens": prompt - cached - write,
                        "cache_read_input_tokens": cached,
                        "cache_creation_input_tokens": write,
                        "output_tokens": out_tokens,
                    },
                }
                an.write(orjson.dumps({"timestamp": ts, "request": req, "response": resp, "metadata": meta}))
                an.write(b"\n")
            else:
                req = {"model": model, "messages": [{"role": "system", "content": sys_text}, *history]}
                resp = {
                    "id": f"chatcmpl-bench-{args.seed}-{calls}",
                    "object": "chat.completion",
                    "created": int(ts),
                    "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}],
                    "usage": {
                        "prompt_tokens": prompt,
                        "completion_tokens": out_tokens,
                        "prompt_tokens_details": {"cached_tokens": cached},
                    },
                }
                oa.write(orjson.dumps({"timestamp": ts, "request": req, "response": resp, "metadata": meta}))
                oa.write(b"\n")
            history.append({"role": "assistant", "content": reply})
            ts += rng.uniform(5, 600)
    oa.close()
    an.close()
    print(f"{calls} calls in {conv} conversations -> {args.out}")


if __name__ == "__main__":
    main()
