"""Training-area files as LCZ Generator users hold them: the template's KML/KMZ (one folder per
class, a document-level "ROI" placemark outlining the area, extra placemarks), written as Google
Earth writes them, as text, so that GDAL reads them the way it reads a user's file."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from shapely.geometry.base import BaseGeometry

from lczmap.classes import label_of, name_of

#: Folder namings of the template and its older variants: "LCZ 1" ... "LCZ G"; "1" ... "17";
#: "1" ... "10", "101" ... "107"; "6 Open low-rise".
NAMINGS = ("lcz", "1-17", "101-107", "label-name")


def folder_name(code: int, naming: str) -> str:
    """The name of class ``code``'s (1-17) folder in ``naming`` (:data:`NAMINGS`)."""
    match naming:
        case "lcz":
            return f"LCZ {label_of(code)}"
        case "1-17":
            return str(code)
        case "101-107":
            return str(code if code <= 10 else code + 90)
        case "label-name":
            return f"{label_of(code)} {name_of(code)}"
    raise ValueError(naming)


def _coordinates(ring: Iterable[tuple[float, ...]]) -> str:
    return " ".join(f"{x:.7f},{y:.7f},0" for x, y, *_ in ring)


def kml_geometry(geom: BaseGeometry) -> str:
    """A shapely Polygon or Point (lon/lat) as KML."""
    if geom.geom_type == "Point":
        return f"<Point><coordinates>{geom.x:.7f},{geom.y:.7f},0</coordinates></Point>"
    inner = "".join(
        f"<innerBoundaryIs><LinearRing><coordinates>{_coordinates(r.coords)}</coordinates></LinearRing></innerBoundaryIs>"
        for r in geom.interiors
    )
    return (
        f"<Polygon><tessellate>1</tessellate><outerBoundaryIs><LinearRing><coordinates>"
        f"{_coordinates(geom.exterior.coords)}</coordinates></LinearRing></outerBoundaryIs>{inner}</Polygon>"
    )


def placemark(name: str, geom: BaseGeometry) -> str:
    return f"<Placemark><name>{escape(name)}</name>{kml_geometry(geom)}</Placemark>"


def template_kml(
    folders: Mapping[str, Sequence[BaseGeometry]],
    roi: BaseGeometry | None = None,
    extras: Sequence[tuple[str, BaseGeometry]] = (),
    nested: bool = True,
    empty: Sequence[str] = (),
) -> str:
    """The template's KML: a document holding the ROI placemark and ``extras`` (name, geometry),
    then the class ``folders`` (name -> polygons; placemarks named "Untitled Polygon", as Google
    Earth names them), inside a
    "Training areas" folder when ``nested``, and the ``empty`` folders the user left empty."""
    body = [placemark("ROI", roi)] if roi is not None else []
    body += [placemark(n, g) for n, g in extras]
    classes = [
        f"<Folder><name>{escape(f)}</name>" + "".join(placemark("Untitled Polygon", g) for g in gs) + "</Folder>"
        for f, gs in folders.items()
    ]
    classes += [f"<Folder><name>{escape(f)}</name></Folder>" for f in empty]
    body += ["<Folder><name>Training areas</name>", *classes, "</Folder>"] if nested else classes
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2">'
        f"<Document><name>TA_template</name>{''.join(body)}</Document></kml>\n"
    )


def write_template(
    path: Path,
    folders: Mapping[str, Sequence[BaseGeometry]],
    roi: BaseGeometry | None = None,
    extras: Sequence[tuple[str, BaseGeometry]] = (),
    nested: bool = True,
    empty: Sequence[str] = (),
) -> Path:
    """:func:`template_kml` written to ``path``: a .kml file, or a .kmz (a zip holding doc.kml)."""
    text = template_kml(folders, roi, extras, nested, empty)
    if path.suffix.lower() == ".kmz":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("doc.kml", text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def squares(lcz_map: Path, per_class: int, seed: int = 0) -> dict[int, list[BaseGeometry]]:
    """Homogeneous 3 x 3-pixel squares of an LCZ map per class, in lon/lat (as a user draws them)."""
    from lczmap.adapt.areas import areas_from_map

    frame = areas_from_map(lcz_map, per_class, size=3, seed=seed).to_crs("EPSG:4326")
    out: dict[int, list[BaseGeometry]] = {}
    for code, geom in zip(frame["lcz"], frame.geometry):
        out.setdefault(int(code), []).append(geom)
    return out
