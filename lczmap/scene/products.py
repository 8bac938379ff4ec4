"""What product a scene file is, from its name, folder and band descriptions: which files hold
which polarisation, what the values are (sigma0, gamma0 or beta0; linear power, amplitude or dB),
the incidence angle and the validity masks that go with them.

Each product kind has its own module (:mod:`~lczmap.scene.hyp3`, :mod:`~lczmap.scene.opera`,
:mod:`~lczmap.scene.planetary`, :mod:`~lczmap.scene.gee`, :mod:`~lczmap.scene.snap`,
:mod:`~lczmap.scene.stac`); :func:`detect` asks them in turn and falls back to a plain raster
whose bands are matched by description. Nothing here reads pixels except Earth Engine's unit
check. A Sentinel-1 SAFE product (``.SAFE`` folder or ``.zip``) is a ``safe`` product, opened by
:func:`lczmap.scene.safe.open_safe`; its measurement TIFFs given alone (digital numbers) are
refused: they need the product's calibration tables.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

from ..bands import Backscatter, Units
from ..errors import SceneError
from .scene import SceneAngle, SceneMask

__all__ = ["Product", "detect", "parse_tokens", "other_pol_file", "angle_band", "DEGREES", "POLS", "POL_TOKEN"]

POLS = ("VV", "VH", "HH", "HV")
#: ``SceneAngle.scale`` of an angle in degrees.
DEGREES = math.pi / 180.0


@dataclass(frozen=True)
class Product:
    """What :func:`detect` found. ``files``: (path, polarisation it holds or None: read the band
    descriptions); ``quantity``/``units``: None where the product does not say; ``evidence``:
    where they came from, for messages (e.g. "the HyP3 file name"); ``angle``/``masks``: layers
    that go with the scene; ``zero_in_db``: the product fills borders with 0 even in dB;
    ``units_from_values``: units may be told from the values (negative -> dB)."""

    kind: str
    label: str
    files: tuple[tuple[str, str | None], ...]
    quantity: Backscatter | None = None
    units: Units | None = None
    evidence: str = ""
    angle: SceneAngle | None = None
    masks: tuple[SceneMask, ...] = ()
    zero_in_db: bool = False
    units_from_values: bool = False
    notes: tuple[str, ...] = field(default=())


_SPLIT = re.compile(r"[_\-.\s]+")
_QUANTITY_TOKENS: dict[str, Backscatter] = {"sigma0": "sigma0", "gamma0": "gamma0", "beta0": "beta0",
                                            "sigmanought": "sigma0", "gammanought": "gamma0", "betanought": "beta0"}
_UNIT_TOKENS: dict[str, Units] = {"db": "db", "decibel": "db", "decibels": "db", "amplitude": "amplitude",
                                  "amp": "amplitude", "power": "linear", "linear": "linear"}


def parse_tokens(text: str | None) -> tuple[str | None, Backscatter | None, Units | None]:
    """Polarisation, quantity and units named in a file or band name, as SNAP and pyroSAR write
    them (``Sigma0_VV_db``, ``..._VV_gamma0-rtc_db.tif``); None for what it does not name."""
    if not text:
        return None, None, None
    tokens = [t.lower() for t in _SPLIT.split(os.path.basename(text)) if t]
    pol = next((t.upper() for t in tokens if t.upper() in POLS), None)
    quantity = next((_QUANTITY_TOKENS[t] for t in tokens if t in _QUANTITY_TOKENS), None)
    units = next((_UNIT_TOKENS[t] for t in tokens if t in _UNIT_TOKENS), None)
    return pol, quantity, units


def other_pol_file(path: str, pol: str, pattern: str) -> dict[str, str]:
    """The files of every polarisation beside ``path``, whose name differs only in the
    polarisation token matched by ``pattern`` (a regex with one group around the polarisation)."""
    folder, name = os.path.split(path)
    m = re.search(pattern, name)
    if m is None:  # pragma: no cover - callers matched the pattern before
        return {pol: path}
    found = {}
    for p in POLS:
        candidate = os.path.join(folder, name[: m.start(1)] + p + name[m.end(1):])
        if os.path.isfile(candidate):
            found[p] = candidate
    return found


_ANGLE_NAMES = ("angle", "incidence angle", "incidence_angle", "incidenceangle", "incidenceanglefromellipsoid",
                "incidence_angle_ellipsoid", "theta")


def angle_band(descriptions, units) -> tuple[int, float] | None:
    """1-based band and scale to radians of an incidence-angle band named by its description
    (Earth Engine's ``angle``, SNAP's ``incidenceAngleFromEllipsoid``); degrees unless its unit tag
    says radians."""
    for i, d in enumerate(descriptions, start=1):
        if d and d.strip().lower() in _ANGLE_NAMES:
            unit = (units[i - 1] or "").strip().lower()
            return i, (1.0 if unit in ("rad", "radian", "radians") else DEGREES)
    return None


_SAFE_TIFF = re.compile(r"^s1[abcd]-(iw|ew|sm|wv|s\d)\d?-(grd|slc)-(vv|vh|hh|hv)-.*\.tiff?$", re.IGNORECASE)


def _refuse_safe(path: str) -> None:
    name = os.path.basename(os.path.normpath(path))
    in_safe = ".safe" + os.sep + "measurement" in os.path.normpath(path).lower()
    if _SAFE_TIFF.match(name) or in_safe:
        raise SceneError(
            f"{path} is a measurement TIFF of a Sentinel-1 SAFE product: it holds digital numbers, not "
            "backscatter, and needs the product's calibration tables: give the .SAFE folder or .zip"
        )


def _refuse_dn(path: str) -> None:
    """uint16 on GCPs is what a SAFE measurement TIFF is, whatever its name."""
    import rasterio

    try:
        with rasterio.open(path) as src:
            dn = src.dtypes[0] in ("uint16", "complex_int16") and bool(src.gcps[0])
    except rasterio.errors.RasterioIOError:
        return  # open_scene says what is wrong with it
    if dn:
        raise SceneError(
            f"{path} holds {src.dtypes[0]} values on ground control points, as a Sentinel-1 SAFE measurement TIFF "
            "does (digital numbers, not backscatter): give the .SAFE folder or .zip"
        )


def detect(path: str | None, vv: str | None = None, vh: str | None = None) -> Product:
    """The product ``path`` (or the ``vv``/``vh`` pair) is; a plain ``geotiff`` when no product
    kind claims it; ``safe`` for a Sentinel-1 SAFE folder or zip (read by
    :func:`lczmap.scene.safe.open_safe`). Raises :class:`SceneError` for SAFE measurement TIFFs."""
    from . import gee, hyp3, opera, planetary, safe, snap

    given = [p for p in (path, vv, vh) if p is not None]
    for p in given:
        _refuse_safe(p)
        if safe.is_safe(p):
            if p is not path:
                raise SceneError(f"{p} is a Sentinel-1 SAFE product: give it as the scene, not as --vv/--vh")
            return Product("safe", "Sentinel-1 SAFE", ((p, None),), "sigma0", "linear", "the SAFE manifest")
        if os.path.isfile(p):
            _refuse_dn(p)
    first = given[0]
    found: Product | None = None
    for module in (hyp3, opera, planetary, snap):
        found = module.match(first)
        if found is not None:
            break
    if path is None:  # the user's files, the product's meaning
        forced = tuple((os.fspath(f), pol) for f, pol in ((vv, "VV"), (vh, "VH")) if f is not None)
        if found is None:
            return Product("geotiff", "GeoTIFF", forced)
        return Product(found.kind, found.label, forced, found.quantity, found.units, found.evidence,
                       found.angle, found.masks, found.zero_in_db, found.units_from_values, found.notes)
    if found is not None:
        return found
    return gee.match(path) or _named_pair(path) or Product("geotiff", "GeoTIFF", ((path, None),))


POL_TOKEN = r"(?:^|[_\-.])(VV|VH|HH|HV)(?=[_\-.])"


def _named_pair(path: str) -> Product | None:
    """A single-band file whose name carries its polarisation (``..._VV.tif``, as BigEarthNet-S1
    and many exports name them), with its siblings of the other polarisations."""
    import rasterio

    m = re.search(POL_TOKEN, os.path.basename(path))
    if m is None or not os.path.isfile(path):
        return None
    try:
        with rasterio.open(path) as src:
            if src.count != 1 or (src.descriptions[0] or "").strip():
                return None
    except rasterio.errors.RasterioIOError:
        return None
    files = other_pol_file(path, m.group(1), POL_TOKEN)
    return Product("geotiff", "GeoTIFF", tuple((f, p) for p, f in files.items()))
