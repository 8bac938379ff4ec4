"""Grids and windows: the output grid (odc-geo's ``GeoBox.zoom_out`` of the input grid), the tile
plan (odc-geo's tiling) and the input block that holds a tile's windows.

Window convention: output pixel ``(i, j)`` at stride ``s`` is the class of the 32 x 32 window whose
rows are ``i*s + s//2 - 16 ... i*s + s//2 + 15`` (columns alike), i.e. centred on the centre of
the output pixel's ``s x s`` footprint (exactly for even ``s``, half a pixel up-left for odd
``s``). The output grid is ``ceil(H/s) x ceil(W/s)`` pixels with transform
``input_transform * Affine.scale(s)`` (exactly what ``GeoBox.zoom_out(s)`` gives), so it is
aligned with the input grid and covers its extent.
"""

from __future__ import annotations

from typing import NamedTuple

from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.roi import roi_tiles

from ..errors import ConfigError

__all__ = ["PATCH", "Tile", "output_geobox", "output_grid", "plan_tiles", "window_rows", "tile_block"]

#: Side of the windows the models classify, in input pixels.
PATCH = 32


class Tile(NamedTuple):
    """Output rows ``i0:i1`` and columns ``j0:j1`` of one tile (a plain tuple too)."""

    i0: int
    i1: int
    j0: int
    j1: int


def output_geobox(grid: GeoBox, stride: int) -> GeoBox:
    """The output grid of an input grid at ``stride``: ``ceil(H/s) x ceil(W/s)`` pixels with
    transform ``grid.affine * Affine.scale(s)``, same CRS."""
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


def tile_block(t: tuple[int, int, int, int], stride: int, patch: int = PATCH) -> tuple[int, int, int, int]:
    """Input rows ``a:b`` and columns ``c:d`` holding all windows of tile ``t``."""
    return (*window_rows(t[0], t[1], stride, patch), *window_rows(t[2], t[3], stride, patch))
