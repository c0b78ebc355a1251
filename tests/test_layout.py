"""The package layout reads as the pipeline and data flows one way (read from the imports).

Every import of every module counts, function-local (lazy) ones included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "compiler"

# The first-level parts, and which parts each may import. The order is the pipeline:
# ir <- frontend, ad <- codegen <- runtime <- value, jit, check <- cli, bench.
ALLOWED = {
    "_version": set(),
    "errors": set(),
    "ir": {"errors"},
    "frontend": {"ir", "errors"},
    "ad": {"ir", "errors"},
    "codegen": {"ir", "errors"},
    "runtime": {"codegen", "ad", "frontend", "ir", "errors", "_version"},
    "value": {"runtime", "frontend", "ad", "ir", "errors"},
    "jit": {"runtime", "frontend", "ir", "errors"},
    "check": {"runtime", "errors"},
    "optimize": {"runtime", "ad", "frontend", "ir", "errors"},
    "ode": {"optimize", "ad", "frontend", "ir", "errors"},
    # the user-facing tools use the public API (the package itself) and what is below it
    "cli": {"<package>", "runtime", "frontend", "ir", "errors"},
    "__main__": {"<package>", "cli", "bench", "runtime", "errors"},
    "bench": {"<package>", "errors"},
}
# Only the runtime (and the benchmark tool, which runs the peers) starts Numba, llvmlite or processes.
MACHINERY = {"numba", "llvmlite", "subprocess", "multiprocessing", "concurrent", "ctypes"}
MACHINERY_ALLOWED = {"runtime", "bench", "__main__"}
MAX_LINES = 520  # "no module over ~500 lines"


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        yield path, ".".join(parts), is_package


def _imports(path: Path, name: str, is_package: bool) -> set[str]:
    """Absolute names of everything ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    base = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[:len(base) - node.level + 1]
                module = ".".join(anchor + ([node.module] if node.module else []))
            else:
                module = node.module
            for alias in node.names:  # `from .. import ir` imports the part ir; `from .. import x`, the package
                sub = f"{module}.{alias.name}"
                found.add(sub if _part(sub) not in (None, "<package>") else module)
    return found


def _part(module: str) -> str | None:
    """The first-level part of a module of the package (``compiler.ir.node`` -> ``ir``)."""
    pieces = module.split(".")
    if pieces[0] != "compiler":
        return None
    if len(pieces) == 1:
        return "<package>"
    part = pieces[1]
    return part if part in ALLOWED else None


MODULES = [(p, n, k) for p, n, k in _modules() if n != "compiler"]  # __init__: the public facade


def _edges():
    edges = {}
    for path, name, is_package in MODULES:
        src = _part(name)
        for imported in _imports(path, name, is_package):
            dst = _part(imported)
            if dst is not None and dst != src:
                edges.setdefault(src, {}).setdefault(dst, set()).add(f"{name} -> {imported}")
    return edges


def test_every_part_is_known():
    unknown = {n for _, n, _ in MODULES if _part(n) is None}
    assert not unknown, f"modules outside the known parts: {unknown}; add them to ALLOWED with their rule"


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_a_part_imports_only_what_is_below_it(part):
    bad = {dst: sorted(why)[:3] for dst, why in _edges().get(part, {}).items() if dst not in ALLOWED[part]}
    assert not bad, f"{part} may import only {sorted(ALLOWED[part])}; it imports {bad}"


def test_no_import_circles_between_parts():
    edges = {src: set(dsts) for src, dsts in _edges().items()}
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError(f"import circle: {' -> '.join(path + [node, nxt])}")
            if nxt not in state:
                visit(nxt, path + [node])
        state[node] = 2
    for part in sorted(edges):
        if part not in state:
            visit(part, [])


def test_nothing_below_value_knows_the_eager_value():
    users = {n for p, n, k in MODULES if "compiler.value" in _imports(p, n, k) and _part(n) not in ("value",)}
    assert not users, f"the eager Value is imported below value.py, by {sorted(users)}"


def test_only_the_runtime_starts_numba_llvmlite_or_processes():
    bad = {}
    for path, name, is_package in MODULES:
        if _part(name) in MACHINERY_ALLOWED:
            continue
        used = {i.split(".")[0] for i in _imports(path, name, is_package)} & MACHINERY
        if used:
            bad[name] = sorted(used)
    assert not bad, f"only {sorted(MACHINERY_ALLOWED)} may import {sorted(MACHINERY)}: {bad}"


def test_the_ir_converts_no_sympy():
    for path, name, _ in MODULES:
        if _part(name) == "ir":
            assert "sympy_bridge" not in path.read_text(encoding="utf-8"), name


@pytest.mark.parametrize("path", [p for p, _, _ in MODULES], ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_about_500_lines(path):
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines; split it by what its parts do"


def test_each_subpackage_says_what_its_stage_takes_and_gives():
    for part in ("ir", "frontend", "ad", "codegen", "runtime"):
        doc = ast.get_docstring(ast.parse((PACKAGE / part / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "Takes:" in doc and "Gives:" in doc, f"compiler/{part}/__init__.py: say what it takes and gives"
