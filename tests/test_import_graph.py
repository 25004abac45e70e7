"""The package's import graph: no cycles and no arrow from a lower layer to a higher one.

The graph is read from the source (every ``import``/``from ... import`` anywhere in a module,
including those inside functions), so a lazy import cannot hide an upward arrow. Layers, low
to high (a module may import its own layer and the ones below):

    0  errors, months, permit, options, publish (the package's base)
    1  registers          the input contracts
    2  backends, simulate the engines; the synthetic registers
    3  outcomes
    4  designs
    5  estimators
    6  plots              a leaf: imports nothing of the package but itself
    7  report, ledger
    8  study
    9  cli

Run ``python tests/test_import_graph.py`` to print the graph's upward arrows and cycles.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "impact"
LAYERS = {
    "impact": 0, "impact.errors": 0, "impact.months": 0, "impact.permit": 0, "impact.options": 0, "impact.publish": 0,
    "impact.data": 0, "impact.registers": 1, "impact.backends": 2, "impact.simulate": 2, "impact.outcomes": 3,
    "impact.designs": 4, "impact.estimators": 5, "impact.plots": 6, "impact.report": 7, "impact.ledger": 7,
    "impact.study": 8, "impact.cli": 9, "impact.cli_import": 9,
}


def modules() -> dict[str, Path]:
    out = {}
    for p in PACKAGE.rglob("*.py"):
        parts = p.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (``from pkg import name`` counts as pkg.name when that is a module)."""
    mods = modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                if t == "impact" or t.startswith("impact."):
                    r = resolve(t)
                    if r and r != name:
                        edges[name].add(r)
    return edges


def layer(module: str) -> int:
    parts = module.split(".")
    for k in range(len(parts), 0, -1):
        key = ".".join(parts[:k])
        if key in LAYERS and (k > 1 or module == "impact"):
            return LAYERS[key]
    raise KeyError(f"{module}: no layer; add its top-level name to LAYERS in tests/test_import_graph.py")


def upward_arrows(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for a, targets in edges.items():
        for b in targets:
            if layer(b) > layer(a):
                bad.append(f"{a} (layer {layer(a)}) -> {b} (layer {layer(b)})")
            elif a.startswith("impact.plots") and not b.startswith("impact.plots"):
                bad.append(f"{a} -> {b} (plots is a leaf)")
    return sorted(bad)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on, stack, out = set(), [], []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ())))))
                elif nxt in on:
                    low[v] = min(low[v], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_every_module_has_a_layer():
    for m in modules():
        layer(m)


def test_no_upward_arrows():
    assert upward_arrows(import_graph()) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_no_study_module_over_400_lines():
    long = {p.name: n for p in (PACKAGE / "study").rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


def test_the_check_finds_what_it_looks_for():
    """An upward arrow and a cycle in a made-up graph are both reported."""
    g = {"impact.estimators.x": {"impact.report.render"}, "impact.report.render": {"impact.report.y"},
         "impact.report.y": {"impact.report.render"}, "impact.plots.core": {"impact.errors"}}
    assert upward_arrows(g) == ["impact.estimators.x (layer 5) -> impact.report.render (layer 7)",
                                "impact.plots.core -> impact.errors (plots is a leaf)"]
    assert cycles(g) == [["impact.report.render", "impact.report.y"]]


if __name__ == "__main__":  # pragma: no cover - the command in the docstring
    g = import_graph()
    print("\n".join(upward_arrows(g)) or "no upward arrows")
    print("\n".join(" <-> ".join(c) for c in cycles(g)) or "no cycles")
    sys.exit(0)
