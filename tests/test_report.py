"""The report (#7): golden report model for the samples, the headline levers, charts, redaction and escaping,
--no-text databases, CSV exports, and the page's own safety (CSP hash, no external resource)."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import math
import os
import re
from pathlib import Path

import pytest

from analyzer import actions, charts, tokens
from analyzer.cli import cli
from analyzer.redact import EXCERPT_CHARS, excerpt, excerpt_of, redact
from analyzer.render.svg import to_svg
from tests.conftest import SAMPLES, chat_call, write_jsonl

GOLDEN = Path(__file__).parent / "golden" / "sample_logs_report.json"
VOLATILE = {"generated_at", "ingested_at", "database", "llmcost_version"}


@pytest.fixture(scope="module")
def sample_outputs(tmp_path_factory):
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("sample_report")
    args = ["report", str(SAMPLES), "-o", str(out / "r.html"), "--json", str(out / "r.json")]
    args += ["--md", str(out / "r.md"), "--csv-dir", str(out / "csv")]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    return out


def two_lever_records():
    """Gemini and Claude services re-sending one long system prompt (shown in the log), uncached: caching levers
    with enough evidence to be ranked, and a combined replay (the samples are too thin to rank any lever)."""
    system = " ".join(f"Rule {i}: answer politely about topic {i}." for i in range(400))
    recs = []
    for k, (model, t0) in enumerate((("gemini-2.5-flash", 1_764_000_000), ("claude-sonnet-4-5", 1_764_172_800))):
        for i in range(8):
            msgs = [{"role": "system", "content": system}, {"role": "user", "content": f"Please summarise item {i}"}]
            usage = {"prompt_tokens": 4200, "completion_tokens": 50, "prompt_tokens_details": {"cached_tokens": 0}}
            recs.append(chat_call(f"r{k}-{i}", t0 + 60 * i, msgs, usage, model, user=f"svc{k}"))
    return recs


@pytest.fixture(scope="module")
def lever_outputs(tmp_path_factory):
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("lever_report")
    log = write_jsonl(out / "g.jsonl", two_lever_records())
    args = ["report", str(log), "-o", str(out / "r.html"), "--json", str(out / "r.json"), "--md", str(out / "r.md")]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    return out


def _normalise(v, key=""):
    """The model without what changes from run to run (times, paths of this checkout, the version)."""
    if isinstance(v, dict):
        return {k: _normalise(x, k) for k, x in v.items() if k not in VOLATILE}
    if isinstance(v, list):
        return [_normalise(x) for x in v]
    if key == "path" and isinstance(v, str):
        return Path(v).name
    return v


def _differences(got, want, path="$"):
    """Every place the two models differ (floats within 1e-9 relative: summation order may vary)."""
    if isinstance(want, dict) and isinstance(got, dict):
        for k in sorted(set(want) | set(got)):
            if k not in got or k not in want:
                yield f"{path}.{k}: {'missing' if k not in got else 'unexpected'}"
            else:
                yield from _differences(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            yield f"{path}: {len(got)} items, golden has {len(want)}"
        for i, (g, w) in enumerate(zip(got, want, strict=False)):
            yield from _differences(g, w, f"{path}[{i}]")
    elif isinstance(want, float) and isinstance(got, float | int):
        if not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
            yield f"{path}: {got!r} != golden {want!r}"
    elif got != want:
        yield f"{path}: {got!r} != golden {want!r}"


def test_report_model_matches_the_golden_file(sample_outputs):
    """Every figure of the samples' report model is pinned; a change to any is a visible diff. To accept a
    deliberate change: LLMCOST_UPDATE_GOLDEN=1 python -m pytest tests/test_report.py -k golden, then review
    `git diff tests/golden`."""
    got = _normalise(json.loads((sample_outputs / "r.json").read_text()))
    if os.environ.get("LLMCOST_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    want = json.loads(GOLDEN.read_text())
    diffs = list(_differences(got, want))
    assert not diffs, "report model differs from tests/golden:\n" + "\n".join(diffs[:40])


def test_golden_figures_hand_checked(sample_outputs):
    """The figures checked by hand once, from the sample records and the catalogue's list prices."""
    r = json.loads((sample_outputs / "r.json").read_text())
    by = {m["model"]: m for m in r["by_model"]}
    # DeepSeek V3.2 chat: 284 input of which 128 cache hits, 38 output; $0.28 / $0.028 / $0.42 per million
    assert by["deepseek-chat"]["cost_usd"] == pytest.approx(156 * 0.28e-6 + 128 * 0.028e-6 + 38 * 0.42e-6)
    # Claude Sonnet 4.5: 20 uncached, 2,222 read, 418 written for 5 min and 1,650 for 1 h, 456 out at $3 / $15
    s = by["claude-sonnet-4-5-20250929"]
    assert s["cost_usd"] == pytest.approx(20 * 3e-6 + 2222 * 0.3e-6 + 418 * 3.75e-6 + 1650 * 6e-6 + 456 * 15e-6)
    # the unpriced model is listed and in no total
    assert by["acme-llm-7b"]["cost_usd"] is None and r["totals"]["unpriced_requests"] == 1
    t = r["totals"]
    assert t["cost_usd"] == pytest.approx(sum(m["cost_usd"] for m in r["by_model"] if m["cost_usd"] is not None))
    assert t["cost_usd"] == pytest.approx(sum(t["cost_by_token_type_usd"].values()))
    # headline: monthly = saving x 30 / days; ranked by saving; the combined figure is the combined replay's
    h = r["headline"]
    assert [lv["saving_usd"] for lv in h["levers"]] == sorted((lv["saving_usd"] for lv in h["levers"]), reverse=True)
    for lv in h["levers"]:
        assert lv["monthly_usd"] == pytest.approx(lv["saving_usd"] * 30 / r["period"]["days"])
        assert lv["saving_low_usd"] <= lv["saving_usd"] <= lv["saving_high_usd"]
    if len(r["combined"]["components"]) > 1:  # one component is that lever itself: no separate card
        assert h["combined"]["saving_usd"] == r["combined"]["estimate"]["saving_usd"]
    else:
        assert h["combined"] is None
    # projection: per model, summed; the unpriced model is named and left out; as measured it lands near the
    # logged monthly rate (means of tokens and cache hit rates, batch discounts not modelled)
    p = r["projection"]
    assert p["unpriced_models"] == ["acme-llm-7b"]
    assert p["as_given"]["total_usd"] == pytest.approx(sum(m["total_usd"] for m in p["models"]), abs=1e-5)
    # (the projection prices at today's prices: the same traffic's cost at today's prices, scaled to a month)
    today_monthly = r["prices"]["cost_at_today_prices_usd"] * 30 / r["period"]["days"]
    assert p["as_given"]["total_usd"] == pytest.approx(today_monthly, rel=0.1)
    assert (
        p["scenarios"]["traffic_x0.2"]["total_usd"]
        < p["as_given"]["total_usd"]
        < p["scenarios"]["context_plus_30pct"]["total_usd"]
    )


