"""Properties of ingest for every source, over records hypothesis breaks at random (any JSON value in any
field, any bytes for a line): never an exception, every record accounted for (loaded + rejected + duplicate +
not-a-call = records), and the rows loaded are exactly the records that are valid on their own.

CI runs a few examples per source (profile "ci"); a longer local fuzz run:
    HYPOTHESIS_PROFILE=fuzz python -m pytest tests/robustness/test_properties.py
"""

from __future__ import annotations

import gzip
import json
import os
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.ingest.identity import unique_id
from analyzer.sources import BY_NAME, detect_format
from analyzer.sources.base import RecordError, Request, record_key, validate, validate_bucket
from analyzer.sources.exports import PageMark, UsageBucket
from analyzer.store import Store
from tests.robustness.conftest import ROOT, SAMPLES, jsonl
from tests.robustness.formats import distinct

# One record of every source's sample (file, which record): the property is checked on each.
PROPERTY_SAMPLES = {
    "openai_chat": ("openai_chat.jsonl", 0),
    "anthropic_messages": ("anthropic_messages.jsonl", 0),
    "claude_code": ("claude_code_ccusage.jsonl", 0),
    "claude_code_session": ("claude_code_session.jsonl", 1),
    "litellm_payload": ("litellm_standard_logging_payload.json", 0),
    "litellm_spend_log": ("litellm_spend_log.json", 0),
    "openai_batch_output": ("openai_batch_output.jsonl", 0),
    "mooncake_trace": ("mooncake_trace.jsonl", 0),
    "bedrock_converse": ("bedrock_converse.jsonl", 0),
    "gemini_generate_content": ("gemini_generate_content.jsonl", 0),
    "codex_session": ("codex_session.jsonl", 1),
    "otel_genai": ("otel_genai_spans.jsonl", 0),
    "langfuse": ("langfuse_ingestion_batch.json", 0),
    "openai_usage": ("openai_usage_completions.json", 0),
    "openai_costs": ("openai_costs.json", 0),
    "anthropic_usage": ("anthropic_usage_report.json", 0),
    "anthropic_cost": ("anthropic_cost_report.json", 0),
    "claude_code_usage_report": ("claude_code_usage_report.json", 0),
    "bedrock_invocation_log": ("bedrock_invocation_log.jsonl", 0),
    "openai_batch_input": ("openai_batch_input.jsonl", 0),
    # sources added in issue 20, from their real files (a path from the repository's root)
    "anthropic_batch_results": ("tests/fixtures/anthropic_batch_results.jsonl", 0),
    "bedrock_invoke_model": ("tests/fixtures/bedrock_invoke_model_pairs.json", 0),
}
# Not here: llm_logs_db (an SQLite file, not JSON records; tests/test_sources.py covers its schemas and broken
# files) and mini_swe_agent_traj (one document is a whole run of calls known by their place in it, which the
# line-by-line oracle below does not model; tests/test_sources.py and the real traces cover it).


def template(fmt: str) -> dict[str, Any]:
    name, index = PROPERTY_SAMPLES[fmt]
    path = ROOT / name if "/" in name else SAMPLES / name
    text = (gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()).decode()
    try:
        doc = json.loads(text)
        records = doc if isinstance(doc, list) else [doc]
    except json.JSONDecodeError:
        records = [json.loads(ln) for ln in text.splitlines() if ln.strip()]
    return records[index]


settings.register_profile(
    "ci", max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("fuzz", max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, -1, 1e30, 2**63 - 1, "\u00b2", "", "1e5", "2025-13-45", "0001-01-01", 1e18])
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((*prefix, k))
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:3]):
            out.append((*prefix, i))
            out.extend(_paths(v, (*prefix, i)))
    return out


def _replace(obj: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        return {**obj, head: _replace(obj[head], rest, value)}
    out = list(obj)
    out[head] = _replace(out[head], rest, value)
    return out


def _records(fmt: str):
    base = template(fmt)
    paths = _paths(base)
    broken = st.tuples(st.sampled_from(paths), json_values).map(lambda pv: ("json", pv))
    raw = st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b).map(lambda b: ("raw", b))
    valid = st.just(("valid", None))
    return st.lists(st.one_of(valid, broken, raw), min_size=1, max_size=6)


def _line(fmt: str, i: int, kind: str, payload: Any) -> bytes:
    rec = distinct(template(fmt), i)
    if kind == "raw":
        return payload
    if kind == "json":
        path, value = payload
        rec = _replace(rec, path, value)
    return json.dumps(rec).encode()  # the json module writes integers of any size, as a hostile log may


