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
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np

from ..classes import colour_of, label_of, name_of
from .lczraster import LczRasterInfo, Progress, row_areas
from .sieve import label_patches, sieved_strips

if TYPE_CHECKING:
    import geopandas as gpd
    from rasterio.io import DatasetReader

__all__ = ["Zone", "ZoneBatch", "polygon_zones", "zones_frame"]


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
    labels, label_codes = label_patches(codes)
    n = label_codes.size
    geoms = np.empty(n, dtype=object)
    found, polygons = _shapes(labels, r0)
    geoms[found] = polygons
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


def _shapes(labels: np.ndarray, r0: int) -> tuple[np.ndarray, np.ndarray]:
    """GDAL's polygons of a strip's patches (``rasterio.features.shapes``, 4-connectivity), in
    pixel coordinates with rows offset by ``r0``: ``(labels, polygons)``.

    The polygons are built in one vectorised shapely call from the rings' coordinates (the same
    vertices, in the same order, as ``shapely.geometry.shape`` of each GeoJSON ring gives).
    """
    import shapely
    from affine import Affine
    from rasterio.features import shapes

    found: list[float] = []
    rings_per_polygon: list[int] = []
    ring_sizes: list[int] = []
    vertices: list[tuple[float, float]] = []
    for geojson, value in shapes(labels, mask=labels > 0, connectivity=4, transform=Affine.identity()):
        rings = geojson["coordinates"]
        found.append(value)
        rings_per_polygon.append(len(rings))
        for ring in rings:
            ring_sizes.append(len(ring))
            vertices.extend(ring)
    xy = np.fromiter(chain.from_iterable(vertices), np.float64, count=2 * len(vertices)).reshape(-1, 2)
    xy[:, 1] += r0
    rings = shapely.linearrings(xy, indices=np.repeat(np.arange(len(ring_sizes)), ring_sizes))
    polygons = shapely.polygons(rings, indices=np.repeat(np.arange(len(found)), rings_per_polygon))
    return np.asarray(found, np.int64), polygons


