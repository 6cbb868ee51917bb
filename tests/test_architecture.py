"""The package's shape (issue 24), checked on every run: no module over 600 lines, no import cycle (imports
inside functions included: a lazy import hides a cycle, it does not remove it), and no module importing one from
a higher layer. docs/architecture.md describes the layers; this is the list the code is held to."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "analyzer"
MAX_LINES = 600

# Low to high: a module imports modules of its own layer or below. A name ending in ".*" covers a package's
# modules; the longest matching name decides.
LAYERS: list[tuple[str, list[str]]] = [
    (
        "base",
        [
            "errors",
            "options",
            "perf",
            "redact",
            "resources",
            "timeparse",
            "migrations",
            "tokens",
            "providers",
            "sources.streams",
            "formatting",
        ],
    ),  # fmt: skip
    (
        "reading and prices",
        ["inputs", "remote", "dbguard", "warm", "partitions", "queries", "prices", "prices.*", "sources", "sources.*"],
    ),  # fmt: skip
    ("ingest and backends", ["ingest", "ingest.*", "backends", "backends.*", "progress", "store", "period"]),
    (
        "analysis",
        [
            "conversations",
            "prefixes",
            "reuse",
            "system_prompts",
            "usage",
            "reconcile",
            "unit_costs",
            "budgets",
            "blocks",
            "projection",
            "actions",
            "savings",
            "savings.*",
        ],
    ),  # fmt: skip
    ("report model", ["report", "report.*"]),
    ("outputs", ["charts", "render", "render.*", "export", "focus", "terminal"]),
    ("commands", ["audit", "cli", "cli.*", "commands", "commands.*", "__main__"]),
]


def _modules() -> dict[str, Path]:
    out = {}
    for p in PACKAGE.rglob("*.py"):
        parts = p.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


MODULES = _modules()


def short(name: str) -> str:
    return name.removeprefix("analyzer.") if name != "analyzer" else name


def layer_of(name: str) -> int | None:
    s, best = short(name), None
    if s == "analyzer":
        return 0
    for i, (_, names) in enumerate(LAYERS):
        for n in names:
            matches = n == s or (n.endswith(".*") and s.startswith(n[:-1]))
            if matches and (best is None or len(n) > best[1]):
                best = (i, len(n))
    return None if best is None else best[0]


def _imports(name: str) -> set[str]:
    """The package's modules `name` imports, anywhere in it but under `if TYPE_CHECKING:`."""
    tree = ast.parse(MODULES[name].read_text())
    typing_only = {
        id(s)
        for n in ast.walk(tree)
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
        for s in ast.walk(n)
    }
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if id(node) in typing_only or not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for t in targets:
            while t not in MODULES and "." in t:
                t = t.rpartition(".")[0]
            if t in MODULES and t != name:
                out.add(t)
    return out


GRAPH = {m: _imports(m) for m in MODULES}


def test_no_module_over_600_lines():
    big = {short(m): n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_every_module_has_a_layer():
    assert not [short(m) for m in MODULES if layer_of(m) is None]


def test_no_module_imports_a_higher_layer():
    wrong = [
        f"{short(m)} ({LAYERS[layer_of(m)][0]}) imports {short(t)} ({LAYERS[layer_of(t)][0]})"
        for m, targets in GRAPH.items()
        for t in sorted(targets)
        if t != "analyzer" and layer_of(m) is not None and layer_of(t) is not None and layer_of(t) > layer_of(m)
    ]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle():
    # Tarjan's strongly connected components; any component of two or more modules is a cycle
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(short(c) for c in comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_the_checks_can_fail():
    """The graph is read right: a known import is found, and a made-up upward import would be reported."""
    assert "analyzer.errors" in GRAPH["analyzer.dbguard"]
    assert layer_of("analyzer.cli") > layer_of("analyzer.store") > layer_of("analyzer.errors")
