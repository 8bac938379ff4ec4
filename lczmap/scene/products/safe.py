"""Sentinel-1 SAFE products (a ``.SAFE`` folder or its ``.zip``, GRD or SLC): calibrated and
geocoded by :mod:`lczmap.scene.safe`. A SAFE's measurement TIFF given alone (digital numbers, by
its name, its place in a ``.SAFE`` folder, or its uint16/complex int16 values on ground control
points in a GeoTIFF) is refused: it needs the product's calibration tables. Such values in another
format (ENVISAT ``.N1``...) are refused as what they are: radar data of another kind."""

from __future__ import annotations

import os
import re

from ...errors import SceneError
from ..safe.archive import is_safe
from .base import InPair, Product

__all__ = ["recognise", "IN_PAIR"]

#: A SAFE product is a whole scene: given as --vv/--vh, it is refused.
IN_PAIR: InPair = "refused"

_SAFE_TIFF = re.compile(r"^s1[abcd]-(iw|ew|sm|wv|s\d)\d?-(grd|slc)-(vv|vh|hh|hv)-.*\.tiff?$", re.IGNORECASE)


def recognise(path: str) -> Product | None:
    """The SAFE product ``path`` is, or None; :class:`SceneError` for a SAFE measurement TIFF."""
    _refuse_measurement_name(path)
    if is_safe(path):
        return Product("safe", "Sentinel-1 SAFE", ((path, None),), "sigma0", "linear", "the SAFE manifest", layout="safe")
    if os.path.isfile(path):
        _refuse_digital_numbers(path)
    return None


def _refuse_measurement_name(path: str) -> None:
    name = os.path.basename(os.path.normpath(path))
    in_safe = ".safe" + os.sep + "measurement" in os.path.normpath(path).lower()
    if _SAFE_TIFF.match(name) or in_safe:
        raise SceneError(
            f"{path} is a measurement TIFF of a Sentinel-1 SAFE product: it holds digital numbers, not "
            "backscatter, and needs the product's calibration tables: give the .SAFE folder or .zip"
        )


def _refuse_digital_numbers(path: str) -> None:
    """uint16 or complex int16 on GCPs in a GeoTIFF is what a SAFE measurement TIFF is, whatever its
    name; the same values in another format (an ENVISAT ASAR ``.N1``, a PCIDSK file...) are radar
    data lczmap does not read, and are told so, not that they are a SAFE measurement."""
    import warnings

    import rasterio

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            src = rasterio.open(path)
        with src:
            dtype, driver = src.dtypes[0], src.driver
            dn = dtype in ("uint16", "complex_int16") and bool(src.gcps[0])
    except rasterio.errors.RasterioIOError:
        return  # the raster reader says what is wrong with it
    if dn and driver == "GTiff":
        raise SceneError(
            f"{path} holds {dtype} values on ground control points, as a Sentinel-1 SAFE measurement TIFF "
            "does (digital numbers, not backscatter): give the .SAFE folder or .zip"
        )
    if dn:
        kind = "complex (single-look complex)" if dtype.startswith("complex") else "unsigned integer"
        raise SceneError(
            f"{path} is a {driver} file of {kind} {dtype} values on ground control points (radar geometry, not "
            "calibrated backscatter), and not a Sentinel-1 product: lczmap reads Sentinel-1 SAFE products "
            "(.SAFE folder or .zip) and calibrated, geocoded backscatter rasters: calibrate and geocode it first "
            "(e.g. with ESA SNAP)"
        )