def _estimate(lever, saving, low=None, high=None, **detail):
    return {
        "lever": lever,
        "policy": f"{lever} policy",
        "scope": "",
        "requests": 10,
        "baseline_usd": 100.0,
        "counterfactual_usd": 100.0 - saving,
        "saving_usd": saving,
        "saving_low_usd": saving if low is None else low,
        "saving_high_usd": saving if high is None else high,
        "assumptions": [],
        "evidence": [],
        "detail": detail,
    }


def _model(estimates, days=15.0, backtest_error=None, volatile=()):
    bt = None
    if backtest_error is not None:
        bt = {"after_first_request_of_each_scope": {"error_pct": backtest_error}}
    return {
        "period": {"days": days},
        "totals": {"cost_usd": 500.0, "projected_monthly_usd": 1000.0},
        "savings": estimates,
        "caching": {"backtest": bt},
        "combined": None,
        "top_prefixes": [],
        "volatile_prefixes": list(volatile),
    }


def test_headline_ranks_the_best_policy_of_each_lever_and_keeps_three():
    h = actions.headline(
        _model(
            [
                _estimate("trimming", 5.0),
                _estimate("trimming", 9.0, removed_tokens=1000),
                _estimate("routing", 40.0, 30.0, 50.0, targets={"gpt-4o-mini": 3}, share=0.7, eligible_requests=4),
                _estimate("batching", 2.0, programmatic_sources=1),
                _estimate("caching", 20.0, 18.0, 21.0),
                _estimate("caching", -3.0),
            ],
            backtest_error=-1.5,
        )
    )
    assert [lv["lever"] for lv in h["levers"]] == ["routing", "caching", "trimming"]
    assert h["levers"][2]["saving_usd"] == 9.0  # the better trimming policy, not both
    assert [lv["lever"] for lv in h["other_levers"]] == ["batching"]
    assert h["levers"][0]["monthly_usd"] == pytest.approx(80.0)  # 40 over 15 days
    assert "gpt-4o-mini" in h["levers"][0]["action"] and "$80.00/month" in h["levers"][0]["action"]
    assert h["levers"][0]["confidence"] == "medium"  # routing: quality not measured, never "high"
    assert h["levers"][1]["confidence"] == "high" and "-1.5%" in h["levers"][1]["confidence_reason"]
    # trimming's backtest says which one it is: the cache reads', not the replay's cost error (a new user took
    # the traces' "backtest -0.5%" for the waterfall's +3.0% step)
    assert "(backtest against provider-reported cache reads -1.5%)" in h["levers"][2]["confidence_reason"]


