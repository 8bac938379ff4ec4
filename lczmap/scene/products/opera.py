"""OPERA RTC-S1 (JPL, distributed by ASF): per burst, one COG per polarisation
``OPERA_L2_RTC-S1_<burst>_<start>_<generated>_<sensor>_<spacing>_<version>_VV.tif`` holding
gamma0 power (30 m, no speckle filter), and ``..._mask.tif`` beside it (ASF's OPERA RTC-S1
product guide). The static layers of the burst
(``OPERA_L2_RTC-S1-STATIC_<burst>_..._incidence_angle.tif``, ellipsoid incidence angle in
degrees) supply the angle for gamma0 -> sigma0 when they lie in the same folder."""

from __future__ import annotations

import glob
import os
import re

from ..scene import SceneAngle, SceneMask
from .base import DEGREES, InPair, Product

__all__ = ["recognise", "IN_PAIR"]

IN_PAIR: InPair = "meaning"

_FILE = re.compile(
    r"^(?P<base>OPERA_L2_RTC-S1_(?P<burst>T\d{3}-\d{6}-IW[123])_\d{8}T\d{6}Z_\d{8}T\d{6}Z_S1[ABCD]_\d+_v[\d.]+)"
    r"_(?P<layer>VV|VH|HH|HV|mask)\.tif$"
)


def recognise(path: str) -> Product | None:
    """The OPERA RTC-S1 burst product ``path`` belongs to, or None."""
    path = os.fspath(path)
    m = _FILE.match(os.path.basename(path))
    if m is None:
        return None
    folder, base = os.path.dirname(path), m.group("base")
    files = tuple(
        (os.path.join(folder, f"{base}_{p}.tif"), p)
        for p in ("VV", "VH", "HH", "HV")
        if os.path.isfile(os.path.join(folder, f"{base}_{p}.tif"))
    )
    if not files:
        return None
    mask = os.path.join(folder, f"{base}_mask.tif")
    static = sorted(
        glob.glob(os.path.join(glob.escape(folder or "."), f"OPERA_L2_RTC-S1-STATIC_{m.group('burst')}_*_incidence_angle.tif"))
    )
    static = [s for s in static if not os.path.basename(s).endswith("_local_incidence_angle.tif")]
    return Product(
        "opera",
        "OPERA RTC-S1",
        files,
        "gamma0",
        "linear",
        "the OPERA RTC-S1 product specification (gamma0 power)",
        angle=SceneAngle(static[0], 1, DEGREES) if static else None,
        masks=(SceneMask(mask, 1, "opera"),) if os.path.isfile(mask) else (),
        angle_hint="put the burst's RTC-S1-STATIC ..._incidence_angle.tif beside it",
    )
