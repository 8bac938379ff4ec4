"""Import rules of the package, read from its source (AST) rather than from what happens to be loaded:
layers only import downwards, no import cycle (imports inside functions count too), the library never
imports click, and no module reaches into another module's or another library's private names."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "lczmap"

#: Layers from the bottom up; a module may import only from its own layer or below, and within a
#: layer without cycles. The longest matching prefix decides a module's layer (``lczmap`` itself is
#: the root module only: a new sub-package must be placed here).
LAYERS: list[tuple[int, tuple[str, ...]]] = [
    (0, ("lczmap", "lczmap._lazy", "lczmap.errors", "lczmap.classes", "lczmap.bands", "lczmap._io", "lczmap._device")),
    (1, ("lczmap.data", "lczmap.models", "lczmap.losses", "lczmap.raster", "lczmap.canopy", "lczmap.speckle")),
    (1, ("lczmap.calibration", "lczmap.remote.http")),  # scene reads remote files through remote.http
    (2, ("lczmap.twin", "lczmap.checkpoint", "lczmap.scene")),
    (3, ("lczmap.evaluate",)),
    (4, ("lczmap.train", "lczmap.predict")),
    (5, ("lczmap.zones", "lczmap.remote")),
    (6, ("lczmap.study", "lczmap.demo", "lczmap.info", "lczmap.maps", "lczmap.adapt", "lczmap.mosaic", "lczmap.change")),
    (6, ("lczmap.downstream",)),
    (7, ("lczmap.cli", "lczmap.rio_plugin", "lczmap.__main__")),
]

#: Dunder attributes that are another object's internals rather than its interface.
PRIVATE_DUNDERS = frozenset({"__wrapped__"})


@dataclass(frozen=True)
class Import:
    """One module that one import statement loads."""

    target: str  # the absolute module name
    line: int
    top_level: bool  # False: inside a function, a class body or a try/if below the module level


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def is_module(name: str, root: Path = ROOT) -> bool:
    rel = Path(*name.split("."))
    return (root / rel).with_suffix(".py").is_file() or (root / rel / "__init__.py").is_file()


def is_private(name: str) -> bool:
    """``_x`` but not ``__x__``; the dunders listed in :data:`PRIVATE_DUNDERS` too."""
    if name in PRIVATE_DUNDERS:
        return True
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _parse(path: Path) -> ast.Module:
    """The module's tree with the nodes of its ``if TYPE_CHECKING:`` blocks marked: they import
    nothing at run time."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                for n in ast.walk(inner):
                    n._typing_only = True  # type: ignore[attr-defined]
    return tree