def _densify_on_rows(rings: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``rings`` (pixel coordinates) with a vertex at every integer column along their horizontal
    edges on ``rows``.

    Polygons on both sides of a strip edge then share their vertices along it, so that they form a
    valid coverage for :func:`shapely.coverage_union_all`.
    """
    import shapely

    xy, vertex_ring = shapely.get_coordinates(rings, return_index=True)
    x, y = xy[:, 0], xy[:, 1]
    steps = np.zeros(len(xy), np.int64)
    if len(xy) > 1:
        dx = np.diff(x)
        edge = (vertex_ring[1:] == vertex_ring[:-1]) & (y[1:] == y[:-1]) & np.isin(y[:-1], rows) & (np.abs(dx) > 1)
        steps[:-1][edge] = dx[edge].astype(np.int64)
    repeat = np.maximum(np.abs(steps), 1)
    source = np.repeat(np.arange(len(xy)), repeat)
    k = np.arange(len(source)) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    dense = np.column_stack([x[source] + k * np.sign(steps[source]), y[source]])
    return shapely.linearrings(dense, indices=vertex_ring[source])


def _corners_only(rings: np.ndarray) -> np.ndarray:
    """Closed rings without their collinear vertices (what ``shapely.simplify(.., 0)`` drops).

    Coordinates are whole pixels, so the collinearity test (a zero cross product of the edges
    before and after a vertex) is exact.
    """
    import shapely

    xy, ring = shapely.get_coordinates(rings, return_index=True)
    closing = np.r_[ring[1:] != ring[:-1], True]  # each ring's last vertex repeats its first
    first = np.r_[True, closing[:-1]]
    index = np.arange(len(xy))
    before = index - 1
    before[first] = index[closing] - 1
    after = np.minimum(index + 1, len(xy) - 1)
    a, b = xy - xy[before], xy[after] - xy
    keep = (a[:, 0] * b[:, 1] != a[:, 1] * b[:, 0]) & ~closing
    xy, ring = xy[keep], ring[keep]
    n = len(rings)
    last = np.flatnonzero(np.r_[ring[1:] != ring[:-1], True])
    closed = np.empty((len(xy) + n, 2))
    closed[np.arange(len(xy)) + ring] = xy
    closed[last + np.arange(1, n + 1)] = xy[np.r_[0, last[:-1] + 1]]
    return shapely.linearrings(closed, indices=np.repeat(np.arange(n), np.bincount(ring, minlength=n) + 1))


def _outline(outlines: np.ndarray) -> object:
    """The union of one zone's part outlines: their coverage union, checked.

    The outlines are a valid coverage by construction, and areas in pixel coordinates are exact
    (whole pixels), so a coverage union that is not one polygon of the expected area can only come
    from an input that GEOS's coverage union does not handle; then the general (slower) union is
    used.
    """
    import shapely

    try:
        merged = shapely.coverage_union_all(outlines)
    except shapely.errors.GEOSException:
        merged = None
    if merged is None or merged.geom_type != "Polygon" or merged.area != shapely.area(outlines).sum():
        merged = shapely.union_all(outlines)
    return merged


def _stitch(zones: list[Zone], rows: np.ndarray) -> None:
    """Merge the parts of zones cut by strip edges (``rows``) into one polygon each, in place.

    The parts of one zone meet only along strip edges: within a strip they are distinct
    4-connected patches, so they share at most corners, and their holes lie inside the strip (a
    hole reaching the strip's edge would be open). So the zone's outline comes from the union of
    the parts' exteriors alone, made a coverage by matching their vertices along the edges
    (:func:`_densify_on_rows`) and unioned exactly in pixel coordinates; the parts' holes are
    added to it unchanged. The vertices left along the edges are then dropped
    (:func:`_corners_only`), as ``shapely.simplify(shapely.union_all(parts), 0)`` would.
    """
    import shapely

    cut = [z for z in zones if len(z.parts) > 1]
    if not cut:
        return
    sizes = [len(z.parts) for z in cut]
    owner = np.repeat(np.arange(len(cut)), sizes)
    parts = np.asarray([p for z in cut for p in z.parts], dtype=object)
    outlines = shapely.polygons(_densify_on_rows(shapely.get_exterior_ring(parts), rows))
    bounds = np.r_[0, np.cumsum(sizes)]
    merged = np.asarray([_outline(outlines[a:b]) for a, b in zip(bounds[:-1], bounds[1:])], dtype=object)
    outer, outer_zone = shapely.get_rings(merged, return_index=True)
    outer_shell = np.r_[True, outer_zone[1:] != outer_zone[:-1]]
    inner, inner_part = shapely.get_rings(parts, return_index=True)
    part_hole = np.r_[False, inner_part[1:] == inner_part[:-1]]
    rings = np.concatenate([outer, inner[part_hole]])
    zone = np.concatenate([outer_zone, owner[inner_part[part_hole]]])
    hole = np.concatenate([~outer_shell, np.ones(int(part_hole.sum()), bool)])
    order = np.lexsort((hole, zone))  # each zone's exterior first, then its holes
    polygons = shapely.polygons(_corners_only(rings[order]), indices=zone[order])
    for z, geom in zip(cut, polygons):
        z.parts = [geom]


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


@dataclass
class ZoneBatch:
    """Finished zones, one row each: code, polygon (pixel coordinates) and statistics."""

    code: np.ndarray
    geometry: np.ndarray
    pixels: np.ndarray
    area: np.ndarray
    conf_sum: np.ndarray
    conf_n: np.ndarray

    def __len__(self) -> int:
        return len(self.code)

    @classmethod
    def of_zones(cls, zones: list[Zone]) -> ZoneBatch:
        """Zones whose parts are stitched (one polygon each)."""
        return cls(
            np.asarray([z.code for z in zones], np.uint8),
            np.asarray([z.parts[0] for z in zones] + [None], dtype=object)[:-1],
            np.asarray([z.pixels for z in zones], np.int64),
            np.asarray([z.area for z in zones], np.float64),
            np.asarray([z.conf_sum for z in zones], np.float64),
            np.asarray([z.conf_n for z in zones], np.int64),
        )

    @classmethod
    def concat(cls, batches: list[ZoneBatch]) -> ZoneBatch:
        return cls(*(np.concatenate([getattr(b, f) for b in batches]) for f in cls.__dataclass_fields__))


def polygon_zones(
    src: DatasetReader,
    info: LczRasterInfo,
    min_pixels: int,
    block_rows: int,
    conf_reader: Callable[[int, int], np.ndarray] | None = None,
    progress: Progress = None,
) -> Iterator[ZoneBatch]:
    """Yield batches of finished zones (pixel-space polygons), strip by strip.

    Patches cut by a strip edge stay open until the next strip shows whether they continue: a
    pixel of the previous strip's last row and the pixel below it with the same code join their
    patches (4-connectivity), exactly as on the whole map. Each batch lists the previous strip's
    open zones that ended, then the strip's finished zones by label. Only patches along a strip
    edge become :class:`Zone` objects; the others go from the strip's arrays to the batch.
    """
    height, _ = info.shape
    row_area = row_areas(info.transform, info.crs, height)
    cuts = np.arange(block_rows, height, block_rows)
    open_zones: dict[int, Zone] = {}
    prev_last: np.ndarray | None = None  # keys of open zones along the previous strip's last row
    prev_codes: np.ndarray | None = None
    bar = progress(total=height, desc="zones") if progress else None
    for r0, codes in sieved_strips(src, info, min_pixels, block_rows):
        r1 = r0 + codes.shape[0]
        conf = conf_reader(r0, r1) if conf_reader else None
        labels, label_codes, geoms, pixels, area, conf_sum, conf_n = _strip_zones(codes, r0, row_area, conf)
        pairs: set[tuple[int, int]] = set()
        if prev_last is not None:
            first = labels[0]
            join = (prev_last > 0) & (first > 0) & (prev_codes == codes[0])
            pairs = set(zip(prev_last[join].tolist(), first[join].tolist()))
        # zones of the strip that may join an open zone or stay open, by label
        edge = sorted({new for _, new in pairs} | set(np.unique(labels[-1]).tolist()) - {0})
        current = {
            i: Zone(int(label_codes[i]), [geoms[i]], int(pixels[i]), float(area[i]), float(conf_sum[i]), int(conf_n[i]))
            for i in edge
        }
        ended: list[Zone] = []
        alias: dict[int, int] = {}
        if prev_last is not None:
            joined_old, alias = _join(open_zones, current, pairs)
            ended = [z for k, z in open_zones.items() if k not in joined_old]
        last = labels[-1]
        if alias:
            lookup = np.arange(label_codes.size, dtype=np.int64)
            for k, v in alias.items():
                lookup[k] = v
            last = lookup[last]
        open_keys = set(np.unique(last[last > 0]).tolist()) if r1 < height else set()
        open_zones = {k: current[k] for k in open_keys}
        done = np.ones(label_codes.size, bool)
        done[0] = False
        done[list(alias) + list(open_keys)] = False
        done_edge = [k for k in current if k not in open_keys]
        _stitch(ended + [current[k] for k in done_edge], cuts)
        strip = ZoneBatch(label_codes.copy(), geoms, pixels, area, conf_sum, conf_n.astype(np.int64))
        if done_edge:
            stitched = ZoneBatch.of_zones([current[k] for k in done_edge])
            for field in ZoneBatch.__dataclass_fields__:
                getattr(strip, field)[done_edge] = getattr(stitched, field)
        labels_done = np.flatnonzero(done)
        finished = ZoneBatch(*(getattr(strip, f)[labels_done] for f in ZoneBatch.__dataclass_fields__))
        if ended:
            finished = ZoneBatch.concat([ZoneBatch.of_zones(ended), finished])
        prev_last, prev_codes = last, codes[-1].copy()
        if bar is not None:
            bar.update(codes.shape[0])
        if len(finished):
            yield finished
    if bar is not None:
        bar.close()


def zones_frame(batches: list[ZoneBatch], info: LczRasterInfo, first_id: int, confidence: bool) -> gpd.GeoDataFrame:
    """A GeoDataFrame of finished zones in the map's CRS, numbered from ``first_id``."""
    import geopandas as gpd
    import shapely

    t = info.transform
    batch = ZoneBatch.concat(batches) if batches else ZoneBatch.of_zones([])
    geoms = shapely.transform(batch.geometry, lambda xy: xy * np.array([t.a, t.e]) + np.array([t.c, t.f]))
    codes = batch.code.tolist()
    columns = {
        "zone_id": np.arange(first_id, first_id + len(batch), dtype=np.int64),
        "lcz": batch.code.astype(np.int32),
        "label": [label_of(c) for c in codes],
        "name": [name_of(c) for c in codes],
        "colour": [colour_of(c) for c in codes],
        "pixels": batch.pixels,
        "area_m2": batch.area,
    }
    if confidence:
        with np.errstate(invalid="ignore", divide="ignore"):
            columns["confidence"] = np.where(batch.conf_n > 0, batch.conf_sum / np.maximum(batch.conf_n, 1), np.nan)
    return gpd.GeoDataFrame(columns, geometry=geoms, crs=info.crs)
