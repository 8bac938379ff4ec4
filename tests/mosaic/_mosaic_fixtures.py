"""Scenes for the mosaic tests: real GeoTIFFs written with rasterio (the predict fixtures' data)."""

from __future__ import annotations

import numpy as np
import rasterio
from _predict_fixtures import grd, write_tif
from rasterio.transform import from_origin

ORIGIN = (500000.0, 5000000.0)


def scene(path, data, row=0, col=0, tags=None, descriptions=("VV", "VH"), crs="EPSG:32632"):
    """``data`` (C, H, W) as a 10 m GeoTIFF whose corner is ``row``/``col`` pixels from ORIGIN."""
    write_tif(path, data, crs=crs, descriptions=list(descriptions), origin=(ORIGIN[0] + 10 * col, ORIGIN[1] - 10 * row))
    if tags:
        with rasterio.open(path, "r+") as ds:
            ds.update_tags(**tags)
    return path


def corrupt_scene(path, data):
    """A tiled, compressed GeoTIFF whose bottom fifth is garbage: it opens (its centre reads), then
    fails to read there."""
    c, h, w = data.shape
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=h,
        width=w,
        count=c,
        dtype="float32",
        crs="EPSG:32632",
        transform=from_origin(*ORIGIN, 10, 10),
        tiled=True,
        blockxsize=32,
        blockysize=32,
        compress="deflate",
    ) as ds:
        ds.write(data)
        for i, d in enumerate(("VV", "VH"), start=1):
            ds.set_band_description(i, d)
    with rasterio.open(path) as ds:  # the byte offset of the tiles of the lower half (GDAL's TIFF metadata)
        first = min(
            int(ds.get_tag_item(f"BLOCK_OFFSET_{j}_{i}", "TIFF", bidx=1))
            for i in range(h * 4 // 5 // 32, (h + 31) // 32)
            for j in range((w + 31) // 32)
        )
    raw = bytearray(path.read_bytes())
    n = 4096
    raw[first : first + n] = np.random.default_rng(1).integers(0, 255, n, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(raw))
    return path


__all__ = ["scene", "corrupt_scene", "grd", "ORIGIN"]
