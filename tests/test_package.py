"""The package's shape: the public API at the root, light imports, layers that only import downwards,
no import cycles, modules small enough to read whole, and the files a release carries."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import lczmap

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "lczmap"

#: Layers from the bottom up; a module may import only from its own layer or below, and within a
#: layer without cycles. The first matching prefix decides a module's layer.
LAYERS: list[tuple[int, tuple[str, ...]]] = [
    (0, ("lczmap", "lczmap._lazy", "lczmap.errors", "lczmap.classes", "lczmap.bands", "lczmap._io", "lczmap._device")),
    (1, ("lczmap.data", "lczmap.models", "lczmap.losses", "lczmap.raster", "lczmap.canopy", "lczmap.speckle")),
    (2, ("lczmap.twin", "lczmap.checkpoint", "lczmap.scene")),
    (3, ("lczmap.evaluate",)),
    (4, ("lczmap.train", "lczmap.predict")),
    (5, ("lczmap.zones",)),
    (6, ("lczmap.study", "lczmap.demo", "lczmap.info", "lczmap.products", "lczmap.adapt")),
    (7, ("lczmap.cli", "lczmap.rio_plugin", "lczmap.__main__")),
]
#: Modules longer than this say in their docstring why they are one module ("One module: ...").
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> int:
    best = None
    for rank, prefixes in LAYERS:
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (rank, len(prefix))
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")
    return best[0]


def _imports(path: Path, module: str) -> list[tuple[str, bool]]:
    """lczmap modules imported by ``path`` as (name, at module level)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # `if TYPE_CHECKING:` blocks import nothing at run time
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            top_level -= {id(n) for n in ast.walk(node)}
            for n in ast.walk(node):
                n._typing_only = True  # type: ignore[attr-defined]
    found = []
    for node in ast.walk(tree):
        if getattr(node, "_typing_only", False):
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target]
            # `from . import x` / `from .pkg import mod` may name sub-modules
            names += [f"{target}.{a.name}" for a in node.names if _exists(f"{target}.{a.name}")]
        for name in names:
            if name == "lczmap" or name.startswith("lczmap."):
                found.append((name, id(node) in top_level))
    return found


def _exists(module: str) -> bool:
    rel = Path(*module.split("."))
    return (ROOT / rel).with_suffix(".py").exists() or (ROOT / rel / "__init__.py").exists()


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def test_every_public_name_resolves_from_the_root():
    for name in lczmap.__all__:
        assert getattr(lczmap, name) is not None, name
    assert set(lczmap.__all__) <= set(dir(lczmap))


def test_readme_and_docs_use_public_root_names_that_exist():
    text = (ROOT / "README.md").read_text()
    names = set(re.findall(r"\blczmap\.([A-Za-z_]\w*)\(", text))
    assert names, "the README shows no lczmap.<function>() call"
    missing = sorted(n for n in names if n not in lczmap.__all__)
    assert not missing, f"README calls lczmap.{missing} which the package root does not export"


@pytest.mark.parametrize("module", ["lczmap", "lczmap.predict", "lczmap.scene", "lczmap.zones"])
def test_inference_imports_no_training_stack(module):
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split())
    heavy = sorted(m for m in loaded if m == "h5py" or m == "lczmap.train" or m.startswith(("lczmap.train.", "lczmap.study")))
    assert not heavy, f"import {module} loads {heavy}"


def test_import_lczmap_stays_light():
    code = "import sys, lczmap; print('\\n'.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split())
    assert not loaded & {"torch", "rasterio", "geopandas", "h5py", "dask", "click"}


def test_layers_only_import_downwards_and_the_library_never_imports_click():
    bad = []
    for module, path in _modules().items():
        here = _layer(module)
        for target, _ in _imports(path, module):
            if _layer(target) > here:
                bad.append(f"{module} (layer {here}) imports {target} (layer {_layer(target)})")
        if not module.startswith(("lczmap.cli", "lczmap.rio_plugin")) and re.search(
            r"^\s*(import click|from click)", path.read_text(), re.M
        ):
            bad.append(f"{module} imports click")
    assert not bad, "\n".join(bad)


def test_no_import_cycles_at_module_level():
    modules = _modules()
    graph = {m: {t for t, top in _imports(p, m) if top and t in modules and t != m} for m, p in modules.items()}
    # a package's __init__ importing its own sub-modules is how packages re-export: not a cycle
    for m in graph:
        graph[m] = {t for t in graph[m] if not (t.startswith(m + ".") and modules[m].name == "__init__.py")}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [node, nxt]) if nxt in stack else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, stack + [node])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert not cycles, "\n".join(cycles)


def test_long_modules_say_why():
    long = []
    for module, path in _modules().items():
        n = len(path.read_text().splitlines())
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if n > MAX_LINES and "One module:" not in doc:
            long.append(f"{module}: {n} lines and no 'One module: <reason>' in its docstring")
    assert not long, "\n".join(long)


def test_no_issue_numbers_in_the_library():
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in PKG.rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if re.search(r"\bissue\s*#?\d+|#\d{1,3}\b", line)]
    assert not hits, hits


def test_release_files_exist_and_agree():
    for name in ("LICENSE", "CITATION.cff", "CHANGELOG.md"):
        assert (ROOT / name).is_file(), name
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    citation = (ROOT / "CITATION.cff").read_text()
    assert f"version: {lczmap.__version__}" in citation
    for ref in ("Hussing", "Rostami", "So2Sat LCZ42"):
        assert ref in citation
    meta = (ROOT / "qgis_plugin" / "lczmap_qgis" / "metadata.txt").read_text()
    for key in ("name", "qgisMinimumVersion", "description", "about", "version", "author", "email",
                "repository", "tracker", "homepage"):
        assert re.search(rf"^{key}=\S", meta, re.M), f"metadata.txt lacks {key}="
    assert re.search(rf"^version={re.escape(lczmap.__version__)}$", meta, re.M)
    assert "example.org" not in meta
