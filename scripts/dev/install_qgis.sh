#!/usr/bin/env bash
# Install headless QGIS 3.22 (Debian bookworm's python3-qgis + qgis-providers) and a virtual
# environment on QGIS's own Python (/usr/bin/python3) that holds lczmap, for the real-QGIS tests
# in tests/qgis/ and for trying the QGIS plugin.  Idempotent: rerunning it only does what is missing.
#
#   bash scripts/dev/install_qgis.sh            # venv at .venv-qgis/ in the repository
#   LCZMAP_QGIS_VENV=/opt/lczmap-qgis bash scripts/dev/install_qgis.sh
#
# Why a venv: QGIS's Python bindings are built for Debian's Python 3.11.2 and its numpy/GDAL.
# A venv made with --system-site-packages sees PyQGIS and Processing, and gets lczmap's own
# dependencies from PyPI on top.  numpy stays below 2 so that Debian's GDAL bindings (built
# against numpy 1.x) keep working in the same process; attrs must be newer than Debian's 22.2
# (affine 3 needs it); torch is pinned to the CPU wheel (an unpinned torch pulls a CUDA build).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${LCZMAP_QGIS_VENV:-$ROOT/.venv-qgis}
PY=/usr/bin/python3
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# 1. QGIS, headless, and venv support for Debian's Python.
if ! QT_QPA_PLATFORM=offscreen "$PY" -c "import qgis.core, venv, ensurepip" >/dev/null 2>&1; then
    echo "install_qgis: installing python3-qgis qgis-providers (Debian, ~1 GB)" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        python3-qgis qgis-providers python3-venv python3-pip >/dev/null
fi
QT_QPA_PLATFORM=offscreen "$PY" -c "from qgis.core import Qgis; print('install_qgis: QGIS', Qgis.QGIS_VERSION)"

# 2. The venv on QGIS's Python, seeing PyQGIS through --system-site-packages.
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv --system-site-packages "$VENV"
fi

# 3. lczmap (editable) and what the tests need, under the constraints above.
CONSTRAINTS=$(mktemp)
trap 'rm -f "$CONSTRAINTS"' EXIT
printf 'torch==2.13.0\nnumpy<2\nattrs>=23.2\n' > "$CONSTRAINTS"
# Skipped when setup.cfg, pyproject.toml and the constraints are as at the last install (a stamp in
# the venv) and lczmap still imports; otherwise pip picks up what changed.
STAMP="$VENV/.lczmap-install-stamp"
WANT=$(cat "$ROOT/setup.cfg" "$ROOT/pyproject.toml" "$CONSTRAINTS" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ] \
   || ! QT_QPA_PLATFORM=offscreen "$VENV/bin/python" -c "import lczmap, pytest, torch, rasterio, geopandas" >/dev/null 2>&1; then
    "$VENV/bin/python" -m pip install -qq -c "$CONSTRAINTS" -e "$ROOT" pytest
    echo "$WANT" > "$STAMP"
fi
QT_QPA_PLATFORM=offscreen "$VENV/bin/python" -c "import qgis.core, lczmap; print('install_qgis: lczmap', lczmap.__version__, 'in', '$VENV')"
