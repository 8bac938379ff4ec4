"""Fusion across acquisitions, one output tile at a time.

``probability``: each acquisition is classified on its own (its own calibration, speckle filter
and nodata rule: ``predict``'s kernel, :func:`lczmap.predict.compute_tile`, on its block of the
grid's input lattice), and the class probabilities of the acquisitions covering a pixel are
combined as the mean of their log-probabilities weighted by how complete each one's window is
(the share of the window's pixels that are the scene's own valid data, not mirrored nor
nodata), renormalised. A *complete* window (every pixel of the window, and of the speckle
filter's halo around it, inside the scene and valid) takes precedence: where any acquisition has
one, the partial windows of the others (scene edges, border noise, masks) are left out, so there
are no seams where one scene ends inside another. Where no acquisition has a complete window, those
whose window (and halo) lies furthest inside their scene take part (a window mirrored past a scene's
edge gives way to one that is not), weighted as above. A pixel that one acquisition alone covers gets
exactly that acquisition's class and probabilities (``predict``'s map of it): so does the seam of
one acquisition cut into overlapping files, which mosaics to the map of the whole file.

``composite``: the acquisitions of one relative orbit (same geometry, other dates) are averaged
first, as calibrated linear sigma0, pixel by pixel over the dates that hold data there, *before*
the speckle filter, as a multi-temporal filter does: the mean of N independent looks of the same
backscatter is its maximum-likelihood estimate (speckle is multiplicative, gamma-distributed; a
median would be biased low by up to ln 2) and has N times the looks, so the refined Lee filter
that follows smooths less of the structure away than when it filters each date first. Each
orbit's composite is classified once and the orbits are fused as above.

Nodata of one acquisition (its edge, layover/shadow mask, border noise) is filled by the others:
a window that fails ``predict``'s nodata rule in one scene simply does not take part.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import RemoteError, SceneError
from ..predict.grid import Tile, tile_block
from ..predict.kernel import TileResult, compute_tile, window_sums
from ..predict.model import Model
from ..predict.plan import TilePlan
from ..scene import Scene
from .grid import MosaicGrid, Placement, extent_in

__all__ = ["Contribution", "TileFusion", "read_on_grid", "classify", "composite_block", "LOG_FLOOR"]

#: Probabilities are floored here before their log is taken (a class the model rules out).
LOG_FLOOR = 1e-6


def read_on_grid(
    scene: Scene, placement: Placement, grid: MosaicGrid, a: int, b: int, c: int, d: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``a:b`` and columns ``c:d`` of the grid's input lattice from ``scene``: the block
    (C, b - a, d - c) float32, NaN where there is no data, and where the scene itself lies
    (bool, b - a x d - c). An aligned scene is read as ``predict`` reads it (mirrored past its
    edges, which the second array tells apart); another is reprojected (bilinear), NaN outside."""
    rows = np.arange(a, b)
    cols = np.arange(c, d)
    if placement.aligned:
        block = scene.read(a - placement.r0, b - placement.r0, c - placement.c0, d - placement.c0)
        inside = ((rows >= placement.r0) & (rows < placement.r1))[:, None] & ((cols >= placement.c0) & (cols < placement.c1))[
            None, :
        ]
        return block, inside
    from affine import Affine
    from odc.geo.geobox import GeoBox
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    lattice = grid.lattice @ Affine.translation(c, a)
    out = np.full((len(scene.bands), b - a, d - c), np.nan, np.float32)
    box = extent_in(GeoBox((b - a, d - c), lattice, grid.crs), scene.crs)
    x0, y0, x1, y1 = box.boundingbox
    if all(map(math.isfinite, (x0, y0, x1, y1))):
        cols_s, rows_s = zip(*(~scene.affine @ (x, y) for x in (x0, x1) for y in (y0, y1)))
        rlo, rhi = max(0, math.floor(min(rows_s)) - 2), min(scene.height, math.ceil(max(rows_s)) + 2)
        clo, chi = max(0, math.floor(min(cols_s)) - 2), min(scene.width, math.ceil(max(cols_s)) + 2)
        if rlo < rhi and clo < chi:
            src = scene.read(rlo, rhi, clo, chi)
            for i in range(src.shape[0]):
                reproject(
                    src[i],
                    out[i],
                    src_transform=scene.affine @ Affine.translation(clo, rlo),
                    src_crs=CRS.from_user_input(scene.crs),
                    dst_transform=lattice,
                    dst_crs=CRS.from_user_input(grid.crs),
                    resampling=Resampling.bilinear,
                    src_nodata=np.nan,
                    dst_nodata=np.nan,
                )
    held = np.asarray(~np.isnan(out).any(0))
    return out, held


