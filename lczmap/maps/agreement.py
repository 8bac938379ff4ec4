"""Pixels of an LCZ map against reference units (polygons, points) or against another LCZ map.

:func:`reference_histograms` counts, for each reference unit, the map's pixels of each class (pixel
centres inside a polygon; the pixel under a point; a polygon too small to hold a pixel centre
takes the pixel under its representative point). :func:`map_confusion` compares two maps on the
union of their extents, on the first map's pixel grid (same origin and pixel size, extended):
the other map is resampled onto it by nearest neighbour (classes never blend), and a pixel counts
only where both maps have a class; no data of either map is honoured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ZonesError
from ..zones.lczraster import DEFAULT_BLOCK_ROWS, LczRasterInfo, Progress, read_codes, strips

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rasterio.io import DatasetReader
    from shapely.geometry import Point
    from shapely.geometry.base import BaseGeometry

__all__ = ["MapComparison", "reference_histograms", "map_confusion"]


def reference_histograms(info: LczRasterInfo, geoms: Sequence[BaseGeometry], progress: Progress = None) -> np.ndarray:
    """(U, 18) pixel counts per code (index 0 = no data) of each geometry (in the map's CRS)."""
    import rasterio
    from rasterio.features import geometry_mask
    from rasterio.windows import Window, transform as window_transform

    height, width = info.shape
    t = info.transform
    out = np.zeros((len(geoms), 18), np.int64)
    bar = progress(total=len(geoms), desc="read reference units") if progress else None
    with rasterio.open(info.path) as src:
        for i, g in enumerate(geoms):
            if bar is not None:
                bar.update(1)
            if g.geom_type == "Point" or g.area == 0:
                _point(src, info, g if g.geom_type == "Point" else g.representative_point(), out[i])
                continue
            left, bottom, right, top = g.bounds
            c0, c1 = sorted(((left - t.c) / t.a, (right - t.c) / t.a))
            r0, r1 = sorted(((top - t.f) / t.e, (bottom - t.f) / t.e))
            c0, r0 = max(int(math.floor(c0)), 0), max(int(math.floor(r0)), 0)
            c1, r1 = min(int(math.ceil(c1)), width), min(int(math.ceil(r1)), height)
            if c1 <= c0 or r1 <= r0:
                continue  # outside the map
            win = Window(c0, r0, c1 - c0, r1 - r0)
            inside = geometry_mask([g], out_shape=(r1 - r0, c1 - c0), transform=window_transform(win, t), invert=True)
            if not inside.any():
                _point(src, info, g.representative_point(), out[i])
                continue
            codes = read_codes(src, info, win)
            out[i] = np.bincount(codes[inside], minlength=18)[:18]
    if bar is not None:
        bar.close()
    return out


def _point(src: DatasetReader, info: LczRasterInfo, point: Point, row: np.ndarray) -> None:
    from rasterio.windows import Window

    t = info.transform
    col = int(math.floor((point.x - t.c) / t.a))
    r = int(math.floor((point.y - t.f) / t.e))
    if 0 <= r < info.shape[0] and 0 <= col < info.shape[1]:
        row[int(read_codes(src, info, Window(col, r, 1, 1))[0, 0])] += 1


@dataclass(frozen=True)
class MapComparison:
    """Two maps on the union grid: ``confusion`` (17, 17) counts (rows other, columns map) where
    both have a class; pixel counts where only one has; the grid's shape and transform."""

    confusion: np.ndarray
    both: int
    map_only: int
    other_only: int
    shape: tuple[int, int]
    transform: object


def map_confusion(
    info: LczRasterInfo, other: LczRasterInfo, block_rows: int = DEFAULT_BLOCK_ROWS, progress: Progress = None
) -> MapComparison:
    """Compare ``info``'s map with ``other`` on the union grid (see the module docstring)."""
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rasterio.warp import transform_bounds

    t = info.transform
    h, w = info.shape
    own = (t.c, t.f + t.e * h, t.c + t.a * w, t.f)
    ot, (oh, ow) = other.transform, other.shape
    theirs = transform_bounds(other.crs, info.crs, ot.c, ot.f + ot.e * oh, ot.c + ot.a * ow, ot.f)
    if theirs[0] >= own[2] or theirs[2] <= own[0] or theirs[1] >= own[3] or theirs[3] <= own[1]:
        raise ZonesError(f"{other.path} does not overlap {info.path} (--against): give a map of the same area")
    left, bottom = min(own[0], theirs[0]), min(own[1], theirs[1])
    right, top = max(own[2], theirs[2]), max(own[3], theirs[3])
    c0 = math.floor((left - t.c) / t.a)
    c1 = math.ceil((right - t.c) / t.a)
    r0 = math.floor((top - t.f) / t.e)
    r1 = math.ceil((bottom - t.f) / t.e)
    grid = Affine(t.a, 0.0, t.c + c0 * t.a, 0.0, t.e, t.f + r0 * t.e)
    shape = (int(r1 - r0), int(c1 - c0))
    cm = np.zeros((17, 17), np.int64)
    counts = {"both": 0, "map": 0, "other": 0}
    bar = progress(total=shape[0], desc="compare maps") if progress else None
    with rasterio.open(info.path) as a_src, rasterio.open(other.path) as b_src:
        vrts = [
            WarpedVRT(
                src,
                crs=info.crs,
                transform=grid,
                width=shape[1],
                height=shape[0],
                resampling=Resampling.nearest,
                nodata=src.nodata if src.nodata is not None else 0,
            )
            for src in (a_src, b_src)
        ]
        try:
            for win in strips(shape[0], shape[1], block_rows):
                a = read_codes(vrts[0], info, win)
                b = read_codes(vrts[1], other, win)
                valid = (a > 0) & (b > 0)
                counts["both"] += int(valid.sum())
                counts["map"] += int(((a > 0) & (b == 0)).sum())
                counts["other"] += int(((a == 0) & (b > 0)).sum())
                pair = (b[valid].astype(np.int64) - 1) * 17 + (a[valid].astype(np.int64) - 1)
                cm += np.bincount(pair, minlength=17 * 17).reshape(17, 17)
                if bar is not None:
                    bar.update(win.height)
        finally:
            for vrt in vrts:
                vrt.close()
            if bar is not None:
                bar.close()
    if counts["both"] == 0:
        raise ZonesError(f"{other.path} and {info.path} have no pixel classified in both (--against): give maps of the same area")
    return MapComparison(cm, counts["both"], counts["map"], counts["other"], shape, grid)
