"""Google Earth Engine exports of ``COPERNICUS/S1_GRD`` (and ``S1_GRD_FLOAT``): one GeoTIFF whose
bands are described ``VV``, ``VH`` (or ``HH``, ``HV``) and ``angle`` (the Earth Engine catalog:
sigma0 after thermal noise removal, calibration and terrain correction, no speckle filter;
``angle`` the ellipsoid incidence angle in degrees). ``S1_GRD`` holds dB and ``S1_GRD_FLOAT``
linear power, and an export does not say which: the values do (dB backscatter is mostly
negative). Masked pixels are exported as 0 unless a nodata value was set, so 0 means no data
even in dB."""

from __future__ import annotations

import os

import rasterio

from ..scene import SceneAngle
from .base import POLS, InPair, Product, angle_band

__all__ = ["recognise", "IN_PAIR"]

#: A --vv/--vh file is read as the user says, whatever its band descriptions.
IN_PAIR: InPair = "unasked"


def recognise(path: str) -> Product | None:
    """An Earth Engine Sentinel-1 export (bands described VV/VH/HH/HV and ``angle``), or None."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        return None
    try:
        with rasterio.open(path) as src:
            descriptions, units = src.descriptions, src.units
    except rasterio.errors.RasterioIOError:
        return None
    names = {(d or "").strip().upper() for d in descriptions}
    found = angle_band(descriptions, units)
    if found is None or not names & set(POLS) or "ANGLE" not in names:
        return None
    band, scale = found
    return Product(
        "gee",
        "Earth Engine COPERNICUS/S1_GRD export",
        ((path, None),),
        "sigma0",
        None,
        "the Earth Engine export (sigma0)",
        angle=SceneAngle(path, band, scale),
        zero_in_db=True,
        units_from_values=True,
    )
