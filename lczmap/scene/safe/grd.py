"""Sentinel-1 IW GRD products in ESA's SAFE format as a :class:`~lczmap.scene.Scene`: digital
numbers calibrated to sigma0 with the product's calibration LUT, thermal noise removed with its
noise LUTs (range and, from IPF 2.9, azimuth vectors) and geocoded to the UTM zone of the scene
centre at 10 m from the annotation's geolocation grid (ellipsoid heights of the grid), or with a
DEM from the product's orbit (:mod:`.terrain`, sarsen's range-Doppler backward geocoding), one
output window at a time.

xarray-sentinel reads the annotation (image size, geolocation grid) and the calibration LUT, from
a folder or, through fsspec's zip file system, from a zip. Noise vectors are parsed here
(xarray-sentinel keeps only the first azimuth block of a GRD and needs range vectors on one pixel
grid) and the measurement TIFFs are read with rasterio (``/vsizip/`` inside a zip). Per window:
the output pixels' radar coordinates (line, pixel) come from the geolocation grid (piecewise
linear on its triangles in UTM, a quadratic fit outside it); the bounding radar window plus a
margin is read, ``sigma0 = (DN^2 - N) / A^2`` with ``A`` the sigmaNought LUT and ``N`` the noise
(range LUT x azimuth LUT), both bilinear in line and pixel, and the block is resampled onto the
window (bilinear by default). DN 0 is no data; sigma0 <= 0 after noise removal is set to
:data:`NOISE_FLOOR`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.etree import ElementTree

import numpy as np

from ...bands import BandSet
from ...errors import SceneError
from ..grid import PIXEL_SIZE
from ..scene import Scene, SceneBand
from .archive import Location, Manifest, check_measurements, check_polarisations, header, measurement_error
from .geolocation import LATTICE_STEP, GeolocationGrid, bilinear, utm_grid, weights
from .terrain import DemRequest, GrdRadar, Terrain, check_cover, grd_geometry, terrain_conversions

if TYPE_CHECKING:
    import fsspec

__all__ = ["open_grd", "SafeReader", "GrdBand", "calibrate", "NOISE_FLOOR"]

log = logging.getLogger(__name__)

#: sigma0 given to pixels whose noise-removed value is <= 0 (-50 dB; lczmap's choice).
NOISE_FLOOR = 1e-5


@dataclass(frozen=True)
class _Vector:
    line: float
    pixels: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class _AzimuthBlock:
    first_line: int
    last_line: int
    first_sample: int
    last_sample: int
    lines: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class GrdBand:
    """One polarisation: its measurement, calibration LUT (lines, pixels, sigmaNought) and noise."""

    pol: str
    measurement: str
    cal_lines: np.ndarray
    cal_pixels: np.ndarray
    sigma: np.ndarray
    noise_range: tuple[_Vector, ...]
    noise_azimuth: tuple[_AzimuthBlock, ...]


def _floats(text: str | None) -> np.ndarray:
    return np.array((text or "").split(), dtype=np.float64)


def _read_noise(fs: fsspec.AbstractFileSystem, path: str) -> tuple[tuple[_Vector, ...], tuple[_AzimuthBlock, ...]]:
    """Range vectors (``noiseRangeVector``, IPF >= 2.9, or ``noiseVector`` before) and azimuth
    blocks (``noiseAzimuthVector``, IPF >= 2.9) of a noise annotation."""
    with fs.open(path) as f:
        root = ElementTree.parse(f).getroot()
    vectors = []
    for tag, lut in (("noiseRangeVector", "noiseRangeLut"), ("noiseVector", "noiseLut")):
        for v in root.iter(tag):
            vectors.append(_Vector(float(v.findtext("line") or 0), _floats(v.findtext("pixel")), _floats(v.findtext(lut))))
        if vectors:
            break
    blocks = []
    for v in root.iter("noiseAzimuthVector"):
        blocks.append(
            _AzimuthBlock(
                int(v.findtext("firstAzimuthLine") or 0),
                int(v.findtext("lastAzimuthLine") or 0),
                int(v.findtext("firstRangeSample") or 0),
                int(v.findtext("lastRangeSample") or 0),
                _floats(v.findtext("line")),
                _floats(v.findtext("noiseAzimuthLut")),
            )
        )
    vectors.sort(key=lambda v: v.line)
    return tuple(vectors), tuple(blocks)


def calibrate(band: GrdBand, dn: np.ndarray, line0: int, pixel0: int, denoise: bool = True) -> np.ndarray:
    """sigma0 (float32) of the digital numbers ``dn`` whose first line and pixel are ``line0``,
    ``pixel0``: ``(DN^2 - N) / A^2``; NaN where DN is 0, :data:`NOISE_FLOOR` where <= 0."""
    h, w = dn.shape
    at_l = np.arange(line0, line0 + h, dtype=np.float64)
    at_p = np.arange(pixel0, pixel0 + w, dtype=np.float64)
    # float32 blocks (a window's radar block is millions of pixels, read by several threads at once)
    a = bilinear(band.cal_lines, band.cal_pixels, band.sigma, at_l, at_p).astype(np.float32)
    power = dn.astype(np.float32) ** 2
    if denoise and band.noise_range:
        knots = np.array([v.line for v in band.noise_range])
        wl, l0, l1 = weights(knots, at_l)
        rows = np.stack([np.interp(at_p, v.pixels, v.values) for v in band.noise_range[l0:l1]])
        noise = (wl @ rows).astype(np.float32)
        for b in band.noise_azimuth:
            r0, r1 = max(b.first_line, line0), min(b.last_line + 1, line0 + h)
            c0, c1 = max(b.first_sample, pixel0), min(b.last_sample + 1, pixel0 + w)
            if r0 < r1 and c0 < c1:
                factor = np.interp(np.arange(r0, r1, dtype=np.float64), b.lines, b.values).astype(np.float32)
                noise[r0 - line0 : r1 - line0, c0 - pixel0 : c1 - pixel0] *= factor[:, None]
        power -= noise
    a *= a
    sigma0 = power / a
    sigma0[sigma0 <= 0] = NOISE_FLOOR
    sigma0[dn == 0] = np.nan
    return sigma0


class SafeReader:
    """Reads windows of the 10 m UTM grid of a SAFE GRD product (see the module docstring):
    ``grid`` maps the output pixels to radar coordinates on the ellipsoid; with a DEM,
    ``terrain`` (:class:`~.terrain.Terrain` and the GRD's radar converter) does instead.
    Picklable: plain arrays; the triangulation is rebuilt where it is used."""

    def __init__(
        self,
        bands: tuple[GrdBand, ...],
        lines: int,
        samples: int,
        grid: GeolocationGrid,
        transform: tuple[float, ...],
        order: int,
        terrain: tuple[Terrain, GrdRadar] | None = None,
    ):
        self.bands, self.lines, self.samples, self.grid = bands, lines, samples, grid
        self.transform, self.order = transform, order
        self.terrain = terrain

    def coordinates(self, rlo: int, rhi: int, clo: int, chi: int) -> tuple[np.ndarray, np.ndarray]:
        """Radar (line, pixel) of the centres of output rows ``rlo:rhi``, columns ``clo:chi`` on the
        ellipsoid: exact every :data:`~.geolocation.LATTICE_STEP` pixels, bilinear in between."""
        step = LATTICE_STEP
        a, _, c, _, e, f = self.transform[:6]
        rows = np.arange(rlo, rhi + step, step, dtype=np.float64)
        cols = np.arange(clo, chi + step, step, dtype=np.float64)
        xx, yy = np.meshgrid(c + (cols + 0.5) * a, f + (rows + 0.5) * e)
        cl, cp = self.grid.radar(xx, yy)
        wr, r0, r1 = weights(rows, np.arange(rlo, rhi, dtype=np.float64))
        wc, c0, c1 = weights(cols, np.arange(clo, chi, dtype=np.float64))
        return wr @ cl[r0:r1, c0:c1] @ wc.T, wr @ cp[r0:r1, c0:c1] @ wc.T

    def read_window(
        self, bands: tuple[SceneBand, ...], rlo: int, rhi: int, clo: int, chi: int, out: np.ndarray | None = None
    ) -> np.ndarray:
        """sigma0 of ``bands`` on output rows ``rlo:rhi`` and columns ``clo:chi`` (NaN: no data)."""
        import rasterio
        from rasterio.windows import Window
        from scipy.ndimage import map_coordinates

        h, w = rhi - rlo, chi - clo
        if out is None:
            out = np.empty((len(bands), h, w), dtype=np.float32)
        if self.terrain is None:
            line, pixel = self.coordinates(rlo, rhi, clo, chi)
        else:
            terrain, radar = self.terrain
            line, pixel = terrain.coordinates(rlo, rhi, clo, chi, (radar,))[0]
            line, pixel = np.nan_to_num(line, nan=-1e6), np.nan_to_num(pixel, nan=-1e6)  # no DEM height: no data
        inside = (line >= -0.5) & (line <= self.lines - 0.5) & (pixel >= -0.5) & (pixel <= self.samples - 0.5)
        if not inside.any():
            out.fill(np.nan)
            return out
        margin = 2
        l0 = max(int(math.floor(line[inside].min())) - margin, 0)
        l1 = min(int(math.ceil(line[inside].max())) + margin + 1, self.lines)
        p0 = max(int(math.floor(pixel[inside].min())) - margin, 0)
        p1 = min(int(math.ceil(pixel[inside].max())) + margin + 1, self.samples)
        by_path = {b.measurement: b for b in self.bands}
        coords = np.stack([np.clip(line - l0, 0, l1 - l0 - 1), np.clip(pixel - p0, 0, p1 - p0 - 1)])
        for i, sb in enumerate(bands):
            band = by_path[sb.path]
            try:
                with rasterio.open(band.measurement) as src:
                    dn = src.read(1, window=Window(p0, l0, p1 - p0, l1 - l0))
            except rasterio.errors.RasterioIOError as exc:  # damaged after the checks at open time
                raise measurement_error(band.measurement, exc) from None
            sigma0 = calibrate(band, dn, l0, p0)
            out[i] = map_coordinates(sigma0, coords, order=self.order, mode="nearest", prefilter=False)
            out[i][~inside] = np.nan
        return out


def open_grd(
    loc: Location,
    fs: fsspec.AbstractFileSystem,
    name: str,
    bs: BandSet,
    manifest: Manifest,
    order: int,
    resampling: str,
    dem: DemRequest | None = None,
) -> Scene:
    """The Scene of an IW GRD product already located and identified by
    :func:`~lczmap.scene.safe.open_safe` (see the module docstring): ``order`` the resampling's
    spline order, ``resampling`` its name; ``dem``: the DEM to terrain-correct with."""
    wanted = []
    for ch in bs.channels:
        if ch.quantity != "intensity":
            raise SceneError(
                f"the model expects {ch.name} (band set {bs.name}) but {name} is a GRD product "
                "(intensity only): train a model with --sar-bands lee-intensity"
            )
        wanted.append(ch.band)
    pols = list(manifest.polarisations)
    check_polarisations(name, pols, wanted)
    files = {(f.kind, f.pol): href for href, f in manifest.files.items()}
    missing = [
        f"{kind} {pol}"
        for pol in wanted
        for kind in ("measurement", "annotation", "calibration", "noise")
        if (kind, pol) not in files or not fs.exists(loc.fs_path(files[(kind, pol)]))
    ]
    if missing:
        raise SceneError(f"{name} lacks files the manifest lists ({', '.join(missing)}): download the complete product again")
    absent = [
        pol
        for pol in pols
        if pol not in wanted
        and not all(
            (kind, pol) in files and fs.exists(loc.fs_path(files[(kind, pol)]))
            for kind in ("measurement", "annotation", "calibration", "noise")
        )
    ]
    note: tuple[str, ...] = ()
    if absent:  # a partial product: what the model needs is there
        note = (
            f"polarisations: {', '.join(wanted)} mapped; {', '.join(absent)} missing from the product (listed in its manifest)",
        )
        log.warning(
            "%s lacks the %s files its manifest lists: mapping %s, which the model needs",
            name,
            ", ".join(absent),
            ", ".join(wanted),
        )
    import xarray_sentinel
    from xarray_sentinel import esa_safe

    annotation = loc.fs_path(files[("annotation", wanted[0])])
    swath = manifest.swaths[0].upper()
    try:
        with fs.open(annotation) as f:
            image = esa_safe.parse_tag(f, "//imageInformation")
        with fs.open(annotation) as f:
            gcp = xarray_sentinel.sentinel1.open_gcp_dataset(f)
        if dem is not None:
            with fs.open(annotation) as f:
                text = f.read()
            orbit, radar = grd_geometry(text, image, name)
        bands = []
        for pol in wanted:
            cal = xarray_sentinel.open_sentinel1_dataset(loc.root, fs=fs, group=f"{swath}/{pol}/calibration")
            noise_range, noise_azimuth = _read_noise(fs, loc.fs_path(files[("noise", pol)]))
            bands.append(
                GrdBand(
                    pol,
                    loc.gdal(files[("measurement", pol)]),
                    cal.line.values.astype(np.float64),
                    cal.pixel.values.astype(np.float64),
                    cal.sigmaNought.values.astype(np.float64),
                    noise_range,
                    noise_azimuth,
                )
            )
    except (ValueError, KeyError, TypeError, ElementTree.ParseError) as exc:
        raise SceneError(
            f"{name}: cannot read its annotation ({type(exc).__name__}: {exc}): give an unchanged Sentinel-1 SAFE product"
        ) from None
    lines, samples = int(image["numberOfLines"]), int(image["numberOfSamples"])
    check_measurements([(b.measurement, lines, samples) for b in bands], ("uint16",))
    lat, lon = gcp.latitude.values, gcp.longitude.values
    line_g = np.broadcast_to(gcp.line.values[:, None], lat.shape).astype(np.float64)
    pixel_g = np.broadcast_to(gcp.pixel.values[None, :], lat.shape).astype(np.float64)
    ok = np.isfinite(lat) & np.isfinite(lon)
    lonlat = np.stack([lon[ok], lat[ok]], axis=1)
    grid, (xy,) = utm_grid([(lon[i, j], lat[i, j]) for i in (0, -1) for j in (0, -1)], [lonlat])
    crs, transform = grid.crs, grid.transform
    terrain = None
    geocoding: tuple[str, ...] = (
        f"geocoding: ellipsoid, annotation geolocation grid ({int(ok.sum())} points) -> {crs.to_string()} at "
        f"{PIXEL_SIZE:g} m, {resampling}",
    )
    if dem is not None:
        check_cover(dem, lonlat, name)
        terrain = (Terrain(dem.path, crs.to_wkt(), transform, orbit), radar)
        geocoding = terrain_conversions(
            dem.path,
            len(orbit.times),
            crs.to_string(),
            resampling,
            "slant-to-ground range: annotation coordinateConversion (srgrCoefficients)",
        )
    lp = np.stack([line_g[ok], pixel_g[ok]], axis=1)
    reader = SafeReader(tuple(bands), lines, samples, GeolocationGrid(xy, lp), transform, order, terrain)
    ptype = manifest.product_type.upper()
    parts = name.split("_")
    label = parts[2] if len(parts) > 2 and parts[2].upper().startswith(ptype) else ptype  # GRDH, GRDM
    azimuth = any(b.noise_azimuth for b in bands)
    conversions = (
        *header(manifest, label, wanted),
        *note,
        "calibration: DN -> sigma0 = (DN^2 - N) / A^2, A = sigmaNought calibration LUT (bilinear)",
        "noise removal: N = noise range LUT" + (" x noise azimuth LUT" if azimuth else "") + f" (bilinear); "
        f"values <= 0 -> {NOISE_FLOOR:g}",
        *geocoding,
        "no data: DN 0",
    )
    scene_bands = tuple(SceneBand(b.measurement, 1, "value", 0.0, ch) for b, ch in zip(bands, bs.channels))
    return Scene(
        name=name.rsplit(".", 1)[0] if name.lower().endswith((".safe", ".zip")) else name,
        bands=scene_bands,
        units="linear",
        crs=crs.to_wkt(),
        transform=transform,
        height=grid.height,
        width=grid.width,
        band_set=bs.name,
        sources=(loc.path,),
        quantity="sigma0",
        conversions=conversions,
        reader=reader,
    )
