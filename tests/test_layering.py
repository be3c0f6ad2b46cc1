"""The import layering of ../shared/ARCHITECTURE.md, checked on the source so that it cannot drift back.

Imports point down only: ``linpiao`` (composition root) → ``shop`` / ``admin`` → ``certificates`` → ``registry`` →
``kernel`` (settings, the city clock, languages, templates, money: usable by every package, importing none).
``planting`` (the tree-planting duty) is layered inside the same way: its ``domain`` sits on the register, its
``shop`` and ``admin`` pages on the shop and the back-office; nothing below the composition root imports planting,
which plugs in by registering (the register's :mod:`registry.donations` and :mod:`registry.sealing`, the shop's
:mod:`shop.purposes`).
``shop`` and ``admin`` never import each other; ``bench`` and the tests share sample data from ``factories`` and
``bench`` borrows nothing else from the tests.
Every import counts, including those inside functions and under ``TYPE_CHECKING``: a lazy import is still a
dependency, it only hides a cycle from the interpreter.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("kernel", "registry", "planting", "certificates", "shop", "admin", "linpiao", "tools", "factories", "bench")

# what each package may import from the project (besides itself)
ALLOWED: dict[str, set[str]] = {
    "kernel": set(),
    "registry": {"kernel"},
    "planting": set(),  # the package's own __init__
    "planting.domain": {"kernel", "registry"},
    "planting.shop": {"kernel", "registry", "planting.domain", "certificates", "shop", "linpiao"},
    "planting.admin": {"kernel", "registry", "planting.domain", "certificates", "admin", "linpiao"},
    "certificates": {"kernel", "registry", "linpiao"},
    "shop": {"kernel", "registry", "certificates", "linpiao"},
    "admin": {"kernel", "registry", "certificates", "linpiao"},
    "linpiao": {"kernel", "registry", "planting", "certificates", "shop", "admin", "tools"},
    "tools": set(),  # the auditor's script runs on its own, with the standard library only
    "factories": {"kernel", "registry", "planting", "certificates", "shop", "linpiao"},
    "bench": {"kernel", "registry", "planting", "certificates", "shop", "admin", "linpiao", "factories"},
}


def _unit(module: str) -> str:
    """The layer a module belongs to: its package, or the sub-package that ALLOWED names (``planting.shop``)."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in ALLOWED:
            return ".".join(parts[:n])
    return parts[0]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


def _imports(path: Path, module: str) -> Iterator[str]:
    """Every project module named by an import statement anywhere in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            for alias in node.names:
                yield f"{base}.{alias.name}"


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for name in _imports(path, module):
            if name in modules and name != module:
                targets.add(name)
            elif name.split(".")[0] in {*PACKAGES, "tests"} and _unit(name) != _unit(module):
                targets.add(name)  # keep cross-package names even when they are attributes, for the layer check
        graph[module] = targets
    return graph


def _upward(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, targets in graph.items():
        own = _unit(module)
        for target in targets:
            unit = _unit(target)
            if unit != own and not any(unit == a or unit.startswith(a + ".") for a in ALLOWED[own]):
                wrong.append(f"{module} imports {target}")
    return wrong


def test_every_import_points_down() -> None:
    assert _upward(_graph()) == []


@pytest.mark.parametrize("above", ["linpiao.app", "shop.orders", "admin.routes", "certificates.service"])
def test_the_register_may_use_the_kernel_but_nothing_above_itself(above: str) -> None:
    assert _upward({"registry.register_view": {"kernel.money"}}) == []
    assert _upward({"registry.register_view": {above}}) == [f"registry.register_view imports {above}"]
    assert _upward({"kernel.templating": {"registry.models"}}) != []  # the kernel imports nothing of the project


@pytest.mark.parametrize(
    ("module", "target", "allowed"),
    [
        ("planting.domain.rules", "registry.audit", True),
        ("planting.domain.rules", "planting.shop.orders", False),  # the domain knows no pages
        ("planting.shop.orders", "shop.purposes", True),
        ("planting.shop.orders", "admin.routes", False),
        ("planting.admin.views", "admin.permissions", True),
        ("planting.admin.views", "planting.shop.pages", False),
        ("registry.finance", "planting.domain.models", False),  # the register asks registry.donations instead
        ("shop.my_orders", "planting.shop.orders", False),  # the shop asks shop.purposes instead
        ("linpiao.app", "planting.shop.pages", True),  # the composition root mounts planting
    ],
)
def test_planting_is_layered_like_the_rest(module: str, target: str, allowed: bool) -> None:
    assert (_upward({module: {target}}) == []) is allowed


def test_the_checker_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    source = "def f():\n    from shop.orders import x\n\nfrom . import sibling\n"
    (tmp_path / "m.py").write_text(source)
    names = set(_imports(tmp_path / "m.py", "registry.m"))
    assert {"shop.orders", "shop.orders.x", "registry.sibling"} <= names


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in graph:
                continue
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_module_imports_itself_round_about() -> None:
    graph = {m: {t for t in ts if t in ts and not _is_package_of(m, t)} for m, ts in _graph().items()}
    assert _cycle(graph) is None


def _is_package_of(module: str, target: str) -> bool:
    """``shop/__init__`` re-exporting a submodule is not a cycle with that submodule."""
    return module.startswith(target + ".") or target.startswith(module + ".")


@pytest.mark.parametrize(
    ("graph", "cyclic"),
    [({"a": {"b"}, "b": {"a"}}, True), ({"a": {"b"}, "b": {"c"}, "c": set()}, False)],
)
def test_the_cycle_finder_finds_cycles(graph: dict[str, set[str]], cyclic: bool) -> None:
    assert (_cycle(graph) is not None) is cyclic
