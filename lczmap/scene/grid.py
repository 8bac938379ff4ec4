"""The 10 m grid a model sees: pixel size, resampling names, and the target grid of a scene that
is warped (GCPs, geographic or rotated CRS) or resampled on read."""

from __future__ import annotations

import math
from dataclasses import dataclass

import rasterio
from affine import Affine
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from rasterio.crs import CRS

from ..errors import ConfigError, SceneError

__all__ = ["PIXEL_SIZE", "RESAMPLING", "Warp", "utm_crs", "utm_warp", "resample_warp", "aoi_bounds"]

#: Pixel size (metres) the models are trained on (So2Sat).
PIXEL_SIZE = 10.0
#: Accepted ``resample`` names.
RESAMPLING = ("nearest", "bilinear", "cubic", "average", "lanczos")


@dataclass(frozen=True)
class Warp:
    """Target grid when the scene is warped or resampled on read (a WarpedVRT)."""

    crs: str
    transform: tuple
    width: int
    height: int
    resampling: str


def utm_crs(lon: float, lat: float) -> CRS:
    """The WGS 84 / UTM zone of a point, from the EPSG database's areas of use (pyproj).

    On a zone boundary (or the equator) the zone to the east (north) is taken, as the usual
    ``floor((lon + 180) / 6) + 1`` rule does. Neither applies the Norway/Svalbard exceptions of
    MGRS: EPSG's WGS 84 / UTM areas of use are plain 6-degree strips."""
    lon = (lon + 180.0) % 360.0 - 180.0
    found = query_utm_crs_info(datum_name="WGS 84", area_of_interest=AreaOfInterest(lon, lat, lon, lat))
    if not found:
        raise SceneError(f"no UTM zone covers lon {lon:g}, lat {lat:g}: check the scene's georeferencing")

    def half_open(c) -> bool:  # a point on a boundary belongs to the zone east (north) of it
        a = c.area_of_use
        return a.west <= lon < a.east and a.south <= lat < a.north

    return CRS.from_epsg(int(next((c for c in found if half_open(c)), found[0]).code))


def utm_warp(path: str, resampling: str, dst_crs: CRS | None = None) -> Warp:
    from rasterio.warp import calculate_default_transform, transform as warp_points

    with rasterio.open(path) as src:
        gcps, gcp_crs = src.gcps
        if src.crs is not None and not gcps:
            # the bounds are the envelope of the pixel corners, rotated transforms included
            src_crs, kw = src.crs, dict(zip(("left", "bottom", "right", "top"), src.bounds))
        else:
            src_crs, kw = gcp_crs, {"gcps": gcps}
        if src_crs is None:
            raise SceneError(f"{path} has GCPs without a CRS: assign the GCPs' CRS and retry")
        if dst_crs is None:
            if "gcps" in kw:
                xs = [g.x for g in gcps]
                ys = [g.y for g in gcps]
                cx, cy = sum(xs) / len(xs), sum(ys) / len(ys)
            else:
                b = src.bounds
                cx, cy = (b.left + b.right) / 2, (b.top + b.bottom) / 2
            lon, lat = warp_points(src_crs, "EPSG:4326", [cx], [cy])
            dst_crs = utm_crs(lon[0], lat[0])
        dst_transform, w, h = calculate_default_transform(
            src_crs, dst_crs, src.width, src.height, resolution=PIXEL_SIZE, **kw
        )
    return Warp(dst_crs.to_wkt(), tuple(dst_transform)[:6], int(w), int(h), resampling)


def resample_warp(crs: CRS, transform: Affine, width: int, height: int, resampling: str) -> Warp:
    w = int(round(width * abs(transform.a) / PIXEL_SIZE))
    h = int(round(height * abs(transform.e) / PIXEL_SIZE))
    t = Affine(math.copysign(PIXEL_SIZE, transform.a), 0, transform.c, 0, math.copysign(PIXEL_SIZE, transform.e), transform.f)
    return Warp(crs.to_wkt(), tuple(t)[:6], max(w, 1), max(h, 1), resampling)


def aoi_bounds(aoi: tuple[float, float, float, float] | str):
    """The area of interest as an odc-geo geometry: a lon/lat box, or the bounding box of a vector
    file's features in the file's CRS (read with pyogrio)."""
    from odc.geo.geom import box

    if isinstance(aoi, str):
        import pyogrio

        try:
            info = pyogrio.read_info(aoi, force_total_bounds=True)
        except Exception as exc:  # pyogrio's errors are many kinds; each is one line here
            raise ConfigError(f"cannot read area of interest {aoi} ({exc}): give a vector file (--aoi)") from None
        bounds, crs = info.get("total_bounds"), info.get("crs")
        if bounds is None or not all(map(math.isfinite, bounds)) or info.get("features", 1) == 0:
            raise ConfigError(f"area of interest {aoi} has no features (--aoi): give a file with a polygon")
        west, south, east, north = (float(v) for v in bounds)
        return box(west, south, east, north, crs=crs or "EPSG:4326")
    west, south, east, north = aoi
    return box(west, south, east, north, crs="EPSG:4326")
