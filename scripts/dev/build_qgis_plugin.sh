#!/usr/bin/env bash
# Build the installable QGIS plugin zip: dist/lczmap_qgis-<version>.zip
# (QGIS: Plugins > Manage and Install Plugins > Install from ZIP).
#
#   bash scripts/dev/build_qgis_plugin.sh [OUT_DIR]     # default OUT_DIR: dist/
#
# The zip holds the folder lczmap_qgis/ (metadata.txt, the provider and its algorithms, LICENSE),
# without caches. Its version is the one in qgis_plugin/lczmap_qgis/metadata.txt, which must equal
# lczmap's own version (lczmap/__init__.py), and its homepage/repository/tracker must equal the
# addresses in setup.cfg: the build stops if they differ, so each is decided in one place.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
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
import configparser
cfg = configparser.ConfigParser()
cfg.read(root / "setup.cfg")
urls = dict(line.split("=", 1) for line in cfg["metadata"]["project_urls"].strip().splitlines())
urls = {k.strip().lower(): v.strip() for k, v in urls.items()}
want = {"homepage": cfg["metadata"]["url"], "repository": urls["source"], "tracker": urls["tracker"]}
for key in ("email", "author", *want):  # QGIS's plugin repository requires these
    found = re.search(rf"^{key}=(.+)$", meta, re.M)
    if not found:
        sys.exit(f"build_qgis_plugin: metadata.txt has no {key}= line: add it")
    if key in want and found.group(1).strip() != want[key]:
        sys.exit(f"build_qgis_plugin: metadata.txt {key}={found.group(1)} differs from setup.cfg ({want[key]}): make them equal")
target = out / f"lczmap_qgis-{version}.zip"
tmp = target.with_name(target.name + ".part")
files = sorted(p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"))
with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
    for path in files:
        zf.write(path, Path("lczmap_qgis") / path.relative_to(src))
    zf.write(root / "LICENSE", Path("lczmap_qgis") / "LICENSE")
tmp.replace(target)
print(target)
PYEOF