def test_headline_confidence_follows_the_backtest_and_says_why_nothing_pays():
    far = actions.headline(_model([_estimate("caching", 10.0)], backtest_error=-45.0))
    assert far["levers"][0]["confidence"] == "low"
    # right in total but wrong call by call (p95 of 80 points of the input): not "high"
    m = _model([_estimate("caching", 10.0)], backtest_error=-1.0)
    m["caching"]["backtest"]["per_call_error_points_p95"] = 80.0
    assert actions.headline(m)["levers"][0]["confidence"] == "medium"
    m["caching"]["backtest"]["per_call_error_points_p95"] = 10.0
    assert actions.headline(m)["levers"][0]["confidence"] == "high"
    unknown = actions.headline(_model([_estimate("caching", 10.0)]))
    assert "no provider-reported cache reads" in unknown["levers"][0]["confidence_reason"]
    none = actions.headline(_model([_estimate("caching", -2.0), _estimate("routing", 0.0)]))
    # under the monthly heading, per month as the ranked levers: -$2.00 over 15 days is -$4.00/month (hr1)
    assert none["levers"] == [] and "caching (caching policy) -$4.00/month" in none["no_lever_reason"]
    short = actions.headline(_model([_estimate("batching", 1.0)], days=0.5))
    assert short["scaled_to_month"] is False and short["levers"][0]["monthly_usd"] is None


def test_levers_that_cost_more_or_sit_inside_the_band_are_listed_not_ranked():
    """A saving inside the backtest's error band is "nothing to gain"; a lever that costs more is listed as such,
    never ranked, never offered as a saving."""
    window = _estimate("trimming", -40.0, policy_kind="Budget") | {"verdict": "costs more"}
    tiny = _estimate("caching", 0.09, mode="automatic") | {"verdict": "nothing to gain", "backtest": {"band_usd": 0.1}}
    good = _estimate("trimming", 5.0, policy_kind="Compact") | {"verdict": "saves"}
    h = actions.headline(_model([window, tiny, good], backtest_error=1.0))
    assert [lv["lever"] for lv in h["levers"]] == ["trimming"] and h["levers"][0]["saving_usd"] == 5.0
    # the period's figures stay in saving_usd; the text is per month like the ranked levers (15 days: x 2)
    assert [x["saving_usd"] for x in h["costs_more"]] == [-40.0]
    assert "would cost $80.00/month more" in h["costs_more"][0]["text"]
    assert "$0.1800/month, inside the error band of $0.2000/month" in h["nothing_to_gain"][0]["text"]
    only_bad = actions.headline(_model([window, tiny], backtest_error=1.0))
    assert only_bad["levers"] == [] and "would cost $80.00/month more" in only_bad["no_lever_reason"]
    short = actions.headline(_model([window], days=0.5, backtest_error=1.0))  # under a day: over the period
    assert "would cost $40.00 more" in short["costs_more"][0]["text"]


def test_stable_system_prompt_lever_names_the_volatile_span():
    v = {"prompt_start": "You are Ava", "volatile_example": "[date]", "first_diff_token": 8, "requests": 400}
    stabilise = _estimate("caching", 12.0, mode="stabilise") | {"verdict": "saves"}
    h = actions.headline(_model([_estimate("routing", 5.0), stabilise], volatile=[v]))
    top = h["levers"][0]
    assert top["lever"] == "caching" and top["saving_usd"] == 12.0
    assert "Move \u201c[date]\u201d out of the first 8 tokens" in top["action"]


@pytest.mark.parametrize(
    "text,gone",
    [
        ("mail bob.smith@acme.io now", "bob.smith@acme.io"),
        ("key sk-proj-abcdefghijklmnop1234 here", "abcdefghijklmnop1234"),
        ("Today is 2025-11-20.", "2025-11-20"),
        ("call +1 (555) 123-4567", "123-4567"),
        ("see https://acme.io/reset?token=abc", "acme.io"),
        ("order 12345678", "12345678"),
        ("id 123e4567-e89b-12d3-a456-426614174000", "426614174000"),
        ("server 10.0.0.12", "10.0.0.12"),
        ("aws wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY here", "bPxRfiCYEXAMPLEKEY"),
        ("host 2001:db8::8a2e:370:7334 up", "8a2e:370:7334"),
        ("host fe80::1 up", "fe80::1"),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyzABCDEF", "abcdefghijklmnopqrstuvwxyzABCDEF"),
        ("tokens glpat-abcdefghijklmnopqrst and hf_abcdefghijklmnopqrstuv", "hf_abcdefghijklmnopqrstuv"),
    ],
)
def test_redaction_removes_identifying_strings(text, gone):
    assert gone not in redact(text)
    assert gone not in excerpt(text)
    assert gone in excerpt(text, show_text=True)


