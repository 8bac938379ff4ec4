"""Patches cut from a scene the way ``lczmap predict`` sees it: labelled ones under the training
polygons, unlabelled ones from the rest of the scene.

Grid and windows are predict's (:mod:`lczmap.predict.grid`): the scene's 10 m grid zoomed out by
``stride`` is the output grid, and output pixel ``(i, j)`` is the 32 x 32 window centred on the
centre of its footprint. A polygon labels the output pixels whose centre lies inside it, as
``lczmap assess`` counts them (a polygon too small to hold a pixel centre labels the pixel under
its representative point); a pixel claimed by polygons of two classes is left out. Each window
goes through predict's input chain: the scene opened with the model's band set (units,
calibration, masks), the speckle filter predict applies (:mod:`lczmap.speckle`, read with its
halo), then predict's nodata rule and fill (:mod:`lczmap.predict.kernel`): a window predict
would not classify is not used.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from odc.geo.geobox import GeoBox

from ..errors import ZonesError
from ..predict.grid import Tile, aoi_window, output_geobox, plan_tiles, tile_block
from ..predict.kernel import PreparedBlock, filter_block, prepare_block
from ..predict.model import Model
from ..predict.plan import TilePlan
from ..predict.runner import Progress
from ..scene import Scene
from ..scene.grid import Aoi
from .areas import TrainingAreas

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

__all__ = ["ScenePatches", "scene_grid", "polygon_pixels", "cut_patches", "cut_unlabelled", "read_prepared"]

log = logging.getLogger(__name__)

#: Output pixels per side of the tiles read to cut windows from.
READ_TILE = 32


@dataclass
class ScenePatches:
    """Windows of one scene: ``x_lab`` (N, C, 32, 32) float32 in the model's units with their
    LCZ ``y_lab`` (N,) codes, the ``polygon`` (N,) each came from and its output ``pixel`` (N, 2)
    row and column; ``x_unl`` (M, C, 32, 32) unlabelled windows; the output ``grid``; per
    polygon, the output pixels it labels (``pixels_per_polygon``, before the nodata rule) and
    whether it overlaps the scene; ``speckle_filter`` as applied; ``pixel_unl`` (M, 2) the output
    row and column of each unlabelled window (:func:`cut_unlabelled` only)."""

    x_lab: np.ndarray
    y_lab: np.ndarray
    polygon: np.ndarray
    pixel: np.ndarray
    x_unl: np.ndarray
    grid: GeoBox
    pixels_per_polygon: np.ndarray
    overlaps: np.ndarray
    speckle_filter: str
    pixel_unl: np.ndarray | None = None

    def select(self, polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labelled windows and codes of the given polygon numbers."""
        keep = np.isin(self.polygon, polygons)
        return self.x_lab[keep], self.y_lab[keep]


def scene_grid(scene: Scene, stride: int) -> GeoBox:
    """The output grid ``lczmap predict`` maps ``scene`` onto at ``stride``."""
    return output_geobox(GeoBox((scene.height, scene.width), scene.affine, scene.crs), stride)


