"""The routing classifier's text check on every last user message of a database: the function one text at a time
against `code_or_maths_all` on the column (median of --runs), and whether they agree on every text.

    python -m analyzer ingest /tmp/bench/1M --db /tmp/1m.duckdb        # once
    python bench/classifier.py /tmp/1m.duckdb --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import time

from analyzer import queries
from analyzer.savings.routing import code_or_maths_all, looks_like_code_or_maths
from analyzer.store import Store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    store = Store(args.db, read_only=True)
    texts = queries.run(store.con, "last_user_messages")["text"].drop_nulls()
    store.close()
    ascii_share = texts.str.contains(r"^[\x00-\x7f]*$").mean()
    one, column = [], []
    for _ in range(args.runs):
        looks_like_code_or_maths.cache_clear()
        t = time.perf_counter()
        a = [looks_like_code_or_maths(x) for x in texts.to_list()]
        one.append(time.perf_counter() - t)
        t = time.perf_counter()
        b = code_or_maths_all(texts)
        column.append(time.perf_counter() - t)
        assert a == b, "the column and the function disagree"
    print(
        f"{texts.len():,} texts ({ascii_share:.0%} ASCII), {sum(a):,} code or maths: function one by one "
        f"{statistics.median(one):.2f} s, column {statistics.median(column):.2f} s (medians of {args.runs})"
    )


if __name__ == "__main__":
    main()
