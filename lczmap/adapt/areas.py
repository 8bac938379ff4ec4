"""Training areas as users have them: the LCZ Generator's KML template (one folder per class),
or polygons with a class field (GeoPackage, GeoJSON, Shapefile, KML ...), in any CRS; and the
split of the polygons into an adaptation and a held-out part.

The class of a polygon comes from, in this order: the field given (``field``); the folders of a
KML/KMZ file or the layers of a multi-layer file, when every non-empty folder is named by a class
(``LCZ 6``, ``LCZ_A``, ``6``, ``A``, ``105``, ``6 Open low-rise``, ``Open low-rise``); else the
class field found by name (:data:`lczmap.products.reference.CLASS_FIELDS`). Values in either
coding (1-17, or 101-107 for A-G), letters and ``LCZ x`` labels are read by
:func:`lczmap.products.reference.normalise_codes`.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..classes import LCZ_CLASSES
from ..errors import ZonesError
from ..products.reference import find_class_field, normalise_codes, read_layer

__all__ = ["TrainingAreas", "read_training_areas", "split_holdout", "class_of_name", "areas_from_map"]

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"^\s*(?:lcz[\s_\-:]*)?([0-9]{1,3}|[a-g])(?![0-9a-z])", re.IGNORECASE)
_NAMES = {re.sub(r"[^a-z]", "", c.name.lower()): c.code for c in LCZ_CLASSES}


def class_of_name(name: str) -> str | None:
    """The class a folder or layer name gives, as a raw value for
    :func:`~lczmap.products.reference.normalise_codes` (``"6"``, ``"A"``, ``"105"``), or None."""
    match = _TOKEN.match(name)
    if match:
        return match.group(1).upper()
    words = re.sub(r"[^a-z]", "", name.lower())
    code = _NAMES.get(words)
    return None if code is None else str(code)


@dataclass(frozen=True)
class TrainingAreas:
    """Training polygons: ``frame`` (a GeoDataFrame in its own CRS with columns ``lcz``, the code
    1-17, and ``polygon``, the polygon's number 0..n-1 in reading order), the ``name`` of the
    source and ``source``, what the class came from (``field 'x'`` or ``folders``)."""

    frame: Any
    name: str
    source: str

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def codes(self) -> np.ndarray:
        return self.frame["lcz"].to_numpy(np.int64)

    def subset(self, keep: np.ndarray) -> TrainingAreas:
        """The polygons where ``keep`` (bool, one per polygon) is true, numbers kept."""
        return TrainingAreas(self.frame[np.asarray(keep, bool)], self.name, self.source)

    def to_crs(self, crs: Any) -> Any:
        """The polygons' geometries in ``crs`` (2-D); a CRS that cannot be transformed, or that
        gives non-finite coordinates, raises :class:`ZonesError`."""
        import shapely

        try:
            geoms = self.frame.geometry.to_crs(crs)
        except Exception as exc:  # pyproj raises CRSError/ProjError, GDAL its own
            raise ZonesError(f"cannot transform {self.name} from {self.frame.crs.name} to the scene's CRS "
                             f"({' '.join(str(exc).split())[:120]}): reproject the training areas (e.g. to EPSG:4326)") from None
        bounds = np.asarray(geoms.total_bounds, dtype=float)
        if not np.isfinite(bounds).all():
            raise ZonesError(f"cannot transform {self.name} from {self.frame.crs.name} to the scene's CRS (coordinates "
                             "become infinite): check the layer's CRS or reproject it (e.g. to EPSG:4326)")
        return geoms.apply(shapely.force_2d)


def _layers(path: Path) -> list[str]:
    import pyogrio

    try:
        return [str(name) for name, _ in pyogrio.list_layers(path)]
    except Exception:  # not a file GDAL lists layers of: read_layer says why
        return []


def _read_folders(path: Path, layers: list[str], ref_codes: str):
    """The features of every non-empty layer, the class from the layer's name; None when a
    non-empty layer is not named by a class."""
    import geopandas as gpd
    import pandas as pd

    parts, raw = [], []
    for name in layers:
        value = class_of_name(name)
        frame = gpd.read_file(path, layer=name)
        frame = frame[~(frame.geometry.isna() | frame.geometry.is_empty)]
        if len(frame) == 0:
            continue
        if value is None:
            return None
        geometry = frame.geometry.name
        part = frame[[geometry]]
        parts.append(part.rename_geometry("geometry") if geometry != "geometry" else part)
        raw += [value] * len(frame)
    if not parts:
        raise ZonesError(f"{path} has no features with a geometry in any folder: draw training polygons in it")
    crs = parts[0].crs
    frame = gpd.GeoDataFrame(pd.concat([p.to_crs(crs) for p in parts], ignore_index=True), crs=crs)
    frame["lcz"] = normalise_codes(raw, ref_codes, str(path), "folder name")  # type: ignore[arg-type]
    return frame


def read_training_areas(source: Any, field: str | None = None, layer: str | None = None,
                        ref_codes: str = "auto") -> TrainingAreas:
    """Training polygons from a path GDAL reads (KML/KMZ with class folders, GeoPackage,
    GeoJSON, Shapefile, GeoParquet) or a GeoDataFrame; any CRS. See the module docstring for
    where the class comes from. Raises :class:`ZonesError` for a file without polygons, a class
    field that is missing or holds values that are no LCZ code in any convention."""
    frame = None
    how = ""
    if isinstance(source, (str, os.PathLike)) and field is None:
        path = Path(source)
        if not path.exists():
            raise ZonesError(f"training areas {path} do not exist: give a vector file (.kml, .gpkg, .geojson, .shp ...)")
        layers = [layer] if layer is not None else _layers(path)
        kml = path.suffix.lower() in (".kml", ".kmz")
        if (kml or len(layers) > 1) and any(class_of_name(n) is not None for n in layers):
            frame = _read_folders(path, layers, ref_codes)  # None: a folder is not named by a class
            how = "folders"
    if frame is None:
        frame, name = read_layer(source, layer, what="training areas")
        column = find_class_field(frame, field, name)
        codes = normalise_codes(frame[column].tolist(), ref_codes, name, column)  # type: ignore[arg-type]
        frame = frame[[frame.geometry.name]].copy()
        frame["lcz"] = codes
        how = f"field {column!r}"
    else:
        name = str(source)
    kinds = set(frame.geometry.geom_type)
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise ZonesError(f"{name} holds {', '.join(sorted(kinds))} geometries: training areas are polygons "
                         "(draw them as polygons, as the LCZ Generator's template has them)")
    if frame.crs is None:
        raise ZonesError(f"{name} has no CRS: assign one (e.g. ogr2ogr -a_srs EPSG:4326 out.gpkg in.gpkg)")
    frame = frame.reset_index(drop=True)
    frame["polygon"] = np.arange(len(frame), dtype=np.int64)
    log.info("%s: %d training polygons, class from %s", name, len(frame), how)
    return TrainingAreas(frame, name, how)


def split_holdout(areas: TrainingAreas, share: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split the polygons (never pixels) into (adapt, held out) boolean masks: per class,
    ``round(share * n)`` of its n polygons are held out at random (seeded), at least one where
    ``share > 0`` and n >= 2, and always at least one kept for adaptation; a class with one
    polygon stays whole in the adaptation part."""
    codes = areas.codes
    held = np.zeros(len(codes), bool)
    if share <= 0:
        return ~held, held
    rng = np.random.default_rng([seed, 0xAD4])
    for code in np.unique(codes):
        idx = np.flatnonzero(codes == code)
        if len(idx) < 2:
            continue
        k = min(max(1, int(round(share * len(idx)))), len(idx) - 1)
        held[rng.choice(idx, k, replace=False)] = True
    return ~held, held


def areas_from_map(lcz_map: str | os.PathLike, per_class: int, size: int = 3, seed: int = 0,
                   classes: tuple[int, ...] | None = None):
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
