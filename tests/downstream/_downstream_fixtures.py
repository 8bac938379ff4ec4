"""Shared pieces of the downstream tests: w2w's sample data, the w2w environment, a WRF sub-domain."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "w2w"
GEO_EM = DATA / "geo_em.d04.nc"
ZARAGOZA = DATA / "lcz_zaragoza.tif"
ROOT = Path(__file__).resolve().parents[2]


#: Cells of w2w's domain 4 cut out for the end-to-end tests (row 0 south): 8 x 8 cells on Zaragoza's
#: east side, 22 of them urban in the domain's MODIS land use (w2w replaces those with the natural land).
ROWS, COLS = (46, 54), (80, 88)
#: The untrained model's classes: built types (the largest above 3, as WRF needs) and land cover.
CLASSES = (2, 6, 8, 14)
#: The model's seed: one whose map of the scene below mixes LCZ 6 and LCZ 14 (about 60 / 40), so that
#: some WRF cells stay natural, many lie near w2w's urban fraction threshold of 0.2, and A-G is present.
CKPT_SEED = 42


def subdomain_bounds() -> tuple[float, float, float, float]:
    """(west, south, east, north) in degrees of the sub-domain's cells (centres +- half a cell)."""
    from lczmap.downstream import read_wrf_domain

    full = read_wrf_domain(GEO_EM)
    lat, lon = full.lat[slice(*ROWS), slice(*COLS)], full.lon[slice(*ROWS), slice(*COLS)]
    half = 0.005  # half a cell (0.01 degree): the scene must cover the cells, not only their centres
    return (float(lon.min()) - half, float(lat.min()) - half, float(lon.max()) + half, float(lat.max()) + half)


def map_over_subdomain(work: Path) -> tuple[Path, object]:
    """A twin scene written over the sub-domain (lczmap.twin.place) and lczmap's map of it with
    ``lczmap predict --layout lcz-generator``: returns the map (``work/lcz.tif``) and the scene's place."""
    from _predict_fixtures import tiny_checkpoint
    from click.testing import CliRunner

    from lczmap.cli import main
    from lczmap.twin.place import write_scene_at

    scene, _, place = write_scene_at(work / "scene.tif", subdomain_bounds(), seed=4)
    ckpt = tiny_checkpoint(work / "m.safetensors", classes=CLASSES, seed=CKPT_SEED)
    out = work / "lcz.tif"
    args = ["predict", str(scene), str(out), "-m", str(ckpt), "--layout", "lcz-generator", "--device", "cpu"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    return out, place


def w2w_python() -> Path:
    """The Python of the environment w2w is installed in (scripts/dev/install_w2w.sh, or
    $LCZMAP_W2W_PYTHON); the test is skipped with the install line when there is none."""
    given = os.environ.get("LCZMAP_W2W_PYTHON")
    py = Path(given) if given else ROOT / ".venv-w2w" / "bin" / "python"
    if given and not py.exists():  # CI names it (scripts/test.sh): a missing w2w fails there
        pytest.fail(f"LCZMAP_W2W_PYTHON={given} does not exist: run bash scripts/dev/install_w2w.sh")
    if not py.exists():
        pytest.skip("w2w is not installed: run bash scripts/dev/install_w2w.sh (or set LCZMAP_W2W_PYTHON)")
    return py


# Cut a window of cells out of a geo_em file as WPS would have written that domain: every variable
# on the mass, U and V grids cut alike, and the attributes w2w reads (grid size, CEN_LAT/CEN_LON
# at the window's centre, corners) updated. Runs in w2w's environment (xarray with netCDF4).
_SUBSET = r"""
import sys
import numpy as np
import xarray as xr
src, dst, r0, r1, c0, c1 = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
ds = xr.open_dataset(src)
sub = ds.isel(south_north=slice(r0, r1), west_east=slice(c0, c1),
              south_north_stag=slice(r0, r1 + 1), west_east_stag=slice(c0, c1 + 1))
ny, nx = r1 - r0, c1 - c0
lat, lon = sub.XLAT_M.values[0], sub.XLONG_M.values[0]
sub.attrs["WEST-EAST_GRID_DIMENSION"] = np.int32(nx + 1)
sub.attrs["SOUTH-NORTH_GRID_DIMENSION"] = np.int32(ny + 1)
for k in ("WEST-EAST_PATCH_END_UNSTAG", "SOUTH-NORTH_PATCH_END_UNSTAG"):
    sub.attrs[k] = np.int32(nx if k.startswith("WEST") else ny)
for k in ("WEST-EAST_PATCH_END_STAG", "SOUTH-NORTH_PATCH_END_STAG"):
    sub.attrs[k] = np.int32(nx + 1 if k.startswith("WEST") else ny + 1)
sub.attrs["CEN_LAT"] = np.float32((lat[0, 0] + lat[-1, -1]) / 2)
sub.attrs["CEN_LON"] = np.float32((lon[0, 0] + lon[-1, -1]) / 2)
corners_lat = [lat[0, 0], lat[-1, 0], lat[-1, -1], lat[0, -1]]
corners_lon = [lon[0, 0], lon[-1, 0], lon[-1, -1], lon[0, -1]]
sub.attrs["corner_lats"] = np.array(corners_lat * 4, np.float32)
sub.attrs["corner_lons"] = np.array(corners_lon * 4, np.float32)
sub.to_netcdf(dst, format="NETCDF4")
"""


def subset_geo_em(py: Path, out: Path, rows: tuple[int, int], cols: tuple[int, int]) -> Path:
    """Write cells ``rows`` x ``cols`` (start, stop; row 0 south) of w2w's sample domain to ``out``."""
    cmd = [str(py), "-c", _SUBSET, str(GEO_EM), str(out), *map(str, (*rows, *cols))]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out


def run_w2w(py: Path, folder: Path, lcz: str, geo_em: str, *args: str) -> subprocess.CompletedProcess:
    """Run w2w (its command line, in its environment) on files in ``folder``, with options ``args``."""
    w2w = py.parent / "w2w"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    # the options after the file names: w2w's -b takes every number that follows it
    return subprocess.run([str(w2w), str(folder), lcz, geo_em, *args], capture_output=True, text=True, env=env, cwd=folder)


def read_nc(path: Path, *names: str) -> dict:
    """Variables (first time step) and global attributes of a netCDF-4 file, read with h5py."""
    import h5py

    with h5py.File(path, "r") as f:
        out = {n: f[n][()][0] for n in names}
        out["attrs"] = {k: f.attrs[k] for k in f.attrs}
    return out


__all__ = [
    "DATA",
    "GEO_EM",
    "ZARAGOZA",
    "ROWS",
    "COLS",
    "CLASSES",
    "CKPT_SEED",
    "subdomain_bounds",
    "map_over_subdomain",
    "w2w_python",
    "subset_geo_em",
    "run_w2w",
    "read_nc",
]
