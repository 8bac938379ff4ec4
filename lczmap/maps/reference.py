"""Reading reference data: class fields in any LCZ coding, point tables, any CRS.

Reference layers (polygons or points: GeoPackage, GeoJSON, KML, Shapefile, GeoParquet) carry the
LCZ class in a field. The field is found by name (:data:`CLASS_FIELDS`, case-insensitive) unless
given; its values are normalised once, by :func:`normalise_codes`, to codes 1-17 (A-G = 11-17):
numbers in either convention (1-17, or 1-10 with 101-107 for A-G), letters ``A``-``G``, and labels
such as ``"LCZ 6"``, ``"lcz_A"`` or ``"LCZ-10"``.

Layers of classes as the LCZ community draws them (:func:`read_class_areas`, the one reader of
``lczmap assess`` and ``lczmap adapt``): every layer of a multi-layer file is read (a KML/KMZ
file's folders are layers); the class of a feature comes from the ``field`` given, else from its
layer's (folder's) name when that names a class (``LCZ 6``, ``LCZ_A``, ``6``, ``A``, ``105``,
``6 Open low-rise``, ``Open low-rise``: :func:`class_of_name`), else from the class field found
by name. The LCZ Generator template's ``ROI`` placemark (also a folder or placemark named
``AOI``, ``region of interest``, ``area of interest``) outlines the area: it is returned apart,
never as a class. In a KML/KMZ file, placemarks whose name gives no class (a "Point of interest")
are left out with a warning that names them.

Point tables (CSV) name their coordinates ``lon``/``lat`` (also ``longitude``/``latitude``,
``lng``/``long``; WGS84 unless a CRS is given) or ``x``/``y`` (also ``easting``/``northing``; in
the map's CRS unless a CRS is given); :func:`read_points` finds them case-insensitively.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..classes import LCZ_CLASSES
from ..errors import ZonesError
from ..zones.lczraster import CODE_SCHEMES, CodeScheme

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

__all__ = [
    "CLASS_FIELDS",
    "ROI_NAMES",
    "X_COLUMNS",
    "Y_COLUMNS",
    "ClassAreas",
    "class_of_name",
    "find_class_field",
    "is_roi_name",
    "normalise_codes",
    "read_class_areas",
    "read_layer",
    "read_points",
]

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
_TOKEN = re.compile(r"^\s*(lcz[\s_\-:]*)?([0-9]{1,3}|[a-g])(?![0-9a-z])(.*)$", re.IGNORECASE | re.DOTALL)
_NAMES = {re.sub(r"[^a-z]", "", c.name.lower()): c.code for c in LCZ_CLASSES}
#: Names of the placemark (or folder) that outlines the area of interest, not a class: the LCZ
#: Generator template's ``ROI`` (case, spaces and underscores ignored).
ROI_NAMES: tuple[str, ...] = ("roi", "aoi", "region of interest", "area of interest")
_HINT = "a vector file (.gpkg, .geojson, .kml, .shp ...) GDAL reads"


def read_layer(source: Any, layer: str | None = None, what: str = "reference layer") -> tuple[gpd.GeoDataFrame, str]:
    """A GeoDataFrame from a path (any format GDAL reads, GeoParquet) or a GeoDataFrame; refuses
    a layer without CRS or without features."""
    from ..zones.vector import read_vector

    frame, name = read_vector(source, layer, what, "a vector file (.gpkg, .geojson, .kml, .shp ...) GDAL reads")
    frame = frame[~(frame.geometry.isna() | frame.geometry.is_empty)]
    if len(frame) == 0:
        raise ZonesError(f"{name} has no features with a geometry: give a layer of reference polygons or points")
    return frame, name


def class_of_name(name: str) -> str | None:
    """The class a folder, layer or placemark name gives, as a raw value for
    :func:`normalise_codes` (``"6"``, ``"A"``, ``"105"``), or None. Read: ``LCZ x`` with anything
    after it; a number with anything after it (``6 Open low-rise``); a letter A-G alone or
    followed by its class name (``G Water``, not ``A Coruña``); a class name alone (``Open
    low-rise``)."""
    match = _TOKEN.match(name)
    if match:
        prefix, token, rest = match.groups()
        letters = re.sub(r"[^a-z]", "", rest.lower())
        if prefix or token.isdigit() or not letters or letters in _NAMES:
            return token.upper()
    code = _NAMES.get(re.sub(r"[^a-z]", "", name.lower()))
    return None if code is None else str(code)


def is_roi_name(value: object) -> bool:
    """Whether a placemark or folder name marks the area of interest (:data:`ROI_NAMES`)."""
    return isinstance(value, str) and " ".join(value.lower().replace("_", " ").split()) in ROI_NAMES


@dataclass(frozen=True)
class ClassAreas:
    """Features with an LCZ class, as :func:`read_class_areas` read them: ``frame`` (a
    GeoDataFrame in its own CRS with the features' columns, and ``layer``, the layer each came
    from, when several layers were read), ``codes`` (int64 codes 1-17, one per feature), the
    ``name`` of the source for messages, ``source`` (what the class came from: ``field 'x'``,
    ``folders``, ``placemark names``, or several joined by "and"), ``field`` (the column that
    gave every class, placemark names included, else None) and ``roi`` (a GeoDataFrame of the area-of-interest
    polygons in their own CRS, or None)."""

    frame: Any
    codes: np.ndarray
    name: str
    source: str
    field: str | None = None
    roi: Any = None


def _name_column(frame: gpd.GeoDataFrame) -> str | None:
    """The placemark-name column (``Name`` in a KML layer, ``name`` elsewhere), if any."""
    return next((c for c in frame.columns if str(c).lower() == "name" and c != frame.geometry.name), None)


def read_class_areas(
    source: Any, field: str | None = None, layer: str | None = None, ref_codes: CodeScheme = "auto", what: str = "reference layer"
) -> ClassAreas:
    """Features with an LCZ class from a path GDAL reads (every layer of a multi-layer file, or
    ``layer``), GeoParquet or a GeoDataFrame; any CRS. Where the class comes from and what the
    ROI is: the module docstring. Raises :class:`ZonesError` for a file without features, without
    any class, or with a class field that holds values that are no LCZ code."""
    import geopandas as gpd
    import pandas as pd

    from ..zones.vector import read_vector_layers

    parts, name = read_vector_layers(source, layer, what, _HINT)
    kml = isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() in (".kml", ".kmz")
    several = len(parts) > 1
    roi: list[gpd.GeoDataFrame] = []
    kept: list[tuple[str, gpd.GeoDataFrame]] = []
    raw: list[object] = []
    hows: list[str] = []
    columns: list[str] = []
    ignored: list[str] = []
    no_class: list[tuple[str, ZonesError]] = []
    for lname, frame in parts:
        if len(frame) and several and is_roi_name(lname):
            roi.append(frame)
            continue
        namecol = _name_column(frame)
        if namecol is not None and len(frame):
            marks = frame[namecol].map(is_roi_name).to_numpy(bool)
            if marks.any():
                roi.append(frame[marks])
                frame = frame[~marks]
        if not len(frame):
            continue
        folder = class_of_name(lname) if lname and (kml or several) else None
        if field is None and folder is not None and (kml or not _has_class_field(frame)):
            kept.append((lname, frame))
            raw += [folder] * len(frame)
            hows.append("folders")
            continue
        try:
            column = find_class_field(frame, field, name if not several else f"{name} layer {lname!r}")
        except ZonesError as exc:
            if not several:
                raise
            no_class.append((lname, exc))
            continue
        values = frame[column].tolist()
        if kml and field is None and column == namecol:  # placemark names: those naming no class are left out
            classes = [class_of_name(v) if isinstance(v, str) else None for v in values]
            ignored += [str(v) for v, c in zip(values, classes) if c is None]
            frame = frame[np.array([c is not None for c in classes], bool)]
            values = [c for c in classes if c is not None]
            if not len(frame):
                continue
            how = "placemark names"
        else:
            how = f"field {column!r}"
        columns.append(column)
        kept.append((lname, frame))
        raw += values
        hows.append(how)
    if ignored:
        shown = ", ".join(sorted({repr(v) for v in ignored})[:8])
        log.warning(
            "%s: %d placemarks whose name is no LCZ class are left out (%s); put training areas in class "
            "folders (LCZ 1 ... LCZ G) or name each placemark by its class",
            name,
            len(ignored),
            shown,
        )
    if not kept:
        if no_class:
            raise no_class[0][1]
        if roi:
            raise ZonesError(
                f"{name} holds only the area of interest (ROI), no features of a class: draw the "
                "training areas in the template's class folders (LCZ 1 ... LCZ G)"
            )
        if ignored:
            raise ZonesError(
                f"{name} holds no placemark of an LCZ class: put them in class folders (LCZ 1 ... LCZ G) "
                "or name each placemark by its class"
            )
        raise ZonesError(
            f"{name} has no features with a geometry{' in any layer' if several else ''}: give a layer "
            "of reference polygons or points"
        )
    if no_class:
        log.warning(
            "%s: layers %s give no LCZ class (no class field, not named by a class) and are left out",
            name,
            ", ".join(repr(n) for n, _ in no_class),
        )
    unique = list(dict.fromkeys(hows))
    single = columns[0] if len(set(columns)) == 1 and "folders" not in unique else None
    label = single or ("folder name" if unique == ["folders"] else "class")
    codes = normalise_codes(raw, ref_codes, name, label)
    if several:
        crs = kept[0][1].crs
        frames = [f.to_crs(crs).assign(layer=lname) for lname, f in kept]
        frame = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry=frames[0].geometry.name, crs=crs)
    else:
        frame = kept[0][1]
    return ClassAreas(frame, codes, name, " and ".join(unique), single, _roi(roi, name))


def _has_class_field(frame: gpd.GeoDataFrame) -> bool:
    lower = {str(c).lower() for c in frame.columns if c != frame.geometry.name}
    return any(c in lower for c in CLASS_FIELDS if c != "name")


def _roi(parts: list[gpd.GeoDataFrame], name: str) -> gpd.GeoDataFrame | None:
    """The area-of-interest polygons (their CRS), or None; other geometries are left out, with a warning."""
    import geopandas as gpd
    import pandas as pd

    if not parts:
        return None
    crs = parts[0].crs
    frame = gpd.GeoDataFrame(
        pd.concat(
            [
                p.to_crs(crs)[[p.geometry.name]].rename_geometry("geometry")
                if p.geometry.name != "geometry"
                else p.to_crs(crs)[["geometry"]]
                for p in parts
            ],
            ignore_index=True,
        ),
        geometry="geometry",
        crs=crs,
    )
    polygons = frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy(bool)
    if not polygons.all():
        log.warning(
            "%s: the area of interest (ROI) holds %s geometries: only its polygons outline the area",
            name,
            ", ".join(sorted(set(frame.geometry.geom_type[~polygons]))),
        )
    frame = frame[polygons]
    return frame if len(frame) else None


def find_class_field(frame: gpd.GeoDataFrame, field: str | None, name: str) -> str:
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


def _list(columns: Sequence[object]) -> str:
    return ", ".join(map(str, columns[:12])) + (" ..." if len(columns) > 12 else "") if len(columns) else "none"


def _one(value: object) -> int | None:
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


def normalise_codes(
    values: Sequence[object], codes: CodeScheme = "auto", name: str = "the reference layer", field: str = "class"
) -> np.ndarray:
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
        hint = (
            "values 11-17 and 101-107 are mixed; no convention codes both"
            if mixed
            else "use 1-17 (A-G = 11-17), 101-107 for A-G, letters A-G or 'LCZ x' labels"
        )
        raise ZonesError(f"{name} field {field!r} holds values that are not LCZ codes ({shown}): {hint}")
    out = np.empty(len(raw), np.int64)
    for i, r in enumerate(raw):
        code = int(r or 0)  # None is in `bad` above
        out[i] = -code if code < 0 else (code - 90 if code > 100 else code)
    return out


def _column(frame: pd.DataFrame, names: tuple[str, ...], given: str | None, what: str, name: str) -> str | None:
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
) -> tuple[gpd.GeoDataFrame, str]:
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
