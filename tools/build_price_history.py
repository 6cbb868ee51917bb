"""Build analyzer/data/prices/price_history.json.gz: the dated price history of LiteLLM's catalogue.

Reads every committed version of `model_prices_and_context_window.json` in a git repository that tracks it
(LiteLLM's own repository, or a mirror that commits LiteLLM's file as published, e.g. RoCry/llm-api-price,
which copies https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json
hourly and commits on change), then any newer catalogues given with --snapshot (by default the catalogue shipped
in analyzer/data/prices, on the day it was copied, analyzer.prices.CATALOGUE_DATE), keeps only the price fields
of each model key, applies the provider-documented corrections (tools/price_history_corrections.json), and
writes, per key, the versions in date order: `[from, fields]`, each in force until the next one's `from` (a day,
or a UTC minute `YYYY-MM-DDTHH:MM` for a correction the provider announced to the minute), `null` fields once
the key has left the catalogue. Several commits on one day: the day's last wins.

The one command that rebuilds the shipped history (from the repository root; the mirror is a clone of
https://github.com/RoCry/llm-api-price, e.g. brought here by `git clone --bare`):

    python tools/build_price_history.py MIRROR_GIT_DIR

Options: [--path model_prices_and_context_window.json] [--snapshot FILE@YYYY-MM-DD ...] [--no-snapshot]
[--corrections tools/price_history_corrections.json] [--out analyzer/data/prices/price_history.json.gz].
The history ends on the last catalogue read; later calls are priced at the shipped snapshot. Run it again on a
newer mirror (or with a newer catalogue as --snapshot) to extend it; llmcost needs no network at run time.
"""

from __future__ import annotations

import argparse
import gzip
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

# Fields that price a call (and what resolution needs to treat a key as a priced chat model).
KEEP_EXTRA = ("off_peak_pricing", "provider_specific_entry", "mode", "litellm_provider")


ROOT = Path(__file__).resolve().parent.parent
SHIPPED = str(ROOT / "analyzer" / "data" / "prices" / "model_prices_and_context_window.json")


def shipped_date() -> str:
    """The day the shipped catalogue was copied (analyzer.prices.CATALOGUE_DATE), read without importing llmcost."""
    m = re.search(r'^CATALOGUE_DATE = "(\d{4}-\d{2}-\d{2})"', (ROOT / "analyzer" / "prices.py").read_text(), re.M)
    assert m, "CATALOGUE_DATE not found in analyzer/prices.py"
    return m.group(1)


