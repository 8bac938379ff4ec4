"""Grids and windows: the output grid (odc-geo's ``GeoBox.zoom_out`` of the input grid), the tile
plan (odc-geo's tiling) and the input block that holds a tile's windows.

Window convention: output pixel ``(i, j)`` at stride ``s`` is the class of the 32 x 32 window whose
rows are ``i*s + s//2 - 16 ... i*s + s//2 + 15`` (columns alike), i.e. centred on the centre of
the output pixel's ``s x s`` footprint (exactly for even ``s``, half a pixel up-left for odd
``s``). The output grid is ``ceil(H/s) x ceil(W/s)`` pixels with transform
``input_transform @ Affine.scale(s)`` (exactly what ``GeoBox.zoom_out(s)`` gives), so it is
aligned with the input grid and covers its extent.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.roi import roi_tiles

from ..errors import ConfigError, SceneError
from ..scene.grid import aoi_bounds

__all__ = ["PATCH", "Tile", "output_geobox", "output_grid", "plan_tiles", "window_rows", "tile_block", "aoi_window", "aoi_bounds"]

#: Side of the windows the models classify, in input pixels.
PATCH = 32


class Tile(NamedTuple):
    """Output rows ``i0:i1`` and columns ``j0:j1`` of one tile (a plain tuple too)."""

    i0: int
    i1: int
    j0: int
    j1: int


def aoi_window(grid: GeoBox, aoi: tuple[float, float, float, float] | str) -> tuple[int, int, int, int]:
    """Rows ``i0:i1`` and columns ``j0:j1`` of ``grid`` (an output grid) covering the area of
    interest ``aoi`` (see :func:`aoi_bounds`), clipped to the grid; ``grid[i0:i1, j0:j1]`` is then
    the sub-grid to map, aligned with ``grid``. An area outside the grid raises SceneError."""
    area = aoi_bounds(aoi)
    if grid.crs is None:
        raise SceneError("the scene has no CRS, so an area of interest cannot be placed on it: drop --aoi")
    res = 1e-3 if area.crs is not None and area.crs.geographic else 100.0
    if area.crs is not None and area.crs != grid.crs:
        # an area reaching beyond where the grid's CRS is defined (a lon/lat box of the whole
        # world, in UTM) has no footprint there: take its part over the scene, or the scene
        covered = grid.extent.to_crs(area.crs, resolution=1e-3 if grid.crs.geographic else 100.0)
        if area.contains(covered):
            return 0, grid.shape.y, 0, grid.shape.x
        if not area.within(covered) and area.intersects(covered):
            area = area.intersection(covered)
    footprint = area.to_crs(grid.crs, resolution=res)  # edges densified: curved in the grid's CRS
    inv = ~grid.affine
    x0, y0, x1, y1 = footprint.boundingbox
    if not all(map(math.isfinite, (x0, y0, x1, y1))):
        raise SceneError(
            f"the area of interest {aoi} cannot be placed in the scene's CRS ({grid.crs}): give an area around the scene (--aoi)"
        )
    cols, rows = zip(*(inv @ (x, y) for x in (x0, x1) for y in (y0, y1)))
    i0, i1 = max(0, math.floor(min(rows))), min(grid.shape.y, math.ceil(max(rows)))
    j0, j1 = max(0, math.floor(min(cols))), min(grid.shape.x, math.ceil(max(cols)))
    if i0 >= i1 or j0 >= j1:
        where = ",".join(f"{v:.4f}" for v in area.to_crs("EPSG:4326").boundingbox)
        scene = ",".join(f"{v:.4f}" for v in grid.geographic_extent.boundingbox)
        raise SceneError(
            f"the area of interest ({where}) lies outside the scene ({scene}, west,south,east,north): "
            "give an area inside it (--aoi)"
        )
    return i0, i1, j0, j1


def output_geobox(grid: GeoBox, stride: int) -> GeoBox:
    """The output grid of an input grid at ``stride``: ``ceil(H/s) x ceil(W/s)`` pixels with
    transform ``grid.affine @ Affine.scale(s)``, same CRS."""
    return grid.zoom_out(stride)


def output_grid(height: int, width: int, stride: int) -> tuple[int, int]:
    """Output shape: ``(ceil(height / stride), ceil(width / stride))``."""
    shape = output_geobox(GeoBox((height, width), Affine.identity(), None), stride).shape
    return shape.y, shape.x


def plan_tiles(out_h: int, out_w: int, tile: int) -> list[Tile]:
    """Tiles of the output grid, row-major, covering it exactly once (odc-geo's tiling, as
    ``GeoboxTiles(grid, (tile, tile)).roi`` holds it)."""
    if tile < 1:
        raise ConfigError(f"tile size must be at least 1 (--tile-size), got {tile}")
    tiles = roi_tiles((out_h, out_w), (tile, tile))
    plan = []
    for iy in range(tiles.shape.y):
        for ix in range(tiles.shape.x):
            rows, cols = tiles[iy, ix]
            plan.append(Tile(rows.start, rows.stop, cols.start, cols.stop))
    return plan


def window_rows(i0: int, i1: int, stride: int, patch: int = PATCH) -> tuple[int, int]:
    """Input rows ``[a, b)`` holding the windows of output rows ``i0 .. i1-1`` (same for columns)."""
    a = i0 * stride + stride // 2 - patch // 2
    b = (i1 - 1) * stride + stride // 2 + patch // 2
    return a, b


def tile_block(t: tuple[int, int, int, int], stride: int, patch: int = PATCH, halo: int = 0) -> tuple[int, int, int, int]:
    """Input rows ``a:b`` and columns ``c:d`` holding all windows of tile ``t``, and ``halo`` more
    pixels on each side (what a speckle filter needs around them)."""
    a, b = window_rows(t[0], t[1], stride, patch)
    c, d = window_rows(t[2], t[3], stride, patch)
    return a - halo, b + halo, c - halo, d + halo
