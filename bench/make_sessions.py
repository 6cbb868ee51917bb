"""A folder of many small session files, as Claude Code leaves under ~/.claude/projects: N copies of
sample_logs/claude_code_session.jsonl (a recorded session of 11 records, 5 API calls), each with its own session,
message and request ids, so every file is new bytes and every call its own. Measures what a run pays per file.

    python bench/make_sessions.py /tmp/bench/sessions --files 2000
    python bench/bench.py /tmp/bench/sessions --runs 3 --skip db --label "2,000 session files"
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "sample_logs" / "claude_code_session.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--files", type=int, default=2000)
    args = ap.parse_args()
    out = Path(args.folder)
    out.mkdir(parents=True, exist_ok=True)
    text = SAMPLE.read_text()
    ids = re.compile(r'"((?:msg|req)_[A-Za-z0-9]+)"')
    for i in range(args.files):
        own = ids.sub(lambda m, i=i: f'"{m.group(1)}_{i}"', text)
        own = own.replace('"sessionId": "', f'"sessionId": "s{i}-')
        (out / f"session-{i:05d}.jsonl").write_text(own)
    print(f"{args.files:,} files in {out}")


if __name__ == "__main__":
    main()
