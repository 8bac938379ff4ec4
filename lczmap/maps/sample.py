"""The LCZ at points (stations) and the class shares around them.

:func:`sample_points` reads points from a CSV (coordinate columns found as
:mod:`.reference` says) or a point layer, in any CRS, and gives for each: the LCZ of the pixel
under it and, within ``buffer`` metres, the share of each class, the most common class and the
no-data share. Shares are exact and area-weighted: each pixel counts with the part of it inside
the circle (exactextract, through :func:`lczmap.zones.summarize`); the circle is a 256-gon in a
local azimuthal equidistant projection centred on the point, so it is round on the ground in any
map CRS.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._io import check_outputs
from ..classes import NODATA, label_of, name_of
from ..errors import ZonesError
from ..zones.lczraster import DEFAULT_BLOCK_ROWS, CodeScheme, Progress, inspect_lcz, read_codes
from ..zones.vector import vector_driver, vector_outputs, vector_sink
from .reference import read_points
from .report import write_csv

if TYPE_CHECKING:
    from collections.abc import Iterable

    import geopandas as gpd
    from shapely.geometry import Point

__all__ = ["sample_points", "DEFAULT_BUFFER"]

log = logging.getLogger(__name__)

#: Radius (m) of the neighbourhood station networks ask for.
DEFAULT_BUFFER = 250.0


def _circles(points: Iterable[Point], radius: float) -> gpd.GeoSeries:
    """Circles of ``radius`` metres around WGS84 points, as WGS84 polygons."""
    import geopandas as gpd
    import shapely
    from pyproj import CRS, Transformer
    from shapely.geometry import Point

    wgs84 = CRS.from_epsg(4326)
    polys = []
    for p in points:
        local = CRS.from_proj4(f"+proj=aeqd +lat_0={p.y} +lon_0={p.x} +datum=WGS84 +units=m")
        back = Transformer.from_crs(local, wgs84, always_xy=True)
        circle = Point(0.0, 0.0).buffer(radius, quad_segs=64)
        polys.append(shapely.transform(circle, lambda xy, back=back: np.column_stack(back.transform(xy[:, 0], xy[:, 1]))))
    return gpd.GeoSeries(polys, crs=wgs84)


def sample_points(
    lcz_path: str | os.PathLike,
    points: Any,
    out_path: str | os.PathLike | None = None,
    *,
    buffer: float = DEFAULT_BUFFER,
    x: str | None = None,
    y: str | None = None,
    crs: Any = None,
    layer: str | None = None,
    codes: CodeScheme = "auto",
    nodata: float | None = None,
    overwrite: bool = False,
    progress: Progress = None,
) -> gpd.GeoDataFrame:
    """The LCZ at each point and the class shares within ``buffer`` metres (0: none).

    points: a CSV path (``x``/``y`` name the coordinate columns, ``crs`` their CRS), a point
    layer path (``layer`` picks a layer) or a GeoDataFrame of points. Returns a GeoDataFrame (the
    points' own columns and CRS) with ``lcz``, ``lcz_label``, ``lcz_name`` (0 and "No data" where
    the pixel has no class or the point is off the map) and, with a buffer, ``buffer_m``, the
    share columns ``lcz_1`` ... ``lcz_G``, ``nodata`` (share of the circle without a class,
    including any part off the map), ``dominant``, ``dom_label`` and ``dom_name``.

    out_path (optional): ``.csv`` (a table without geometry: a CSV's coordinate columns are kept,
    a layer's geometry is not written) or a vector format by extension (.gpkg, .geojson, .shp,
    .fgb, .parquet).
    """
    import geopandas as gpd
    import rasterio
    from rasterio.windows import Window

    if not buffer >= 0 or not math.isfinite(buffer):
        raise ZonesError(f"buffer (--buffer) must be a distance >= 0 in metres, got {buffer}")
    out = Path(out_path) if out_path is not None else None
    driver = vector_driver(out, table_ok=True) if out is not None else None
    src_path = points if isinstance(points, (str, os.PathLike)) else None
    if out is not None and driver is not None:
        check_outputs(vector_outputs(out, driver) if driver != "CSV" else [out], [lcz_path, src_path], overwrite)
    info = inspect_lcz(lcz_path, codes=codes, nodata=nodata, block_rows=DEFAULT_BLOCK_ROWS, progress=progress)
    frame, name = (
        (points.copy(), "the points")
        if isinstance(points, gpd.GeoDataFrame)
        else read_points(points, x=x, y=y, crs=crs, layer=layer, default_crs=info.crs)
    )
    if frame.crs is None:
        raise ZonesError(f"{name} has no CRS: pass --crs (crs=...)")
    local = frame.geometry.to_crs(info.crs)
    t, (height, width) = info.transform, info.shape
    cols = np.floor((local.x.to_numpy() - t.c) / t.a).astype(np.int64)
    rows = np.floor((local.y.to_numpy() - t.f) / t.e).astype(np.int64)
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    if not inside.any():
        extent = (t.c, t.f + t.e * height, t.c + t.a * width, t.f)
        raise ZonesError(
            f"all {len(frame)} points of {name} lie outside {info.path} (its extent: "
            f"{', '.join(f'{v:.6g}' for v in extent)} in {info.crs.to_string()}): check the coordinates and --crs"
        )
    if not inside.all():
        log.warning("%s: %d of %d points lie outside the map (lcz 0)", name, int((~inside).sum()), len(frame))
    lcz = np.zeros(len(frame), np.int64)
    with rasterio.open(info.path) as src:
        for i in np.flatnonzero(inside):
            lcz[i] = int(read_codes(src, info, Window(int(cols[i]), int(rows[i]), 1, 1))[0, 0])
    result = frame.copy()
    result["lcz"] = lcz.astype(np.int32)
    result["lcz_label"] = [label_of(int(c)) if c else "" for c in lcz]
    result["lcz_name"] = [name_of(int(c)) if c else "No data" for c in lcz]
    if buffer > 0:
        from ..zones import SHARE_COLUMNS, summarize

        circles = gpd.GeoDataFrame(geometry=_circles(frame.geometry.to_crs("EPSG:4326"), buffer))
        table = summarize(info.path, by=circles, codes=codes, nodata=nodata, progress=progress)
        result["buffer_m"] = float(buffer)
        for column in (*SHARE_COLUMNS, "nodata", "dominant", "dom_label", "dom_name"):
            result[column] = table[column].to_numpy()
        result["dominant"] = result["dominant"].fillna(NODATA).astype(np.int32)
    if out is not None and driver is not None:
        if driver == "CSV":
            write_csv(result.drop(columns=result.geometry.name), out, overwrite)
        else:
            with vector_sink(out, driver, overwrite) as sink:
                sink.write(result)
    return result
