"""Open a Sentinel-1 scene lazily and map its bands onto a model's SAR band set.

A :class:`Scene` is a small, picklable description of where each model channel comes from
(file, band, real/imaginary part), the units, and the 10 m grid the model sees. Pixels are read
on demand with :meth:`Scene.read` (any row/column range; outside the scene the image is mirrored,
numpy's ``reflect``), or as a dask-backed :class:`xarray.DataArray` with
:meth:`Scene.to_dataarray`. Nothing is read when a scene is opened except a small sample used to
check the units.

Inputs: anything GDAL reads (GeoTIFF, COG, VRT, ``/vsicurl/`` URLs), one multi-band file or one
file per polarisation; the products users download are recognised (:mod:`.products`, one module
per kind, asked in turn by :func:`open_scene` in :mod:`.open`: ASF HyP3 RTC, OPERA RTC-S1,
Planetary Computer ``sentinel-1-rtc``, Earth Engine ``S1_GRD`` exports, SNAP/pyroSAR outputs,
local STAC Items, Sentinel-1 SAFE products read by :mod:`.safe`). Complex bands (SLC) supply
real and imaginary parts.
Bands are matched to the model's channels by their description (``VV``, ``VH``, ``VV real``...)
or by ``bands``. dB and amplitude intensities are converted to linear power, gamma0 and beta0 to
sigma0 with the incidence angle; masks and fill values read as no data; ``Scene.conversions``
says what was done. Scenes whose pixels are not 10 m are resampled
when ``resample`` is given and refused otherwise; scenes in a geographic CRS or georeferenced
by GCPs only are warped to their local UTM zone at 10 m.
"""

from __future__ import annotations

from ..bands import BACKSCATTER, Backscatter
from .grid import PIXEL_SIZE, RESAMPLING, Warp
from .masks import MASK_KINDS, MaskKind
from .mirror import read_mirrored, reflect_index
from .open import detect, open_scene
from .products import Product
from .scene import Scene, SceneAngle, SceneBand, SceneMask, SceneReader
from .units import UNITS, Units

__all__ = [
    "Scene",
    "SceneBand",
    "SceneAngle",
    "SceneMask",
    "Warp",
    "open_scene",
    "read_mirrored",
    "reflect_index",
    "PIXEL_SIZE",
    "RESAMPLING",
    "UNITS",
    "Units",
    "BACKSCATTER",
    "Backscatter",
    "MASK_KINDS",
    "MaskKind",
    "Product",
    "detect",
    "SceneReader",
]