def absolute(node: ast.ImportFrom, module: str, path: Path) -> str:
    """The absolute module a ``from ... import`` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    base = package.split(".")
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports(path: Path, module: str, *, root: Path = ROOT) -> Iterator[Import]:
    """Every lczmap module ``path`` imports, wherever the import statement stands.

    ``from pkg import a`` loads ``pkg.a`` where that is a module, else ``pkg``."""
    tree = _parse(path)
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if getattr(node, "_typing_only", False):
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = absolute(node, module, path)
            subs = [f"{base}.{a.name}" for a in node.names if is_module(f"{base}.{a.name}", root)]
            targets = subs + ([base] if len(subs) < len(node.names) else [])
        for target in targets:
            if target == "lczmap" or target.startswith("lczmap."):
                yield Import(target, node.lineno, id(node) in top_level)


def private_uses(path: Path, module: str, *, root: Path = ROOT) -> Iterator[str]:
    """Where ``path`` uses another module's private name, as ``line: what``.

    - ``from lczmap.x import _y``: another lczmap module's private name (allowed where ``_y`` is a
      module: lczmap's own private modules, ``lczmap._io``, ``lczmap._device``, ``lczmap._lazy``,
      are package-internal modules meant to be imported across the package);
    - ``import other._mod`` or ``from other._mod import x``: another library's private module;
    - ``from other import _y``: another library's private name;
    - ``mod._y`` or ``mod.f.__wrapped__`` on a name bound by an import: the same through attributes.
    """
    tree = _parse(path)
    imported: set[str] = set()  # local names bound by an import
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                imported.add((a.asname or a.name).split(".")[0])
                if not a.name.startswith("lczmap") and any(is_private(p) for p in a.name.split(".")):
                    yield f"{node.lineno}: import {a.name} (another library's private module)"
        elif isinstance(node, ast.ImportFrom):
            base = absolute(node, module, path)
            ours = base == "lczmap" or base.startswith("lczmap.")
            if not ours and any(is_private(p) for p in base.split(".")):
                yield f"{node.lineno}: from {base} import ... (another library's private module)"
            for a in node.names:
                imported.add(a.asname or a.name)
                if is_private(a.name) and not (ours and is_module(f"{base}.{a.name}", root)):
                    yield f"{node.lineno}: from {base} import {a.name} (a private name of another module)"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            root: ast.expr = node.value
            chain = [node.attr]
            while isinstance(root, ast.Attribute):
                chain.append(root.attr)
                root = root.value
            if isinstance(root, ast.Name) and root.id in imported:
                dotted = ".".join([root.id, *reversed(chain)])
                if dotted.startswith("lczmap.") and is_module(dotted, root):
                    continue
                yield f"{node.lineno}: {dotted} (a private attribute of an imported name)"


def layer(module: str) -> int:
    best = None
    for rank, prefixes in LAYERS:
        for prefix in prefixes:
            if module == prefix or (prefix != "lczmap" and module.startswith(prefix + ".")):
                if best is None or len(prefix) > best[1]:
                    best = (rank, len(prefix))
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")
    return best[0]


def import_graph() -> dict[str, set[str]]:
    """module -> the lczmap modules it imports at run time (module level or inside functions).

    A package's ``__init__`` importing its own sub-modules is how packages re-export, and a module
    importing one of the packages above it is already implied by Python loading that package first:
    neither is an edge."""
    found = modules()
    graph: dict[str, set[str]] = {}
    for m, path in found.items():
        edges = {i.target for i in imports(path, m) if i.target in found and i.target != m}
        graph[m] = {t for t in edges if not t.startswith(m + ".") and not m.startswith(t + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, int] = {}
    found: list[str] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                found.append(" -> ".join([*stack[stack.index(nxt) :], node, nxt]) if nxt in stack else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    return found


def test_layers_only_import_downwards_and_the_library_never_imports_click():
    bad = []
    for module, path in modules().items():
        here = layer(module)
        for imp in imports(path, module):
            if layer(imp.target) > here:
                bad.append(f"{module}:{imp.line} (layer {here}) imports {imp.target} (layer {layer(imp.target)})")
        if not module.startswith(("lczmap.cli", "lczmap.rio_plugin")) and re.search(
            r"^\s*(import click|from click)", path.read_text(), re.M
        ):
            bad.append(f"{module} imports click")
    assert not bad, "\n".join(bad)


def test_no_import_cycles_counting_imports_inside_functions():
    found = cycles(import_graph())
    assert not found, "\n".join(found)


def test_no_module_imports_another_modules_private_names():
    bad = [f"{module}:{use}" for module, path in modules().items() for use in private_uses(path, module)]
    assert not bad, "\n".join(bad)


def test_the_rules_see_what_they_are_meant_to(tmp_path):
    """The checks themselves, on a small package: an import inside a function is an edge; lczmap's
    own private modules and dunders may be imported, another module's private names may not."""
    for pkg in ("lczmap", "lczmap/_io", "lczmap/predict", "lczmap/study", "lczmap/scene"):
        (tmp_path / pkg).mkdir(parents=True)
        (tmp_path / pkg / "__init__.py").touch()
    (tmp_path / "lczmap/predict/api.py").touch()
    (tmp_path / "lczmap/study/run.py").touch()
    src = tmp_path / "lczmap/scene/x.py"
    src.write_text(
        "from .. import __version__\n"
        "from .._io import write_atomic\n"
        "from .. import _io\n"
        "from ..study.run import _first_line, plan\n"
        "import rasterio._err\n"
        "from rasterio._err import CPLE_BaseError\n"
        "from xarray_sentinel import esa_safe, _private\n"
        "def f():\n"
        "    from ..predict import api\n"
        "    return esa_safe.parse.__wrapped__, api._private, _io.write\n"
    )
    uses = [u.split(":")[0] for u in private_uses(src, "lczmap.scene.x", root=tmp_path)]
    assert uses == ["4", "5", "6", "7", "10", "10"], list(private_uses(src, "lczmap.scene.x", root=tmp_path))
    found = set(imports(src, "lczmap.scene.x", root=tmp_path))
    assert Import("lczmap.predict.api", 9, False) in found
    assert Import("lczmap._io", 3, True) in found and Import("lczmap.study.run", 4, True) in found
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a -> b -> c -> a"]
    assert cycles({"a": {"b"}, "b": set()}) == []
