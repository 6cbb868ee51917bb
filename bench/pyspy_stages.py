"""Where the time goes, stage by stage: a py-spy raw profile of `llmcost report` split by the report's stages.

    py-spy record --format raw --subprocesses --rate 100 -o prof.txt -- \
        python -m analyzer report LOGS -o r.html --json r.json
    python bench/pyspy_stages.py prof.txt --src . --rate 100 > bench/profiles/NAME.txt

py-spy's raw output is one line per distinct stack, `frame;frame;...;frame COUNT`, outermost frame first, each
frame `function (file:line)`. The report marks its stages with `stage("name")` calls (analyzer/progress.py;
`next_stage` in report/structure.py), one after the other inside a few functions (the CLI command, the store's
ingest, the report builders), so the stage a sample belongs to is read from the stack: the deepest frame that sits
in a function holding stage() calls, at or after its first one, is in the stage of the last stage() call above that
frame's line. The source under --src must be the checkout that was profiled (line numbers).

Samples of other processes (worker processes of the pool, the fork server) are reported apart, by process and by
function: their stacks do not say which stage of the parent asked for them.

For each stage: its seconds of samples (count / rate; py-spy samples only threads that are running unless
--idle was given) and share, the functions with the most samples at the top of the stack (self time), and
the same time charged to the innermost llmcost function (analyzer/...) on the stack, so time inside polars,
DuckDB or tiktoken is charged to the llmcost code that called it.
"""

from __future__ import annotations

import argparse
import ast
import re
from collections import Counter, defaultdict
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")
# --subprocesses nests a frame per process from the one py-spy started down to the sampled one; a command line
# may hold ';' (python -c "import x; x.main()") but not '";'
PROCESS = re.compile(r'process (?P<pid>\d+):"(?P<cmd>.*?)"(?:;|$)')


