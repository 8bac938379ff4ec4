"""What every product kind shares: the :class:`Product` a kind's ``recognise(path)`` returns,
the :class:`Kind` a kind module is, and the helpers kinds use to read names and band
descriptions. Imports no kind: the kinds import it, and :mod:`lczmap.scene.products` lists them.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ...bands import Backscatter, Units
from ..scene import SceneAngle, SceneMask

__all__ = [
    "Product",
    "Kind",
    "InPair",
    "Layout",
    "plain",
    "PLAIN_KIND",
    "parse_tokens",
    "other_pol_file",
    "angle_band",
    "DEGREES",
    "POLS",
    "POL_TOKEN",
    "ANGLE_HINT",
]

POLS = ("VV", "VH", "HH", "HV")
#: ``SceneAngle.scale`` of an angle in degrees.
DEGREES = math.pi / 180.0


#: How a product's pixels are read: ``rasters``: GDAL rasters whose bands are matched to the
#: model's channels (:mod:`lczmap.scene.raster`); ``safe``: a Sentinel-1 SAFE archive calibrated
#: and geocoded by :mod:`lczmap.scene.safe`.
Layout = Literal["rasters", "safe"]
#: What a file of a kind given as ``--vv``/``--vh`` means: ``meaning``: it lends the pair what
#: its product says (quantity, units, angle, masks; asked of the first file); ``refused``: a
#: whole product, never one file of a pair (asked of each file); ``unasked``: the kind is not
#: asked, the files are plain rasters.
InPair = Literal["meaning", "refused", "unasked"]
#: The kind of a raster no kind claims: bands matched by description.
PLAIN_KIND = "geotiff"
#: Where an incidence angle may come from, for the refusal of gamma0 or beta0 without one.
ANGLE_HINT = "add the incidence angle as a band described 'angle' (degrees)"


@dataclass(frozen=True)
class Product:
    """What a kind recognised. ``files``: (path, polarisation it holds or None: read the band
    descriptions); ``quantity``/``units``: None where the product does not say; ``evidence``:
    where they came from, for messages (e.g. "the HyP3 file name"); ``angle``/``masks``: layers
    that go with the scene; ``zero_in_db``: the product fills borders with 0 even in dB;
    ``units_from_values``: units may be told from the values (negative -> dB); ``angle_hint``:
    where the incidence angle of this kind comes from, for the refusal without one;
    ``layout``: how its pixels are read."""

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
    angle_hint: str = ANGLE_HINT
    layout: Layout = "rasters"


class Kind(Protocol):
    """A product kind: a module with ``recognise(path)`` (the product ``path`` is, or None when
    it is not one of this kind; :class:`~lczmap.errors.SceneError` when it is one that cannot be
    mapped) and ``IN_PAIR`` (:data:`InPair`)."""

    IN_PAIR: InPair

    def recognise(self, path: str) -> Product | None: ...


def plain(files: Sequence[tuple[str, str | None]]) -> Product:
    """A raster no kind claims (or the user's ``--vv``/``--vh`` files): bands matched by description."""
    return Product(PLAIN_KIND, "GeoTIFF", tuple(files))


_SPLIT = re.compile(r"[_\-.\s]+")
_QUANTITY_TOKENS: dict[str, Backscatter] = {
    "sigma0": "sigma0",
    "gamma0": "gamma0",
    "beta0": "beta0",
    "sigmanought": "sigma0",
    "gammanought": "gamma0",
    "betanought": "beta0",
}
_UNIT_TOKENS: dict[str, Units] = {
    "db": "db",
    "decibel": "db",
    "decibels": "db",
    "amplitude": "amplitude",
    "amp": "amplitude",
    "power": "linear",
    "linear": "linear",
}


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
        candidate = os.path.join(folder, name[: m.start(1)] + p + name[m.end(1) :])
        if os.path.isfile(candidate):
            found[p] = candidate
    return found


_ANGLE_NAMES = (
    "angle",
    "incidence angle",
    "incidence_angle",
    "incidenceangle",
    "incidenceanglefromellipsoid",
    "incidence_angle_ellipsoid",
    "theta",
)


def angle_band(descriptions: Sequence[str | None], units: Sequence[str | None]) -> tuple[int, float] | None:
    """1-based band and scale to radians of an incidence-angle band named by its description
    (Earth Engine's ``angle``, SNAP's ``incidenceAngleFromEllipsoid``); degrees unless its unit tag
    says radians."""
    for i, d in enumerate(descriptions, start=1):
        if d and d.strip().lower() in _ANGLE_NAMES:
            unit = (units[i - 1] or "").strip().lower()
            return i, (1.0 if unit in ("rad", "radian", "radians") else DEGREES)
    return None


POL_TOKEN = r"(?:^|[_\-.])(VV|VH|HH|HV)(?=[_\-.])"
