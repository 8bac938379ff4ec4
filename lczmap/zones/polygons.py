"""Polygons of the sieved map, strip by strip, stitched across strip edges.

Each strip's patches are polygonised by GDAL (``rasterio.features.shapes``, 4-connectivity) in
pixel coordinates. A patch cut by a strip edge stays open until the next strip shows whether it
continues: a pixel of the previous strip's last row and the pixel below it with the same code
join their zones (a disjoint set, :class:`scipy.cluster.hierarchy.DisjointSet`), exactly as on
the whole map. Joined parts are unioned in pixel coordinates (exact integer coordinates) before
the geotransform is applied, in :func:`zones_frame`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..classes import colour_of, label_of, name_of
from .lczraster import LczRasterInfo, Progress, row_areas
from .sieve import label_patches, sieved_strips

if TYPE_CHECKING:
    import geopandas as gpd
    from rasterio.io import DatasetReader

__all__ = ["Zone", "polygon_zones", "zones_frame"]


@dataclass
class Zone:
    """One zone being built: its code, polygon parts (pixel coordinates) and statistics."""

    code: int
    parts: list
    pixels: int
    area: float
    conf_sum: float
    conf_n: int

    def absorb(self, other: Zone) -> None:
        self.parts.extend(other.parts)
        self.pixels += other.pixels
        self.area += other.area
        self.conf_sum += other.conf_sum
        self.conf_n += other.conf_n


def _strip_zones(
    codes: np.ndarray, r0: int, row_area: np.ndarray, conf: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Polygons (pixel coordinates, rows offset by ``r0``) and statistics of one strip's patches:
    ``(labels, label_codes, geoms, pixels, area, conf_sum, conf_n)``, indexed by patch label."""
    import shapely
    from affine import Affine
    from rasterio.features import shapes
    from shapely.geometry import shape

    labels, label_codes = label_patches(codes)
    n = label_codes.size
    geoms = np.empty(n, dtype=object)
    for geojson, value in shapes(labels, mask=labels > 0, connectivity=4, transform=Affine.identity()):
        geoms[int(value)] = shape(geojson)
    if n > 1:
        geoms[1:] = shapely.transform(geoms[1:].astype(object), lambda xy: xy + np.array([0.0, r0]))
    flat = labels.ravel()
    pixels = np.bincount(flat, minlength=n)
    area = np.zeros(n)
    for i in range(0, labels.shape[0], 64):
        rows = labels[i : i + 64]
        area += np.bincount(
            rows.ravel(), weights=np.repeat(row_area[r0 + i : r0 + i + rows.shape[0]], rows.shape[1]), minlength=n
        )
    conf_sum: np.ndarray
    conf_n: np.ndarray
    if conf is not None:
        ok = np.isfinite(conf).ravel()
        conf_sum = np.bincount(flat[ok], weights=conf.ravel()[ok], minlength=n)
        conf_n = np.bincount(flat[ok], minlength=n)
    else:
        conf_sum = np.zeros(n)
        conf_n = np.zeros(n, np.int64)
    return labels, label_codes, geoms, pixels, area, conf_sum, conf_n


def _join(open_zones: dict[int, Zone], current: dict[int, Zone], pairs: set[tuple[int, int]]) -> tuple[set[int], dict[int, int]]:
    """Merge the previous strip's open zones with the current strip's zones they touch.

    ``pairs``: (open zone, current label) pairs that touch across the strip edge. Each group of
    touching zones becomes the current zone with the lowest label. Returns the open zones that
    joined one and ``alias`` (current label -> the label of the zone it was merged into).
    """
    from scipy.cluster.hierarchy import DisjointSet

    joined = DisjointSet()
    for old, new in pairs:
        joined.add(("old", old))
        joined.add(("new", new))
        joined.merge(("old", old), ("new", new))
    groups: dict = {}
    for node in joined:  # insertion order, so that zones absorb their parts in a fixed order
        groups.setdefault(joined[node], []).append(node)
    joined_old: set[int] = set()
    alias: dict[int, int] = {}
    for members in groups.values():
        news = sorted(key for kind, key in members if kind == "new")
        head = current[news[0]]
        for key in news[1:]:
            head.absorb(current.pop(key))
            alias[key] = news[0]
        for kind, key in members:
            if kind == "old":
                head.absorb(open_zones[key])
                joined_old.add(key)
    return joined_old, alias