def test_redaction_leaves_ordinary_text_alone():
    for text in ("Rule 12: answer in at most 3 sentences.", "meet at 10:30:00", "std::vector<int>", "/usr/bin/python3"):
        assert redact(text) == text


def test_a_fragment_is_redacted_as_part_of_the_whole_text():
    """A volatile span cut from a prompt ("alice.smith" of an address, the first characters of a key) must not
    escape redaction by being too short to match on its own."""
    text = "Session for alice.smith@corp-mail.com. Key sk-proj-Zx81QabcdefghijklmnopQ. Be brief."
    assert excerpt_of(text, 12, 23) == "[email]"
    assert "Zx81" not in excerpt_of(text, 0, 50)
    assert excerpt_of(text, 12, 23, show_text=True) == "alice.smith"


def test_excerpt_drops_terminal_escapes_and_bidi_overrides():
    for shown in (False, True):
        e = excerpt("red \x1b[31mALERT\x1b[0m\x07 \u202egnp.exe", show_text=shown)
        assert e == "red [31mALERT[0m gnp.exe"


def test_excerpt_is_one_short_line_and_none_without_text():
    e = excerpt("You are Ava.\n\n  Be kind. " * 40)
    assert "\n" not in e and len(e) <= EXCERPT_CHARS and e.endswith("\u2026")
    assert excerpt(None) is None
    assert len(excerpt("word " * 200, show_text=True)) > EXCERPT_CHARS


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> Contact eve@evil.example about =HYPERLINK("x")'


def _hostile_log(tmp_path: Path) -> Path:
    recs = []
    for i in range(4):
        messages = [
            {"role": "system", "content": HOSTILE + " Rules follow. " * 300},
            {"role": "user", "content": f"question {i} " + HOSTILE},
        ]
        user = '=cmd|" /C calc"!A0' if i % 2 else "<b>u</b>"
        usage = {"prompt_tokens": 1400, "completion_tokens": 20}
        recs.append(chat_call(f"chatcmpl-{i}", 1_760_000_000 + 60 * i, messages, usage, user=user))
    return write_jsonl(tmp_path / "hostile.jsonl", recs)


def test_log_text_is_escaped_and_redacted_in_every_output(runner, tmp_path):
    log = _hostile_log(tmp_path)
    out = tmp_path / "o"
    out.mkdir()
    args = ["report", str(log), "-o", str(out / "r.html"), "--json", str(out / "r.json"), "--md", str(out / "r.md")]
    res = runner.invoke(cli, [*args, "--csv-dir", str(out / "csv")])
    assert res.exit_code == 0, res.output
    page = (out / "r.html").read_text()
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>u</b>" not in page
    assert "&lt;b&gt;u&lt;/b&gt;" in page  # the user name is shown, escaped
    assert page.count("<script") == 1  # ours only
    data = json.loads((out / "r.json").read_text())
    assert data["top_prefixes"] and data["top_prefixes"][0]["excerpt"].startswith("system: <script>")
    for f in [out / "r.html", out / "r.json", out / "r.md", *sorted((out / "csv").iterdir())]:
        assert "eve@evil.example" not in f.read_text(), f"{f.name} leaks an address from a prompt"
    # a spreadsheet would run a cell starting with "="; the CSV quotes it
    rows = list(csv.DictReader((out / "csv" / "spend_by_attribution.csv").open()))
    users = {r["value"] for r in rows if r["dimension"] == "user"}
    assert '\'=cmd|" /C calc"!A0' in users and not any(u.startswith("=") for u in users)


def test_show_text_shows_the_prompt_but_still_escapes_it(runner, tmp_path):
    log = _hostile_log(tmp_path)
    html, js = tmp_path / "r.html", tmp_path / "r.json"
    res = runner.invoke(cli, ["report", str(log), "-o", str(html), "--json", str(js), "--show-text"])
    assert res.exit_code == 0, res.output
    assert "eve@evil.example" in json.loads(js.read_text())["top_prefixes"][0]["excerpt"]
    page = html.read_text()
    assert "eve@evil.example" in page and "<script>alert" not in page


