"""ASF HyP3 RTC products (GAMMA): one GeoTIFF per polarisation, named
``S1x_yy_aaaaaaaaTbbbbbb_ppo_RTCzz_u_defklm_ssss_VV.tif``, where ``d`` is gamma0 (g) or sigma0
(s) and ``e`` power (p), decibel (d) or amplitude (a) (HyP3 RTC product guide, "Naming
Convention"). Beside them: ``_ls_map.tif``, the layover/shadow mask, and optionally
``_inc_map.tif``, the local incidence angle in radians. The files' nodata is 0.

Given any one file of the product (a polarisation, the mask) or its folder, the other
polarisations are found beside it."""

from __future__ import annotations

import os
import re

from ..scene import SceneAngle, SceneMask
from .base import InPair, Product

__all__ = ["recognise", "IN_PAIR", "BASE"]

IN_PAIR: InPair = "meaning"

#: The base name of a HyP3 RTC GAMMA product; groups: radiometry (g/s), scale (p/d/a).
BASE = re.compile(
    r"S1[ABCD]_[A-Z0-9]{2}_\d{8}T\d{6}_[DS][VH][PRO]_RTC\d+_G_(?P<radiometry>[gs])(?P<scale>[pda])[uw][nf][ec][dm]_[0-9A-F]{4}"
)
_FILE = re.compile(rf"^(?P<base>{BASE.pattern})(_(?P<layer>VV|VH|HH|HV|ls_map|inc_map|area|dem|rgb))?\.tif$")

_QUANTITY = {"g": "gamma0", "s": "sigma0"}
_UNITS = {"p": "linear", "d": "db", "a": "amplitude"}


def recognise(path: str) -> Product | None:
    """The HyP3 product ``path`` belongs to (a file of it, or its folder), or None."""
    path = os.fspath(path)
    name = os.path.basename(os.path.normpath(path))
    if os.path.isdir(path):
        m = re.fullmatch(BASE.pattern, name)
        folder, base = path, name
    else:
        m = _FILE.match(name)
        folder, base = os.path.dirname(path), (m.group("base") if m else "")
    if m is None:
        return None
    files = tuple(
        (os.path.join(folder, f"{base}_{p}.tif"), p)
        for p in ("VV", "VH", "HH", "HV")
        if os.path.isfile(os.path.join(folder, f"{base}_{p}.tif"))
    )
    if not files:
        return None
    quantity, units = _QUANTITY[m.group("radiometry")], _UNITS[m.group("scale")]
    ls_map = os.path.join(folder, f"{base}_ls_map.tif")
    inc_map = os.path.join(folder, f"{base}_inc_map.tif")
    return Product(
        "hyp3",
        "ASF HyP3 RTC",
        files,
        quantity,  # type: ignore[arg-type]
        units,  # type: ignore[arg-type]
        f"the HyP3 file name ({base})",
        angle=SceneAngle(inc_map, 1, 1.0, 0.0) if os.path.isfile(inc_map) else None,
        masks=(SceneMask(ls_map, 1, "hyp3-ls"),) if os.path.isfile(ls_map) else (),
        notes=("incidence angle: HyP3 _inc_map.tif (local incidence angle, radians)",) if os.path.isfile(inc_map) else (),
        angle_hint="order the product with its incidence angle map (include_inc_map) and keep the _inc_map.tif beside it",
    )
