"""The 10 m grid a model sees: pixel size, resampling names, and the target grid of a scene that
is warped (GCPs, geographic or rotated CRS) or resampled on read."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import rasterio
from affine import Affine
from pyproj.aoi import AreaOfInterest
from pyproj.database import CRSInfo, query_utm_crs_info
from rasterio.crs import CRS

from ..errors import ConfigError, SceneError
from .crs import no_crs

if TYPE_CHECKING:
    from odc.geo.geom import Geometry

__all__ = [
    "PIXEL_SIZE",
    "RESAMPLING",
    "Warp",
    "Aoi",
    "utm_crs",
    "utm_warp",
    "resample_warp",
    "aoi_bounds",
    "PIXEL_TOLERANCE",
    "COARSEST",
    "check_pixel_size",
    "degree_pixel_metres",
    "crs_name",
]

#: Pixel size (metres) the models are trained on (So2Sat).
PIXEL_SIZE = 10.0
#: Accepted ``resample`` names.
RESAMPLING = ("nearest", "bilinear", "cubic", "average", "lanczos")
#: Largest relative difference from :data:`PIXEL_SIZE` of a pixel read without ``resample``.
PIXEL_TOLERANCE = 0.05
#: Coarsest pixel (metres) a scene may have even with ``resample``: a model's 32 x 32 window of
#: 10 m pixels spans 320 m, so a coarser pixel fills whole windows with one value.
COARSEST = 32 * PIXEL_SIZE
#: An area of interest: a lon/lat box ``(west, south, east, north)`` or a vector file's path.
Aoi: TypeAlias = tuple[float, float, float, float] | str


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

    def half_open(c: CRSInfo) -> bool:  # a point on a boundary belongs to the zone east (north) of it
        a = c.area_of_use
        return a is not None and a.west <= lon < a.east and a.south <= lat < a.north

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
            raise SceneError(no_crs("the ground control points of", path))
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
        dst_transform, w, h = calculate_default_transform(src_crs, dst_crs, src.width, src.height, resolution=PIXEL_SIZE, **kw)
    return Warp(dst_crs.to_wkt(), tuple(dst_transform)[:6], int(w), int(h), resampling)


def crs_name(crs: CRS | str) -> str:
    """``EPSG:code`` of a CRS, else its name (for messages and tags)."""
    c = CRS.from_user_input(crs)
    epsg = c.to_epsg()
    if epsg is not None:
        return f"EPSG:{epsg}"
    from pyproj import CRS as ProjCRS

    return str(ProjCRS.from_wkt(c.to_wkt()).name)


def degree_pixel_metres(crs: CRS, transform: Affine, width: int, height: int) -> tuple[float, float, float]:
    """East-west and north-south ground size (metres, on the CRS's ellipsoid) of a pixel at the
    centre of a grid in degrees, and the centre's latitude."""
    from pyproj import CRS as ProjCRS, Geod

    cx = transform.c + transform.a * width / 2 + transform.b * height / 2
    cy = transform.f + transform.d * width / 2 + transform.e * height / 2
    cy = max(-89.0, min(89.0, cy))
    ellipsoid = ProjCRS.from_wkt(crs.to_wkt()).ellipsoid
    geod = Geod(a=ellipsoid.semi_major_metre, rf=ellipsoid.inverse_flattening) if ellipsoid else Geod(ellps="WGS84")
    dx = min(abs(transform.a), 180.0)
    dy = min(abs(transform.e), 90.0)
    ew = geod.inv(cx - dx / 2, cy, cx + dx / 2, cy)[2]
    ns = geod.inv(cx, max(-90.0, cy - dy / 2), cx, min(90.0, cy + dy / 2))[2]
    return float(ew), float(ns), float(cy)


def check_pixel_size(
    path: str, xres: float, yres: float, resample: str | None, geographic: bool = False, lat: float = 0.0
) -> bool:
    """Whether a grid of ``xres`` x ``yres`` m pixels must be resampled to :data:`PIXEL_SIZE`:
    False when each side is within :data:`PIXEL_TOLERANCE` of it; True when ``resample`` is given;
    else :class:`SceneError`. A pixel coarser than :data:`COARSEST` is refused either way.
    ``geographic``: a degree grid (its sides measured at the centre, latitude ``lat``), whose
    east-west side may also be finer, down to ``PIXEL_SIZE * cos(lat)``: equal steps in degrees
    (Earth Engine's ``scale=10`` in EPSG:4326) are 10 m north-south and narrower east-west."""
    coarse = max(xres, yres)
    unit = "m"
    if not math.isfinite(coarse) or coarse > COARSEST:
        raise SceneError(
            f"{path} has {xres:,.4g} x {yres:,.4g} {unit} pixels: a model's window is 32 x {PIXEL_SIZE:g} m "
            f"= {COARSEST:g} m, so pixels coarser than that cannot be mapped; give a scene of about "
            f"{PIXEL_SIZE:g} m pixels"
        )
    tol = PIXEL_TOLERANCE * PIXEL_SIZE
    fine = min(xres, yres)
    finest = PIXEL_SIZE * math.cos(math.radians(lat)) if geographic else PIXEL_SIZE
    if abs(coarse - PIXEL_SIZE) <= tol and fine >= finest - tol:
        return False
    if resample is None:
        what = f"{xres:.3g} x {yres:.3g} m pixels" + (" (at its centre)" if geographic else "")
        raise SceneError(
            f"{path} has {what} but the model expects {PIXEL_SIZE:g} m: "
            "pass --resample bilinear (or average, nearest...) to resample it"
        )
    return True


def resample_warp(crs: CRS, transform: Affine, width: int, height: int, resampling: str) -> Warp:
    w = int(round(width * abs(transform.a) / PIXEL_SIZE))
    h = int(round(height * abs(transform.e) / PIXEL_SIZE))
    t = Affine(math.copysign(PIXEL_SIZE, transform.a), 0, transform.c, 0, math.copysign(PIXEL_SIZE, transform.e), transform.f)
    return Warp(crs.to_wkt(), tuple(t)[:6], max(w, 1), max(h, 1), resampling)


def aoi_bounds(aoi: Aoi) -> Geometry:
    """The area of interest as an odc-geo geometry: a lon/lat box, or the bounding box of a vector
    file's features in the file's CRS (read with pyogrio)."""
    from odc.geo.geom import box

    if isinstance(aoi, str):
        import pyogrio

        from .._io import check_input

        check_input(aoi, "area of interest (--aoi)", ConfigError)  # a named pipe would hang pyogrio
        try:
            info = pyogrio.read_info(aoi, force_total_bounds=True)
        except Exception as exc:  # pyogrio's errors are many kinds; each is one line here
            raise ConfigError(f"cannot read area of interest {aoi} ({exc}): give a vector file (--aoi)") from None
        bounds, crs = info.get("total_bounds"), info.get("crs")
        if bounds is None or not all(map(math.isfinite, bounds)) or info.get("features", 1) == 0:
            raise ConfigError(f"area of interest {aoi} has no features (--aoi): give a file with a polygon")
        west, south, east, north = (float(v) for v in bounds)
        lonlat = crs is None or CRS.from_user_input(crs).is_geographic  # GeoJSON without "crs": lon/lat
        if lonlat and not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
            raise ConfigError(
                f"area of interest {aoi} has no CRS and its coordinates ({west:g}, {south:g}, {east:g}, "
                f"{north:g}) are not longitude/latitude: give the file its CRS (e.g. ogr2ogr -a_srs "
                f"EPSG:32632 aoi.gpkg {os.path.basename(aoi)}, with the CRS the numbers are in) (--aoi)"
            )
        return box(west, south, east, north, crs=crs or "EPSG:4326")
    west, south, east, north = aoi
    return box(west, south, east, north, crs="EPSG:4326")
