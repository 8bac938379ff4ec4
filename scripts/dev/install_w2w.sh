#!/usr/bin/env bash
# Install w2w (WUDAPT-to-WRF, PyPI) into its own virtual environment, .venv-w2w, for the tests that
# run it on lczmap's maps (tests/downstream/test_w2w.py; they find it there or at $LCZMAP_W2W_PYTHON).
# Why not a test extra: w2w 0.6.0 (the latest) pins rasterio<1.4 and fails under rasterio 1.4
# ("'numpy.ndarray' object has no attribute 'where'": rasterio 1.4's reproject returns an array
# where 1.3 returned the xarray destination), while lczmap runs on rasterio 1.4; as a test extra it
# would downgrade rasterio for the whole suite. Here w2w gets its own pins. Its ecmwflibs dependency
# (a 93 MB wheel) is left out: w2w's code never imports it (w2w/w2w.py imports numpy, pandas, pyproj,
# rioxarray, scipy, xarray, rasterio, tqdm; xarray opens geo_em files with netCDF4).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
if [ -x .venv-w2w/bin/w2w ] && .venv-w2w/bin/w2w --version 2>/dev/null | grep -q "w2w 0.6.0"; then
    exit 0  # installed already (a rerun of scripts/test.sh)
fi
"$PY" -m venv .venv-w2w
.venv-w2w/bin/python -m pip install -q --no-deps "w2w==0.6.0"
.venv-w2w/bin/python -m pip install -q "rasterio>=1.1.6,<1.4.0" rioxarray "xarray>=0.17.0" netCDF4 h5netcdf pandas scipy tqdm "numpy>=1.21" pyproj
.venv-w2w/bin/w2w --version