def polygon_zones(
    src: DatasetReader,
    info: LczRasterInfo,
    min_pixels: int,
    block_rows: int,
    conf_reader: Callable[[int, int], np.ndarray] | None = None,
    progress: Progress = None,
) -> Iterator[list[Zone]]:
    """Yield batches of finished zones (pixel-space polygons), strip by strip.

    Patches cut by a strip edge stay open until the next strip shows whether they continue: a
    pixel of the previous strip's last row and the pixel below it with the same code join their
    patches (4-connectivity), exactly as on the whole map.
    """
    height, _ = info.shape
    row_area = row_areas(info.transform, info.crs, height)
    open_zones: dict[int, Zone] = {}
    prev_last: np.ndarray | None = None  # keys of open zones along the previous strip's last row
    prev_codes: np.ndarray | None = None
    bar = progress(total=height, desc="zones") if progress else None
    for r0, codes in sieved_strips(src, info, min_pixels, block_rows):
        r1 = r0 + codes.shape[0]
        conf = conf_reader(r0, r1) if conf_reader else None
        labels, label_codes, geoms, pixels, area, conf_sum, conf_n = _strip_zones(codes, r0, row_area, conf)
        current = {
            i: Zone(int(label_codes[i]), [geoms[i]], int(pixels[i]), float(area[i]), float(conf_sum[i]), int(conf_n[i]))
            for i in range(1, label_codes.size)
        }
        finished: list[Zone] = []
        alias: dict[int, int] = {}
        if prev_last is not None:
            first = labels[0]
            join = (prev_last > 0) & (first > 0) & (prev_codes == codes[0])
            pairs = set(zip(prev_last[join].tolist(), first[join].tolist()))
            joined_old, alias = _join(open_zones, current, pairs)
            finished.extend(z for k, z in open_zones.items() if k not in joined_old)
        last = labels[-1]
        if alias:
            lookup = np.arange(label_codes.size, dtype=np.int64)
            for k, v in alias.items():
                lookup[k] = v
            last = lookup[last]
        open_keys = set(np.unique(last[last > 0]).tolist()) if r1 < height else set()
        open_zones = {k: current[k] for k in open_keys}
        finished.extend(z for k, z in current.items() if k not in open_keys)
        prev_last, prev_codes = last, codes[-1].copy()
        if bar is not None:
            bar.update(codes.shape[0])
        if finished:
            yield finished
    if bar is not None:
        bar.close()


def zones_frame(batch: list[Zone], info: LczRasterInfo, first_id: int, confidence: bool) -> gpd.GeoDataFrame:
    """A GeoDataFrame of finished zones in the map's CRS, numbered from ``first_id``."""
    import geopandas as gpd
    import shapely

    t = info.transform
    # zones stitched across strips: union, then drop the vertices left along the strip edges
    geoms = np.array(
        [z.parts[0] if len(z.parts) == 1 else shapely.simplify(shapely.union_all(z.parts), 0.0) for z in batch],
        dtype=object,
    )
    geoms = shapely.transform(geoms, lambda xy: xy * np.array([t.a, t.e]) + np.array([t.c, t.f]))
    codes = [z.code for z in batch]
    columns = {
        "zone_id": np.arange(first_id, first_id + len(batch), dtype=np.int64),
        "lcz": np.asarray(codes, np.int32),
        "label": [label_of(c) for c in codes],
        "name": [name_of(c) for c in codes],
        "colour": [colour_of(c) for c in codes],
        "pixels": np.asarray([z.pixels for z in batch], np.int64),
        "area_m2": np.asarray([z.area for z in batch], np.float64),
    }
    if confidence:
        with np.errstate(invalid="ignore", divide="ignore"):
            columns["confidence"] = np.asarray([z.conf_sum / z.conf_n if z.conf_n else np.nan for z in batch])
    return gpd.GeoDataFrame(columns, geometry=geoms, crs=info.crs)
