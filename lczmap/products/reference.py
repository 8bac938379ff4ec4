"""Reading reference data: class fields in any LCZ coding, point tables, any CRS.

Reference layers (polygons or points: GeoPackage, GeoJSON, KML, Shapefile, GeoParquet) carry the
LCZ class in a field. The field is found by name (:data:`CLASS_FIELDS`, case-insensitive) unless
given; its values are normalised once, by :func:`normalise_codes`, to codes 1-17 (A-G = 11-17):
numbers in either convention (1-17, or 1-10 with 101-107 for A-G), letters ``A``-``G``, and labels
such as ``"LCZ 6"``, ``"lcz_A"`` or ``"LCZ-10"``.

Point tables (CSV) name their coordinates ``lon``/``lat`` (also ``longitude``/``latitude``,
``lng``/``long``; WGS84 unless a CRS is given) or ``x``/``y`` (also ``easting``/``northing``; in
the map's CRS unless a CRS is given); :func:`read_points` finds them case-insensitively.
"""

from __future__ import annotations

import logging
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ZonesError
from ..zones.codes import CODE_SCHEMES, CodeScheme

__all__ = ["CLASS_FIELDS", "X_COLUMNS", "Y_COLUMNS", "find_class_field", "normalise_codes", "read_layer", "read_points"]

log = logging.getLogger(__name__)

#: Field names searched for the LCZ class, in this order (case-insensitive). KML placemarks of
#: WUDAPT training areas carry the class in ``Name``.
CLASS_FIELDS: tuple[str, ...] = ("lcz", "lcz_class", "lczclass", "class", "code", "label", "name")
#: Column names recognised as x (longitude, easting) and y (latitude, northing), case-insensitive.
X_COLUMNS: tuple[str, ...] = ("lon", "longitude", "lng", "long", "x", "easting")
Y_COLUMNS: tuple[str, ...] = ("lat", "latitude", "y", "northing")
_GEOGRAPHIC = {"lon", "longitude", "lng", "long", "lat", "latitude"}
_LETTERS = {letter: 11 + i for i, letter in enumerate("ABCDEFG")}
_PREFIX = re.compile(r"^\s*lcz[\s_\-]*", re.IGNORECASE)


def read_layer(source: Any, layer: str | None = None, what: str = "reference layer"):
    """A GeoDataFrame from a path (any format GDAL reads, GeoParquet) or a GeoDataFrame; refuses
    a layer without CRS or without features."""
    from ..zones.vector import read_vector

    frame, name = read_vector(source, layer, what, "a vector file (.gpkg, .geojson, .kml, .shp ...) GDAL reads")
    frame = frame[~(frame.geometry.isna() | frame.geometry.is_empty)]
    if len(frame) == 0:
        raise ZonesError(f"{name} has no features with a geometry: give a layer of reference polygons or points")
    return frame, name


def find_class_field(frame, field: str | None, name: str) -> str:
    """The column holding the LCZ class: ``field`` when given, else the first of
    :data:`CLASS_FIELDS` present (case-insensitive)."""
    columns = [c for c in frame.columns if c != frame.geometry.name]
    if field is not None:
        if field in columns:
            return field
        matches = [c for c in columns if c.lower() == field.lower()]
        if matches:
            return matches[0]
        raise ZonesError(f"{name} has no field {field!r} (fields: {_list(columns)}): pass the class field as --field (field=...)")
    lower = {c.lower(): c for c in columns}
    for candidate in CLASS_FIELDS:
        if candidate in lower:
            return lower[candidate]
    raise ZonesError(
        f"{name} has no LCZ class field (fields: {_list(columns)}): pass the one holding the class as --field (field=...)"
    )


def _list(columns) -> str:
    return ", ".join(map(str, columns[:12])) + (" ..." if len(columns) > 12 else "") if len(columns) else "none"


