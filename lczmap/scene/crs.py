"""The one advice for a file without a CRS, and the vertical datum of a DEM: what every refusal of
a scene, a DEM or an area of interest that lacks a CRS (or carries heights lczmap cannot use)
says, in the same words, with the same example and the same tool."""

from __future__ import annotations

import os
from typing import Any, Literal

__all__ = ["EXAMPLE_CRS", "no_crs", "vertical_datum"]

#: The one EPSG code the advice shows (UTM zone 33N); users put their data's own.
EXAMPLE_CRS = "EPSG:32633"


def no_crs(
    what: str, path: str | os.PathLike[str], kind: Literal["raster", "vector"] = "raster", option: str | None = None
) -> str:
    """One line: ``what`` (``"scene"``, ``"DEM"``, ``"area of interest"``...) ``path`` has no CRS,
    and the one command that gives it one (``gdal_edit.py`` for a raster, ``ogr2ogr`` for a vector
    file), with :data:`EXAMPLE_CRS` as the example. ``option``: the CLI option that named the file."""
    path = os.fspath(path)
    given = f" ({option})" if option else ""
    if kind == "vector":
        stem = os.path.splitext(os.path.basename(path))[0]
        tool = f"ogr2ogr -a_srs {EXAMPLE_CRS} {stem}_crs.gpkg {path}"
    else:
        tool = f"gdal_edit.py -a_srs {EXAMPLE_CRS} {path}"
    return (
        f"{what} {path} has no CRS{given}: assign the CRS its coordinates are in and retry, e.g. {tool} "
        f"({EXAMPLE_CRS} is UTM zone 33N: put your data's EPSG code)"
    )


def vertical_datum(crs: Any) -> str | None:
    """The name of the vertical datum of ``crs`` (a rasterio or pyproj CRS) whose heights are not
    above the ellipsoid (a compound CRS with a geoid or other vertical CRS, e.g. EPSG:9707 = WGS 84
    + EGM96 height), or None (2D, or 3D with ellipsoidal heights such as EPSG:4979)."""
    from pyproj import CRS

    c = CRS.from_wkt(crs.to_wkt()) if hasattr(crs, "to_wkt") else CRS.from_user_input(crs)
    for sub in c.sub_crs_list if c.is_compound else [c]:
        if sub.is_vertical and not sub.is_geographic:
            return sub.name
    return None
