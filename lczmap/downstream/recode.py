"""One LCZ map, any coding: :func:`recode_lcz` writes a map as lczmap's single-band LCZ COG in
codes 1-17 or 101-107, from any LCZ raster (an LCZ Generator product's band, the global map, an
int32 map with nodata -999).

UMEP's LCZ converter reads LCZ A-G as 101-107; LCZ4r/lcz4py's area and plotting functions read
band 1 and codes 1-17 only (other values count as no data); w2w reads either. A map from
``lczmap predict --codes 101-107`` is already in UMEP's coding; this converts the others.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._io import check_not_inputs, check_output
from ..classes import CODINGS, Coding
from ..errors import ZonesError
from ..zones.lczraster import DEFAULT_BLOCK_ROWS, CodeScheme, inspect_lcz, read_codes, strips

__all__ = ["recode_lcz"]


def recode_lcz(
    lcz_path: str | os.PathLike,
    out_path: str | os.PathLike,
    coding: Coding = "101-107",
    band: int | str | None = None,
    codes: CodeScheme = "auto",
    nodata: float | None = None,
    overwrite: bool = False,
) -> Path:
    """Write band ``band`` of the LCZ map ``lcz_path`` (default: ``lczFilter`` of an LCZ Generator
    product, else band 1; its coding ``codes``, nodata ``nodata``: as :func:`lczmap.zones.inspect_lcz`)
    to ``out_path`` as a uint8 LCZ COG in ``coding`` (``"1-17"`` or ``"101-107"``), nodata 0, with
    the colour table, categories and QGIS style of that coding. Returns ``out_path``."""
    import rasterio

    from ..raster import write_lcz_strips

    if coding not in CODINGS:
        raise ZonesError(f"unknown coding {coding!r}: choose {' or '.join(CODINGS)}")
    out = Path(out_path)
    check_not_inputs([out], [lcz_path])
    if out.suffix.lower() not in (".tif", ".tiff"):
        raise ZonesError(f"the LCZ map {out} must be a GeoTIFF: end its name with .tif")
    check_output(out, overwrite)
    info = inspect_lcz(lcz_path, codes=codes, nodata=nodata, band=band)
    height, width = info.shape
    tags = {"source": str(info.path), "source_band": str(info.band), "source_coding": info.scheme}
    with rasterio.open(info.path) as src:
        blocks = ((w.row_off, w.row_off + w.height, read_codes(src, info, w)) for w in strips(height, width, DEFAULT_BLOCK_ROWS))
        return write_lcz_strips(out, blocks, info.shape, info.transform, info.crs, tags, overwrite, coding)
