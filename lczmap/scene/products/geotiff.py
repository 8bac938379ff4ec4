"""Plain rasters (GeoTIFF, COG, VRT, anything GDAL reads) that no other kind claims, whose bands
are matched to the model's channels by description. :func:`recognise` finds a single-band file
whose name carries its polarisation (``..._VV.tif``, as BigEarthNet-S1 and many exports name
them) with its siblings of the other polarisations; any other raster is
:func:`~lczmap.scene.products.base.plain`."""

from __future__ import annotations

import os
import re

from .base import POL_TOKEN, InPair, Product, other_pol_file, plain

__all__ = ["recognise", "IN_PAIR"]

IN_PAIR: InPair = "unasked"


def recognise(path: str) -> Product | None:
    """The single-band file ``path`` named by its polarisation with its siblings, or None."""
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
    return plain(tuple((f, p) for p, f in files.items()))
