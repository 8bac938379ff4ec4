"""Open a Sentinel-1 SAFE product (``.SAFE`` folder or ``.zip``): refuse what cannot be mapped
before anything is read, then hand an IW GRD product to :mod:`.grd` and an IW SLC product to
:mod:`.slc`."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ...bands import Backscatter, BandSet, band_set as _band_set
from ...errors import SceneError
from ..grid import Aoi
from ..scene import Scene
from ..units import Units
from .archive import MAPS, SAFE_NAME, SUPPORTED_MODES, SUPPORTED_TYPES, locate, read_manifest
from .grd import open_grd
from .slc import open_slc
from .terrain import open_dem

__all__ = ["open_safe"]

_RESAMPLING = {"bilinear": 1, "nearest": 0}


def open_safe(
    path: str | os.PathLike[str],
    band_set: BandSet | str = "lee-intensity",
    *,
    bands: Sequence[str] | None = None,
    units: Units | None = None,
    quantity: Backscatter | None = None,
    resample: str | None = None,
    dem: str | os.PathLike[str] | None = None,
    aoi: Aoi | None = None,
    swaths: Sequence[str] | None = None,
) -> Scene:
    """Open a Sentinel-1 IW GRD SAFE product (``.SAFE`` folder or ``.zip``) for a model trained on
    ``band_set`` (intensity channels only), or an IW SLC product for one trained on complex
    channels (:mod:`.slc`). ``resample``: ``bilinear`` (None) or ``nearest`` for the GRD
    geocoding (SLC: nearest only). ``bands`` and ``units`` do not apply (the product says);
    ``quantity`` may only be sigma0. ``dem``: a DEM GeoTIFF (any CRS; heights above the ellipsoid)
    to terrain-correct the geocoding with (:mod:`.terrain`); it must cover the scene, or its part
    inside ``aoi`` (a lon/lat box ``(w, s, e, n)`` or a vector file, as ``PredictOptions.aoi``).
    ``swaths``: the sub-swaths of an SLC product to map (e.g. ``("IW1", "IW2")``; None: those it
    holds whole; refused for GRD products, whose sub-swaths are merged). Raises
    :class:`SceneError` for what cannot be mapped, before anything is read."""
    path = os.fspath(path)
    name = os.path.basename(os.path.normpath(path))
    bs = _band_set(band_set, "sar") if isinstance(band_set, str) else band_set
    if bands is not None or units is not None:
        raise SceneError(
            f"--bands and --units do not apply to {name}: a SAFE product says which file holds which "
            "polarisation and lczmap calibrates its digital numbers itself: drop them"
        )
    if quantity not in (None, "sigma0"):
        raise SceneError(f"{name} is calibrated to sigma0 with its calibration LUT: drop --quantity {quantity}")
    order = _RESAMPLING.get(resample or "bilinear")
    if order is None:
        raise SceneError(f"--resample {resample} is not offered for SAFE products: use bilinear or nearest (SLC: nearest)")
    request = None if dem is None else open_dem(dem, aoi)
    m = SAFE_NAME.match(name)
    if m and m.group(1).upper() not in SUPPORTED_MODES:
        raise SceneError(f"{name} is a Sentinel-1 {m.group(1).upper()} product: {MAPS}")
    loc = locate(path)
    fs = loc.fs()
    manifest = read_manifest(loc, fs)
    mode, ptype = manifest.mode.upper(), manifest.product_type.upper()
    if mode not in SUPPORTED_MODES:
        raise SceneError(f"{name} is a Sentinel-1 {mode} {ptype} product: {MAPS}")
    if ptype not in SUPPORTED_TYPES:
        raise SceneError(f"{name} is an IW {ptype} product: {MAPS}")
    if ptype == "SLC":
        return open_slc(loc, fs, name, bs, manifest, resample, request, swaths)
    if swaths is not None:
        raise SceneError(
            f"--swaths chooses sub-swaths of IW SLC products, but {name} is a {ptype} product, whose "
            "sub-swaths are merged already: drop --swaths"
        )
    return open_grd(loc, fs, name, bs, manifest, order, resample or "bilinear", request)
