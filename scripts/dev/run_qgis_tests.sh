#!/usr/bin/env bash
# Run the real-QGIS tests (tests/qgis/) under QGIS's own Python, headless, the way CI runs them.
# Needs `bash scripts/dev/install_qgis.sh` first (QGIS 3.22 from Debian and the .venv-qgis/ venv).
#
#   bash scripts/dev/run_qgis_tests.sh [PYTEST ARGS...]
#
# Unlike a plain `pytest` run, which skips these tests where PyQGIS is absent, this script fails
# when it cannot import PyQGIS: in CI the QGIS tests must run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${LCZMAP_QGIS_VENV:-$ROOT/.venv-qgis}
PY="$VENV/bin/python"
if [ ! -x "$PY" ]; then
    echo "run_qgis_tests: $PY not found: run bash scripts/dev/install_qgis.sh first" >&2
    exit 1
fi
export QT_QPA_PLATFORM=offscreen
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
if ! "$PY" -c "import qgis.core, lczmap" 2>/dev/null; then
    echo "run_qgis_tests: $PY cannot import PyQGIS and lczmap: run bash scripts/dev/install_qgis.sh" >&2
    exit 1
fi
cd "$ROOT"
exec "$PY" -m pytest -q -p no:cacheprovider -rs tests/qgis "$@"