def test_no_text_database_renders_every_section(runner, tmp_path, sample_outputs):
    db = tmp_path / "n.duckdb"
    res = runner.invoke(cli, ["ingest", str(SAMPLES), "--db", str(db), "--no-text"])
    assert res.exit_code == 0, res.output
    html, js = tmp_path / "r.html", tmp_path / "r.json"
    res = runner.invoke(cli, ["report", "--db", str(db), "-o", str(html), "--json", str(js)])
    assert res.exit_code == 0, res.output
    data = json.loads(js.read_text())
    assert data["top_prefixes"] and all(p["excerpt"] is None for p in data["top_prefixes"])
    page = html.read_text()
    assert "text not stored" in page and page.count('<figure class="chart"') >= 5
    with_text = json.loads((sample_outputs / "r.json").read_text())

    def verdicts(r):  # routing reads the user's words; the other levers do not need the text
        kept = [e for e in r["savings"] if e["lever"] != "routing"]
        return [(e["lever"], e["policy"], e["verdict"], e["saving_usd"]) for e in kept]

    assert verdicts(data) == verdicts(with_text)
    assert data["headline"]["levers"] == with_text["headline"]["levers"], "the levers do not need the text"


def test_page_allows_only_its_own_script_and_loads_nothing(sample_outputs):
    page = (sample_outputs / "r.html").read_text()
    (script,) = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert f"script-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline'; img" not in csp.split("script-src")[1]
    # no reference to anything outside the file (the SVG namespace URIs are names, not requests)
    refs = re.findall(r'(?:src|href)="([^"#][^"]*)"', page)
    assert all(r.startswith("data:") for r in refs), refs


def test_every_chart_renders_to_svg_with_marks(sample_outputs, lever_outputs):
    report = json.loads((sample_outputs / "r.json").read_text())
    built = charts.specs(report)
    assert {c["id"] for c in built} >= {"daily-spend", "context-growth", "segments", "prefix-reuse"}
    (waterfall,) = [
        c for c in charts.specs(json.loads((lever_outputs / "r.json").read_text())) if c["id"] == "waterfall"
    ]
    assert 'id="chart-waterfall"' in (lever_outputs / "r.html").read_text()
    built = [*built, waterfall]
    for c in built:
        svg = to_svg(c["spec"])
        assert svg.startswith("<svg") and re.search(r'class="mark-(rect|line|symbol|area|rule|text)', svg), c["id"]
        # each axis's tick labels differ: a dollar axis formatted in cents on a sub-dollar scale reads $0.00 at
        # every tick
        for group in re.findall(r'<g class="mark-text role-axis-label"[^>]*>(.*?)</g>', svg):
            # a label may be several lines (<tspan>s): compare each label's whole text
            ticks = [re.sub(r"<[^>]+>", " ", t) for t in re.findall(r"<text[^>]*>(.*?)</text>", group)]
            assert len(ticks) == len(set(ticks)), f"{c['id']}: repeated axis labels {ticks}"
    page = (sample_outputs / "r.html").read_text()
    for c in built[:-1]:
        assert f'id="chart-{c["id"]}"' in page


def test_charts_read_the_model_not_recompute_it(sample_outputs, lever_outputs):
    report = json.loads((lever_outputs / "r.json").read_text())
    wf = charts.waterfall(report)["data"]["values"]
    c = report["combined"]
    assert wf[0]["step"] == "spend" and wf[0]["end"] == report["totals"]["cost_usd"]  # the headline's figure
    sim = [d for d in wf if d["step"] == "simulator difference"]
    assert [d["end"] for d in sim] == ([c["estimate"]["baseline_usd"]] if sim else [])
    assert wf[-1]["end"] == pytest.approx(c["estimate"]["baseline_usd"] - c["estimate"]["saving_usd"])
    interaction = next(d for d in wf if d["step"] == "interaction")
    assert interaction["amount"] == pytest.approx(c["separate_sum_usd"] - c["estimate"]["saving_usd"])
    report = json.loads((sample_outputs / "r.json").read_text())
    gaps = charts.prefix_reuse(report)["data"]["values"]
    assert sum(g["tokens"] for g in gaps) == report["prefix_reuse"]["ideal_hit_tokens"]


def test_charts_without_data_are_left_out():
    empty = {
        "period": {"days": None},
        "by_day": [],
        "conversations": {},
        "combined": None,
        "prefix_reuse": {},
        "savings": [],
        "projection": None,
    }
    assert charts.specs(empty) == []


