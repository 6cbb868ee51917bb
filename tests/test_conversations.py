"""Thread reconstruction and context growth on real-shaped multi-turn logs with known structure."""

from __future__ import annotations

import json

import polars as pl
import pytest

from analyzer import conversations, tokens
from analyzer.cli import cli
from tests.conftest import write_jsonl

SYS = "You are a concise assistant. Answer in one paragraph."


def chat(rid, ts, messages, reply, user="alice", conv=None, prompt=None, tool_calls=None):
    """An OpenAI Chat Completions log line (ShareGPT-like conversations, agents with tool calls)."""
    msg = {"role": "assistant", "content": reply}
    if tool_calls:
        msg["tool_calls"] = tool_calls
    meta = {"user": user}
    if conv:
        meta["conversation_id"] = conv
    if prompt is None:
        prompt = sum(tokens.count(m.get("content") or "") + 3 for m in messages) + 3
    return {
        "timestamp": ts,
        "metadata": meta,
        "request": {"model": "gpt-4o", "messages": messages},
        "response": {
            "id": rid,
            "object": "chat.completion",
            "model": "gpt-4o",
            "choices": [{"index": 0, "message": msg}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": 5},
        },
    }


def S(text):
    return {"role": "system", "content": text}


def U(text):
    return {"role": "user", "content": text}


def A(text):
    return {"role": "assistant", "content": text}


def threads_of(store, path):
    store.ingest([str(path)])
    seq = conversations.load_sequence(store.con)
    t = conversations.reconstruct_threads(seq)
    return {r["request_id"]: r for r in t.to_dicts()}


@pytest.fixture
def sharegpt(tmp_path):
    """Alice: two parallel sessions (no ids) and an edited turn; Bob: the same opening as Alice's first
    session; Carol: a given conversation id."""
    t = 1_764_000_000
    recs = [
        chat("a1", t + 0, [S(SYS), U("What is a prime?")], "A number with two divisors."),
        chat("b1", t + 5, [S(SYS), U("Plan a trip to Rome")], "Day 1: Colosseum."),
        chat("a2", t + 10, [S(SYS), U("What is a prime?"), A("A number with two divisors."), U("Is 1 prime?")], "No."),
        chat("b2", t + 15, [S(SYS), U("Plan a trip to Rome"), A("Day 1: Colosseum."), U("And day 2?")], "Vatican."),
        # Alice edits her second question: a branch of the first session
        chat(
            "a2x", t + 20, [S(SYS), U("What is a prime?"), A("A number with two divisors."), U("Is 2 prime?")], "Yes."
        ),
        chat(
            "a3",
            t + 30,
            [
                S(SYS),
                U("What is a prime?"),
                A("A number with two divisors."),
                U("Is 1 prime?"),
                A("No."),
                U("Why not?"),
            ],
            "By definition.",
        ),
        # Bob sends Alice's opening and gets the same reply: his own thread, not Alice's
        chat("bob1", t + 40, [S(SYS), U("What is a prime?")], "A number with two divisors.", user="bob"),
        chat(
            "bob2",
            t + 50,
            [S(SYS), U("What is a prime?"), A("A number with two divisors."), U("Is 9?")],
            "No.",
            user="bob",
        ),
        # Carol's log names its conversation, whose turns share nothing textually
        chat("c1", t + 60, [U("hello")], "hi", user="carol", conv="conv-9"),
        chat("c2", t + 70, [U("unrelated restart")], "ok", user="carol", conv="conv-9"),
    ]
    return write_jsonl(tmp_path / "sharegpt.jsonl", recs)


def test_threads_turns_branches_and_scopes(store, sharegpt):
    th = threads_of(store, sharegpt)
    thread = {k: v["thread_id"] for k, v in th.items()}
    turn = {k: v["turn"] for k, v in th.items()}
    assert thread["a2"] == thread["a3"] == thread["a2x"] == thread["a1"] == "a1"
    assert thread["b1"] == thread["b2"] == "b1"  # the parallel session stays apart
    assert thread["bob1"] == thread["bob2"] == "bob1"  # same opening, other user
    assert thread["c1"] == thread["c2"] == "conv:conv-9"
    assert [turn[k] for k in ("a1", "a2", "a3", "a2x", "b2", "bob2", "c2")] == [1, 2, 3, 2, 2, 2, 2]
    assert th["a2x"]["branch"] is True and th["a2"]["branch"] is False
    assert th["a3"]["parent_id"] == "a2" and th["a2x"]["parent_id"] == "a1"


def test_agent_tool_calls_thread_and_segments(store, tmp_path):
    t = 1_764_000_000
    call = [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]
    q = U("Weather in Oslo?")
    asked = {"role": "assistant", "content": None, "tool_calls": call}
    result = {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": -3, "sky": "snow"}'}
    recs = [
        chat("g1", t, [S(SYS), q], None, tool_calls=call),
        chat("g2", t + 2, [S(SYS), q, asked, result], "It is -3 C and snowing."),
        chat("g3", t + 30, [S(SYS), q, asked, result, A("It is -3 C and snowing."), U("Tomorrow?")], "Colder."),
    ]
    th = threads_of(store, write_jsonl(tmp_path / "agent.jsonl", recs))
    assert {v["thread_id"] for v in th.values()} == {"g1"}
    assert [th[k]["turn"] for k in ("g1", "g2", "g3")] == [1, 2, 3]
    seq = conversations.load_sequence(store.con)
    seg = conversations.segment_tokens(seq, conversations.reconstruct_threads(seq))
    g2 = seg.filter(pl.col("request_id") == "g2").row(0, named=True)
    assert g2["tool_results"] == tokens.count(result["content"])
    assert g2["system"] == tokens.count(SYS)
    assert g2["history"] == tokens.count(q["content"]) + tokens.count(
        json.dumps(call, separators=(",", ":"), sort_keys=True)
    )


def test_anthropic_agent_with_tool_use_blocks(store, tmp_path):
    t = 1_764_000_000
    use = [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "tu_1", "name": "lookup", "input": {"q": "x"}},
    ]

    def rec(rid, ts, messages, content):
        return {
            "timestamp": ts,
            "metadata": {"user": "dev"},
            "request": {"model": "claude-sonnet-4-5", "system": SYS, "messages": messages},
            "response": {
                "id": rid,
                "type": "message",
                "model": "claude-sonnet-4-5",
                "content": content,
                "usage": {"input_tokens": 50, "output_tokens": 5},
            },
        }

    first = [{"role": "user", "content": "Find x"}]
    second = first + [
        {"role": "assistant", "content": use},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu_1", "content": "42"}]},
    ]
    th = threads_of(
        store,
        write_jsonl(
            tmp_path / "claude.jsonl",
            [rec("m1", t, first, use), rec("m2", t + 3, second, [{"type": "text", "text": "x is 42"}])],
        ),
    )
    assert th["m2"]["thread_id"] == "m1" and th["m2"]["turn"] == 2
    roles = store.con.execute(
        "SELECT role FROM messages WHERE request_id = 'm2' AND NOT is_output ORDER BY position"
    ).fetchall()
    assert [r[0] for r in roles] == ["system", "user", "assistant", "tool"]


def test_altered_reply_still_threads(store, tmp_path):
    t = 1_764_000_000
    recs = [
        chat("r1", t, [S(SYS), U("hi")], "Hello there!"),
        # the client re-sent the reply trimmed and lower-cased
        chat("r2", t + 5, [S(SYS), U("hi"), A("hello there"), U("how are you")], "Fine."),
    ]
    th = threads_of(store, write_jsonl(tmp_path / "alt.jsonl", recs))
    assert th["r2"]["thread_id"] == "r1" and th["r2"]["turn"] == 2


def test_growth_curve_and_segments_against_hand_counts(runner, sharegpt, tmp_path):
    out = tmp_path / "s.json"
    res = runner.invoke(cli, ["report", str(sharegpt), "--json", str(out)])
    assert res.exit_code == 0, res.output
    conv = json.loads(out.read_text())["conversations"]

    # hand count: prompt tokens = sum(count(content) + 3) + 3, as the fixture reports them
    def n(*texts):
        return sum(tokens.count(x) + 3 for x in texts) + 3

    turn2 = sorted(
        [
            n(SYS, "What is a prime?", "A number with two divisors.", "Is 1 prime?"),
            n(SYS, "Plan a trip to Rome", "Day 1: Colosseum.", "And day 2?"),
            n(SYS, "What is a prime?", "A number with two divisors.", "Is 2 prime?"),
            n(SYS, "What is a prime?", "A number with two divisors.", "Is 9?"),
            n("unrelated restart"),
        ]
    )
    growth = {g["turn"]: g for g in conv["growth_by_turn"]}
    assert growth[2]["requests"] == 5
    assert growth[2]["median_input_tokens"] == turn2[2]
    assert growth[2]["p90_input_tokens"] == turn2[4]
    assert growth[3]["median_input_tokens"] == n(
        SYS, "What is a prime?", "A number with two divisors.", "Is 1 prime?", "No.", "Why not?"
    )
    assert conv["threads"] == 4 and conv["branched_requests"] == 1 and conv["max_turn"] == 3
    # reported = counted + 3 per message + 3, and segments are scaled to the reported input tokens
    seg = conv["segments"]
    assert sum(s["tokens"] for s in seg.values()) == pytest.approx(
        json.loads(out.read_text())["totals"]["input_tokens"], abs=len(seg)
    )
    assert seg["history"]["tokens"] > 0 and seg["system"]["tokens"] > 0


def test_retrieved_documents_inside_user_messages(store, tmp_path):
    docs = [f"Document {k}: " + ("The warranty covers manufacturing defects for two years. " * 12) for k in range(3)]
    recs = []
    t = 1_764_000_000
    for i, user in enumerate(["u1", "u2", "u3", "u4"]):
        # a RAG app: two retrieved chunks (shared across users) + the user's own question, in one message
        body = f"{docs[i % 2]}\n\n{docs[2]}\n\nQuestion from {user}: does my warranty cover a broken zip?"
        recs.append(chat(f"q{i}", t + i, [S(SYS), U(body)], "Yes.", user=user))
    store.ingest([str(write_jsonl(tmp_path / "rag.jsonl", recs))])
    seq = conversations.load_sequence(store.con)
    threads = conversations.reconstruct_threads(seq)
    retrieved = conversations.retrieved_blocks(store.con, seq, threads)
    seg = conversations.segment_tokens(seq, threads, retrieved)
    q0 = seg.filter(pl.col("request_id") == "q0").row(0, named=True)
    # docs[0] appears in q0 and q2 only (2 threads): not enough; docs[2] is in all four threads
    assert q0["retrieved"] == tokens.count(docs[2].strip())
    full = tokens.count(recs[0]["request"]["messages"][1]["content"])
    assert q0["user"] == full - tokens.count(docs[2].strip())
    assert q0["system"] == tokens.count(SYS)


def test_a_block_counts_as_retrieved_by_the_contents_and_threads_it_is_in(store, tmp_path):
    """A block repeated inside one message is not retrieved, however many threads send that message; one in
    two different messages is, once those span 3 threads, and its tokens count in every message holding it."""
    doc = "Section 4.2: returns are accepted within thirty days of delivery with the receipt. " * 8
    echo = "Internal note: this paragraph is long and pasted twice into one and the same prompt text. " * 8
    t = 1_764_000_000
    same = f"{echo}\n\n{echo}\n\nWhat does the note say?"
    recs = [chat(f"e{i}", t + i, [S(SYS), U(same)], "ok", user=f"e{i}") for i in range(4)]
    recs += [
        chat("d0", t + 10, [S(SYS), U(f"{doc}\n\nCan I return shoes?")], "ok", user="d0"),
        chat("d1", t + 11, [S(SYS), U(f"{doc}\n\nCan I return a coat?")], "ok", user="d1"),
        chat("d2", t + 12, [S(SYS), U(f"{doc}\n\nCan I return a coat?")], "ok", user="d2"),
    ]
    store.ingest([str(write_jsonl(tmp_path / "blocks.jsonl", recs))])
    seq = conversations.load_sequence(store.con)
    threads = conversations.reconstruct_threads(seq)
    got = conversations.retrieved_blocks(store.con, seq, threads)
    # the echo's message is one content in 4 threads: not retrieved; the doc is in 2 contents of 3 threads
    assert sorted(got["retrieved_tokens"].to_list()) == [tokens.count(doc.strip())] * 2


def test_the_sqls_whitespace_is_what_str_strip_removes():
    """The blocks are stripped in SQL of `_WHITESPACE`: exactly the characters str.strip() removes, in all of
    Unicode."""
    import sys

    spaces = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    assert set(conversations._WHITESPACE) == spaces and len(conversations._WHITESPACE) == len(spaces)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_retrieved_blocks_equal_a_plain_count_of_paragraphs_shared_across_messages_and_threads(store, tmp_path, seed):
    """The blocks are cut and counted in SQL (the texts never become Python strings in the command's process);
    they must be those of the plain definition, computed here from the records themselves: each user message cut
    at blank lines, each piece stripped as str.strip() does, 400+ characters (not bytes), in 2+ different messages
    sent by 3+ threads (one user, one request, one thread here); a message's retrieved tokens are those of every
    such block in it, a block twice in it counted twice. Paragraphs of 399 characters that take more bytes,
    Unicode spaces, three newlines in a row and one message sent by several users are among the cases."""
    import random

    rng = random.Random(seed)
    word = ["warranty", "déjà", "naïve", "\u00e9t\u00e9", "😀", "zip", "coat", "receipt", "x"]

    def para(n):  # a paragraph of exactly n characters
        text = ""
        while len(text) < n:
            text += rng.choice(word) + " "
        return text[:n]

    pool = [para(rng.choice([120, 399, 400, 401, 650])) for _ in range(14)]
    pads = ["", " ", "\t", "\u3000", "\x85", "\n", " \u2029"]
    texts = []
    for _ in range(12):
        pieces = [rng.choice(pads) + rng.choice(pool) + rng.choice(pads) for _ in range(rng.randint(1, 4))]
        texts.append(rng.choice(["\n\n", "\n\n\n"]).join([*pieces, "Question?"]))
    sent = [rng.choice(texts) for _ in range(30)]  # some messages sent by several users
    recs = [chat(f"r{i}", 1_764_000_000 + i, [S(SYS), U(t)], "ok", user=f"user{i}") for i, t in enumerate(sent)]
    store.ingest([str(write_jsonl(tmp_path / "rag.jsonl", recs))])

    blocks_of = {
        t: [p.strip() for p in t.split("\n\n") if len(p.strip()) >= conversations.RAG_BLOCK_CHARS] for t in sent
    }
    holders: dict[str, set[str]] = {}
    senders: dict[str, set[int]] = {}
    for i, t in enumerate(sent):
        for b in blocks_of[t]:
            holders.setdefault(b, set()).add(t)
            senders.setdefault(b, set()).add(i)
    found = {b for b in holders if len(holders[b]) >= 2 and len(senders[b]) >= conversations.RAG_MIN_THREADS}
    expected = {t: sum(tokens.count(b) for b in blocks_of[t] if b in found) for t in set(sent)}
    expected = {t: n for t, n in expected.items() if n > 0}

    seq = conversations.load_sequence(store.con)
    got = conversations.retrieved_blocks(store.con, seq, conversations.reconstruct_threads(seq))
    text_of = dict(store.con.execute("SELECT (hash(content_id) >> 1)::BIGINT, text FROM contents").fetchall())
    assert {text_of[c]: n for c, n in got.iter_rows()} == expected
    assert found  # the case is not empty: some blocks are retrieved, some are not
    assert len(found) < len(holders)


def test_retrieved_needs_text(store, tmp_path):
    recs = [chat(f"n{i}", 1_764_000_000 + i, [S(SYS), U("x" * 50)], "ok", user=f"u{i}") for i in range(3)]
    store.ingest([str(write_jsonl(tmp_path / "nt.jsonl", recs))], no_text=True)
    seq = conversations.load_sequence(store.con)
    assert conversations.retrieved_blocks(store.con, seq, conversations.reconstruct_threads(seq)).height == 0


def test_retrieved_blocks_are_counted_by_a_worker_when_the_pool_runs(store, tmp_path, monkeypatch):
    """With the pool's fork server running (its tokenizer loaded), the blocks are counted in a new worker that
    ends with its answer, not here: loading the tokenizer in the command's own process cost ~0.6 s of CPU on the
    real traces, while the replays' workers wanted both cores. A pool not started is not started for this."""
    from analyzer.backends.local import Local
    from analyzer.report.structure import token_counter

    docs = [f"Document {k}: " + ("Refunds are issued to the original card within ten days. " * 12) for k in range(2)]
    recs = [
        chat(f"q{i}", 1_764_000_000 + i, [S(SYS), U(f"{docs[0]}\n\n{docs[1]}\n\nQuestion {i}?")], "ok", user=f"u{i}")
        for i in range(4)
    ]
    store.ingest([str(write_jsonl(tmp_path / "rag.jsonl", recs))])
    seq = conversations.load_sequence(store.con)
    threads = conversations.reconstruct_threads(seq)
    here = conversations.retrieved_blocks(store.con, seq, threads)
    assert here.height == 4 and here["retrieved_tokens"].min() > 0
    cold = Local(2)
    assert token_counter(cold) is tokens.count_many  # no fork server started just to count
    cold.close()

    def refused(*_a, **_k):
        raise AssertionError("the tokenizer was used in this process")

    be = Local(2)
    be.prestart()
    try:
        monkeypatch.setattr(tokens, "encoding", refused)
        got = conversations.retrieved_blocks(store.con, seq, threads, token_counter(be))
        assert got.sort("cid").equals(here.sort("cid"))
        assert be._procs == []  # the counting worker ended with its answer
    finally:
        be.close()


@pytest.mark.parametrize("log", ["traces", "synthetic", "sample_logs"])
def test_threads_rebuilt_a_chunk_at_a_time_are_the_threads_of_the_kept_lists(log, tmp_path, monkeypatch):
    """Without `keep`, the requests' lists are made PARSE_CHUNK requests at a time and let go: the threads are
    the same, with chunk edges inside threads and branches (a chunk of 7 requests), and nothing is kept. Messages
    not in req order (a frame cut elsewhere) are parsed whole, as before."""
    from tests.test_build import _sequence

    seq = _sequence(log, tmp_path)
    kept = conversations.reconstruct_threads(seq)
    assert seq._parsed and kept.height == seq.requests.height
    monkeypatch.setattr(conversations, "PARSE_CHUNK", 7)
    fresh = conversations.Sequence(seq.requests, seq.messages)
    chunked = conversations.reconstruct_threads(fresh, keep=False)
    assert not fresh._parsed
    assert chunked.equals(kept)
    assert kept["parent_id"].drop_nulls().len() > 0  # threads that cross chunk edges
    # the lists themselves, chunk by chunk, are those of requests_of (the replies, roles and ids too)
    parts = [r for part in conversations._parts(fresh, 7, tokens=False) for r in part]
    assert [(r.request_id, r.roles, r.cids, r.reply) for r in parts] == [
        (r.request_id, r.roles, r.cids, r.reply) for r in seq._parsed
    ]
    backwards = seq.messages.reverse()
    assert not backwards["req"].is_sorted()
    whole = conversations.reconstruct_threads(conversations.Sequence(seq.requests, backwards))
    assert conversations.reconstruct_threads(conversations.Sequence(seq.requests, backwards), keep=False).equals(whole)


def test_the_sequence_is_held_in_one_chunk(store, tmp_path):
    """DuckDB hands a large result over in chunks of ~122k rows whose numeric buffers are freed together only
    (the sequence's messages at a million calls: 566 MiB resident as handed over, 446 MiB in one chunk); the
    parent holds the sequence through its middle stages, so it is kept in one chunk of polars' own memory."""
    recs = [chat(f"c{i}", 1_764_000_000 + i, [S(SYS), U(f"question {i}"), A("a"), U("more")], "ok") for i in range(40)]
    store.ingest([str(write_jsonl(tmp_path / "c.jsonl", recs))])
    con = store.con
    # 40 requests of 5 message rows made into 160,080 requests: more message rows than one of DuckDB's chunks
    for table in ("requests", "messages"):
        con.execute(
            f"INSERT INTO {table} SELECT x.* REPLACE (request_id || '-' || i AS request_id) "
            f"FROM {table} x, range(1, 4002) t(i)"
        )
    seq = conversations.load_sequence(con)
    assert seq.messages.height > 400_000
    assert seq.messages.n_chunks("all") == [1] * seq.messages.width
    assert seq.requests.n_chunks("all") == [1] * seq.requests.width


@pytest.mark.parametrize("logs", ["samples", "traces"])
def test_roles_and_breakpoints_as_categories_read_as_their_strings(store, logs):
    """The sequence keeps roles and breakpoints as categories (a 16-byte view a row as strings): every reader of
    the sequence (threads, segments, RAG blocks, prefix chains, the replays' inputs and breakpoints) must give what
    it gives on the same sequence with those columns as strings. The sample logs carry Anthropic breakpoints and
    tool messages; the real agent traces long histories."""
    from analyzer import prefixes
    from analyzer.savings import columns
    from tests.conftest import SAMPLES, SHARED

    path = SAMPLES if logs == "samples" else SHARED.parent / "traces" / "mini_swe_agent_deepseek_test"
    if not path.exists():
        pytest.skip("../shared is not beside the repository")
    store.ingest([str(path)])
    seq = conversations.load_sequence(store.con)
    assert seq.messages.schema["role"] == pl.Categorical and seq.messages.schema["breakpoint"] == pl.Categorical
    plain = conversations.Sequence(
        seq.requests, seq.messages.with_columns(pl.col("role", "breakpoint").cast(pl.String))
    )
    if logs == "samples":
        assert plain.messages["breakpoint"].drop_nulls().len() > 0  # the case is not empty
    for s in (seq, plain):
        assert s.messages["role"].n_unique() >= 3

    def readings(s):
        threads = conversations.reconstruct_threads(s, keep=False)
        nodes, keys, n = prefixes.message_nodes(s)
        return [
            threads,
            conversations.segment_tokens(s, threads),
            conversations.retrieved_blocks(store.con, s, threads),
            nodes,
            keys,
            n,
            columns.read_inputs(s)[1],
            columns.read_breakpoints(s),
        ]

    for a, b in zip(readings(seq), readings(plain), strict=True):
        if isinstance(a, pl.DataFrame):  # the same rows (some readers' row order is not defined)
            assert a.schema == b.schema and a.sort(a.columns).equals(b.sort(b.columns))
        else:
            assert a == b
