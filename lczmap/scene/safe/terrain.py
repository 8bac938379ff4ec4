"""Terrain correction of Sentinel-1 SAFE products with a DEM: the radar coordinates of each output
pixel from the DEM height there, by sarsen's range-Doppler backward geocoding with the product's
orbit (geometry only; the radiometry stays ellipsoid sigma0, no terrain flattening, as So2Sat's
SNAP Range-Doppler terrain correction).

Per output window: the DEM is reprojected onto the window's 10 m UTM pixels (bilinear, heights
taken as heights above the WGS84 ellipsoid, as sarsen does); on a lattice every
:data:`~lczmap.scene.safe.geolocation.LATTICE_STEP` pixels, fixed to the scene, and at height levels every
:data:`LEVEL_STEP` metres spanning the window's heights, the points go to ECEF (pyproj) and sarsen
(:func:`sarsen.geocoding.backward_geocode`, orbit :class:`sarsen.orbit.OrbitPolyfitInterpolator`
fitted to the annotation's state vectors) finds their zero-Doppler azimuth time and slant range.
Those become radar (line, pixel): GRD with the annotation's slant-to-ground range polynomials
(``coordinateConversion``, evaluated as xarray-sentinel's ``slant_range_time_to_ground_range``),
SLC sub-swaths with their first slant-range time and sampling rate. Each pixel then takes the
lattice's radar coordinates bilinear in x, y and linear in its own height between two levels,
so heights act pixel by pixel while sarsen runs on a few thousand points per window.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ...errors import SceneError
from ..crs import no_crs, vertical_datum
from ..grid import PIXEL_SIZE, Aoi, aoi_bounds
from .geolocation import LATTICE_STEP

if TYPE_CHECKING:
    from rasterio.crs import CRS

__all__ = [
    "Terrain",
    "Orbit",
    "DemRequest",
    "Radar",
    "GrdRadar",
    "SlcRadar",
    "LEVEL_STEP",
    "MIN_STATE_VECTORS",
    "open_dem",
    "check_cover",
    "read_orbit",
    "orbit_epoch",
    "seconds",
    "grd_geometry",
    "terrain_conversions",
]

SPEED_OF_LIGHT = 299_792_458.0
#: Metres between the height levels the lattice is geocoded at (radar coordinates are linear in
#: height between them to far below a pixel).
LEVEL_STEP = 200.0
#: State vectors sarsen's orbit fit (a degree-5 polynomial) needs at least.
MIN_STATE_VECTORS = 6


def orbit_epoch(times: np.ndarray) -> np.datetime64:
    """The epoch of the orbit fit: the middle of the state vectors' times, as sarsen's."""
    return times[0] + (times[-1] - times[0]) / 2


def seconds(t: Any, epoch: np.datetime64) -> Any:
    """Seconds from ``epoch`` to ``t`` (a time: a float; or an array of times: an array)."""
    out = (np.asarray(t, dtype="datetime64[ns]") - epoch) / np.timedelta64(1, "ns") * 1e-9
    return float(out) if np.ndim(out) == 0 else out


@dataclass(frozen=True, eq=False)
class Orbit:
    """The orbit state vectors of an annotation: ``times`` (datetime64[ns], N) and ECEF
    ``positions`` (N, 3, metres)."""

    times: np.ndarray
    positions: np.ndarray

    @property
    def epoch(self) -> np.datetime64:
        """The epoch of the orbit fit (:func:`orbit_epoch`)."""
        return orbit_epoch(self.times)


@dataclass(frozen=True)
class DemRequest:
    """A DEM to terrain-correct with (:func:`open_dem`): its ``path``, ``crs``, and the area of
    interest ``aoi`` it must cover (None: the whole scene)."""

    path: str
    crs: CRS
    aoi: Aoi | None = None


class Radar(Protocol):
    """Zero-Doppler azimuth time and slant-range time -> radar (line, pixel) of a product."""

    def __call__(self, t: np.ndarray, srt: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class GrdRadar:
    """Zero-Doppler azimuth time and slant-range time -> GRD (line, pixel). Times in seconds from
    the orbit's epoch (:func:`orbit_epoch`); ``cc_*``: the annotation's ``coordinateConversion`` entries."""

    t0: float  # productFirstLineUtcTime
    interval: float  # azimuthTimeInterval
    spacing: float  # rangePixelSpacing (m)
    cc_times: np.ndarray
    sr0: np.ndarray
    srgr: np.ndarray  # (entries, degree)

    def __call__(self, t: np.ndarray, srt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        slant = SPEED_OF_LIGHT / 2.0 * srt
        sr0 = np.interp(t, self.cc_times, self.sr0)
        x = slant - sr0
        ground = np.zeros_like(slant)
        for d in range(self.srgr.shape[1]):
            ground += np.interp(t, self.cc_times, self.srgr[:, d]) * x**d
        return (t - self.t0) / self.interval, ground / self.spacing


@dataclass(frozen=True)
class SlcRadar:
    """Zero-Doppler azimuth time and slant-range time -> (debursted line, sample) of one SLC
    sub-swath: line 0 at ``t0`` (seconds from the orbit's epoch, :func:`orbit_epoch`)."""

    t0: float
    interval: float
    range_time0: float  # slantRangeTime of sample 0 (two-way, s)
    rate: float  # rangeSamplingRate (Hz)

    def __call__(self, t: np.ndarray, srt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (t - self.t0) / self.interval, (srt - self.range_time0) * self.rate


def open_dem(dem: str | os.PathLike[str], aoi: Aoi | None = None) -> DemRequest:
    """The DEM ``dem`` to cover the scene, or its part inside ``aoi``; refuses what cannot serve
    as one."""
    import rasterio

    path = os.fspath(dem)
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise SceneError(f"DEM {path} does not exist (--dem): give a DEM GeoTIFF")
    try:
        with rasterio.open(path) as src:
            crs, count = src.crs, src.count
    except rasterio.errors.RasterioError as exc:
        raise SceneError(f"cannot read DEM {name} ({exc}) (--dem): give a DEM GeoTIFF") from None
    if crs is None:
        raise SceneError(no_crs("DEM", path, option="--dem"))
    if count < 1:
        raise SceneError(f"DEM {name} has no band (--dem): give a DEM GeoTIFF")
    datum = vertical_datum(crs)
    if datum is not None:  # the geoid's undulation (up to +-100 m) would shift the map by it / tan(incidence)
        stem = os.path.splitext(name)[0]
        raise SceneError(
            f"DEM {name} holds heights in {datum} ({crs.to_string()}: above a geoid) but terrain correction needs "
            f"heights above the WGS 84 ellipsoid (--dem): convert it with gdalwarp -s_srs {crs.to_string()} -t_srs "
            f"EPSG:4979 {path} {stem}_ellipsoidal.tif (PROJ needs the geoid grid: projsync, or PROJ_NETWORK=ON) "
            "and give that"
        )
    return DemRequest(path, crs, aoi)


def check_cover(dem: DemRequest, footprint_lonlat: np.ndarray, scene_name: str) -> None:
    """Refuse a DEM whose extent does not hold the scene's footprint (the convex hull of its
    geolocation grid, ``footprint_lonlat`` (N, 2)), or its part inside the request's area of
    interest (a lon/lat box ``(w, s, e, n)`` or a vector file whose features' bounds are used)."""
    import rasterio
    import shapely

    crs = dem.crs
    name = os.path.basename(dem.path)
    if crs is None:  # open_dem refuses it; a DemRequest made by hand may lack it
        raise SceneError(no_crs("DEM", dem.path, option="--dem"))
    needed = shapely.MultiPoint([tuple(p) for p in footprint_lonlat]).convex_hull
    where = "the scene"
    if dem.aoi is not None:
        area = aoi_bounds(dem.aoi)
        area_crs = "EPSG:4326" if area.crs is None else area.crs.to_wkt()  # a box without CRS is lon/lat
        needed = needed.intersection(_reproject(area.geom, area_crs, "EPSG:4326", 1e-3))
        where = "the scene's part inside --aoi"
        if needed.is_empty:
            return  # the area of interest misses the scene: predict says so
    with rasterio.open(dem.path) as src:
        b = src.bounds
    extent = shapely.box(b.left, b.bottom, b.right, b.top)
    inside = _reproject(needed, "EPSG:4326", crs.to_wkt(), 1e-3)
    tol = 1e-6 if crs.is_geographic else 0.01
    if not extent.buffer(tol).contains(inside):
        w, s, e, n = needed.bounds
        raise SceneError(
            f"DEM {name} does not cover {where} of {scene_name} ({w:.4f},{s:.4f},{e:.4f},{n:.4f} "
            "west,south,east,north; --dem): give a DEM that covers it"
        )


def _reproject(geom: Any, src: str, dst: str, step: float) -> Any:
    """The shapely geometry ``geom`` from CRS ``src`` to ``dst``, its edges first cut into pieces of
    at most ``step`` (``src`` units) so that they follow the projection."""
    import shapely
    from pyproj import Transformer

    to = Transformer.from_crs(src, dst, always_xy=True)

    def points(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(to.transform(xy[:, 0], xy[:, 1]))

    return shapely.transform(shapely.segmentize(geom, step), points)


def read_orbit(annotation: bytes, name: str) -> Orbit:
    """The state vectors of an annotation (its bytes); refuses a product without the orbit
    sarsen needs."""
    import io

    from xarray_sentinel import esa_safe, sentinel1

    try:
        # xarray-sentinel's annotations say TextIO; ElementTree.parse, which reads them, takes bytes too
        if not esa_safe.parse_tag_as_list(io.BytesIO(annotation), "//orbit"):  # type: ignore[arg-type]
            raise ValueError("no state vectors")
        orbit = sentinel1.open_orbit_dataset(io.BytesIO(annotation))  # type: ignore[arg-type]
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise SceneError(
            f"{name} has no orbit state vectors in its annotation ({exc}): terrain correction "
            "(--dem) needs them; give an unchanged Sentinel-1 SAFE product"
        ) from None
    times = orbit.azimuth_time.values.astype("datetime64[ns]")
    if len(times) < MIN_STATE_VECTORS:
        raise SceneError(
            f"{name} has {len(times)} orbit state vectors in its annotation; terrain correction (--dem) "
            f"needs at least {MIN_STATE_VECTORS}: give an unchanged Sentinel-1 SAFE product"
        )
    return Orbit(times, orbit.position.values.T.astype(np.float64))


class Terrain:
    """The radar coordinates of output windows from a DEM and the product's orbit (see the module
    docstring). ``crs``: the scene's CRS (WKT); ``transform``: its 10 m grid. Picklable: the
    orbit fit and the coordinate transformer are rebuilt where they are used."""

    def __init__(self, dem: str, crs: str, transform: tuple[float, ...], orbit: Orbit):
        self.dem, self.crs, self.transform = dem, crs, transform
        self.epoch = orbit.epoch
        self.times, self.positions = orbit.times, orbit.positions
        self._orbit: Any = None  # sarsen's OrbitPolyfitInterpolator, built on first use
        self._ecef: Any = None  # pyproj Transformer, built on first use

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_orbit": None, "_ecef": None}

    def heights(self, rlo: int, rhi: int, clo: int, chi: int) -> np.ndarray:
        """DEM heights (float64, NaN: no data) on output rows ``rlo:rhi``, columns ``clo:chi``,
        reprojected bilinear onto the scene's grid."""
        import rasterio
        from rasterio.warp import Resampling, reproject

        a, _, c, _, e, f = self.transform[:6]
        dst = np.full((rhi - rlo, chi - clo), np.nan, dtype=np.float32)
        with rasterio.open(self.dem) as src:
            reproject(
                rasterio.band(src, 1),
                dst,
                src_nodata=src.nodata,
                dst_nodata=np.nan,
                dst_transform=rasterio.Affine(a, 0.0, c + clo * a, 0.0, e, f + rlo * e),
                dst_crs=self.crs,
                resampling=Resampling.bilinear,
            )
        return dst.astype(np.float64)

    def _acquisition(self, x: np.ndarray, y: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Zero-Doppler azimuth time (s from the epoch) and slant-range time of the points ``x``,
        ``y`` (2-D) at each height of ``levels``: arrays (levels, *x.shape)."""
        import xarray as xr
        from pyproj import Transformer
        from sarsen import geocoding, orbit

        if self._orbit is None:
            position = xr.DataArray(
                self.positions.T, dims=("axis", "azimuth_time"), coords={"axis": [0, 1, 2], "azimuth_time": self.times}
            )
            self._orbit = orbit.OrbitPolyfitInterpolator.from_position(position, epoch=self.epoch)
        if self._ecef is None:
            self._ecef = Transformer.from_crs(self.crs, "EPSG:4978", always_xy=True)
        shape = (len(levels), *x.shape)
        xx, yy = np.broadcast_to(x, shape), np.broadcast_to(y, shape)
        zz = np.broadcast_to(levels[:, None, None], shape)
        ex, ey, ez = self._ecef.transform(xx.ravel(), yy.ravel(), zz.ravel())
        dem_ecef = xr.DataArray(
            np.stack([ex, ey, ez]).reshape(3, *shape), dims=("axis", "level", "y", "x"), coords={"axis": [0, 1, 2]}
        )
        acq = geocoding.backward_geocode(dem_ecef, self._orbit, 0.0, zero_doppler_distance=1e-3)
        t = seconds(acq.azimuth_time.values, self.epoch)
        srt = 2.0 / SPEED_OF_LIGHT * np.sqrt((acq.dem_distance**2).sum("axis").values)
        return t, srt

    def coordinates(
        self, rlo: int, rhi: int, clo: int, chi: int, radars: tuple[Radar, ...]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Radar (line, pixel) of the centres of output rows ``rlo:rhi``, columns ``clo:chi``, one
        pair per converter in ``radars`` (:class:`GrdRadar`, :class:`SlcRadar`); NaN where the
        DEM has no data. A pixel's values do not depend on the window it is read in."""
        h = self.heights(rlo, rhi, clo, chi)
        ok = np.isfinite(h)
        if not ok.any():
            nan = np.full(h.shape, np.nan)
            return [(nan, nan.copy()) for _ in radars]
        k0 = math.floor(float(h[ok].min()) / LEVEL_STEP)
        k1 = max(math.ceil(float(h[ok].max()) / LEVEL_STEP), k0 + 1)
        levels = np.arange(k0, k1 + 1) * LEVEL_STEP
        a, _, c, _, e, f = self.transform[:6]
        step = LATTICE_STEP
        r0, c0 = rlo // step * step, clo // step * step
        rows = np.arange(r0, rhi + step, step, dtype=np.float64)
        cols = np.arange(c0, chi + step, step, dtype=np.float64)
        xx, yy = np.meshgrid(c + (cols + 0.5) * a, f + (rows + 0.5) * e)
        t, srt = self._acquisition(xx, yy, levels)
        wr = _hat(rows, np.arange(rlo, rhi, dtype=np.float64))
        wc = _hat(cols, np.arange(clo, chi, dtype=np.float64))
        u = np.where(ok, h / LEVEL_STEP, k0) - k0  # the pixel's height in levels
        out = []
        for radar in radars:
            line_l, pixel_l = radar(t, srt)
            line, pixel = np.zeros(h.shape), np.zeros(h.shape)
            for k in range(len(levels)):
                w = np.clip(1.0 - np.abs(u - k), 0.0, None)
                if not w.any():
                    continue
                line += w * (wr @ line_l[k] @ wc.T)
                pixel += w * (wr @ pixel_l[k] @ wc.T)
            line[~ok] = np.nan
            pixel[~ok] = np.nan
            out.append((line, pixel))
        return out


def _hat(knots: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Linear interpolation weights (targets x knots) from evenly spaced ``knots``."""
    step = knots[1] - knots[0]
    i = np.clip(np.floor((targets - knots[0]) / step).astype(np.int64), 0, len(knots) - 2)
    frac = (targets - knots[i]) / step
    w = np.zeros((len(targets), len(knots)))
    rows = np.arange(len(targets))
    w[rows, i] = 1.0 - frac
    w[rows, i + 1] += frac
    return w


def terrain_conversions(dem: str, vectors: int, crs: str, resampling: str, extra: str) -> tuple[str, ...]:
    """The ``conversions`` lines of a terrain-corrected geocoding."""
    return (
        f"DEM: {os.path.basename(dem)} (heights above the WGS84 ellipsoid, bilinear onto the output grid)",
        f"geocoding: terrain corrected with DEM (sarsen range-Doppler): zero-Doppler backward geocoding with "
        f"the annotation's orbit ({vectors} state vectors), {extra} -> {crs} at {PIXEL_SIZE:g} m, {resampling}; "
        "ellipsoid sigma0, no terrain flattening",
    )


def grd_geometry(annotation: bytes, image: dict[str, Any], name: str) -> tuple[Orbit, GrdRadar]:
    """Orbit state vectors and the GRD radar converter of an annotation; refuses what sarsen lacks."""
    import io

    from xarray_sentinel import sentinel1

    orbit = read_orbit(annotation, name)
    try:
        # xarray-sentinel's annotations say TextIO; ElementTree.parse, which reads them, takes bytes too
        cc = sentinel1.open_coordinate_conversion_dataset(io.BytesIO(annotation))  # type: ignore[arg-type]
    except (TypeError, ValueError, KeyError) as exc:
        raise SceneError(
            f"{name} has no slant-to-ground range conversion in its annotation ({exc}): terrain "
            "correction (--dem) needs it; give an unchanged Sentinel-1 GRD SAFE product"
        ) from None
    epoch = orbit.epoch
    radar = GrdRadar(
        seconds(image["productFirstLineUtcTime"], epoch),
        float(image["azimuthTimeInterval"]),
        float(image["rangePixelSpacing"]),
        seconds(cc.azimuth_time.values, epoch),
        cc.sr0.values.astype(np.float64),
        cc.srgrCoefficients.values.astype(np.float64),
    )
    return orbit, radar
