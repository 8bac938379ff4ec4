"""Helpers for the maps tests: a small hand-made LCZ map and its reference units."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from click.testing import CliRunner
from shapely.geometry import Point, box

from lczmap.cli import main

UTM = "EPSG:32633"
ORIGIN = Affine(100, 0, 500000, 0, -100, 5001000)  # 100 m pixels, the LCZ standard scale
X0, Y0 = ORIGIN.c, ORIGIN.f


def write_raster(path, data, crs=UTM, transform=ORIGIN, nodata=0, tags=None):
    """A one-band GeoTIFF of ``data`` (any dtype) in a real CRS."""
    data = np.asarray(data)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[1],
        height=data.shape[0],
        count=1,
        dtype=data.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(data, 1)
        if tags:
            dst.update_tags(**tags)
    return path


def blocks(height, width, seed=0, cell=6):
    """An LCZ-like map: blocks of random classes 1-17, the top rows no data."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(1, 18, (height // cell + 1, width // cell + 1)).astype(np.uint8)
    codes = np.kron(coarse, np.ones((cell, cell), np.uint8))[:height, :width].copy()
    codes[:2] = 0
    return codes


def run(args):
    return CliRunner().invoke(main, [str(a) for a in args])


#: 4 x 4 pixels of 100 m; 0 = no data.
HAND_MAP = np.array(
    [
        [1, 1, 2, 2],
        [1, 1, 2, 2],
        [11, 11, 14, 14],
        [11, 11, 14, 0],
    ],
    np.uint8,
)


def cell(row0, col0, rows=1, cols=1):
    """A box covering pixels [row0, row0 + rows) x [col0, col0 + cols) of the hand map."""
    return box(X0 + 100 * col0, Y0 - 100 * (row0 + rows), X0 + 100 * (col0 + cols), Y0 - 100 * row0)


def hand_reference(crs="EPSG:4326"):
    """Three polygons and a point with classes in mixed notations, in ``crs``.

    Pixel pairs (reference, map): 6 of LCZ 1 (4 mapped 1, 2 mapped 2), 4 of A (mapped A),
    3 of D (mapped D; the fourth pixel is no data), 1 of LCZ 2 (mapped 2)."""
    geoms = [cell(0, 0, 2, 3), cell(2, 0, 2, 2), cell(2, 2, 2, 2), Point(X0 + 350, Y0 - 50)]
    return gpd.GeoDataFrame(
        {"LCZ": [1, "A", "LCZ D", "lcz_2"], "site": ["p1", "p2", "p3", "pt"]}, geometry=geoms, crs=UTM
    ).to_crs(crs)


def hand_pairs():
    """The (reference, map) codes of every compared pixel of :func:`hand_reference`."""
    ref = [1] * 6 + [11] * 4 + [14] * 3 + [2]
    mapped = [1, 1, 2, 1, 1, 2] + [11] * 4 + [14] * 3 + [2]
    return np.array(ref), np.array(mapped)
