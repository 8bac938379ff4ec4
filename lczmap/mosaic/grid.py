"""The mosaic's one output grid, and where each scene lies on it.

When the scenes lie on one pixel grid of one projected CRS (UTM products of one zone, all on
the 10 m grid) and nothing else is asked, the output grid is ``predict``'s grid (the scenes' grid
zoomed out by ``stride``, :func:`lczmap.predict.output_geobox`) extended over their union (and
over the area of interest, by whole output pixels, when one is given): a
mosaic of one scene is then ``predict``'s map of it, pixel for pixel. Otherwise the grid is laid
in ``--crs`` (default: the UTM zone of the area's centre) at ``--resolution``, its pixel edges at
multiples of the resolution from the CRS origin (or, in EPSG:4326, on the global LCZ map's
grid), so that runs over neighbouring areas line up.

Each output pixel is classified from the window centred on it, cut from the *input lattice* of
the grid (``stride`` input pixels per output pixel). A scene whose pixels lie on that lattice is
read as it is (:class:`Placement` ``aligned``: an integer offset, mirrored past its edges as
``predict`` reads it); any other scene (another UTM zone, another pixel grid) is reprojected onto
it block by block (bilinear; nothing outside the scene)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from affine import Affine
from odc.geo.geobox import GeoBox
from rasterio.crs import CRS

from ..errors import SceneError
from ..predict.grid import Tile, aoi_window, output_geobox
from ..scene import Scene
from ..scene.grid import aoi_bounds, utm_crs
from .options import DEFAULT_RESOLUTION, GLOBAL_LCZ_ORIGIN, GLOBAL_LCZ_RESOLUTION, MosaicOptions

__all__ = ["MosaicGrid", "Placement", "mosaic_grid", "place", "native_lattice", "scene_geobox", "extent_in"]

_EPS = 1e-6


@dataclass(frozen=True)
class MosaicGrid:
    """The output grid: ``crs``, ``transform`` (6 numbers), ``shape`` (rows, columns), ``stride``
    (input lattice pixels per output pixel) and ``native`` (it is the scenes' own grid zoomed out,
    as ``predict``'s)."""

    crs: str
    transform: tuple[float, ...]
    shape: tuple[int, int]
    stride: int
    native: bool

    @property
    def affine(self) -> Affine:
        return Affine(*self.transform[:6])

    @property
    def geobox(self) -> GeoBox:
        return GeoBox(self.shape, self.affine, self.crs)

    @property
    def lattice(self) -> Affine:
        """The input lattice: ``stride`` x ``stride`` pixels per output pixel."""
        return self.affine @ Affine.scale(1.0 / self.stride)

    def window(self, t: Tile) -> GeoBox:
        """The sub-grid of tile ``t``."""
        return self.geobox[t.i0 : t.i1, t.j0 : t.j1]


@dataclass(frozen=True)
class Placement:
    """Where a scene lies on a grid's input lattice: rows ``r0:r1`` and columns ``c0:c1`` of the
    lattice (may run past the grid), ``aligned`` (its pixels are the lattice's: lattice pixel
    ``(r, c)`` is scene pixel ``(r - r0, c - c0)``), and ``out``, the output pixels ``i0, i1, j0,
    j1`` it can reach (their footprints overlap it), clipped to the grid (empty: it misses)."""

    r0: int
    r1: int
    c0: int
    c1: int
    aligned: bool
    out: Tile

    @property
    def empty(self) -> bool:
        return self.out.i0 >= self.out.i1 or self.out.j0 >= self.out.j1


def extent_in(grid: GeoBox, crs: CRS | str) -> Any:
    """The extent of ``grid`` in ``crs`` (an odc-geo Geometry), its edges densified into 32
    segments each so that they bend as they should."""
    a = grid.affine
    step = max(grid.shape.x * abs(a.a), grid.shape.y * abs(a.e)) / 32
    return grid.extent.to_crs(crs, resolution=step)


def scene_geobox(scene: Scene) -> GeoBox:
    """The scene's own 10 m grid."""
    return GeoBox((scene.height, scene.width), scene.affine, scene.crs)


def native_lattice(scenes: Sequence[Scene]) -> tuple[CRS, float] | None:
    """The CRS and pixel size of the one pixel grid all ``scenes`` lie on (one projected CRS,
    square north-up pixels of one size, origins a whole number of pixels apart), or None."""
    if not scenes:
        return None
    first = scenes[0]
    crs = CRS.from_user_input(first.crs)
    a0 = first.affine
    p = a0.a
    if not crs.is_projected or a0.b != 0 or a0.d != 0 or not math.isclose(-a0.e, p, rel_tol=_EPS):
        return None
    for s in scenes[1:]:
        a = s.affine
        if CRS.from_user_input(s.crs) != crs or a.b != 0 or a.d != 0:
            return None
        if not (math.isclose(a.a, p, rel_tol=_EPS) and math.isclose(a.e, a0.e, rel_tol=_EPS)):
            return None
        for d in ((a.c - a0.c) / p, (a.f - a0.f) / p):
            if abs(d - round(d)) > _EPS:
                return None
    return crs, p


def _union_bounds(scenes: Sequence[Scene], crs: CRS | str) -> tuple[float, float, float, float]:
    """West, south, east, north of the scenes' extents in ``crs``."""
    boxes = [extent_in(scene_geobox(s), crs).boundingbox for s in scenes]
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _centre(scenes: Sequence[Scene], aoi: tuple[float, float, float, float] | str | None) -> tuple[float, float]:
    """Longitude and latitude of the area's centre: the area of interest's, else the scenes' union's."""
    if aoi is not None:
        w, s, e, n = aoi_bounds(aoi).to_crs("EPSG:4326").boundingbox
    else:
        w, s, e, n = _union_bounds(scenes, "EPSG:4326")
    return (w + e) / 2, (s + n) / 2


def mosaic_grid(scenes: Sequence[Scene], options: MosaicOptions) -> MosaicGrid:
    """The output grid of a mosaic of ``scenes`` (see the module's docstring); the area of
    interest, when given, crops it (an area away from every scene raises SceneError)."""
    stride = options.predict.stride
    native = None if options.align else native_lattice(scenes)
    if native is not None:
        crs, p = native
        same_crs = options.crs is None or CRS.from_user_input(options.crs) == crs
        same_res = options.resolution is None or math.isclose(options.resolution, stride * p, rel_tol=_EPS)
        if same_crs and same_res:
            x0 = min(s.affine.c for s in scenes)
            y0 = max(s.affine.f for s in scenes)
            x1 = max(s.affine.c + s.width * p for s in scenes)
            y1 = min(s.affine.f - s.height * p for s in scenes)
            if options.aoi is not None:
                # an area beyond the scenes extends the grid by whole output pixels, so that it
                # stays predict's grid of the scenes where they are
                w, s_, e, n = aoi_bounds(options.aoi).to_crs(crs).boundingbox
                x0, y0, x1, y1 = _extended((x0, y0, x1, y1), (w, s_, e, n), stride * p)
            lattice = GeoBox((round((y0 - y1) / p), round((x1 - x0) / p)), Affine(p, 0, x0, 0, -p, y0), crs)
            return _cropped(output_geobox(lattice, stride), stride, True, options)
    if options.crs is not None:
        crs = CRS.from_user_input(options.crs)
    else:
        crs = utm_crs(*_centre(scenes, options.aoi))
    if crs.is_geographic:
        res = options.resolution or GLOBAL_LCZ_RESOLUTION
        ox, oy = GLOBAL_LCZ_ORIGIN
    else:
        res = options.resolution or DEFAULT_RESOLUTION
        ox, oy = 0.0, 0.0
    if options.aoi is not None:
        w, s, e, n = aoi_bounds(options.aoi).to_crs(crs).boundingbox
    else:
        w, s, e, n = _union_bounds(scenes, crs)
    if not all(map(math.isfinite, (w, s, e, n))):
        raise SceneError(f"the area cannot be placed in {crs.to_string()} (--crs): choose a CRS that covers it")
    j0, j1 = math.floor((w - ox) / res + _EPS), math.ceil((e - ox) / res - _EPS)
    i0, i1 = math.floor((oy - n) / res + _EPS), math.ceil((oy - s) / res - _EPS)
    grid = GeoBox((max(1, i1 - i0), max(1, j1 - j0)), Affine(res, 0, ox + j0 * res, 0, -res, oy - i0 * res), crs)
    return MosaicGrid(crs.to_string(), tuple(grid.affine)[:6], (grid.shape.y, grid.shape.x), stride, False)


def _extended(
    box: tuple[float, float, float, float], area: tuple[float, float, float, float], step: float
) -> tuple[float, float, float, float]:
    """``box`` (west, north, east, south) grown by whole ``step`` s until it holds ``area`` (west,
    south, east, north), its origin kept on the same lattice."""
    x0, y0, x1, y1 = box
    w, s, e, n = area
    if not all(map(math.isfinite, (w, s, e, n))):
        return box
    x0 -= max(0, math.ceil((x0 - w) / step - _EPS)) * step
    y0 += max(0, math.ceil((n - y0) / step - _EPS)) * step
    x1 += max(0, math.ceil((e - x1) / step - _EPS)) * step
    y1 -= max(0, math.ceil((y1 - s) / step - _EPS)) * step
    return x0, y0, x1, y1


def _cropped(grid: GeoBox, stride: int, native: bool, options: MosaicOptions) -> MosaicGrid:
    if options.aoi is not None:
        i0, i1, j0, j1 = aoi_window(grid, options.aoi)
        grid = grid[i0:i1, j0:j1]
    return MosaicGrid(
        CRS.from_user_input(grid.crs).to_string(), tuple(grid.affine)[:6], (grid.shape.y, grid.shape.x), stride, native
    )


def place(scene: Scene, grid: MosaicGrid) -> Placement:
    """Where ``scene`` lies on ``grid``'s input lattice (see :class:`Placement`)."""
    lat = grid.lattice
    a = scene.affine
    s = grid.stride
    aligned = False
    if (
        CRS.from_user_input(scene.crs) == CRS.from_user_input(grid.crs)
        and a.b == 0
        and a.d == 0
        and math.isclose(a.a, lat.a, rel_tol=_EPS)
        and math.isclose(a.e, lat.e, rel_tol=_EPS)
    ):
        col, row = ~lat @ (a.c, a.f)
        aligned = abs(col - round(col)) < 1e-4 and abs(row - round(row)) < 1e-4
    if aligned:
        r0, c0 = round(row), round(col)
        r1, c1 = r0 + scene.height, c0 + scene.width
    else:
        box = extent_in(scene_geobox(scene), grid.crs)
        x0, y0, x1, y1 = box.boundingbox
        if not all(map(math.isfinite, (x0, y0, x1, y1))):
            return Placement(0, 0, 0, 0, False, Tile(0, 0, 0, 0))
        cols, rows = zip(*(~lat @ (x, y) for x in (x0, x1) for y in (y0, y1)))
        r0, r1 = math.floor(min(rows)), math.ceil(max(rows))
        c0, c1 = math.floor(min(cols)), math.ceil(max(cols))
    h, w = grid.shape
    out = Tile(max(0, r0 // s), min(h, -(-r1 // s)), max(0, c0 // s), min(w, -(-c1 // s)))
    if out.i0 >= out.i1 or out.j0 >= out.j1:
        out = Tile(0, 0, 0, 0)
    return Placement(r0, r1, c0, c1, aligned, out)
