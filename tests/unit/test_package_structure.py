"""The package's shape: no import cycle between its modules, no module over 400 lines,
and no reaching into backend objects by attribute name outside the registry.

Imports deferred into functions count (a deferred import that closes a cycle hides the
cycle, it does not remove it); imports under ``if TYPE_CHECKING`` do not run and do not
count. ``KNOWN_CYCLES`` and ``KNOWN_LONG`` list what other layers still have to untangle:
the tests fail on anything new, and on a listed entry that is gone (so the lists shrink).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "integration_kit"
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}

#: Cycles outside the services layer (the mock Kafka's modules import each other).
KNOWN_CYCLES = {
    frozenset(
        {
            "integration_kit.mocks.kafka.admin",
            "integration_kit.mocks.kafka.cluster",
            "integration_kit.mocks.kafka.consumer",
            "integration_kit.mocks.kafka.producer",
        }
    ),
}
#: Modules over the limit outside the services layer (owned by other layers' issues).
KNOWN_LONG = {
    "integration_kit.contracts.compat",
    "integration_kit.errors",
    "integration_kit.metrics.cli",
    "integration_kit.metrics.history",
    "integration_kit.metrics.plugin",
    "integration_kit.metrics.report",
    "integration_kit.mocks.kafka.cluster",
    "integration_kit.mocks.kafka.consumer",
    "integration_kit.mocks.redis",
    "integration_kit.postgres.database",
    "integration_kit.postgres.janitor",
    "integration_kit.pytest_plugin",
    "integration_kit.services.process",
    "integration_kit.suite.lint",
}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import that can run (deferred ones included), not those for typing only."""
    skipped = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _is_type_checking(node)
        for stmt in node.body
        for inner in ast.walk(stmt)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skipped
    ]


def _edges(name: str, path: Path) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _top_level_imports(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, *([base] if base else [])])
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            targets.add(sub if sub in MODULES else base)
    return {t for t in targets if t in MODULES and t != name}


def _tangles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan): each is a
    set of modules that import each other in a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.add(frozenset(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def _cycles() -> set[frozenset[str]]:
    return _tangles({name: _edges(name, path) for name, path in MODULES.items()})


def test_no_import_cycle_in_the_package() -> None:
    found = _cycles()
    new = [sorted(tangle) for tangle in found - KNOWN_CYCLES]
    assert not new, f"modules importing each other in a cycle: {new}"
    assert not KNOWN_CYCLES - found, f"untangled, remove from KNOWN_CYCLES: {KNOWN_CYCLES - found}"


def test_no_module_over_the_line_limit() -> None:
    long = {
        name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    new = {name: n for name, n in long.items() if name not in KNOWN_LONG}
    assert not new, f"modules over {MAX_LINES} lines: {new}"
    assert not KNOWN_LONG - set(long), f"now short, remove from KNOWN_LONG: {KNOWN_LONG - set(long)}"


def test_the_cycle_finder_finds_cycles() -> None:
    # The finder must see a cycle when there is one (else the test above cannot fail).
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert _tangles(graph) == {frozenset({"a", "b", "c"})}


def test_no_getattr_on_backend_objects_outside_the_registry() -> None:
    offenders = []
    services = PACKAGE / "services"
    for path in sorted(services.rglob("*.py")):
        if path == services / "backends" / "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args):
                continue
            target = ast.unparse(node.args[0])
            reflective = node.func.id in {"getattr", "setattr", "hasattr"}
            if reflective and ("backend" in target or target in {"self", "running", "inner"}):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, offenders
