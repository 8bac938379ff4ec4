#!/usr/bin/env bash
# Install lczmap with its test extras, lint and type-check it, and run the whole test suite,
# QGIS tests included. Used by the README's Quick start and by CI (.ci/run). Needs root or sudo
# for Debian's QGIS packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# torch is pinned to the CPU wheel: an unpinned torch pulls a multi-GB CUDA build.
"$PY" -m pip install -q "torch==${LCZMAP_TORCH_VERSION:-2.13.0}" -e ".[test]"
# Lint (pyflakes, pycodestyle with the line length, import order, bugbear, pyupgrade), the formatter's
# check and strict types, as configured in pyproject.toml.
"$PY" -m ruff check lczmap tests scripts qgis_plugin
"$PY" -m ruff format --check lczmap tests scripts qgis_plugin
"$PY" -m mypy
# w2w (WUDAPT-to-WRF) in its own venv for the tests that run it on lczmap's maps (it pins
# rasterio<1.4); LCZMAP_W2W_PYTHON makes those tests fail, not skip, if it is missing.
bash scripts/dev/install_w2w.sh
export LCZMAP_W2W_PYTHON="$PWD/.venv-w2w/bin/python"
"$PY" -m pytest -q -p no:cacheprovider "$@"
bash scripts/dev/install_qgis.sh
bash scripts/dev/run_qgis_tests.sh
