"""The package's shape: the public API at the root, light imports, modules small enough to read whole,
and the files a release carries. The import rules (layers, cycles, private names) are in test_imports.py."""

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

#: Modules longer than this say in their docstring why they are one module ("One module: ...").
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


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


def test_long_modules_say_why():
    long = []
    for module, path in _modules().items():
        n = len(path.read_text().splitlines())
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if n > MAX_LINES and "One module:" not in doc:
            long.append(f"{module}: {n} lines and no 'One module: <reason>' in its docstring")
    assert not long, "\n".join(long)


def test_no_issue_numbers_in_the_library():
    hits = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in PKG.rglob("*.py")
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"\bissue\s*#?\d+|#\d{1,3}\b", line)
    ]
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
    for key in (
        "name",
        "qgisMinimumVersion",
        "description",
        "about",
        "version",
        "author",
        "email",
        "repository",
        "tracker",
        "homepage",
    ):
        assert re.search(rf"^{key}=\S", meta, re.M), f"metadata.txt lacks {key}="
    assert re.search(rf"^version={re.escape(lczmap.__version__)}$", meta, re.M)
    assert "example.org" not in meta


def _bound_names(tree: ast.Module, package: str) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """Names a package's ``__init__`` binds at run time (name -> how) and in its ``if TYPE_CHECKING:``
    block (name -> (absolute module, attribute)), read from its source."""
    eager: dict[str, str] = {}
    typing_only: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom), ast.unparse(imp)
                module = ".".join(package.split(".")[: len(package.split(".")) - imp.level + 1] + [imp.module or ""])
                for alias in imp.names:
                    assert (alias.asname or alias.name) not in typing_only, f"{alias.asname or alias.name} imported twice"
                    typing_only[alias.asname or alias.name] = (module.rstrip("."), alias.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            eager.update({(a.asname or a.name).split(".")[0]: "import" for a in node.names})
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            eager[node.name] = "def"
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for n in ast.walk(target):
                    if isinstance(n, ast.Name):
                        eager[n.id] = "assign"
    return eager, typing_only


def _literal(tree: ast.Module, name: str) -> ast.expr:
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets) and node.value is not None:
            return node.value
    raise AssertionError(f"no {name} = ... at the module level")


def test_root_lazy_table_type_checking_imports_and_all_agree():
    """Each lazily exported name is in the lazy table once, imported once under TYPE_CHECKING (so
    that users' type checkers see its type) from where the table loads it, and listed in __all__;
    no object has two root names."""
    import importlib

    tree = ast.parse((PKG / "__init__.py").read_text())
    table = _literal(tree, "_LAZY")
    assert isinstance(table, ast.Dict)
    written = [ast.literal_eval(k) for k in table.keys if k is not None]
    assert len(written) == len(set(written)), f"listed twice in _LAZY: {sorted({n for n in written if written.count(n) > 1})}"
    lazy: dict[str, tuple[str, str]] = ast.literal_eval(table)
    eager, typing_only = _bound_names(tree, "lczmap")
    assert set(typing_only) == set(lazy), (
        f"TYPE_CHECKING imports lack {sorted(set(lazy) - set(typing_only))}, "
        f"have names not in _LAZY {sorted(set(typing_only) - set(lazy))}"
    )
    for name, (module, attr) in lazy.items():
        seen_by_checkers = getattr(importlib.import_module(typing_only[name][0]), typing_only[name][1])
        assert seen_by_checkers is getattr(importlib.import_module(module), attr), name
    all_node = _literal(tree, "__all__")
    assert isinstance(all_node, ast.List)
    listed = [
        e.value.id if isinstance(e, ast.Starred) and isinstance(e.value, ast.Name) else ast.literal_eval(e) for e in all_node.elts
    ]
    assert listed.count("_LAZY") == 1
    names = [n for n in listed if n != "_LAZY"] + list(lazy)
    assert len(names) == len(set(names)) and names == lczmap.__all__
    assert all(n in eager for n in names if n not in lazy), "an eager name of __all__ is not imported"
    objects: dict[int, str] = {}
    for name in names:
        other = objects.setdefault(id(getattr(lczmap, name)), name)
        assert other == name, f"lczmap.{name} and lczmap.{other} are one object: keep one name"


def test_every_lazy_package_shows_type_checkers_its_names():
    """A package that imports names on first use imports each under TYPE_CHECKING too."""
    missing = []
    for path in sorted(PKG.rglob("__init__.py")):
        source = path.read_text()
        if "lazy_attributes(" not in source:
            continue
        package = _module_name(path)
        tree = ast.parse(source)
        eager, typing_only = _bound_names(tree, package)
        exported = ast.literal_eval(_literal(tree, "__all__")) if package != "lczmap" else lczmap.__all__
        missing += [f"{package}.{n}" for n in exported if n not in eager and n not in typing_only]
    assert not missing, f"lazily exported names that type checkers cannot see: {missing}"
