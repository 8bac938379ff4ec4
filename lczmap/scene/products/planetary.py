"""Microsoft Planetary Computer ``sentinel-1-rtc`` (processed by Catalyst from GRD): COG assets
``vv``, ``vh`` (``hh``, ``hv``) stored as ``.../measurement/iw-vv.rtc.tiff``: terrain-corrected
gamma0, linear power, float32, 10 m, nodata -32768 (the collection's ``item_assets``). No
incidence angle is published with them. Zero-filled borders are not flagged as nodata."""

from __future__ import annotations

import os
import re

from .base import InPair, Product

__all__ = ["recognise", "IN_PAIR", "EVIDENCE", "ANGLE_HINT"]

IN_PAIR: InPair = "meaning"

_FILE = re.compile(r"^(?P<mode>iw|ew)-(?P<pol>vv|vh|hh|hv)\.rtc\.tiff?$")
EVIDENCE = "the Planetary Computer sentinel-1-rtc collection (gamma0, linear power)"
ANGLE_HINT = "the collection publishes none"


def recognise(path: str) -> Product | None:
    """The Planetary Computer RTC scene ``path`` belongs to (one of its ``*.rtc.tiff``), or None."""
    path = os.fspath(path)
    folder, name = os.path.split(path)
    m = _FILE.match(name)
    if m is None:
        return None
    ext = name.rsplit(".", 1)[1]
    files = tuple(
        (os.path.join(folder, f"{m.group('mode')}-{p.lower()}.rtc.{ext}"), p)
        for p in ("VV", "VH", "HH", "HV")
        if os.path.isfile(os.path.join(folder, f"{m.group('mode')}-{p.lower()}.rtc.{ext}"))
    )
    return Product(
        "planetary",
        "Planetary Computer sentinel-1-rtc",
        files or ((path, m.group("pol").upper()),),
        "gamma0",
        "linear",
        EVIDENCE,
        angle_hint=ANGLE_HINT,
    )
