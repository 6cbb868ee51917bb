"""Issue 23, third round of hostile input: valid calls lost to id collisions, mixed files and half lines (items
1-4), terminal and Markdown injection (17), and the audit over usage exports (18)."""

from __future__ import annotations

import gzip
import random

import pytest

from analyzer.store import Store
from tests.robustness.conftest import jsonl


def _chat(rid, i: int, *, ts: int = 1_764_000_000, prompt: int = 100) -> dict:
    """An OpenAI-compatible chat log line (an Ollama or per-file-counter id when `rid` is short)."""
    return {
        "timestamp": ts + i,
        "request": {"model": "llama3.1:8b", "messages": [{"role": "user", "content": "same question"}]},
        "response": {
            "id": rid,
            "object": "chat.completion",
            "model": "llama3.1:8b",
            "choices": [{"message": {"role": "assistant", "content": "ok"}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": 20},
        },
    }


def _rows(store: Store) -> int:
    return store.con.execute("SELECT count(*) FROM requests").fetchall()[0][0]


# ---- item 1: a request id is not globally unique ----------------------------------------------------------


def test_ollama_ids_that_repeat_are_still_distinct_calls(tmp_path):
    """Ollama answers `chatcmpl-<0..999>`: 2,000 calls at different times are 2,000 calls, and reading the same
    records again (a recompressed copy) adds none of them."""
    rng = random.Random(7)
    recs = [_chat(f"chatcmpl-{rng.randrange(1000)}", i) for i in range(2000)]
    log = tmp_path / "ollama.jsonl"
    log.write_bytes(jsonl(recs))
    store = Store(tmp_path / "db.duckdb")
    res = store.ingest([str(log)])
    assert (res.rows, res.files[0].duplicates) == (2000, 0)
    gz = tmp_path / "copy.jsonl.gz"
    gz.write_bytes(gzip.compress(log.read_bytes() + b"\n"))  # other bytes, same records
    again = store.ingest([str(gz)])
    assert (again.rows, again.files[0].duplicates) == (0, 2000)
    assert _rows(store) == 2000
    store.close()
    # a later run (ids looked up in the database, not in this run's memory) agrees
    store = Store(tmp_path / "db.duckdb")
    assert store.ingest([str(tmp_path / "copy.jsonl.gz")]).files[0].skipped
    third = tmp_path / "third.jsonl"
    third.write_bytes(jsonl(list(reversed(recs)) + [_chat("chatcmpl-5", 5000)]))
    res = store.ingest([str(third)])
    assert (res.rows, res.files[0].duplicates) == (1, 2000)
    assert _rows(store) == 2001


def test_per_file_counters_are_not_ids_across_files(tmp_path):
    """Two loggers that number their lines "id": 1, 2, ...: each file's calls are calls."""
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(jsonl([_chat(n, n, prompt=100) for n in range(1, 51)]))
    b.write_bytes(jsonl([_chat(n, n, ts=1_765_000_000, prompt=300) for n in range(1, 51)]))
    store = Store()
    res = store.ingest([str(a), str(b)])
    assert res.rows == 100 and sum(f.duplicates for f in res.files) == 0


def test_the_same_record_twice_is_still_one_call(tmp_path):
    """Only the same record is a duplicate: a line logged twice, or a provider's unique id on two lines of one
    reply (Claude Code writes one line per content block, differing in time)."""
    log = tmp_path / "twice.jsonl"
    log.write_bytes(jsonl([_chat("chatcmpl-7", 1), _chat("chatcmpl-7", 1), _chat("chatcmpl-7", 2)]))
    res = Store().ingest([str(log)])
    assert (res.rows, res.files[0].duplicates) == (2, 1)
    uid = "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
    log.write_bytes(jsonl([_chat(uid, 1), _chat(uid, 2)]))
    res = Store().ingest([str(log)])
    assert (res.rows, res.files[0].duplicates) == (1, 1)


# ---- item 2: the format is decided per record where a file mixes shapes ------------------------------------


def _anthropic(i: int) -> dict:
    return {
        "timestamp": 1_764_000_000 + i,
        "request": {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": f"q{i}"}]},
        "response": {
            "id": f"msg_01XFDUDYJgAACzvnptvVo{i:04d}",
            "type": "message",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "ok"}],
            "usage": {"input_tokens": 10, "output_tokens": 5},
        },
    }


def test_a_proxy_log_opening_with_many_events_is_read(tmp_path):
    """60 start-up events before the first call: the file is not skipped as unrecognised (1,000 calls lost)."""
    events = [{"ts": 1_764_000_000 + i, "level": "info", "event": f"proxy.start step {i}"} for i in range(60)]
    calls = [_chat(f"chatcmpl-{i}", i) for i in range(1000)]
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "proxy.jsonl").write_bytes(jsonl(events + calls))
    res = Store().ingest([str(folder)])
    f = res.files[0]
    assert f.skipped is None and f.format == "openai_chat"
    assert f.rows == 1000
    # named on the command line, and piped in: the same
    assert Store().ingest([str(folder / "proxy.jsonl")]).rows == 1000


