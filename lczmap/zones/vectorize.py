"""Zone polygons of an LCZ raster: :func:`vectorize_zones`.

The map is read in strips of rows; each strip is sieved with a halo wide enough that the result
equals the whole-map sieve (:mod:`.sieve`), polygonised, and polygons cut by strip edges are
stitched (:mod:`.polygons`), so there are no seams. Memory depends on the strip size and the map
width, not on the map height.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .._io import check_output
from ..errors import ZonesError
from .codes import DEFAULT_BLOCK_ROWS, CodeScheme, Progress, check_block_rows, confidence_reader, inspect_lcz
from .polygons import polygon_zones, zones_frame
from .sieve import min_pixels_for, sieve_halo
from .style import write_style
from .vector import vector_driver, vector_sink

__all__ = ["ZonesResult", "vectorize_zones"]

log = logging.getLogger(__name__)

#: Zones written per append to the output layer.
_WRITE_BATCH = 20_000


@dataclass(frozen=True)
class ZonesResult:
    """What :func:`vectorize_zones` wrote: the zone layer, its QGIS style (or None), zone count,
    the sieve threshold in pixels and the LCZ coding read."""

    path: Path
    style: Path | None
    zones: int
    min_pixels: int
    scheme: str


def vectorize_zones(
    lcz_path: str | os.PathLike,
    out_path: str | os.PathLike,
    min_area: float = 0.0,
    confidence: str | os.PathLike | None = None,
    codes: CodeScheme = "auto",
    nodata: float | None = None,
    style: bool = True,
    overwrite: bool = False,
    block_rows: int | None = None,
    progress: Progress = None,
) -> ZonesResult:
    """Polygons of an LCZ raster, after removing patches smaller than ``min_area`` m2.

    lcz_path: LCZ GeoTIFF (codes 1-17 or A-G as 101-107, see :func:`inspect_lcz`).
    out_path: zone layer; format from the extension: .gpkg, .parquet (GeoParquet), .geojson,
        .shp, .fgb. Attributes: ``zone_id``, ``lcz`` (code 1-17), ``label`` (1-10, A-G),
        ``name``, ``colour``, ``pixels``, ``area_m2`` and, with ``confidence``, the zone's mean
        ``confidence``. Geometries are polygons in the raster's CRS.
    min_area: patches (4-connected) below this area are dissolved into the large neighbour they
        share the longest border with; 0 keeps every pixel. For geographic rasters the pixel area
        at the map's middle row sets the threshold in pixels.
    confidence: a raster on the same grid: one band (confidence) or one band per class
        (probabilities; the per-pixel maximum is used).
    style: also write a QGIS style beside the output (``zones.qml`` for ``zones.gpkg``).
    block_rows: rows per strip; smaller strips use less memory, the result is the same. Default:
        256, or twice the sieve's halo if that is more (the halo grows with ``min_area``).
    """
    import rasterio

    out = Path(out_path)
    driver = vector_driver(out)
    check_output(out, overwrite)
    if style:
        check_output(out.with_suffix(".qml"), overwrite)
    if not min_area >= 0:
        raise ZonesError(f"min_area (--min-area) must be >= 0 m2, got {min_area}: give 0 to keep every pixel")
    check_block_rows(block_rows)
    info = inspect_lcz(lcz_path, codes=codes, nodata=nodata, block_rows=block_rows or DEFAULT_BLOCK_ROWS, progress=progress)
    min_pixels = min_pixels_for(info, min_area)
    if block_rows is None:
        block_rows = max(DEFAULT_BLOCK_ROWS, 2 * sieve_halo(min_pixels))
    log.info("sieve: patches below %d pixels (%.0f m2) are dissolved, 4-connectivity", min_pixels, min_area)
    conf_src, conf_read = confidence_reader(confidence, info) if confidence is not None else (None, None)
    try:
        with rasterio.open(info.path) as src, vector_sink(out, driver, overwrite) as sink:
            count, pending = 0, []
            for batch in polygon_zones(src, info, min_pixels, block_rows, conf_read, progress):
                pending.extend(batch)
                if len(pending) >= _WRITE_BATCH:
                    sink.write(zones_frame(pending, info, count + 1, confidence is not None))
                    count, pending = count + len(pending), []
            if pending or count == 0:
                sink.write(zones_frame(pending, info, count + 1, confidence is not None))
                count += len(pending)
    finally:
        if conf_src is not None:
            conf_src.close()
    qml = write_style(out, overwrite) if style else None
    log.info("wrote %d zones to %s", count, out)
    return ZonesResult(path=out, style=qml, zones=count, min_pixels=min_pixels, scheme=info.scheme)