def _expected(fmt: str, lines: list[bytes], path: str) -> tuple[set[int], int, int, int]:
    """Judging each line as the store must (in order, one context for the file): the line numbers whose
    requests load, how many usage buckets load, how many outcomes there are in all (each request, bucket or
    reject a line holds, or the line itself when it holds none), and how many lines hold none (blank lines,
    records that are no API call)."""
    source = BY_NAME[_source(fmt)]
    loads: set[int] = set()
    buckets = 0
    outcomes = 0
    seen: set[str] = set()
    seen_buckets: set[str] = set()
    repeats: dict[str, int] = {}
    ctx: dict[str, Any] = {"path": path}
    no_calls = 0
    for n, line in enumerate(lines, 1):
        if not line.strip():
            outcomes += 1  # a blank line is no record at all
            no_calls += 1
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            outcomes += 1
            continue
        if not isinstance(obj, dict):
            outcomes += 1
            continue
        # a page's "more pages follow" mark is bookkeeping, not a record
        found = [r for r in source.records(obj, ctx) if not isinstance(r, PageMark)]
        outcomes += max(1, len(found))
        no_calls += not found
        n_req = 0
        for rec in found:
            if isinstance(rec, UsageBucket):
                try:
                    validate_bucket(rec)
                except RecordError:
                    continue
                if rec.key() not in seen_buckets:
                    seen_buckets.add(rec.key())
                    buckets += 1
                continue
            if not isinstance(rec, Request):
                continue
            try:
                validate(rec)
            except RecordError:
                continue
            rid = rec.request_id
            if rid is None:
                key = record_key(source.name, obj, rec.conversation_id) + (f"/{n_req}" if n_req else "")
                repeats[key] = repeats.get(key, 0) + 1
                rid = key if repeats[key] == 1 else f"{key}#{repeats[key]}"
            n_req += 1
            if rec.request_id is not None and not unique_id(rid):
                # an id not unique everywhere is the call only with the same record (issue 23, item 1)
                rid = (rid, rec.ts_us, rec.trace_ms, rec.model, rec.provider, rec.conversation_id, rec.endpoint)
                rid += (rec.input_tokens, rec.cache_read_tokens, rec.cache_write_5m_tokens, rec.cache_write_1h_tokens)
                rid += (rec.output_tokens, rec.reasoning_tokens, rec.batch, rec.status, tuple(rec.blocks or ()))
                rid += tuple(rec.messages)
            if rid not in seen:
                seen.add(rid)
                loads.add(n)
    return loads, buckets, outcomes, no_calls


def _source(fmt: str) -> str:
    rec = template(fmt)
    found = detect_format(None, [type("I", (), {"obj": rec})()])  # type: ignore[arg-type]
    assert found is not None
    return found.name


@pytest.fixture(scope="module")
def shared_store():
    s = Store()
    yield s
    s.close()


def _reset(store: Store) -> None:
    for table in ("requests", "messages", "contents", "rejects", "sources", "blocks", "usage_buckets"):
        store.con.execute(f"DELETE FROM {table}")
    store._request_ids = None
    store._tok = None


@pytest.mark.parametrize("fmt", sorted(PROPERTY_SAMPLES))
def test_every_record_is_accounted_for_and_only_valid_ones_load(fmt, tmp_path_factory, shared_store):
    folder = tmp_path_factory.mktemp(fmt)

    @given(records=_records(fmt))
    def check(records):
        lines = [_line(fmt, 0, "valid", None)]  # a valid first record, so the format is recognised
        lines += [_line(fmt, i, kind, payload) for i, (kind, payload) in enumerate(records, 1)]
        path = folder / "log.jsonl"
        path.write_bytes(jsonl(lines))
        _reset(shared_store)
        res = shared_store.ingest([str(path)], fmt=_source(fmt))
        f = res.files[0]
        loads, buckets, outcomes, no_calls = _expected(fmt, lines, str(path))
        assert f.rows + f.buckets + f.rejected + f.duplicates + no_calls == outcomes
        got = {r[0] for r in shared_store.con.execute("SELECT line FROM requests").fetchall()}
        assert got == loads
        assert f.buckets == buckets
        reasons = [r[0] for r in shared_store.con.execute("SELECT reason FROM rejects").fetchall()]
        assert not [r for r in reasons if r.startswith("unexpected content")], reasons

    check()


# Shapes the fuzz run found raising out of the newer sources' parsers, kept as fixed examples.
@pytest.mark.parametrize(
    ("fmt", "path", "value"),
    [
        ("gemini_generate_content", ("request", "contents"), True),
        ("otel_genai", ("resourceSpans", 0, "scopeSpans"), True),
    ],
)
def test_shapes_found_by_fuzzing_the_newer_sources(fmt, path, value, tmp_path, shared_store):
    good = template(fmt)
    path_ = tmp_path / "log.jsonl"
    path_.write_bytes(jsonl([json.dumps(good).encode(), json.dumps(_replace(good, path, value)).encode()]))
    _reset(shared_store)
    shared_store.ingest([str(path_)], fmt=_source(fmt))
    reasons = [r[0] for r in shared_store.con.execute("SELECT reason FROM rejects").fetchall()]
    assert not [r for r in reasons if r.startswith("unexpected content")], reasons


# Found by the 30-minute fuzz run (issue 23): an HTTP status that is not a number ended the record in a TypeError.
@pytest.mark.parametrize("value", [[], {}, "200", True, 10_000, -1, None])
def test_a_status_code_of_any_shape_is_not_a_crash(value, tmp_path, shared_store):
    good = template("bedrock_invoke_model")
    path_ = tmp_path / "log.jsonl"
    odd = _replace(good, ("response", "status", "code"), value)
    path_.write_bytes(jsonl([json.dumps(good).encode(), json.dumps(odd).encode()]))
    _reset(shared_store)
    shared_store.ingest([str(path_)], fmt=_source("bedrock_invoke_model"))
    reasons = [r[0] for r in shared_store.con.execute("SELECT reason FROM rejects").fetchall()]
    assert not [r for r in reasons if r.startswith("unexpected content")], reasons