def test_csv_exports_hold_the_model_numbers(sample_outputs):
    report = json.loads((sample_outputs / "r.json").read_text())
    rows = list(csv.DictReader((sample_outputs / "csv" / "spend_by_model.csv").open()))
    assert [r["model"] for r in rows] == [m["model"] for m in report["by_model"]]
    priced = [float(r["cost_usd"]) for r in rows if r["cost_usd"]]
    assert sum(priced) == pytest.approx(report["totals"]["cost_usd"])
    unpriced = [r for r in rows if not r["model_key"]]
    assert unpriced and all(r["cost_usd"] == "" for r in unpriced)  # empty, never 0
    for f in (sample_outputs / "csv").iterdir():  # plain decimals, as a spreadsheet reads them
        assert not re.search(r"\d[eE]-\d", f.read_text()), f"{f.name} has a number in scientific notation"
    levers = list(csv.DictReader((sample_outputs / "csv" / "levers.csv").open()))
    assert [r["lever"] for r in levers][: len(report["headline"]["levers"])] == [
        lv["lever"] for lv in report["headline"]["levers"]
    ]


def test_markdown_summary_leads_with_the_levers(lever_outputs):
    md = (lever_outputs / "r.md").read_text()
    report = json.loads((lever_outputs / "r.json").read_text())
    assert "## What to change first" in md
    first = report["headline"]["levers"][0]
    assert f"1. **{first['lever'].capitalize()}:" in md
    # each lever says at which prices its figure is given, and keeps its own line
    levers = [x for x in md.splitlines() if re.match(r"\d\. \*\*", x)]
    assert len(levers) == len(report["headline"]["levers"]) >= 2
    assert all("At the prices billed" in x and "at today's prices" in x for x in levers)


