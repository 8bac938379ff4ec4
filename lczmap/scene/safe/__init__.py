"""Sentinel-1 products in ESA's SAFE format (a ``.SAFE`` folder or its ``.zip``) as a
:class:`~lczmap.scene.Scene`, calibrated and geocoded one output window at a time.

- :mod:`.archive`: where the files are, the manifest (mission, mode, orbit, IPF version,
  polarisations, which file is which) and the checks every SAFE reader makes;
- :mod:`.geolocation`: map -> radar coordinates from the annotation's geolocation grid, the
  lattice they are evaluated on, and the one 10 m UTM grid of a SAFE scene;
- :mod:`.grd`: IW GRD (sigma0 = (DN^2 - noise) / A^2, bilinear or nearest);
- :mod:`.slc`: IW SLC (complex sigma0, deburst, sub-swath merge, So2Sat's refined Lee);
- :mod:`.terrain`: terrain correction with a DEM (sarsen's range-Doppler backward geocoding);
- :mod:`.open`: :func:`open_safe`, which refuses what cannot be mapped and sends GRD and SLC
  products to their readers.
"""

from __future__ import annotations

from .archive import SUPPORTED_MODES, SUPPORTED_TYPES, is_safe
from .grd import NOISE_FLOOR, SafeReader, calibrate
from .open import open_safe
from .slc import SLC_HALO, SlcReader
from .terrain import DemRequest, Orbit, Terrain

__all__ = [
    "open_safe",
    "is_safe",
    "SafeReader",
    "SlcReader",
    "Terrain",
    "DemRequest",
    "Orbit",
    "calibrate",
    "NOISE_FLOOR",
    "SLC_HALO",
    "SUPPORTED_MODES",
    "SUPPORTED_TYPES",
]