def test_a_pipe_opening_with_many_events_is_read(tmp_path):
    from tests.robustness.conftest import run_cli

    events = [{"ts": 1_764_000_000 + i, "event": "tick"} for i in range(60)]
    calls = [_chat(f"chatcmpl-{i}", i) for i in range(50)]
    db = tmp_path / "db.duckdb"
    res = run_cli("ingest", "--db", str(db), "-", input=jsonl(events + calls))
    assert res.returncode == 0, res.stderr.decode()
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM requests").fetchall()[0][0] == 50
    con.close()


def test_a_gateway_log_with_openai_and_anthropic_calls_reads_both(tmp_path):
    recs = []
    for i in range(40):
        recs.append(_anthropic(i))
        recs.append(_chat(f"chatcmpl-{i}", i))
    log = tmp_path / "gateway.jsonl"
    log.write_bytes(jsonl(recs))
    store = Store()
    res = store.ingest([str(log)])
    assert (res.rows, res.rejected) == (80, 0)
    by = dict(store.con.execute("SELECT provider, count(*) FROM requests GROUP BY ALL").fetchall())
    assert by.pop("anthropic") == 40 and sum(by.values()) == 40


def test_a_forced_format_is_not_second_guessed(tmp_path):
    recs = [_anthropic(0), _chat("chatcmpl-1", 1)]
    log = tmp_path / "gateway.jsonl"
    log.write_bytes(jsonl(recs))
    res = Store().ingest([str(log)], fmt="anthropic_messages")
    assert (res.rows, res.rejected) == (1, 1)


# ---- item 3: a live log ending in half a line ---------------------------------------------------------------