def stage_marks(src: Path) -> dict[str, list[tuple[int, int, list[tuple[int, str]]]]]:
    """{file relative to src: [(first line, last line, [(line, stage name), ...]) per function with stage calls]}."""
    out: dict[str, list[tuple[int, int, list[tuple[int, str]]]]] = {}
    for path in sorted((src / "analyzer").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        rel = str(path.relative_to(src))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            marks = []
            for node in ast.walk(fn):
                if not (isinstance(node, ast.Call) and node.args):
                    continue
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
                if name not in ("stage", "next_stage"):  # next_stage: report/structure.py, a trim then stage()
                    continue
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    marks.append((node.lineno, arg.value))
                elif isinstance(arg, ast.JoinedStr):  # stage(f"render {kind}")
                    text = "".join(v.value if isinstance(v, ast.Constant) else "*" for v in arg.values)
                    marks.append((node.lineno, text))
            if marks:
                out.setdefault(rel, []).append((fn.lineno, fn.end_lineno or fn.lineno, sorted(marks)))
    return out


def parse_frame(frame: str) -> tuple[str, str, int] | None:
    m = FRAME.match(frame)
    return (m["func"], m["file"], int(m["line"])) if m else None


def stage_of(frames: list[tuple[str, str, int]], marks: dict) -> tuple[str, int]:
    """The stage, and the index of the stage-marking frame (-1: none)."""
    for k in range(len(frames) - 1, -1, -1):
        _, file, line = frames[k]
        for first, last, calls in marks.get(file, []):
            if first <= line <= last and line >= calls[0][0]:
                return [name for at, name in calls if at <= line][-1], k
    if any(file == "threading.py" for _, file, _ in frames):
        # e.g. tokenizing on a thread pool while reading, hashing the inputs, the savings waiting on workers
        own = [f for f in frames if f[1].startswith("analyzer/")]
        return f"(a background thread of the main process: {own[0][0] if own else 'no llmcost frame'})", -1
    return "(start-up: imports before the first stage)", -1


def label(frame: tuple[str, str, int]) -> str:
    return f"{frame[0]} ({frame[1]})"


def own_frame(frames: list[tuple[str, str, int]]) -> tuple[str, str, int] | None:
    for f in reversed(frames):
        if f[1].startswith("analyzer/"):
            return f
    return None


def top(counter: Counter, total: int, rate: float, n: int, indent: str = "    ") -> list[str]:
    return [f"{indent}{c / rate:7.2f} s {100 * c / total:5.1f}%  {name}" for name, c in counter.most_common(n) if total]


def samples(text: str) -> list[str]:
    """The raw file's samples, one per "stack count" line: a process whose command line has newlines (the
    chart child's `python -c`) spreads its samples over several lines, joined back here."""
    out, part = [], []
    for line in text.splitlines():
        part.append(line)
        if re.search(r" \d+$", line):
            out.append("\\n".join(part))
            part = []
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("raw", type=Path, help="py-spy record --format raw output")
    ap.add_argument("--src", type=Path, default=Path(__file__).resolve().parent.parent, help="the profiled checkout")
    ap.add_argument("--rate", type=float, default=100.0, help="py-spy's --rate (samples per second)")
    ap.add_argument("--top", type=int, default=8)
    ap.add_argument("--title", default=None)
    args = ap.parse_args()
    marks = stage_marks(args.src)

    stages: dict[str, Counter] = defaultdict(Counter)  # stage -> leaf function -> samples
    owners: dict[str, Counter] = defaultdict(Counter)  # stage -> innermost analyzer function -> samples
    calls: dict[str, Counter] = defaultdict(Counter)  # stage -> the two calls below the stage's own frame
    stage_total: Counter = Counter()
    others: dict[str, Counter] = defaultdict(Counter)  # process -> leaf function
    other_owners: dict[str, Counter] = defaultdict(Counter)
    other_entries: dict[str, Counter] = defaultdict(Counter)  # process -> outermost two llmcost frames
    other_total: Counter = Counter()
    root: str | None = None
    for raw in samples(args.raw.read_text()):
        stack, _, count = raw.rpartition(" ")
        n = int(count)
        proc = outer = "?"
        while m := PROCESS.match(stack):  # keep the innermost: the process this sample is from
            proc = f"{m['pid']} {m['cmd'][:100]}"
            outer = proc if outer == "?" else outer
            stack = stack[m.end() :]
        parts = [p for p in stack.split(";") if p and not p.startswith("thread (")]
        frames = [f for f in map(parse_frame, parts) if f]
        if root is None:
            root = outer  # the outermost process frame: the one py-spy started
        if not frames:
            continue
        leaf = label(frames[-1])
        own = own_frame(frames)
        own_name = label(own) if own else "(no llmcost frame)"
        if proc == root:
            st, k = stage_of(frames, marks)
            below = " > ".join(label(f) for f in frames[k + 1 : k + 3]) if k >= 0 else "-"
            calls[st][below or "(the stage's own function)"] += n
            stages[st][leaf] += n
            owners[st][own_name] += n
            stage_total[st] += n
        else:
            others[proc][leaf] += n
            other_owners[proc][own_name] += n
            entry = [f for f in frames if f[1].startswith("analyzer/")][:2]  # what the parent asked for
            other_entries[proc][" > ".join(label(f) for f in entry) or "(no llmcost frame)"] += n
            other_total[proc] += n

    main_s = sum(stage_total.values())
    other_s = sum(other_total.values())
    everything = main_s + other_s
    print(f"# {args.title or args.raw.name}\n")
    print(
        f"{everything} samples at {args.rate:g} Hz = {everything / args.rate:.1f} s of sampled CPU-busy threads: "
        f"main process {main_s / args.rate:.1f} s, other processes {other_s / args.rate:.1f} s.\n"
    )
    print("## Main process, by stage\n")
    for st, c in stage_total.most_common():
        print(f"{st}: {c / args.rate:.2f} s ({100 * c / main_s:.1f}% of the main process)")
    for st, c in stage_total.most_common():
        print(f"\n### {st}: {c / args.rate:.2f} s, {100 * c / main_s:.1f}%\n")
        print("  self (function at the top of the stack):")
        print("\n".join(top(stages[st], c, args.rate, args.top)))
        print("  charged to the innermost llmcost function:")
        print("\n".join(top(owners[st], c, args.rate, args.top)))
        print("  by what the stage called (two frames below the stage's own function):")
        print("\n".join(top(calls[st], c, args.rate, args.top)))
    if other_total:
        print("\n## Other processes (pool workers, fork server)\n")
        every, every_owner, every_entry = Counter(), Counter(), Counter()
        for proc in other_total:
            every.update(others[proc])
            every_owner.update(other_owners[proc])
            every_entry.update(other_entries[proc])
        print(f"### all {len(other_total)} of them together: {other_s / args.rate:.2f} s\n")
        print("  self:")
        print("\n".join(top(every, other_s, args.rate, args.top)))
        print("  charged to the innermost llmcost function:")
        print("\n".join(top(every_owner, other_s, args.rate, args.top)))
        print("  by entry point (the outermost two llmcost frames: the unit or actor method run):")
        print("\n".join(top(every_entry, other_s, args.rate, args.top)))
        for proc, c in other_total.most_common():
            print(f"\n### process {proc}: {c / args.rate:.2f} s\n")
            print("  self:")
            print("\n".join(top(others[proc], c, args.rate, args.top)))
            print("  charged to the innermost llmcost function:")
            print("\n".join(top(other_owners[proc], c, args.rate, args.top)))
            print("  by entry point:")
            print("\n".join(top(other_entries[proc], c, args.rate, args.top)))


if __name__ == "__main__":
    main()