def polygon_pixels(geom: BaseGeometry, grid: GeoBox) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the output pixels of ``grid`` whose centre lies inside ``geom`` (in the
    grid's CRS), or the pixel under its representative point when none does; empty off the grid."""
    from rasterio.features import geometry_mask
    from rasterio.windows import Window, transform as window_transform

    t = grid.affine
    height, width = grid.shape.y, grid.shape.x
    empty = np.zeros(0, np.int64)
    left, bottom, right, top = geom.bounds
    c0, c1 = sorted(((left - t.c) / t.a, (right - t.c) / t.a))
    r0, r1 = sorted(((top - t.f) / t.e, (bottom - t.f) / t.e))
    c0, r0 = max(int(math.floor(c0)), 0), max(int(math.floor(r0)), 0)
    c1, r1 = min(int(math.ceil(c1)), width), min(int(math.ceil(r1)), height)
    if c1 <= c0 or r1 <= r0:
        return empty, empty
    win = Window(c0, r0, c1 - c0, r1 - r0)
    inside = geometry_mask([geom], out_shape=(r1 - r0, c1 - c0), transform=window_transform(win, t), invert=True)
    if inside.any():
        rows, cols = np.nonzero(inside)
        return rows.astype(np.int64) + r0, cols.astype(np.int64) + c0
    p = geom.representative_point()
    col, row = int(math.floor((p.x - t.c) / t.a)), int(math.floor((p.y - t.f) / t.e))
    if 0 <= row < height and 0 <= col < width:
        return np.array([row], np.int64), np.array([col], np.int64)
    return empty, empty


def read_prepared(scene: Scene, tile: Tile, model: Model, plan: TilePlan) -> tuple[torch.Tensor, PreparedBlock]:
    """Tile ``tile``'s input block as :func:`lczmap.predict.kernel.launch_tile` sees it before
    cutting windows: read with the plan's halo (the speckle filter's), predict's nodata rule
    (:func:`~lczmap.predict.kernel.prepare_block`), predict's speckle filter
    (:func:`~lczmap.predict.kernel.filter_block`, the halo cropped, NaN kept), then nodata
    filled with the model's fill value, as predict fills it. Returns the (C, hb, wb) block and
    the prepared block (``valid``: the windows predict classifies)."""
    a, b, c, d = tile_block(tile, plan.stride, plan.patch, plan.halo)
    prep = prepare_block(scene.read(a, b, c, d), plan)
    x = filter_block(prep.block, model, plan)
    if prep.missing:
        fill = torch.as_tensor(np.asarray(model.fill, dtype=np.float32)).view(-1, 1, 1)
        x = torch.where(torch.isnan(x), fill, x)
    return x, prep


def _label_pixels(
    geoms: Sequence[BaseGeometry], codes: np.ndarray, grid: GeoBox
) -> tuple[dict[tuple[int, int], tuple[int, int]], np.ndarray]:
    """``{(row, col): (code, polygon index)}`` of the labelled output pixels, and the number of
    pixels each polygon labels (pixels claimed by two classes are dropped)."""
    owner: dict[tuple[int, int], tuple[int, int]] = {}
    clash: set[tuple[int, int]] = set()
    counts = np.zeros(len(codes), np.int64)
    for k, geom in enumerate(geoms):
        rows, cols = polygon_pixels(geom, grid)
        counts[k] = len(rows)
        for key in zip(rows.tolist(), cols.tolist()):
            prev = owner.get(key)
            if prev is None:
                owner[key] = (int(codes[k]), k)
            elif prev[0] != codes[k]:
                clash.add(key)
    for key in clash:
        del owner[key]
    if clash:
        log.warning("%d output pixels lie in training polygons of two classes and are left out", len(clash))
    return owner, counts


def cut_patches(
    scene: Scene,
    model: Model,
    areas: TrainingAreas,
    plan: TilePlan,
    unlabelled: float,
    seed: int = 0,
    progress: Progress | None = None,
    aoi: Aoi | None = None,
) -> ScenePatches:
    """Labelled windows under ``areas`` and ``round(unlabelled * labelled)`` unlabelled windows
    drawn at random (seeded) from the scene's other valid output pixels (those inside the area
    of interest ``aoi``, as ``PredictOptions.aoi`` takes it, when given), read as ``plan`` says
    (:meth:`PredictOptions.resolve <lczmap.predict.PredictOptions.resolve>` for ``model`` and
    ``scene``: its stride, nodata rule, speckle filter and halo). Raises :class:`ZonesError` when
    no polygon overlaps the scene."""
    from shapely.geometry import box

    grid = scene_grid(scene, plan.stride)
    geoms = areas.to_crs(scene.crs)
    extent = box(*grid.extent.boundingbox)
    overlaps = geoms.intersects(extent).to_numpy(bool)
    if not overlaps.any():
        bounds = ", ".join(f"{v:.6g}" for v in geoms.total_bounds)
        scene_bounds = ", ".join(f"{v:.6g}" for v in grid.extent.boundingbox)
        raise ZonesError(
            f"{areas.name} lies outside the scene {scene.name} (training areas span {bounds}, the scene "
            f"{scene_bounds} in {grid.crs}): give training areas of the scene's city"
        )
    if not overlaps.all():
        log.warning(
            "%s: %d of %d training polygons lie outside the scene and are left out",
            areas.name,
            int((~overlaps).sum()),
            len(overlaps),
        )
    owner, counts = _label_pixels(list(geoms.values), areas.codes, grid)
    polygon_ids = areas.frame["polygon"].to_numpy(np.int64)

    out_h, out_w = grid.shape.y, grid.shape.x
    labelled = np.zeros((out_h, out_w), bool)
    for r, c in owner:
        labelled[r, c] = True
    want_unl = int(round(unlabelled * len(owner)))
    free = ~labelled
    if aoi is not None:
        i0, i1, j0, j1 = aoi_window(grid, aoi)
        inside = np.zeros_like(free)
        inside[i0:i1, j0:j1] = True
        free &= inside
    rng = np.random.default_rng([seed, 0x5CE])
    x_l, meta, x_u, _ = _read_windows(scene, model, plan, labelled, owner, polygon_ids, free, want_unl, rng, progress)
    n_dropped = len(owner) - len(x_l)
    if n_dropped:
        log.info("%d labelled windows are nodata by predict's rule (--max-nodata) and are not used", n_dropped)
    return ScenePatches(x_l, meta[:, 0], meta[:, 1], meta[:, 2:], x_u, grid, counts, overlaps, plan.speckle_filter)


def _read_windows(
    scene: Scene,
    model: Model,
    plan: TilePlan,
    labelled: np.ndarray,
    owner: dict[tuple[int, int], tuple[int, int]],
    polygon_ids: np.ndarray,
    free: np.ndarray,
    want_unl: int,
    rng: np.random.Generator,
    progress: Progress | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The windows predict classifies at the ``labelled`` output pixels (with their code, polygon,
    row and column from ``owner``) and ``want_unl`` drawn from the ``free`` ones (nodata
    skipped), with the row and column of each of those."""
    out_h, out_w = labelled.shape
    rest = np.flatnonzero(free.ravel())
    # a few more than wanted: some will be nodata (swath borders)
    n_draw = min(len(rest), int(math.ceil(want_unl * 1.25)) + 16) if want_unl else 0
    draw = rng.choice(rest, n_draw, replace=False)
    unl_wanted = np.zeros((out_h, out_w), bool)
    unl_wanted.ravel()[draw] = True
    needed = labelled | unl_wanted

    tiles = [t for t in plan_tiles(out_h, out_w, READ_TILE) if needed[t.i0 : t.i1, t.j0 : t.j1].any()]
    x_lab: list[np.ndarray] = []
    meta_lab: list[tuple[int, int, int, int]] = []
    x_unl: list[np.ndarray] = []
    at_unl: list[tuple[int, int]] = []
    p, s = plan.patch, plan.stride
    bar = progress(total=len(tiles), desc="cutting patches") if progress else None
    for t in tiles:
        block, prep = read_prepared(scene, t, model, plan)
        rows, cols = np.nonzero(needed[t.i0 : t.i1, t.j0 : t.j1] & prep.valid)
        for r, c in zip(rows.tolist(), cols.tolist()):
            w = block[:, r * s : r * s + p, c * s : c * s + p].numpy().copy()
            i, j = r + t.i0, c + t.j0
            if labelled[i, j]:
                code, k = owner[(i, j)]
                x_lab.append(w)
                meta_lab.append((code, int(polygon_ids[k]), i, j))
            else:
                x_unl.append(w)
                at_unl.append((i, j))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    c_ = model.band_set.n_channels
    x_u = np.stack(x_unl) if x_unl else np.zeros((0, c_, p, p), np.float32)
    at_u = np.array(at_unl, np.int64).reshape(-1, 2)
    if len(x_u) > want_unl:  # drew a few more than wanted, for nodata
        pick = np.sort(rng.permutation(len(x_u))[:want_unl])
        x_u, at_u = x_u[pick], at_u[pick]
    meta = np.array(meta_lab, np.int64).reshape(-1, 4)
    x_l = np.stack(x_lab) if x_lab else np.zeros((0, c_, p, p), np.float32)
    return x_l, meta, x_u, at_u


def cut_unlabelled(
    scene: Scene,
    model: Model,
    plan: TilePlan,
    n: int,
    seed: int = 0,
    progress: Progress | None = None,
    aoi: Aoi | None = None,
) -> ScenePatches:
    """``n`` windows drawn at random (seeded) from the scene's valid output pixels (inside ``aoi``
    when given), read as :func:`cut_patches` reads them; no labelled window."""
    grid = scene_grid(scene, plan.stride)
    out_h, out_w = grid.shape.y, grid.shape.x
    free = np.ones((out_h, out_w), bool)
    if aoi is not None:
        i0, i1, j0, j1 = aoi_window(grid, aoi)
        free[:] = False
        free[i0:i1, j0:j1] = True
    rng = np.random.default_rng([seed, 0x5CE])
    empty = np.zeros((out_h, out_w), bool)
    x_l, meta, x_u, at_u = _read_windows(scene, model, plan, empty, {}, np.zeros(0, np.int64), free, n, rng, progress)
    none = np.zeros(0, np.int64)
    return ScenePatches(x_l, none, none, none.reshape(0, 2), x_u, grid, none, np.zeros(0, bool), plan.speckle_filter, at_u)
