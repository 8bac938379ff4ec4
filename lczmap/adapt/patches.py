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
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from odc.geo.geobox import GeoBox

from ..errors import ZonesError
from ..predict.grid import Tile, output_geobox, plan_tiles, tile_block
from ..predict.kernel import PreparedBlock, filter_block, prepare_block, speckle_halo
from ..predict.model import Model
from ..predict.options import PredictOptions
from ..scene import Scene
from ..speckle import check_speckle_filter
from .areas import TrainingAreas

__all__ = ["ScenePatches", "scene_grid", "polygon_pixels", "cut_patches", "read_prepared"]

log = logging.getLogger(__name__)

#: Output pixels per side of the tiles read to cut windows from.
READ_TILE = 32


@dataclass
class ScenePatches:
    """Windows of one scene: ``x_lab`` (N, C, 32, 32) float32 in the model's units with their
    LCZ ``y_lab`` (N,) codes, the ``polygon`` (N,) each came from and its output ``pixel`` (N, 2)
    row and column; ``x_unl`` (M, C, 32, 32) unlabelled windows; the output ``grid``; per
    polygon, the output pixels it labels (``pixels_per_polygon``, before the nodata rule) and
    whether it overlaps the scene; ``speckle_filter`` as applied."""

    x_lab: np.ndarray
    y_lab: np.ndarray
    polygon: np.ndarray
    pixel: np.ndarray
    x_unl: np.ndarray
    grid: GeoBox
    pixels_per_polygon: np.ndarray
    overlaps: np.ndarray
    speckle_filter: str

    def select(self, polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labelled windows and codes of the given polygon numbers."""
        keep = np.isin(self.polygon, polygons)
        return self.x_lab[keep], self.y_lab[keep]


def scene_grid(scene: Scene, stride: int) -> GeoBox:
    """The output grid ``lczmap predict`` maps ``scene`` onto at ``stride``."""
    return output_geobox(GeoBox((scene.height, scene.width), scene.affine, scene.crs), stride)


def polygon_pixels(geom, grid: GeoBox) -> tuple[np.ndarray, np.ndarray]:
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


def read_prepared(scene: Scene, tile: Tile, model: Model, options: PredictOptions) -> tuple[torch.Tensor, PreparedBlock]:
    """Tile ``tile``'s input block as :func:`lczmap.predict.kernel.launch_tile` sees it before
    cutting windows: read with the speckle filter's halo (:func:`~lczmap.predict.kernel.speckle_halo`),
    predict's nodata rule (:func:`~lczmap.predict.kernel.prepare_block`), predict's speckle
    filter (:func:`~lczmap.predict.kernel.filter_block`, the halo cropped, NaN kept), then
    nodata filled with the model's fill value, as predict fills it. Returns the (C, hb, wb) block
    and the prepared block (``valid``: the windows predict classifies)."""
    halo = speckle_halo(model, options)
    a, b, c, d = tile_block(tile, options.stride, model.patch_size, halo)
    prep = prepare_block(scene.read(a, b, c, d), model, options)
    x = filter_block(prep.block, model, options)
    if prep.missing:
        fill = torch.as_tensor(np.asarray(model.fill, dtype=np.float32)).view(-1, 1, 1)
        x = torch.where(torch.isnan(x), fill, x)
    return x, prep


def _label_pixels(geoms, codes: np.ndarray, grid: GeoBox) -> tuple[dict, np.ndarray]:
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


def cut_patches(scene: Scene, model: Model, areas: TrainingAreas, options: PredictOptions, unlabelled: float,
                seed: int = 0, progress: Callable | None = None) -> ScenePatches:
    """Labelled windows under ``areas`` and ``round(unlabelled * labelled)`` unlabelled windows
    drawn at random (seeded) from the scene's other valid output pixels. Raises
    :class:`ZonesError` when no polygon overlaps the scene."""
    import dataclasses

    from shapely.geometry import box

    speckle = check_speckle_filter(options.speckle_filter, model.band_set, scene.prefiltered)
    options = dataclasses.replace(options, speckle_filter=speckle)  # the kernel filters as resolved here
    grid = scene_grid(scene, options.stride)
    geoms = areas.to_crs(scene.crs)
    extent = box(*grid.extent.boundingbox)
    overlaps = geoms.intersects(extent).to_numpy(bool)
    if not overlaps.any():
        bounds = ", ".join(f"{v:.6g}" for v in geoms.total_bounds)
        scene_bounds = ", ".join(f"{v:.6g}" for v in grid.extent.boundingbox)
        raise ZonesError(f"{areas.name} lies outside the scene {scene.name} (training areas span {bounds}, the scene "
                         f"{scene_bounds} in {grid.crs}): give training areas of the scene's city")
    if not overlaps.all():
        log.warning("%s: %d of %d training polygons lie outside the scene and are left out", areas.name,
                    int((~overlaps).sum()), len(overlaps))
    owner, counts = _label_pixels(list(geoms.values), areas.codes, grid)
    polygon_ids = areas.frame["polygon"].to_numpy(np.int64)

    out_h, out_w = grid.shape.y, grid.shape.x
    labelled = np.zeros((out_h, out_w), bool)
    for r, c in owner:
        labelled[r, c] = True
    want_unl = int(round(unlabelled * len(owner)))
    rest = np.flatnonzero(~labelled.ravel())
    rng = np.random.default_rng([seed, 0x5CE])
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
    p, s = model.patch_size, options.stride
    bar = progress(total=len(tiles), desc="cutting patches") if progress else None
    for t in tiles:
        block, prep = read_prepared(scene, t, model, options)
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
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    c_ = model.band_set.n_channels
    x_u = np.stack(x_unl) if x_unl else np.zeros((0, c_, p, p), np.float32)
    if len(x_u) > want_unl:  # drew a few more than wanted, for nodata
        x_u = x_u[np.sort(rng.permutation(len(x_u))[:want_unl])]
    meta = np.array(meta_lab, np.int64).reshape(-1, 4)
    x_l = np.stack(x_lab) if x_lab else np.zeros((0, c_, p, p), np.float32)
    n_dropped = len(owner) - len(x_l)
    if n_dropped:
        log.info("%d labelled windows are nodata by predict's rule (--max-nodata) and are not used", n_dropped)
    return ScenePatches(x_l, meta[:, 0], meta[:, 1], meta[:, 2:], x_u, grid, counts, overlaps, speckle)