def test_a_half_written_last_line_waits_for_the_next_night(tmp_path):
    from tests.robustness.conftest import chat_no_id, run_cli

    log = tmp_path / "live.jsonl"
    whole = jsonl([chat_no_id(i) for i in range(4)])
    last = whole.splitlines(keepends=True)[-1]
    log.write_bytes(whole[: -len(last)] + last[: len(last) // 2])  # the writer is half way through line 4
    db = tmp_path / "db.duckdb"
    res = run_cli("ingest", "--db", str(db), "--strict", str(log))
    assert res.returncode == 0, res.stderr.decode()
    # not rejected (--strict passes), but said, with where: a one-off report on a file cut short must not lose
    # its last line in silence (a new user's trial found it did)
    notes = [ln for ln in res.stderr.decode().splitlines() if "last line not read" in ln]
    assert notes == [
        f"llmcost: note: {log}:4: last line not read: no line end and not valid JSON yet "
        "(a log still being written; it is read once complete)"
    ]
    store = Store(db)
    assert store.con.execute("SELECT count(*) FROM requests").fetchall()[0][0] == 3
    assert store.con.execute("SELECT count(*) FROM rejects").fetchall()[0][0] == 0
    log.write_bytes(whole)  # the next night: line 4 complete
    res = store.ingest([str(log)])
    assert (res.rows, res.rejected, res.files[0].duplicates) == (1, 0, 3)
    assert res.files[0].unended is None
    assert store.con.execute("SELECT count(*) FROM rejects").fetchall()[0][0] == 0
    store.close()


def test_a_half_written_last_line_is_in_the_reports_json_and_html(tmp_path):
    import json

    from tests.robustness.conftest import chat_no_id, run_cli

    log = tmp_path / "live <b>.jsonl"  # a name from the file system is escaped like any text from the logs
    whole = jsonl([chat_no_id(i) for i in range(4)])
    last = whole.splitlines(keepends=True)[-1]
    log.write_bytes(whole[: -len(last)] + last[: len(last) // 2])
    res = run_cli("report", str(log), "--json", str(tmp_path / "r.json"), "-o", str(tmp_path / "r.html"))
    assert res.returncode == 0, res.stderr.decode()
    (f,) = json.loads((tmp_path / "r.json").read_text())["ingest"]["this_run"]
    assert (f["rows"], f["rejected"], f["unended_line"]) == (3, 0, 4)
    html = (tmp_path / "r.html").read_text()
    assert f"<code>{str(log).replace('<b>', '&lt;b&gt;')}:4</code> has no line end" in html


def test_a_half_written_last_line_is_said_with_its_line_when_the_file_is_read_in_ranges(tmp_path, monkeypatch):
    from analyzer.backends.local import Local
    from analyzer.ingest import run
    from tests.robustness.conftest import chat_no_id

    monkeypatch.setattr(run, "RANGE_BYTES", 4096)
    monkeypatch.setattr(run, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(run, "POOL_FILE_BYTES", 0)
    log = tmp_path / "live.jsonl"
    whole = jsonl([chat_no_id(i) for i in range(60)])
    last = whole.splitlines(keepends=True)[-1]
    log.write_bytes(whole[: -len(last)] + last[: len(last) // 2])
    assert log.stat().st_size > 3 * 4096  # several ranges, the half line in the last
    pool = Local(2)
    try:
        res = Store().ingest([str(log)], backend=pool)
    finally:
        pool.close()
    assert (res.rows, res.rejected, res.files[0].unended) == (59, 0, 60)


def test_a_complete_last_line_without_a_line_end_is_read(tmp_path):
    from tests.robustness.conftest import chat_no_id

    log = tmp_path / "done.jsonl"
    log.write_bytes(jsonl([chat_no_id(i) for i in range(3)]).rstrip(b"\n"))
    assert Store().ingest([str(log)]).rows == 3


# ---- item 4: any JSON RFC 8259 allows, any RFC 3339 / ISO 8601 / export timestamp ---------------------------
#
# Property tests over the grammars, not lists of cases. CI runs EXAMPLES examples each; a longer run:
#     LLMCOST_FUZZ_EXAMPLES=5000 python -m pytest tests/robustness/test_round3_calls.py -k grammar

import json  # noqa: E402
import os  # noqa: E402
from datetime import UTC, date, datetime, timedelta  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = int(os.environ.get("LLMCOST_FUZZ_EXAMPLES", "60"))
_fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

# RFC 8259, section 2-7: whitespace, literals, numbers, strings (every escape, \u with any four hex digits,
# lone surrogates included, and any unescaped character the grammar allows), arrays and objects.
_digits = st.text("0123456789", min_size=1, max_size=12)
_number = st.builds(
    lambda neg, whole, frac, exp: ("-" if neg else "") + whole + (("." + frac) if frac else "") + exp,
    st.booleans(),
    st.just("0") | st.builds(lambda a, b: a + b, st.sampled_from("123456789"), st.text("0123456789", max_size=40)),
    st.none() | _digits,
    st.just("") | st.builds(lambda e, s, d: e + s + d, st.sampled_from("eE"), st.sampled_from(["", "+", "-"]), _digits),
)
_unescaped = st.characters(blacklist_categories=["Cs"], blacklist_characters='"\\', min_codepoint=0x20)
_escape = st.sampled_from(['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"]) | st.builds(
    lambda h, u: "\\" + u + h, st.text("0123456789abcdefABCDEF", min_size=4, max_size=4), st.sampled_from("u")
)
_string = st.builds(lambda parts: '"' + "".join(parts) + '"', st.lists(_unescaped | _escape, max_size=12))


def _json_text(ws):
    def array(items):
        return st.builds(lambda xs, w: "[" + w + ("," + w).join(xs) + w + "]", st.lists(items, max_size=4), ws)

    def obj(items):
        member = st.builds(lambda k, w, v: k + w + ":" + w + v, _string, ws, items)
        return st.builds(lambda ms, w: "{" + w + ("," + w).join(ms) + w + "}", st.lists(member, max_size=4), ws)

    scalar = st.sampled_from(["true", "false", "null"]) | _number | _string
    return st.recursive(scalar, lambda inner: array(inner) | obj(inner), max_leaves=12)


_line_ws = st.text(" \t", max_size=2)  # a JSONL record is one line: no line ends between its tokens
_doc_ws = st.text(" \t\r\n", max_size=3)


def _call_text(extra: str, ws: str, content: str = '"same question"') -> str:
    """A valid call with an extra member holding `extra`, and the user message's content as the JSON string
    `content`, whitespace `ws` around its tokens."""
    call = _chat("chatcmpl-9", 0)
    body = json.dumps(call)
    body = body.replace('"same question"', content)
    return "{" + ws + '"extra"' + ws + ":" + ws + extra + ws + "," + ws + body[1:-1] + ws + "}"


@_fuzz
@given(extra=_json_text(_line_ws), ws=_line_ws, content=_string)
def test_grammar_any_rfc8259_json_line_is_read(tmp_path_factory, extra, ws, content):
    from analyzer.sources import read_items

    path = tmp_path_factory.mktemp("j") / "log.jsonl"
    path.write_bytes((_call_text(extra, ws, content) + "\n").encode("utf-8"))
    items = list(read_items(path))
    assert len(items) == 1 and items[0].error is None and isinstance(items[0].obj, dict), items


@_fuzz
@given(extra=_json_text(_doc_ws), ws=_doc_ws, content=_string)
def test_grammar_any_rfc8259_json_document_loads_its_call(tmp_path_factory, extra, ws, content):
    """A JSON document (any whitespace, line ends included) holding a call with anything RFC 8259 allows in an
    unread member and any string as a message: the call loads, nothing is rejected."""
    path = tmp_path_factory.mktemp("d") / "log.json"
    path.write_bytes(("[" + ws + _call_text(extra, ws, content) + ws + "]").encode("utf-8"))
    store = Store()
    res = store.ingest([str(path)])
    assert (res.rows, res.rejected) == (1, 0)
    store.close()


# RFC 3339 section 5.6 (date-time, with t/z in either case and a space for T as its note allows), the ISO 8601
# forms loggers write (basic format, comma fraction, +hh and +hhmm offsets, week and ordinal dates, 24:00) and
# export spellings (BigQuery "YYYY-MM-DD HH:MM:SS[.ffffff] UTC", "+0000", "GMT").
@st.composite
def _timestamps(draw):
    y = draw(st.integers(2016, 2098))
    form = draw(st.sampled_from(["calendar", "basic", "week", "ordinal"]))
    if form == "week":
        w = draw(st.integers(1, date(y, 12, 28).isocalendar()[1]))
        wd = draw(st.integers(1, 7))
        day = date.fromisocalendar(y, w, wd)
        d = f"{y}-W{w:02d}-{wd}" if draw(st.booleans()) else f"{y}W{w:02d}{wd}"
    elif form == "ordinal":
        n = draw(st.integers(1, 365))
        day = date(y, 1, 1) + timedelta(days=n - 1)
        d = f"{y}-{n:03d}"
    else:
        day = draw(st.dates(date(y, 1, 1), date(y, 12, 31)))
        d = day.strftime("%Y-%m-%d" if form == "calendar" else "%Y%m%d")
    base = datetime(day.year, day.month, day.day, tzinfo=UTC)
    expected = int(base.timestamp()) * 1_000_000
    if draw(st.booleans()) and form == "calendar":
        return d, expected  # a date alone: its midnight, UTC
    if draw(st.integers(0, 20)) == 0:
        h, m, s = 24, 0, 0  # ISO 8601's end of the day
    else:
        h, m = draw(st.integers(0, 23)), draw(st.integers(0, 59))
        s = draw(st.integers(0, 60))  # 60: a leap second (RFC 3339 allows it)
    frac = draw(st.text("0123456789", max_size=12))
    if h == 24:
        frac = "0" * len(frac)  # 24:00:00 is only the end of the day
    extended = form != "basic"
    t = f"{h:02d}:{m:02d}:{s:02d}" if extended else f"{h:02d}{m:02d}{s:02d}"
    if frac:
        t += draw(st.sampled_from(".,")) + frac
    zone = draw(
        st.sampled_from(["", "Z", "z", " UTC", "UTC", " GMT", "+hh:mm", "-hh:mm", "+hhmm", "-hhmm", "+hh", "-hh"])
    )
    off = 0
    if "hh" in zone:
        oh, om = draw(st.integers(0, 23)), draw(st.integers(0, 59)) if "mm" in zone else 0
        off = (oh * 60 + om) * (1 if zone[0] == "+" else -1)
        zone = zone[0] + zone[1:].replace("hh", f"{oh:02d}").replace("mm", f"{om:02d}")
    sep = draw(st.sampled_from(["T", "t", " "]))
    micro = int(frac[:6].ljust(6, "0")) if frac else 0
    expected += ((h * 60 + m - off) * 60 + s) * 1_000_000 + micro
    return d + sep + t + zone, expected


@_fuzz
@given(ts=_timestamps())
def test_grammar_any_rfc3339_iso8601_or_export_timestamp_is_read(ts):
    from analyzer.sources.fields import timestamp_us

    text, expected = ts
    assert timestamp_us(text) == expected, text


def test_export_and_http_timestamp_spellings_end_to_end(tmp_path):
    recs = []
    for i, ts in enumerate(
        ["2025-11-24 16:00:00.123456 UTC", "2025-11-24T16:00:00.000+0000", "Mon, 24 Nov 2025 16:00:00 GMT"]
    ):
        rec = _chat(f"chatcmpl-{i}", i)
        rec["timestamp"] = ts
        recs.append(rec)
    log = tmp_path / "x.jsonl"
    log.write_bytes(jsonl(recs))
    store = Store()
    res = store.ingest([str(log)])
    assert (res.rows, res.rejected) == (3, 0)
    got = {r[0] for r in store.con.execute("SELECT ts FROM requests").fetchall()}
    assert got == {datetime(2025, 11, 24, 16, 0, 0, 123456), datetime(2025, 11, 24, 16)}


# ---- item 17: injection through log text; URL inputs get the device checks of local paths -------------------

import re  # noqa: E402

_FORGED = ("llmcost: error: disk on fire", "FORGED LINE", "# Injected", "| forged | row |")
# Every way a terminal or a Markdown reader may start a new line
_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def _hostile_log(tmp_path):
    recs = []
    for i in range(3):
        model = "gpt-4o\nllmcost: error: disk on fire\r# Injected heading\u2028| forged | row |"
        rec = _chat(f"chatcmpl-{i}", i)
        rec["request"]["model"] = rec["response"]["model"] = model
        rec["metadata"] = {
            "conversation_id": "conv\nFORGED LINE\r| forged | row |\x85# Injected",
            "user": "u\rllmcost: error: disk on fire",
            "project": "p\u2029FORGED LINE",
        }
        recs.append(rec)
    log = tmp_path / "hostile.jsonl"
    log.write_bytes(jsonl(recs))
    return log


def _assert_no_forged_line(text: str, what: str) -> None:
    for line in _BREAK.split(text):
        assert not line.lstrip().startswith(_FORGED), (what, line)


def test_log_text_cannot_forge_a_terminal_line(tmp_path):
    from tests.robustness.conftest import run_cli

    log = _hostile_log(tmp_path)
    for view in ((), ("--view", "sessions"), ("--view", "daily")):
        res = run_cli("report", str(log), *view)
        assert res.returncode == 0, res.stderr.decode()
        _assert_no_forged_line(res.stdout.decode(), f"stdout {view}")
        _assert_no_forged_line(res.stderr.decode(), f"stderr {view}")


def test_log_text_cannot_forge_markdown_blocks(tmp_path):
    from tests.robustness.conftest import run_cli

    log = _hostile_log(tmp_path)
    md = tmp_path / "r.md"
    res = run_cli("report", str(log), "--md", str(md))
    assert res.returncode == 0, res.stderr.decode()
    text = md.read_text()
    _assert_no_forged_line(text, "markdown")
    assert "\r" not in text


def test_file_urls_get_the_device_checks_of_local_paths(tmp_path):
    import os

    pytest.importorskip("fsspec")  # without it (no `ray` extra), a URL is refused in one line before any check

    from tests.robustness.conftest import assert_one_line_error, run_cli

    res = run_cli("report", "file:///dev/zero", isolated=True, timeout=60)
    assert_one_line_error(res, "/dev/zero")
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    # nobody writes to it: the run must not wait for ever
    res = run_cli("ingest", "--db", str(tmp_path / "db.duckdb"), f"file://{fifo}", isolated=True, timeout=60)
    assert_one_line_error(res, "pipe.jsonl")


# ---- item 18: the audit over usage exports -------------------------------------------------------------------


def _openai_usage_day(day: datetime, inp: int, cached: int, out: int, requests: int) -> dict:
    """One night's OpenAI Usage API export (organization/usage/completions, bucket_width=1d, group_by model)."""
    start = int(day.timestamp())
    return {
        "object": "page",
        "data": [
            {
                "object": "bucket",
                "start_time": start,
                "end_time": start + 86400,
                "results": [
                    {
                        "object": "organization.usage.completions.result",
                        "input_tokens": inp,
                        "input_cached_tokens": cached,
                        "output_tokens": out,
                        "input_audio_tokens": 0,
                        "output_audio_tokens": 0,
                        "num_model_requests": requests,
                        "project_id": None,
                        "user_id": None,
                        "api_key_id": None,
                        "model": "gpt-4o-mini",
                        "batch": False,
                        "service_tier": None,
                    }
                ],
            }
        ],
        "has_more": False,
        "next_page": None,
    }


def test_the_audit_of_a_nightly_usage_export_gets_the_days_figures(tmp_path):
    from tests.robustness.conftest import run_cli

    logs = tmp_path / "exports"
    logs.mkdir()
    d1, d2 = datetime(2025, 11, 20, tzinfo=UTC), datetime(2025, 11, 21, tzinfo=UTC)
    (logs / "usage-2025-11-20.json").write_text(json.dumps(_openai_usage_day(d1, 1_000_000, 200_000, 100_000, 50)))
    (logs / "usage-2025-11-21.json").write_text(json.dumps(_openai_usage_day(d2, 2_000_000, 1_000_000, 200_000, 80)))
    out = tmp_path / "out"
    args = ["audit", str(logs), "--db", str(tmp_path / "a.duckdb"), "--out-dir", str(out), "--day", "2025-11-21"]
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr.decode()
    audit = json.loads((out / "audit-latest.json").read_text())
    # gpt-4o-mini list prices per 1M tokens: input 0.15, cached input 0.075, output 0.60
    day2 = 1_000_000 * 0.15e-6 + 1_000_000 * 0.075e-6 + 200_000 * 0.60e-6  # 0.345
    day1 = 800_000 * 0.15e-6 + 200_000 * 0.075e-6 + 100_000 * 0.60e-6  # 0.195
    cur, prev = audit["current"], audit["previous"]
    assert cur["requests"] == 80 and prev["requests"] == 50
    assert abs(cur["cost_usd"] - day2) < 1e-9 and abs(prev["cost_usd"] - day1) < 1e-9
    assert cur["input_tokens"] == 2_000_000 and cur["cached_share"] == 0.5
    assert cur["source"] == "usage exports"
    assert abs(audit["change"]["cost_pct"] - (day2 - day1) / day1 * 100) < 0.01
    trailing = audit["trailing_7_days"]  # the 7 days before: only 2025-11-20 is covered, by its export
    assert trailing["days_with_traffic"] == 1 and abs(trailing["median_daily_cost_usd"] - day1) < 1e-9
    # and the thresholds apply to it as to logged traffic
    res = run_cli(*args, "--fail-on-increase", "50")
    assert res.returncode == 3, res.stderr.decode()


def test_rfc8259_json_in_a_large_document_read_a_window_at_a_time(tmp_path, monkeypatch):
    """A document too large to parse whole (issue 23, item 7) is read in windows, element by element where a
    window fails: an element orjson refuses but RFC 8259 allows (a lone surrogate) still loads."""
    import analyzer.sources as sources

    monkeypatch.setattr(sources, "MAX_DOCUMENT_CONTAINERS", 2)
    monkeypatch.setattr(sources, "_WINDOW", 64)
    calls = [json.dumps(_chat(f"chatcmpl-{i}", i)) for i in range(3)]
    calls[1] = calls[1].replace('"same question"', '"cut \\ud83d"')
    path = tmp_path / "big.json"
    path.write_text("[" + ", ".join(calls) + "]")
    res = Store().ingest([str(path)])
    assert (res.rows, res.rejected) == (3, 0)


def test_a_proxys_own_events_are_not_calls_nor_rejects(tmp_path):
    """The proxy's start-up and health events (flat objects: no request, response, model or usage) are not
    calls: a healthy log passes --strict. A broken call among them is still rejected."""
    from tests.robustness.conftest import run_cli

    events = [{"ts": 1_764_000_000 + i, "level": "info", "msg": f"health check {i} ok"} for i in range(60)]
    broken = {"timestamp": 1_764_000_100, "request": {"model": "gpt-4o", "messages": []}}  # no response
    log = tmp_path / "proxy.jsonl"
    log.write_bytes(jsonl(events + [_chat(f"chatcmpl-{i}", i) for i in range(20)]))
    db = tmp_path / "db.duckdb"
    res = run_cli("ingest", "--db", str(db), "--strict", str(log))
    assert res.returncode == 0, res.stderr.decode()
    log.write_bytes(jsonl(events + [_chat(f"chatcmpl-{i}", i) for i in range(20)] + [broken]))
    res = Store().ingest([str(log)])
    assert (res.rows, res.rejected) == (20, 1)
