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

from .._io import check_not_inputs, check_outputs
from ..errors import OutputError, ZonesError
from .lczraster import DEFAULT_BLOCK_ROWS, CodeScheme, Progress, check_block_rows, confidence_reader, inspect_lcz
from .polygons import polygon_zones, zones_frame
from .sieve import min_pixels_for, sieve_halo
from .style import write_qml
from .vector import check_space_for_layer, vector_driver, vector_outputs, vector_sink

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
    out_layer: str | None = None,
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
    out_layer: the layer's name (default: the file's stem). In an existing GeoPackage (with
        ``overwrite``) only this layer is replaced; the file's other layers are kept.

    Before any work, the outputs are checked: none may be an input (the LCZ or confidence
    raster, or the style file beside one), each folder must be writable. The layer, its
    sidecars and the style are reopened and checked, then replace the old files together.
    """
    import rasterio

    out = Path(out_path)
    qml = out.with_suffix(".qml") if style else None
    rasters = [Path(p) for p in (lcz_path, confidence) if p is not None]
    for raster in rasters:
        own_style = raster.with_suffix(".qml")
        if qml is not None and own_style.exists() and own_style.absolute() == qml.absolute():
            raise OutputError(
                f"the zones' style {qml} would replace the style of the input raster {raster}: "
                "name the zone layer differently or pass --no-style (style=False)"
            )
    check_not_inputs([out], rasters)  # before the format: never suggest overwriting an input
    driver = vector_driver(out)
    outputs = vector_outputs(out, driver) + ([qml] if qml is not None else [])
    check_outputs(outputs, rasters, overwrite)
    check_space_for_layer(out, driver, overwrite)
    if not 0 <= min_area < float("inf"):
        raise ZonesError(f"min_area (--min-area) must be a finite area >= 0 m2, got {min_area}: give 0 to keep every pixel")
    check_block_rows(block_rows)
    info = inspect_lcz(lcz_path, codes=codes, nodata=nodata, block_rows=block_rows or DEFAULT_BLOCK_ROWS, progress=progress)
    min_pixels = min_pixels_for(info, min_area)
    if block_rows is None:
        block_rows = max(DEFAULT_BLOCK_ROWS, 2 * sieve_halo(min_pixels))
    log.info("sieve: patches below %d pixels (%.0f m2) are dissolved, 4-connectivity", min_pixels, min_area)
    conf_src, conf_read = confidence_reader(confidence, info) if confidence is not None else (None, None)
    try:
        extras = [(qml, write_qml)] if qml is not None else []
        with rasterio.open(info.path) as src, vector_sink(out, driver, overwrite, out_layer, extras) as sink:
            count, pending, size = 0, [], 0
            for batch in polygon_zones(src, info, min_pixels, block_rows, conf_read, progress):
                pending.append(batch)
                size += len(batch)
                if size >= _WRITE_BATCH:
                    sink.write(zones_frame(pending, info, count + 1, confidence is not None))
                    count, pending, size = count + size, [], 0
            if pending or count == 0:
                sink.write(zones_frame(pending, info, count + 1, confidence is not None))
                count += size
    finally:
        if conf_src is not None:
            conf_src.close()
    log.info("wrote %d zones to %s", count, out)
    return ZonesResult(path=out, style=qml, zones=count, min_pixels=min_pixels, scheme=info.scheme)
