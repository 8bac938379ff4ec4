#!/usr/bin/env bash
# Build the installable QGIS plugin zip: dist/lczmap_qgis-<version>.zip
# (QGIS: Plugins > Manage and Install Plugins > Install from ZIP).
#
#   bash scripts/build_qgis_plugin.sh [OUT_DIR]     # default OUT_DIR: dist/
#
# The zip holds the folder lczmap_qgis/ (metadata.txt, the provider and its algorithms), without
# caches. Its version is the one in qgis_plugin/lczmap_qgis/metadata.txt, which must equal
# lczmap's own version (lczmap/__init__.py): the build stops if they differ.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-$ROOT/dist}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
"$PY" - "$ROOT" "$OUT" <<'PYEOF'
import re, sys, zipfile
from pathlib import Path

root, out = Path(sys.argv[1]), Path(sys.argv[2])
src = root / "qgis_plugin" / "lczmap_qgis"
meta = (src / "metadata.txt").read_text()
match = re.search(r"^version=(\S+)$", meta, re.M)
if not match:
    sys.exit(f"build_qgis_plugin: {src / 'metadata.txt'} has no version= line: add one")
version = match.group(1)
lib = re.search(r'^__version__ = "([^"]+)"', (root / "lczmap" / "__init__.py").read_text(), re.M).group(1)
if version != lib:
    sys.exit(f"build_qgis_plugin: plugin version {version} differs from lczmap {lib}: "
             f"set version={lib} in {src / 'metadata.txt'}")
if not re.search(r"^hasProcessingProvider=yes$", meta, re.M):
    sys.exit("build_qgis_plugin: metadata.txt lacks hasProcessingProvider=yes: add it")
target = out / f"lczmap_qgis-{version}.zip"
tmp = target.with_name(target.name + ".part")
files = sorted(p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"))
with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
    for path in files:
        zf.write(path, Path("lczmap_qgis") / path.relative_to(src))
tmp.replace(target)
print(target)
PYEOF
