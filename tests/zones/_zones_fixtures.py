"""Helpers for the zones tests: small LCZ rasters written with rasterio in a real CRS."""

from __future__ import annotations

import numpy as np
import rasterio
import shapely
from affine import Affine
from click.testing import CliRunner

from lczmap.cli import main

UTM = "EPSG:32633"
ORIGIN = Affine(100, 0, 500000, 0, -100, 5001000)  # 100 m pixels, the LCZ standard scale


def blobby(height, width, seed=0, cell=6, noise=0.05, classes=17):
    """An LCZ-like map: blocks of classes, salt-and-pepper noise, a no-data band on top."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(1, classes + 1, (height // cell + 1, width // cell + 1)).astype(np.uint8)
    codes = np.kron(coarse, np.ones((cell, cell), np.uint8))[:height, :width].copy()
    hit = rng.random(codes.shape) < noise
    codes[hit] = rng.integers(1, classes + 1, int(hit.sum()))
    codes[:3] = 0
    return codes


def write_raster(path, data, crs=UTM, transform=ORIGIN, nodata=0):
    data = np.asarray(data)
    bands = data if data.ndim == 3 else data[None]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=bands.shape[2],
        height=bands.shape[1],
        count=bands.shape[0],
        dtype=bands.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(bands)
    return path


def write_halves(path):
    """10 x 10 pixels: the western half LCZ 2, the eastern half LCZ A, the last row no data."""
    codes = np.full((10, 10), 11, np.uint8)
    codes[:, :5] = 2
    codes[9, :] = 0
    return write_raster(path, codes)


def zone_set(frame):
    """Zones as comparable values: (code, pixels, normalised geometry)."""
    wkb = shapely.to_wkb(shapely.normalize(frame.geometry.values))
    return sorted(zip(frame["lcz"].tolist(), frame["pixels"].tolist(), wkb))


def run(args):
    return CliRunner().invoke(main, args)