def test_csv_dir_that_cannot_be_made_is_one_clear_line(runner, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = runner.invoke(cli, ["report", str(SAMPLES), "--csv-dir", str(blocker / "sub")])
    assert res.exit_code == 1 and "cannot create the CSV folder" in res.output
    assert "Traceback" not in res.output


def test_volatile_system_prompt_through_the_report(runner, tmp_path):
    """A support bot whose system prompt starts with today's date: the report marks the shared prefixes with the
    volatile span, replays the fix (the span moved to the end) against the traffic as logged and ranks it."""
    body = " You are Ava, the support assistant for Northwind. Follow the refund policy strictly." * 60
    recs = []
    for i in range(30):
        day = 20 + i % 3
        messages = [
            {"role": "system", "content": f"Today is 2025-11-{day}.{body}"},
            {"role": "user", "content": f"Where is order {i}?"},
        ]
        # what OpenAI caches of it: the same variant was sent 120 s before (from the 4th request on)
        sys_n = tokens.count(messages[0]["content"]) + 3
        prompt = sys_n + tokens.count(messages[1]["content"]) + 3 + 3
        hit = 1024 + (sys_n - 1024) // 128 * 128 if i >= 3 else 0
        usage = {"prompt_tokens": prompt, "completion_tokens": 30, "prompt_tokens_details": {"cached_tokens": hit}}
        recs.append(chat_call(f"chatcmpl-v{i}", 1_764_000_000 + 40 * i, messages, usage, "gpt-4o", f"u{i % 5}"))
    log = write_jsonl(tmp_path / "v.jsonl", recs)
    js = tmp_path / "r.json"
    res = runner.invoke(cli, ["report", str(log), "--json", str(js), "-o", str(tmp_path / "r.html")])
    assert res.exit_code == 0, res.output
    r = json.loads(js.read_text())
    (v,) = r["volatile_prefixes"]
    assert v["variants"] == 3 and v["requests"] == 30 and v["model"] == "gpt-4o"
    # the span is redacted as part of the date it sits in; internal fields dropped
    assert v["volatile_example"] == "[date]" and v["stable_before"] == "Today is [date]" and "content_ids" not in v
    assert "_text" not in v and "_spans" not in v
    assert v["saving_upper_usd"] > 0
    marked = [p for p in r["top_prefixes"] if p["volatile_span"]]
    assert marked and all(p["volatile_span"]["first_diff_token"] == v["first_diff_token"] for p in marked)
    # two replays, one simulator: as logged each variant caches only itself; stable, the two new variants read
    # the shared part the first one wrote (gpt-4o: 1,024 + 128-token steps, at half price)
    (e,) = [e for e in r["savings"] if e["lever"] == "caching" and e["detail"].get("mode") == "stabilise"]
    n = v["cacheable_if_moved_to_end"] + 3
    assert e["saving_usd"] == pytest.approx(2 * (1024 + (n - 1024) // 128 * 128) * 1.25e-6)
    assert e["verdict"] == "saves" and e["backtest"]["band_usd"] == 0
    top = next(lv for lv in r["headline"]["levers"] if lv["lever"] == "caching")
    assert "Move \u201c[date]\u201d out of the first" in top["action"]
    assert "vary" in (tmp_path / "r.html").read_text()


def test_terminal_summary_cannot_be_driven_by_escape_sequences_in_logs(runner, tmp_path):
    model = "gpt-4o-mini\x1b]0;pwned\x07\x1b[2J"
    usage = {"prompt_tokens": 8, "completion_tokens": 2}
    rec = chat_call("chatcmpl-esc", 1_764_000_000, [{"role": "user", "content": "hi"}], usage, model, reply="hello")
    res = runner.invoke(cli, ["report", str(write_jsonl(tmp_path / "e.jsonl", [rec]))])
    assert res.exit_code == 0, res.output
    assert "gpt-4o-mini]0;pwned[2J" in res.output  # shown, defused
    assert "\x1b" not in res.output and "\x07" not in res.output


def test_long_tables_are_capped_in_the_page_not_in_the_model():
    """A year of traffic on many models, or a nightly job's thousands of files, must not make a page that no
    one can open; the JSON keeps every row."""
    import orjson

    from analyzer.render import render_html

    report = json.loads(GOLDEN.read_text())
    report["meta"] |= {"generated_at": "2026-01-01T00:00:00Z", "llmcost_version": "test", "database": ":memory:"}
    day = report["by_day"][0]
    report["by_day"] = [day | {"day": f"2025-{1 + i // 600 % 12:02d}-{1 + i % 28:02d}"} for i in range(5000)]
    src = report["ingest"]["sources"][0] | {"ingested_at": "2026-01-01T00:00:00Z"}
    report["ingest"]["sources"] = [src | {"path": f"/logs/f{i}.jsonl", "rejected": int(i == 4321)} for i in range(5000)]
    page = render_html(report)
    assert "The latest 600 of 5,000 day x model rows" in page and "of 5,000 (the JSON has every file)" in page
    assert "/logs/f4321.jsonl" in page  # the file with rejected records is shown first
    assert page.count("/logs/f") == 3 + 200  # the first 3 on the page, all 200 in the fold below them
    assert len(page) < len(orjson.dumps(report)) and len(page) < 1_000_000


def test_outputs_get_the_usual_permissions_not_mkstemps_0600(runner, tmp_path):
    """An audit's out-dir is often served or shared: files are made as open() would make them (0666 & ~umask)."""
    for mask, mode in ((0o022, 0o644), (0o077, 0o600)):
        old = os.umask(mask)
        try:
            res = runner.invoke(cli, ["report", str(SAMPLES), "--md", str(tmp_path / f"{mask}.md")])
        finally:
            os.umask(old)
        assert res.exit_code == 0, res.output
        assert (tmp_path / f"{mask}.md").stat().st_mode & 0o777 == mode


def test_waterfall_sums_only_the_policies_the_combined_replay_runs(runner, tmp_path):
    """Gemini's explicit caches are an alternative to the caching rules, not a further lever: counting both made
    the waterfall fall below $0. Every step must match a replayed policy and the bars stay above zero."""
    recs = two_lever_records()
    js = tmp_path / "r.json"
    res = runner.invoke(cli, ["report", str(write_jsonl(tmp_path / "g.jsonl", recs)), "--json", str(js)])
    assert res.exit_code == 0, res.output
    r = json.loads(js.read_text())
    assert any(e["policy"].startswith("Gemini explicit") for e in r["savings"]), "the alternative policy is estimated"
    c = r["combined"]
    assert not any(x["policy"].startswith("Gemini explicit") for x in c["components"])
    assert c["separate_sum_usd"] == pytest.approx(sum(x["saving_usd"] for x in c["components"]))
    steps = charts.waterfall(r)["data"]["values"]
    base, together = c["estimate"]["baseline_usd"], c["estimate"]["baseline_usd"] - c["estimate"]["saving_usd"]
    interaction = next(d for d in steps if d["step"] == "interaction")
    assert interaction["start"] == pytest.approx(base - c["separate_sum_usd"])  # what adding them up would claim
    assert steps[-1]["end"] == pytest.approx(together) and together >= 0
    assert all(d["amount"] != 0 for d in steps[1:-1])  # no $0 steps


def test_monthly_figures_and_projection_need_a_day_and_use_the_window_asked_for(runner, tmp_path):
    usage = {"prompt_tokens": 100, "completion_tokens": 10}
    msgs = [{"role": "user", "content": "hi"}]
    recs = [chat_call(f"c{i}", 1_764_000_000 + 60 * i, msgs, usage, "gpt-4o") for i in range(5)]  # 4 minutes
    log = write_jsonl(tmp_path / "short.jsonl", recs)
    js = tmp_path / "r.json"
    assert runner.invoke(cli, ["report", str(log), "--json", str(js)]).exit_code == 0
    r = json.loads(js.read_text())
    assert r["totals"]["projected_monthly_usd"] is None and "error" in r["projection"]
    assert r["headline"]["scaled_to_month"] is False
    # a two-day window asked for with --since/--until is two days, however little of it has traffic
    args = ["report", str(log), "--json", str(js), "--since", "2025-11-24", "--until", "2025-11-25"]
    assert runner.invoke(cli, args).exit_code == 0
    r = json.loads(js.read_text())
    assert r["period"]["days"] == 2.0
    assert r["totals"]["projected_monthly_usd"] == pytest.approx(r["totals"]["cost_usd"] * 15)
    assert r["projection"]["as_given"]["total_usd"] == pytest.approx(r["totals"]["cost_usd"] * 15, rel=1e-3)


def test_many_distinct_models_are_capped_in_every_list_and_not_priced_one_by_one(runner, tmp_path):
    """#14 case 12: a log with thousands of distinct (unpriced) model names must not make a report that lists
    them all, nor price each of them separately for the projection."""
    recs = [
        chat_call(
            f"m{i}",
            1_764_000_000 + 60 * i,
            [{"role": "user", "content": "hi"}],
            {"prompt_tokens": 10, "completion_tokens": 5},
            f"acme-{i}",
        )
        for i in range(1200)
    ] + [
        chat_call(
            "g",
            1_764_000_000,
            [{"role": "user", "content": "hi"}],
            {"prompt_tokens": 10, "completion_tokens": 5},
            "gpt-4o",
        )
    ]
    js = tmp_path / "r.json"
    res = runner.invoke(cli, ["report", str(write_jsonl(tmp_path / "m.jsonl", recs)), "--json", str(js)])
    assert res.exit_code == 0, res.output
    r = json.loads(js.read_text())
    from analyzer.report.schema import MAX_LISTED

    assert MAX_LISTED == 1000
    assert len(r["by_model"]) == MAX_LISTED and len(r["unpriced"]) == MAX_LISTED
    assert r["truncated"]["by_model"] == 1201 and r["truncated"]["unpriced"] == 1200
    assert len(r["projection"]["unpriced_models"]) <= MAX_LISTED
    assert r["by_model"][0]["model"] == "gpt-4o"  # the priced, costliest rows are the ones kept
    assert r["totals"]["unpriced_requests"] == 1200  # totals still count every row
    # the daily rows keep their totals: the models beyond the listed ones are one "(other models)" row a day
    assert sum(d["requests"] for d in r["by_day"]) == 1201
    assert any(d["model"] == "(other models)" for d in r["by_day"])
    assert len(r["by_day"]) <= MAX_LISTED + 10


def test_the_priced_requests_are_priced_from_one_chunk_with_todays_cost_beside(store, catalogue, tmp_path, monkeypatch):
    """The report's parent holds the priced requests for the whole run. DuckDB hands a large result over in chunks
    of ~122k rows, and each pricing pass carried their buffers into frames of its own: at a million calls the
    pricing peaked 590 MiB higher than from one chunk. Today's snapshot adds its cost alone, not a copy of every
    cost column that nothing read."""
    import analyzer.report as report_module
    from analyzer import queries
    from analyzer.prices import price_requests
    from analyzer.report import priced_frame
    from tests.conftest import openai_record

    recs = [openai_record(prompt=100 + i, cached=i, rid=f"r{i}", ts=1_764_000_000 + 60 * i) for i in range(40)]
    store.ingest([str(write_jsonl(tmp_path / "r.jsonl", recs))])
    store.con.execute(
        "INSERT INTO requests SELECT x.* REPLACE (request_id || '-' || i AS request_id) "
        "FROM requests x, range(1, 4002) t(i)"
    )
    raw = queries.run(store.con, "requests_in_period", since=None, until=None)
    assert max(raw.n_chunks("all")) > 1  # what DuckDB hands over at this size
    given: list[list[int]] = []

    def spy(df, *args, **kw):
        given.append(df.n_chunks("all"))
        return price_requests(df, *args, **kw)

    monkeypatch.setattr(report_module, "price_requests", spy)
    priced = priced_frame(store, catalogue, None, None)
    assert priced.height == raw.height == 40 * 4002
    assert len(given) == 2 and all(chunks == [1] * raw.width for chunks in given)
    assert [c for c in priced.columns if "today" in c] == ["cost_today"]
    assert priced["cost_today"].to_list() == price_requests(raw, catalogue, dated=False)["cost"].to_list()
    assert priced["cost_today"].sum() > 0
