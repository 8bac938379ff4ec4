"""Training areas as users have them: the LCZ Generator's KML/KMZ template (one folder per class
and the ``ROI`` placemark that outlines the area), or polygons with a class field (GeoPackage,
GeoJSON, Shapefile, KML ...), in any CRS; the LCZ Generator's rules on how many classes and
polygons an adaptation needs; and the split of the polygons into an adaptation and a held-out part.

The file is read by :func:`lczmap.maps.reference.read_class_areas`, the reader ``lczmap assess``
uses too: every layer (folder); the class from the field given, else the folder's name when it
names a class (``LCZ 6``, ``LCZ_A``, ``6``, ``A``, ``105``, ``6 Open low-rise``, ``Open
low-rise``), else the class field found by name (:data:`lczmap.maps.reference.CLASS_FIELDS`), in
either coding (1-17, or 101-107 for A-G), letters or ``LCZ x`` labels. The ROI is kept apart
(:attr:`TrainingAreas.roi`): ``lczmap adapt`` maps it as its area of interest.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..classes import label_of
from ..errors import ZonesError
from ..maps.reference import read_class_areas

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "TrainingAreas",
    "read_training_areas",
    "check_classes",
    "split_holdout",
    "areas_from_map",
    "MIN_CLASSES",
    "MIN_POLYGONS",
]

log = logging.getLogger(__name__)

#: The LCZ Generator's rules: fewer classes refuse an adaptation, fewer polygons of a class warn.
MIN_CLASSES = 2
MIN_POLYGONS = 3


@dataclass(frozen=True)
class TrainingAreas:
    """Training polygons: ``frame`` (a GeoDataFrame in its own CRS with columns ``lcz``, the code
    1-17, and ``polygon``, the polygon's number 0..n-1 in reading order), the ``name`` of the
    source, ``source``, what the class came from (``field 'x'``, ``folders``, ``placemark
    names``), and ``roi``, the area of interest the file outlines (the LCZ Generator template's
    ROI placemark: a GeoDataFrame of polygons in their CRS) or None."""

    frame: Any
    name: str
    source: str
    roi: Any = None

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def codes(self) -> np.ndarray:
        return self.frame["lcz"].to_numpy(np.int64)

    def subset(self, keep: np.ndarray) -> TrainingAreas:
        """The polygons where ``keep`` (bool, one per polygon) is true, numbers kept."""
        return TrainingAreas(self.frame[np.asarray(keep, bool)], self.name, self.source, self.roi)

    def to_crs(self, crs: Any) -> Any:
        """The polygons' geometries in ``crs`` (2-D); a CRS that cannot be transformed, or that
        gives non-finite coordinates, raises :class:`ZonesError`."""
        import shapely

        try:
            geoms = self.frame.geometry.to_crs(crs)
        except Exception as exc:  # pyproj raises CRSError/ProjError, GDAL its own
            raise ZonesError(
                f"cannot transform {self.name} from {self.frame.crs.name} to the scene's CRS "
                f"({' '.join(str(exc).split())[:120]}): reproject the training areas (e.g. to EPSG:4326)"
            ) from None
        bounds = np.asarray(geoms.total_bounds, dtype=float)
        if not np.isfinite(bounds).all():
            raise ZonesError(
                f"cannot transform {self.name} from {self.frame.crs.name} to the scene's CRS (coordinates "
                "become infinite): check the layer's CRS or reproject it (e.g. to EPSG:4326)"
            )
        return geoms.apply(shapely.force_2d)

    def roi_bounds(self) -> tuple[float, float, float, float] | None:
        """The ROI's bounds west, south, east, north in degrees (an area of interest as
        ``PredictOptions.aoi`` takes it), or None without a ROI."""
        if self.roi is None:
            return None
        w, s, e, n = (float(v) for v in self.roi.to_crs("EPSG:4326").total_bounds)
        return w, s, e, n


def read_training_areas(
    source: Any, field: str | None = None, layer: str | None = None, ref_codes: str = "auto"
) -> TrainingAreas:
    """Training polygons from a path GDAL reads (KML/KMZ with class folders and a ROI,
    GeoPackage, GeoJSON, Shapefile, GeoParquet) or a GeoDataFrame; any CRS. See the module
    docstring for where the class comes from. Raises :class:`ZonesError` for a file without
    polygons, a class field that is missing or holds values that are no LCZ code in any
    convention."""
    read = read_class_areas(source, field, layer, ref_codes, what="training areas")  # type: ignore[arg-type]
    frame, name = read.frame, read.name
    kinds = set(frame.geometry.geom_type)
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise ZonesError(
            f"{name} holds {', '.join(sorted(kinds))} geometries: training areas are polygons "
            "(draw them as polygons, as the LCZ Generator's template has them)"
        )
    if frame.crs is None:
        raise ZonesError(f"{name} has no CRS: assign one (e.g. ogr2ogr -a_srs EPSG:4326 out.gpkg in.gpkg)")
    frame = frame[[frame.geometry.name]].reset_index(drop=True)
    frame["lcz"] = read.codes
    frame["polygon"] = np.arange(len(frame), dtype=np.int64)
    log.info(
        "%s: %d training polygons, class from %s%s",
        name,
        len(frame),
        read.source,
        "; its ROI is the area of interest" if read.roi is not None else "",
    )
    return TrainingAreas(frame, name, read.source, read.roi)


def _labels(codes: Any) -> str:
    return ", ".join(f"LCZ {label_of(int(c))}" for c in codes)


def check_classes(codes: np.ndarray, where: str) -> None:
    """The LCZ Generator's rules for training areas, on the class codes of their polygons:
    fewer than :data:`MIN_CLASSES` classes raise :class:`ZonesError`; a class with fewer than
    :data:`MIN_POLYGONS` polygons is named in a warning. ``where`` names them in messages."""
    classes, counts = np.unique(np.asarray(codes, np.int64), return_counts=True)
    if len(classes) < MIN_CLASSES:
        held = f"one class ({_labels(classes)})" if len(classes) else "no class"
        raise ZonesError(
            f"{where} hold {held}: adaptation needs at least {MIN_CLASSES} classes (the LCZ Generator's "
            f"rule; a model adapted on one class maps every pixel as that class): draw polygons of "
            f"more classes"
        )
    few = classes[counts < MIN_POLYGONS]
    if len(few):
        log.warning(
            "%s: %s %s fewer than %d polygons each; the LCZ Generator asks for at least %d per class: "
            "draw more for a reliable adaptation",
            where,
            _labels(few),
            "has" if len(few) == 1 else "have",
            MIN_POLYGONS,
            MIN_POLYGONS,
        )


def split_holdout(
    areas: TrainingAreas, share: float, seed: int = 0, usable: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Split the polygons (never pixels) into (adapt, held out) boolean masks, stratified by
    class: of a class's n ``usable`` polygons (those that gave labelled patches; default: all),
    ``round(share * n)`` are held out at random (seeded), at least one where ``share > 0`` and
    n >= 2, and always at least one kept for adaptation, so that no class is held out whole; a
    class with one usable polygon stays whole in the adaptation part. Polygons that are not
    usable are never held out."""
    codes = areas.codes
    held = np.zeros(len(codes), bool)
    if share <= 0:
        return ~held, held
    ok = np.ones(len(codes), bool) if usable is None else np.asarray(usable, bool)
    rng = np.random.default_rng([seed, 0xAD4])
    for code in np.unique(codes):
        idx = np.flatnonzero((codes == code) & ok)
        if len(idx) < 2:
            continue
        k = min(max(1, int(round(share * len(idx)))), len(idx) - 1)
        held[rng.choice(idx, k, replace=False)] = True
    return ~held, held