def price_fields(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The entry's price fields, or None when it prices no tokens (not a model we can bill)."""
    out = {
        k: v
        for k, v in entry.items()
        if ("cost" in k and isinstance(v, int | float) and not isinstance(v, bool)) or k in KEEP_EXTRA
    }
    if "input_cost_per_token" not in out and "output_cost_per_token" not in out:
        return None
    pse = out.get("provider_specific_entry")
    if isinstance(pse, dict):  # only numeric multipliers are prices
        pse = {k: v for k, v in pse.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        if pse:
            out["provider_specific_entry"] = pse
        else:
            out.pop("provider_specific_entry")
    elif pse is not None:
        out.pop("provider_specific_entry")
    return out


def commits(git_dir: str, path: str) -> list[tuple[str, str]]:
    """(commit, UTC day) of every commit touching `path`, oldest first, the last commit of each day kept."""
    log = subprocess.run(
        [
            "git",
            "--git-dir",
            git_dir,
            "log",
            "--reverse",
            "--format=%H %cd",
            "--date=format-local:%Y-%m-%d",
            "--",
            path,
        ],
        check=True,
        capture_output=True,
        text=True,
        env={"TZ": "UTC", "PATH": "/usr/bin:/bin"},
    ).stdout.split("\n")
    by_day: dict[str, str] = {}
    for line in log:
        if line.strip():
            sha, day = line.split()
            by_day[day] = sha
    return sorted(((sha, day) for day, sha in by_day.items()), key=lambda x: x[1])


def catalogues(git_dir: str, path: str, snapshots: list[tuple[str, str]]) -> Iterator[tuple[str, str, bytes]]:
    """(day, label, raw JSON) of every catalogue to read, in date order: the git history, then the snapshots
    later than its last day."""
    last = ""
    for sha, day in commits(git_dir, path):
        last = day
        yield (
            day,
            sha[:10],
            subprocess.run(
                ["git", "--git-dir", git_dir, "show", f"{sha}:{path}"], check=True, capture_output=True
            ).stdout,
        )
    for file, day in sorted(snapshots, key=lambda s: s[1]):
        if day <= last:
            print(f"{file}: dated {day}, not after the git history's last day {last}; skipped", file=sys.stderr)
            continue
        yield day, file, Path(file).read_bytes()


def build(git_dir: str, path: str, snapshots: list[tuple[str, str]] = ()) -> dict[str, Any]:
    models: dict[str, list[list[Any]]] = {}
    current: dict[str, str] = {}  # key -> canonical JSON of its fields now in force
    days = []
    read_snapshots: list[dict[str, str]] = []
    for day, label, blob in catalogues(git_dir, path, list(snapshots)):
        try:
            data = orjson.loads(blob)
        except orjson.JSONDecodeError:
            print(f"{day} {label}: not valid JSON, skipped", file=sys.stderr)
            continue
        if not isinstance(data, dict):
            continue
        days.append(day)
        if label.endswith(".json"):
            read_snapshots.append({"file": Path(label).name, "day": day})
        seen = set()
        for key, entry in data.items():
            if key == "sample_spec" or not isinstance(entry, dict):
                continue
            fields = price_fields(entry)
            if fields is None:
                continue
            seen.add(key)
            canon = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS).decode()
            if current.get(key) != canon:
                versions = models.setdefault(key, [])
                if versions and versions[-1][0] == day:
                    versions[-1][1] = fields
                else:
                    versions.append([day, fields])
                current[key] = canon
        for key in [k for k in current if k not in seen and current[k] != "null"]:
            models[key].append([day, None])  # left the catalogue
            current[key] = "null"
    return {
        "format": 1,
        "first": days[0],
        "last": days[-1],
        "versions_read": len(days),
        "snapshots": read_snapshots,
        "models": models,
    }


def apply_corrections(models: dict[str, list[list[Any]]], corrections: dict[str, Any]) -> list[str]:
    """Replace the catalogue's versions of a key inside a correction's date range with the provider's
    documented ones (each over the catalogue's fields of that day, so non-price fields stay; a null field
    removes it, e.g. an off-peak discount that ended)."""
    done = []
    for key, fix in corrections.items():
        if key.startswith("_"):
            continue
        fix = corrections[fix["same_as"]] if "same_as" in fix else fix
        start, until = fix["range"]
        old = models.get(key, [])
        kept = [v for v in old if v[0] < start or v[0] >= until]
        added = []
        for day, fields in fix["versions"]:
            base = next((f for d, f in reversed(old) if d <= day and f), None) or next((f for _, f in old if f), {})
            merged = {**base, **fields}
            added.append([day, {k: v for k, v in merged.items() if v is not None}])  # null: the field is gone
        models[key] = sorted(kept + added, key=lambda v: v[0])
        done.append(key)
    return done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("git_dir")
    ap.add_argument("--path", default="model_prices_and_context_window.json")
    ap.add_argument("--source", default="", help="where the git history came from, recorded in the file")
    ap.add_argument("--out", default="analyzer/data/prices/price_history.json.gz")
    ap.add_argument("--corrections", default=str(Path(__file__).with_name("price_history_corrections.json")))
    ap.add_argument(
        "--snapshot",
        action="append",
        default=[],
        metavar="FILE@YYYY-MM-DD",
        help="a newer catalogue than the git history's last, in force from that day (repeatable); default: the "
        "shipped catalogue on the day it was copied",
    )
    ap.add_argument("--no-snapshot", action="store_true", help="the git history only")
    args = ap.parse_args()
    snapshots = []
    for spec in args.snapshot or ([] if args.no_snapshot else [f"{SHIPPED}@{shipped_date()}"]):
        file, _, day = spec.rpartition("@")
        if not file or len(day) != 10:
            ap.error(f"--snapshot {spec}: expected FILE@YYYY-MM-DD")
        snapshots.append((file, day))
    hist = build(args.git_dir, args.path, snapshots)
    if args.corrections:
        fixes = orjson.loads(Path(args.corrections).read_bytes())
        hist["corrected"] = {
            k: (fixes[v["same_as"]] if "same_as" in v else v)["source"]
            for k, v in fixes.items()
            if not k.startswith("_")
        }
        apply_corrections(hist["models"], fixes)
    head = subprocess.run(
        ["git", "--git-dir", args.git_dir, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    hist["source"] = args.source or f"git history of {args.path} in {args.git_dir} (HEAD {head})"
    hist["source"] += "".join(f"; then {s['file']} from {s['day']}" for s in hist["snapshots"])
    raw = orjson.dumps(hist, option=orjson.OPT_SORT_KEYS)
    Path(args.out).write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    changed = sum(len(v) > 1 for v in hist["models"].values())
    print(
        f"{args.out}: {hist['versions_read']} daily versions {hist['first']}..{hist['last']}, "
        f"{len(hist['models'])} keys, {changed} with more than one version; "
        f"{len(raw) / 1e6:.1f} MB raw, {Path(args.out).stat().st_size / 1e6:.2f} MB gzipped"
    )


if __name__ == "__main__":
    main()