def _one(value) -> int | None:
    """One value as a raw code (int) or a letter's code 11-17; None when unreadable."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return int(value) if float(value).is_integer() else None
    text = _PREFIX.sub("", str(value)).strip().upper()
    if text in _LETTERS:
        return -_LETTERS[text]  # negative: a letter, valid in both conventions
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def normalise_codes(values, codes: CodeScheme = "auto", name: str = "the reference layer", field: str = "class") -> np.ndarray:
    """LCZ codes 1-17 (int64) of a sequence of class values in either convention.

    ``codes``: ``"1-17"`` (A-G = 11-17), ``"101-107"`` (A-G = 101-107) or ``"auto"`` (101-107
    when any value is in 101-107). Letters and ``"LCZ x"`` labels are accepted in both. Raises
    :class:`ZonesError` naming the values that are no LCZ code.
    """
    if codes not in CODE_SCHEMES:
        raise ZonesError(f"unknown LCZ coding {codes!r} (--ref-codes): use {', '.join(CODE_SCHEMES)}")
    raw = [_one(v) for v in values]
    numbers = {r for r in raw if r is not None and r > 0}
    scheme = codes if codes != "auto" else ("101-107" if any(101 <= n <= 107 for n in numbers) else "1-17")
    valid = set(range(1, 18)) if scheme == "1-17" else set(range(1, 11)) | set(range(101, 108))
    bad = [v for v, r in zip(values, raw) if r is None or (r > 0 and r not in valid) or r == 0]
    if bad:
        shown = ", ".join(sorted({repr(v) for v in bad})[:8])
        mixed = scheme == "101-107" and any(11 <= n <= 17 for n in numbers)
        hint = ("values 11-17 and 101-107 are mixed; no convention codes both" if mixed
                else "use 1-17 (A-G = 11-17), 101-107 for A-G, letters A-G or 'LCZ x' labels")
        raise ZonesError(f"{name} field {field!r} holds values that are not LCZ codes ({shown}): {hint}")
    out = np.empty(len(raw), np.int64)
    for i, r in enumerate(raw):
        code = int(r or 0)  # None is in `bad` above
        out[i] = -code if code < 0 else (code - 90 if code > 100 else code)
    return out


def _column(frame, names: tuple[str, ...], given: str | None, what: str, name: str) -> str | None:
    if given is not None:
        matches = [c for c in frame.columns if str(c).lower() == given.lower()]
        if not matches:
            raise ZonesError(f"{name} has no column {given!r} ({what}; columns: {_list(list(frame.columns))})")
        return matches[0]
    lower = {str(c).lower(): c for c in frame.columns}
    return next((lower[n] for n in names if n in lower), None)


def read_points(
    source: Any,
    x: str | None = None,
    y: str | None = None,
    crs: Any = None,
    layer: str | None = None,
    default_crs: Any = None,
):
    """Points as a GeoDataFrame (their own CRS): a point layer (any format GDAL reads) or a CSV
    whose coordinate columns are found as the module docstring says (``x``/``y`` name them).

    A CSV's CRS: ``crs`` when given, else WGS84 for lon/lat columns and ``default_crs`` (the
    map's) for x/y columns.
    """
    import geopandas as gpd
    import pandas as pd

    if isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() in (".csv", ".txt"):
        path = Path(source)
        if not path.exists():
            raise ZonesError(f"points file {path} does not exist: give a CSV with lon/lat or x/y columns, or a point layer")
        try:
            table = pd.read_csv(path)
        except Exception as exc:  # pandas parser errors have several types
            raise ZonesError(f"cannot read {path} as CSV ({' '.join(str(exc).split())[:160]})") from None
        name = str(path)
        xcol = _column(table, X_COLUMNS, x, "--x", name)
        ycol = _column(table, Y_COLUMNS, y, "--y", name)
        if xcol is None or ycol is None:
            raise ZonesError(
                f"{name} has no coordinate columns (columns: {_list(list(table.columns))}): name them lon/lat or x/y, "
                "or pass --x and --y (x=..., y=...)"
            )
        if crs is None:
            crs = "EPSG:4326" if str(xcol).lower() in _GEOGRAPHIC else default_crs
            if crs is None:
                raise ZonesError(f"{name}: the CRS of columns {xcol}/{ycol} is unknown: pass --crs (crs=...)")
            log.info("%s: coordinates %s/%s taken in %s (pass --crs to change)", name, xcol, ycol, crs)
        xs = pd.to_numeric(table[xcol], errors="coerce")
        ys = pd.to_numeric(table[ycol], errors="coerce")
        bad = xs.isna() | ys.isna()
        if bad.all() or len(table) == 0:
            raise ZonesError(f"{name} holds no numeric coordinates in {xcol}/{ycol}: check the columns (--x, --y)")
        if bad.any():
            raise ZonesError(f"{name}: rows {_list(list(table.index[bad]))} have no numeric {xcol}/{ycol}: fix or remove them")
        frame = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(xs, ys), crs=crs)
        return frame, name
    frame, name = read_layer(source, layer, what="points layer")
    if not frame.geometry.geom_type.isin(["Point"]).all():
        kinds = ", ".join(sorted(set(frame.geometry.geom_type)))
        raise ZonesError(f"{name} holds {kinds} geometries: give points (a point layer, or a CSV with lon/lat)")
    return frame, name
