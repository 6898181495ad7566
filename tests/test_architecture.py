"""The map in README's *Architecture* stays true: which package may import which, no platform
library below `bot/`, and no import cycle, between the packages or between two modules of one.

Every import counts, at the top of a module or inside a function, except those under
`if TYPE_CHECKING:` (annotations only: nothing is imported when the program runs).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "storage", "schedules")
# Which packages each package may import (besides itself): the arrows point down only.
MAY_IMPORT = {
    "bot": {"handlers", "storage", "schedules"},
    "schedules": {"handlers", "storage"},
    "handlers": {"storage"},
    "storage": set(),
}
PLATFORM_LIBRARIES = ("telegram", "nio", "aiohttp", "httpx")  # only adapters (bot/) speak to platforms


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def our_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_names(source: str, name: str, *, is_package: bool = False) -> Iterator[tuple[str, int]]:
    """(module or module.attribute, line) for every import of module `name` that runs, relative
    ones resolved."""

    def visit(node: ast.AST) -> Iterator[tuple[str, int]]:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                yield from visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield module, node.lineno
            for alias in node.names:
                yield f"{module}.{alias.name}", node.lineno
        for child in ast.iter_child_nodes(node):
            yield from visit(child)

    yield from visit(ast.parse(source))


def imports_of(path: Path, name: str) -> Iterator[tuple[str, int]]:
    return imported_names(path.read_text(encoding="utf-8"), name, is_package=path.name == "__init__.py")


@cache
def dependency_graph() -> dict[str, dict[str, int]]:
    """Each of our modules -> the modules of ours it imports (with the line of the first import)."""
    modules = our_modules()
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges: dict[str, int] = {}
        for target, line in imports_of(path, name):
            if target in modules and target != name:
                edges.setdefault(target, line)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_packages_import_only_downwards() -> None:
    wrong = [
        f"{source} imports {target} (line {line})"
        for source, edges in dependency_graph().items()
        for target, line in edges.items()
        if (up := target.split(".")[0]) != source.split(".")[0] and up not in MAY_IMPORT[source.split(".")[0]]
    ]
    assert wrong == [], "see README, Architecture: " + "; ".join(wrong)


def test_no_platform_library_below_the_adapters() -> None:
    wrong = [
        f"{name} imports {target} (line {line})"
        for name, path in our_modules().items()
        if not name.startswith("bot")
        for target, line in imports_of(path, name)
        if target.split(".")[0] in PLATFORM_LIBRARIES
    ]
    assert wrong == []


@pytest.mark.parametrize("scope", ["packages", *PACKAGES])
def test_no_import_cycles(scope: str) -> None:
    graph = dependency_graph()
    if scope == "packages":
        between: dict[str, set[str]] = {package: set() for package in PACKAGES}
        for source, edges in graph.items():
            between[source.split(".")[0]].update(target.split(".")[0] for target in edges)
        components = cycles({package: targets - {package} for package, targets in between.items()})
    else:
        inside = {
            source: {target for target in edges if target.split(".")[0] == scope}
            for source, edges in graph.items()
            if source.split(".")[0] == scope
        }
        components = cycles(inside)
    assert components == []


def test_the_checker_sees_what_it_must() -> None:
    """The walk finds imports inside functions, skips annotation-only ones, and finds a cycle."""
    source = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.app import App\n"
        "def later():\n    from ..schedules import jobs\n"
    )
    seen = {target for target, _line in imported_names(source, "handlers.probe")}
    assert "schedules.jobs" in seen and "bot.app" not in seen
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
