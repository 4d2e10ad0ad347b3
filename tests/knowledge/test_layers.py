"""knowledge/'s layers: runtime imports neither build nor tools, and no module imports itself
back through others (function-level imports included: they once hid a cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

from relay.settings import ROOT

PACKAGE = ROOT / "knowledge"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Each knowledge module and the knowledge modules it imports, anywhere in its code."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found |= {f"{node.module}.{alias.name}" for alias in node.names}
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_the_runtime_imports_neither_the_build_nor_the_tools() -> None:
    leaks = {(module, target) for module, targets in imports().items()
             if module.startswith("knowledge.runtime") for target in targets
             if target.startswith(("knowledge.build", "knowledge.tools"))}
    assert leaks == set()


def test_no_module_imports_itself_back() -> None:
    graph = imports()
    # A package imports its own submodules (re-exports); that is not a cycle between modules.
    edges = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in graph.items()}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for target in edges[node]:
            if target in path:
                cycles.append([*path[path.index(target):], target])
            elif len(path) < 12:
                visit(target, [*path, target])

    for start in edges:
        visit(start, [start])
    assert cycles == []