def composite_block(blocks: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The temporal mean of ``blocks`` ((block, inside) pairs on one lattice window) over the
    dates holding data at each pixel (mirrored pixels are not data), with where any of them
    lies and how many dates went into each pixel: (block, inside, dates)."""
    total = np.zeros(blocks[0][0].shape, np.float64)
    n = np.zeros(blocks[0][0].shape[1:], np.int32)
    inside = np.zeros(n.shape, bool)
    for block, ins in blocks:
        ok = ins & ~np.isnan(block).any(0)
        total[:, ok] += block[:, ok]
        n += ok
        inside |= ins
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (total / n).astype(np.float32)
    mean[:, n == 0] = np.nan
    return mean, inside, n


@dataclass
class Contribution:
    """One acquisition's (or one orbit composite's) part of a tile: output pixels ``sub`` of
    the grid, its :class:`~lczmap.predict.TileResult` there (with probabilities), ``weight`` (the
    valid share of each window), ``complete`` (window and halo whole and valid) and ``count``
    (the acquisitions holding data at each window's centre)."""

    sub: Tile
    result: TileResult
    weight: np.ndarray
    complete: np.ndarray
    count: np.ndarray
    held: np.ndarray  # the share of window and halo inside the scene (not mirrored past its edge)


def classify(
    block: np.ndarray, inside: np.ndarray, dates: np.ndarray | None, sub: Tile, model: Model, plan: TilePlan
) -> Contribution:
    """Classify a block read for output pixels ``sub`` (``tile_block(sub)`` of the lattice) with
    ``predict``'s kernel, and measure how complete each window is. ``dates``: acquisitions per
    pixel (a composite), None for one."""
    s, p, h = plan.stride, plan.patch, plan.halo
    th, tw = sub.i1 - sub.i0, sub.j1 - sub.j0
    res = compute_tile(block, model, plan, probabilities=True)
    core = (slice(h, block.shape[1] - h), slice(h, block.shape[2] - h))
    valid = inside[core] & ~np.isnan(block[:, core[0], core[1]]).any(0)
    weight = (window_sums(valid, p, s, th, tw) / float(p * p)).astype(np.float32)
    held = (window_sums(inside, p + 2 * h, s, th, tw) / float((p + 2 * h) ** 2)).astype(np.float32)
    complete = (held == 1.0) & (weight == 1.0)
    centre = (slice(p // 2, None, s), slice(p // 2, None, s))
    if dates is None:
        count = valid[centre][:th, :tw].astype(np.uint16)
    else:
        count = dates[core][centre][:th, :tw].astype(np.uint16)
    count[res.codes == 0] = 0
    return Contribution(sub, res, weight, complete, count, held)


class TileFusion:
    """Fuses the contributions to one output tile ``tile`` (see the module): add each with
    :meth:`add`, then :meth:`result`."""

    def __init__(self, tile: Tile, model: Model, probabilities: bool) -> None:
        th, tw = tile.i1 - tile.i0, tile.j1 - tile.j0
        k = len(model.codes)
        self.tile, self.codes_lut = tile, np.asarray(model.codes, np.uint8)
        self.parts: list[Contribution] = []
        self.any_complete = np.zeros((th, tw), bool)
        self.best_held = np.zeros((th, tw), np.float32)
        self.shape, self.k, self.probabilities = (th, tw), k, probabilities

    def _local(self, c: Contribution) -> tuple[slice, slice]:
        return (slice(c.sub.i0 - self.tile.i0, c.sub.i1 - self.tile.i0), slice(c.sub.j0 - self.tile.j0, c.sub.j1 - self.tile.j0))

    def add(self, c: Contribution) -> None:
        self.parts.append(c)
        loc, ok = self._local(c), c.result.codes != 0
        self.any_complete[loc] |= c.complete & ok
        self.best_held[loc] = np.maximum(self.best_held[loc], np.where(ok, c.held, 0.0))

    def result(self) -> tuple[TileResult, np.ndarray]:
        """The fused tile and the acquisitions that went into each pixel (uint16)."""
        th, tw = self.shape
        codes = np.zeros((th, tw), np.uint8)
        conf = np.full((th, tw), np.nan, np.float32)
        probs = np.full((self.k, th, tw), np.nan, np.float32)
        count = np.zeros((th, tw), np.uint16)
        n_use = np.zeros((th, tw), np.int32)
        logp = np.zeros((self.k, th, tw), np.float64)
        wsum = np.zeros((th, tw), np.float64)
        n_valid = 0
        for c in self.parts:
            loc = self._local(c)
            ok = c.result.codes != 0
            use = ok & np.where(self.any_complete[loc], c.complete, c.held >= self.best_held[loc])
            if not use.any():
                continue
            assert c.result.probabilities is not None
            n_valid += int(use.sum())
            n_use[loc] += use
            count[loc] += np.where(use, c.count, 0).astype(np.uint16)
            w = np.where(use, c.weight, 0.0)
            lp = np.log(np.maximum(np.nan_to_num(c.result.probabilities, nan=1.0), LOG_FLOOR))
            logp[:, loc[0], loc[1]] += w[None] * lp
            wsum[loc] += w
            # one acquisition alone: its own class, confidence and probabilities, exactly
            codes[loc] = np.where(use, c.result.codes, codes[loc])
            conf[loc] = np.where(use, c.result.confidence, conf[loc])
            probs[:, loc[0], loc[1]] = np.where(use[None], c.result.probabilities, probs[:, loc[0], loc[1]])
        many = n_use > 1
        if many.any():
            mean = logp[:, many] / wsum[many]
            mean -= mean.max(0)
            fused = np.exp(mean)
            fused /= fused.sum(0)
            arg = fused.argmax(0)
            probs[:, many] = fused.astype(np.float32)
            codes[many] = self.codes_lut[arg]
            conf[many] = fused.max(0).astype(np.float32)
        return TileResult(codes, conf, probs if self.probabilities else None, n_valid), count


def block_of(sub: Tile, plan: TilePlan) -> tuple[int, int, int, int]:
    """The lattice rows and columns a contribution over output pixels ``sub`` reads."""
    return tile_block(sub, plan.stride, plan.patch, plan.halo)


def reach(placement: Placement, tile: Tile) -> Tile | None:
    """The output pixels of ``tile`` that a scene placed at ``placement`` reaches, or None."""
    o = placement.out
    sub = Tile(max(o.i0, tile.i0), min(o.i1, tile.i1), max(o.j0, tile.j0), min(o.j1, tile.j1))
    return sub if sub.i0 < sub.i1 and sub.j0 < sub.j1 else None


def failed(scene: Scene, exc: BaseException) -> SceneError:
    """A scene that failed to read halfway, as one line naming it; a remote file's failure keeps
    the :class:`~lczmap.errors.RemoteError`'s words (the HTTP status and what to do)."""
    if isinstance(exc, RemoteError):
        return SceneError(f"{scene.name} failed to read: {str(exc).splitlines()[0]}; or pass --skip-bad to map without it")
    cause: BaseException | None = exc
    while cause is not None and "previous exception" in str(cause) and cause.__cause__ is not None:
        cause = cause.__cause__  # rasterio: "Read failed. See previous exception for details."
    detail = " ".join(str(cause or exc).split())[:200] or type(exc).__name__
    return SceneError(f"{scene.name} failed to read ({detail}): check or drop it, or pass --skip-bad to map without it")
