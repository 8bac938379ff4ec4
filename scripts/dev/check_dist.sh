#!/usr/bin/env bash
# Build lczmap's sdist and wheel with `python -m build`, install the wheel into a fresh virtual
# environment and smoke-test it there: the package imports, its data files (styles, py.typed) and
# LICENSE are inside, the command line runs, and the demo twin can be written.  CI runs this after
# the test suite (.ci/run).  The venv sees this Python's site-packages, so lczmap's dependencies
# (torch among them) are not downloaded again; lczmap itself comes only from the wheel.
#
#   bash scripts/dev/check_dist.sh            # dist/ in a temporary folder
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${PYTHON:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

"$PY" -m build --outdir "$WORK/dist" "$ROOT" >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
SDIST=$(ls "$WORK"/dist/lczmap-*.tar.gz)
WHEEL=$(ls "$WORK"/dist/lczmap-*.whl)
echo "check_dist: built $(basename "$SDIST") and $(basename "$WHEEL")"

"$PY" - "$SDIST" "$WHEEL" <<'PYEOF'
import sys, tarfile, zipfile
sdist, wheel = sys.argv[1:]
names = tarfile.open(sdist).getnames()
for want in ("LICENSE", "CITATION.cff", "CHANGELOG.md", "README.md", "setup.cfg"):
    if not any(n.endswith("/" + want) for n in names):
        sys.exit(f"check_dist: {want} is missing from the sdist: add it to MANIFEST.in")
whl = zipfile.ZipFile(wheel).namelist()
for want in ("lczmap/py.typed", "lczmap/styles/lcz_raster.qml", "lczmap/styles/lcz_zones.qml"):
    if want not in whl:
        sys.exit(f"check_dist: {want} is missing from the wheel: add it to package_data")
if not any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in whl):
    sys.exit("check_dist: LICENSE is missing from the wheel's dist-info: set license_files")
if any(n.startswith(("tests/", "scripts/")) for n in whl):
    sys.exit("check_dist: the wheel carries tests/ or scripts/: restrict packages.find")
PYEOF

"$PY" -m venv --system-site-packages "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$VPY" -m pip install -q --no-deps --force-reinstall "$WHEEL"
cd "$WORK"  # away from the checkout, so `import lczmap` finds the wheel, not the source tree
"$VPY" - <<'PYEOF'
import pathlib, lczmap
where = pathlib.Path(lczmap.__file__).resolve()
if "site-packages" not in where.parts:
    raise SystemExit(f"check_dist: lczmap imported from {where}, not from the installed wheel")
for name in lczmap.__all__:
    getattr(lczmap, name)
print("check_dist: lczmap", lczmap.__version__, "from", where.parent, "-", len(lczmap.__all__), "public names resolve")
PYEOF
"$WORK/venv/bin/lczmap" --version
"$WORK/venv/bin/lczmap" -q demo-data "$WORK/twin" --n-train 17 --n-val 17 --n-test 17 --scene-size 200 200 >/dev/null
ls "$WORK"/twin/*truth*.tif >/dev/null 2>&1 && ls "$WORK"/twin/so2sat/*.h5 >/dev/null 2>&1 \
  || { echo "check_dist: lczmap demo-data from the wheel wrote no twin and scene truth" >&2; exit 1; }
echo "check_dist: the wheel installs in a fresh venv and runs"