def areas_from_map(
    lcz_map: str | os.PathLike, per_class: int, size: int = 3, seed: int = 0, classes: tuple[int, ...] | None = None
) -> gpd.GeoDataFrame:
    """Training polygons drawn from an LCZ map the way an expert draws them: per class, up to
    ``per_class`` squares of ``size`` x ``size`` map pixels that are all of that class, picked at
    random (seeded) and not overlapping. Returns a GeoDataFrame (the map's CRS) with ``lcz``
    (codes 1-17; the map in lczmap's coding) and the squares as polygons; classes with no
    homogeneous square get none. ``classes``: only these codes (default: all the map holds)."""
    import geopandas as gpd
    import rasterio
    from shapely.geometry import box

    if per_class < 1 or size < 1:
        raise ZonesError(f"per_class and size must be at least 1, got {per_class} and {size}")
    with rasterio.open(lcz_map) as src:
        codes_map = src.read(1)
        t, crs = src.transform, src.crs
    rng = np.random.default_rng([seed, 0xA4EA])
    wanted = classes or tuple(int(c) for c in np.unique(codes_map) if 1 <= c <= 17)
    taken = np.zeros(codes_map.shape, bool)
    rows: list[tuple[int, object]] = []
    for code in wanted:
        same = (codes_map == code).astype(np.int64)
        cs = np.zeros((same.shape[0] + 1, same.shape[1] + 1), np.int64)
        cs[1:, 1:] = same.cumsum(0).cumsum(1)
        full = cs[size:, size:] - cs[:-size, size:] - cs[size:, :-size] + cs[:-size, :-size] == size * size
        cand = np.flatnonzero(full.ravel())
        got = 0
        for k in rng.permutation(cand):
            r, c = divmod(int(k), full.shape[1])
            if taken[r : r + size, c : c + size].any():
                continue
            taken[max(r - 1, 0) : r + size + 1, max(c - 1, 0) : c + size + 1] = True  # one pixel apart
            x0, y0 = t.c + t.a * c + t.b * r, t.f + t.d * c + t.e * r
            x1, y1 = x0 + t.a * size + t.b * size, y0 + t.d * size + t.e * size
            rows.append((int(code), box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))))
            got += 1
            if got == per_class:
                break
    return gpd.GeoDataFrame({"lcz": [r[0] for r in rows]}, geometry=[r[1] for r in rows], crs=crs)
