"""Sentinel-1 IW GRD products in ESA's SAFE format (a ``.SAFE`` folder or its ``.zip``) as a
:class:`~lczmap.scene.Scene`: digital numbers calibrated to sigma0 with the product's calibration
LUT, thermal noise removed with its noise LUTs (range and, from IPF 2.9, azimuth vectors) and
geocoded to the UTM zone of the scene centre at 10 m from the annotation's geolocation grid
(ellipsoid heights of the grid), or with a DEM from the product's orbit (:mod:`.terrain`, sarsen's
range-Doppler backward geocoding), one output window at a time.

xarray-sentinel reads the manifest, the annotation (image size, geolocation grid) and the
calibration LUT, from a folder or, through fsspec's zip file system, from a zip. Noise vectors are
parsed here (xarray-sentinel keeps only the first azimuth block of a GRD and needs range vectors
on one pixel grid) and the measurement TIFFs are read with rasterio (``/vsizip/`` inside a zip).
Per window: the output pixels' radar coordinates (line, pixel) come from the geolocation grid
(piecewise linear on its triangles in UTM, a quadratic fit outside it); the bounding radar window
plus a margin is read, ``sigma0 = (DN^2 - N) / A^2`` with ``A`` the sigmaNought LUT and ``N`` the
noise (range LUT x azimuth LUT), both bilinear in line and pixel, and the block is resampled onto
the window (bilinear by default). DN 0 is no data; sigma0 <= 0 after noise removal is set to
:data:`NOISE_FLOOR`. IW SLC products go to :mod:`.safe_slc`, which shares the helpers here.

One module: the GRD reader and the SAFE plumbing that the SLC and terrain readers share (locating
files in folders and zips, the manifest, the geolocation grid) change together.
"""

from __future__ import annotations

import math
import os
import re
import zipfile
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import numpy as np

from ..bands import Backscatter, BandSet, band_set as _band_set
from ..errors import SceneError
from .grid import PIXEL_SIZE, utm_crs
from .scene import Scene, SceneBand

__all__ = ["is_safe", "open_safe", "SUPPORTED_MODES", "SUPPORTED_TYPES", "NOISE_FLOOR", "SafeReader"]

#: Acquisition modes and product types lczmap maps.
SUPPORTED_MODES = ("IW",)
SUPPORTED_TYPES = ("GRD", "SLC")
#: sigma0 given to pixels whose noise-removed value is <= 0 (-50 dB; lczmap's choice).
NOISE_FLOOR = 1e-5
#: Output pixels between the radar coordinates evaluated exactly (bilinear in between).
_STEP = 16
_SAFE_NAME = re.compile(r"^S1[ABCD]_(IW|EW|SM|WV|S\d)_(GRD|SLC|OCN|RAW)", re.IGNORECASE)
_RESAMPLING = {"bilinear": 1, "nearest": 0}
_MAPS = ("lczmap maps IW GRD products (GRDH/GRDM) only for intensity models and IW SLC products for complex "
         "models; EW, SM and WV modes are not supported")


def is_safe(path: str) -> bool:
    """Whether ``path`` names a SAFE product: a folder holding ``manifest.safe`` (or named
    ``*.SAFE``), or a ``.zip`` file."""
    p = os.path.normpath(path)
    if os.path.isdir(p):
        return p.lower().endswith(".safe") or os.path.isfile(os.path.join(p, "manifest.safe"))
    return p.lower().endswith(".zip") or (p.lower().endswith(".safe") and not os.path.exists(p))


@dataclass(frozen=True)
class _Location:
    """Where the product's files are: ``folder`` (the .SAFE) or ``zip_path`` + ``member`` (the
    .SAFE folder inside the zip)."""

    path: str
    zip_path: str | None
    member: str

    def fs(self) -> Any:
        import fsspec

        if self.zip_path is None:
            return fsspec.filesystem("file")
        return fsspec.filesystem("zip", fo=self.zip_path)

    @property
    def root(self) -> str:
        """The .SAFE folder as the fsspec file system names it."""
        return self.path if self.zip_path is None else self.member

    def gdal(self, href: str) -> str:
        rel = os.path.normpath(href).replace(os.sep, "/")
        if self.zip_path is None:
            return os.path.join(self.path, rel)
        return f"/vsizip/{os.path.abspath(self.zip_path)}/{self.member}/{rel}"


def _locate(path: str) -> _Location:
    name = os.path.basename(os.path.normpath(path))
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "manifest.safe")):
            raise SceneError(f"{name} has no manifest.safe: give the complete .SAFE folder of a Sentinel-1 product")
        return _Location(os.path.normpath(path), None, "")
    if not os.path.isfile(path):
        raise SceneError(f"scene {path} does not exist: check the path")
    if not zipfile.is_zipfile(path):
        raise SceneError(f"{name} is not a readable zip file (corrupt or truncated): download the product again")
    try:
        with zipfile.ZipFile(path) as z:
            manifests = [n for n in z.namelist() if n.lower().endswith(".safe/manifest.safe")]
            bad = z.testzip() if os.path.getsize(path) < 64 * 2**20 else None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise SceneError(f"{name} is not a readable zip file ({exc}): download the product again") from None
    if bad is not None:
        raise SceneError(f"{name} is corrupt ({bad} fails its checksum): download the product again")
    if len(manifests) != 1:
        raise SceneError(f"{name} holds {'no' if not manifests else 'more than one'} .SAFE/manifest.safe: "
                         "give the zip of one Sentinel-1 SAFE product")
    return _Location(os.path.normpath(path), path, manifests[0].rsplit("/", 1)[0])


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
class _Band:
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


def _read_noise(fs: Any, path: str) -> tuple[tuple[_Vector, ...], tuple[_AzimuthBlock, ...]]:
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
        blocks.append(_AzimuthBlock(int(v.findtext("firstAzimuthLine") or 0), int(v.findtext("lastAzimuthLine") or 0),
                                    int(v.findtext("firstRangeSample") or 0), int(v.findtext("lastRangeSample") or 0),
                                    _floats(v.findtext("line")), _floats(v.findtext("noiseAzimuthLut"))))
    vectors.sort(key=lambda v: v.line)
    return tuple(vectors), tuple(blocks)


def _weights(knots: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Linear interpolation from ``knots`` to ``targets`` (clamped at the ends) as a dense matrix
    (targets x used knots) and the used knots' range ``lo:hi``."""
    n = len(knots)
    if n == 1:
        return np.ones((len(targets), 1)), 0, 1
    i = np.clip(np.searchsorted(knots, targets, side="right") - 1, 0, n - 2)
    lo, hi = int(i.min()), int(i.max()) + 2
    frac = np.clip((targets - knots[i]) / (knots[i + 1] - knots[i]), 0.0, 1.0)
    w = np.zeros((len(targets), hi - lo))
    rows = np.arange(len(targets))
    w[rows, i - lo] = 1.0 - frac
    w[rows, i + 1 - lo] += frac
    return w, lo, hi


def _bilinear(lines: np.ndarray, pixels: np.ndarray, lut: np.ndarray, at_lines: np.ndarray,
              at_pixels: np.ndarray) -> np.ndarray:
    """A LUT given on a (lines x pixels) grid, bilinear at ``at_lines`` x ``at_pixels``."""
    wl, l0, l1 = _weights(lines, at_lines)
    wp, p0, p1 = _weights(pixels, at_pixels)
    return wl @ lut[l0:l1, p0:p1] @ wp.T


def calibrate(band: _Band, dn: np.ndarray, line0: int, pixel0: int, denoise: bool = True) -> np.ndarray:
    """sigma0 (float32) of the digital numbers ``dn`` whose first line and pixel are ``line0``,
    ``pixel0``: ``(DN^2 - N) / A^2``; NaN where DN is 0, :data:`NOISE_FLOOR` where <= 0."""
    h, w = dn.shape
    at_l = np.arange(line0, line0 + h, dtype=np.float64)
    at_p = np.arange(pixel0, pixel0 + w, dtype=np.float64)
    # float32 blocks (a window's radar block is millions of pixels, read by several threads at once)
    a = _bilinear(band.cal_lines, band.cal_pixels, band.sigma, at_l, at_p).astype(np.float32)
    power = dn.astype(np.float32) ** 2
    if denoise and band.noise_range:
        knots = np.array([v.line for v in band.noise_range])
        wl, l0, l1 = _weights(knots, at_l)
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


class GeolocationGrid:
    """Map coordinates (x, y) -> radar coordinates of a geolocation grid: ``gcp_xy`` (N, 2) in the
    scene's CRS, ``gcp_lp`` (N, 2) the radar coordinates there; piecewise linear on the grid's
    triangles, a quadratic fit outside. Picklable: the triangulation is rebuilt where it is used."""

    def __init__(self, gcp_xy: np.ndarray, gcp_lp: np.ndarray):
        self.gcp_xy, self.gcp_lp = gcp_xy, gcp_lp
        self._scale = (gcp_xy.mean(axis=0), gcp_xy.std(axis=0) + 1.0)
        self._poly = np.linalg.lstsq(self._design(gcp_xy), gcp_lp, rcond=None)[0]
        self._interp: Any = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_interp": None}

    def _design(self, xy: np.ndarray) -> np.ndarray:
        u = (xy - self._scale[0]) / self._scale[1]
        x, y = u[:, 0], u[:, 1]
        return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)

    def radar(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(line, pixel) of map coordinates ``x``, ``y`` (any shape) in the scene's UTM zone."""
        from scipy.spatial import Delaunay

        if self._interp is None:
            self._interp = Delaunay((self.gcp_xy - self._scale[0]) / self._scale[1])
        tri = self._interp
        xy = np.stack([x.ravel(), y.ravel()], axis=1)
        u = (xy - self._scale[0]) / self._scale[1]
        simplex = tri.find_simplex(u)
        inside = simplex >= 0
        lp = np.empty((len(u), 2))
        t = tri.transform[simplex[inside]]  # barycentric coordinates, as scipy's LinearNDInterpolator
        b = np.einsum("nij,nj->ni", t[:, :2], u[inside] - t[:, 2])
        bary = np.concatenate([b, 1 - b.sum(axis=1, keepdims=True)], axis=1)
        lp[inside] = np.einsum("ni,nij->nj", bary, self.gcp_lp[tri.simplices[simplex[inside]]])
        if not inside.all():
            lp[~inside] = self._design(xy[~inside]) @ self._poly
        return lp[:, 0].reshape(x.shape), lp[:, 1].reshape(x.shape)


class SafeReader(GeolocationGrid):
    """Reads windows of the 10 m UTM grid of a SAFE GRD product (see the module docstring).
    Picklable: plain arrays; the triangulation is rebuilt where it is used."""

    def __init__(self, bands: tuple[_Band, ...], lines: int, samples: int, gcp_xy: np.ndarray,
                 gcp_lp: np.ndarray, transform: tuple, order: int):
        super().__init__(gcp_xy, gcp_lp)
        self.bands, self.lines, self.samples = bands, lines, samples
        self.transform, self.order = transform, order
        self.terrain: Any = None  # (Terrain, GrdRadar) with a DEM (lczmap.scene.terrain)

    def coordinates(self, rlo: int, rhi: int, clo: int, chi: int) -> tuple[np.ndarray, np.ndarray]:
        """Radar (line, pixel) of the centres of output rows ``rlo:rhi``, columns ``clo:chi``:
        exact every :data:`_STEP` pixels, bilinear in between."""
        a, _, c, _, e, f = self.transform[:6]
        rows = np.arange(rlo, rhi + _STEP, _STEP, dtype=np.float64)
        cols = np.arange(clo, chi + _STEP, _STEP, dtype=np.float64)
        xx, yy = np.meshgrid(c + (cols + 0.5) * a, f + (rows + 0.5) * e)
        cl, cp = self.radar(xx, yy)
        wr, r0, r1 = _weights(rows, np.arange(rlo, rhi, dtype=np.float64))
        wc, c0, c1 = _weights(cols, np.arange(clo, chi, dtype=np.float64))
        return wr @ cl[r0:r1, c0:c1] @ wc.T, wr @ cp[r0:r1, c0:c1] @ wc.T

    def read_window(self, bands: tuple[SceneBand, ...], rlo: int, rhi: int, clo: int, chi: int,
                    out: np.ndarray | None = None) -> np.ndarray:
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
            with rasterio.open(band.measurement) as src:
                dn = src.read(1, window=Window(p0, l0, p1 - p0, l1 - l0))
            sigma0 = calibrate(band, dn, l0, p0)
            out[i] = map_coordinates(sigma0, coords, order=self.order, mode="nearest", prefilter=False)
            out[i][~inside] = np.nan
        return out


#: The manifest's representation IDs of the files lczmap reads, by kind.
KINDS = {"s1Level1ProductSchema": "annotation", "s1Level1CalibrationSchema": "calibration",
         "s1Level1NoiseSchema": "noise", "s1Level1MeasurementSchema": "measurement"}


def read_manifest(loc: _Location, fs: Any) -> tuple[dict, dict[str, tuple]]:
    """The manifest's attributes and files (xarray-sentinel: href -> (representation, prefix,
    swath, polarisation, date))."""
    from xarray_sentinel import esa_safe

    try:
        with fs.open(f"{loc.root}/manifest.safe") as f:
            attrs, files = esa_safe.parse_manifest_sentinel1.__wrapped__(f)
    except (ValueError, KeyError, ElementTree.ParseError) as exc:
        raise SceneError(f"{os.path.basename(loc.path)}: cannot read its manifest.safe ({exc}): give an unchanged "
                         "Sentinel-1 SAFE product") from None
    return dict(attrs), files


def _files(loc: _Location, fs: Any) -> tuple[dict, dict[tuple[str, str], str]]:
    """The manifest's attributes (xarray-sentinel) and its files by (kind, polarisation)."""
    attrs, files = read_manifest(loc, fs)
    found = {}
    for href, (rep, _, _, pol, _) in files.items():
        if rep in KINDS:
            found[(KINDS[rep], pol.upper())] = href
    return attrs, found


def check_polarisations(name: str, pols: list[str], wanted: list[str]) -> None:
    """Refuse a product whose polarisations ``pols`` lack what the model needs (``wanted``)."""
    if set(pols) <= {"HH", "HV"} and set(wanted) & {"VV", "VH"}:
        raise SceneError(f"{name} holds {'/'.join(pols)} only (horizontal transmit) but the model was trained on "
                         "So2Sat's VV/VH: HH/HV backscatter differs from VV/VH, so this model cannot map it: "
                         "use a VV/VH acquisition")
    missing = [p for p in wanted if p not in pols]
    if missing:
        raise SceneError(f"{name} has no {', '.join(missing)} (it has {', '.join(pols)}) but the model needs "
                         f"{', '.join(wanted)}: give a product with {', '.join(missing)}")


def ipf_version(fs: Any, loc: _Location) -> str:
    with fs.open(f"{loc.root}/manifest.safe") as f:
        text = f.read().decode("utf-8", "replace")
    m = re.search(r'<safe:software name="Sentinel-1 IPF" version="([\d.]+)"', text)
    return m.group(1) if m else "unknown"


def open_safe(path: str | os.PathLike, band_set: BandSet | str = "lee-intensity", *, bands: Any = None,
              units: Any = None, quantity: Backscatter | None = None, resample: str | None = None,
              dem: str | os.PathLike | None = None, aoi: Any = None) -> Scene:
    """Open a Sentinel-1 IW GRD SAFE product (``.SAFE`` folder or ``.zip``) for a model trained on
    ``band_set`` (intensity channels only), or an IW SLC product for one trained on complex
    channels (:mod:`.safe_slc`). ``resample``: ``bilinear`` (None) or ``nearest`` for the GRD
    geocoding (SLC: nearest only). ``bands`` and ``units`` do not apply (the product says);
    ``quantity`` may only be sigma0. ``dem``: a DEM GeoTIFF (any CRS; heights above the ellipsoid)
    to terrain-correct the geocoding with (:mod:`.terrain`); it must cover the scene, or its part
    inside ``aoi`` (a lon/lat box ``(w, s, e, n)`` or a vector file, as ``PredictOptions.aoi``).
    Raises :class:`SceneError` for what cannot be mapped, before anything is read."""
    path = os.fspath(path)
    name = os.path.basename(os.path.normpath(path))
    bs = _band_set(band_set, "sar") if isinstance(band_set, str) else band_set
    if bands is not None or units is not None:
        raise SceneError(f"--bands and --units do not apply to {name}: a SAFE product says which file holds which "
                         "polarisation and lczmap calibrates its digital numbers itself: drop them")
    if quantity not in (None, "sigma0"):
        raise SceneError(f"{name} is calibrated to sigma0 with its calibration LUT: drop --quantity {quantity}")
    order = _RESAMPLING.get(resample or "bilinear")
    if order is None:
        raise SceneError(f"--resample {resample} is not offered for SAFE products: use bilinear or nearest (SLC: nearest)")
    dem_crs = None
    if dem is not None:
        from .terrain import open_dem

        dem, dem_crs = open_dem(dem)
    m = _SAFE_NAME.match(name)
    if m and m.group(1).upper() not in SUPPORTED_MODES:
        raise SceneError(f"{name} is a Sentinel-1 {m.group(1).upper()} product: {_MAPS}")
    loc = _locate(path)
    fs = loc.fs()
    attrs, files = _files(loc, fs)
    mode, ptype = str(attrs["mode"]).upper(), str(attrs["product_type"]).upper()
    if mode not in SUPPORTED_MODES:
        raise SceneError(f"{name} is a Sentinel-1 {mode} {ptype} product: {_MAPS}")
    if ptype not in SUPPORTED_TYPES:
        raise SceneError(f"{name} is an IW {ptype} product: {_MAPS}")
    if ptype == "SLC":
        from .safe_slc import open_slc

        return open_slc(loc, fs, name, bs, attrs, resample, None if dem is None else (dem, dem_crs, aoi))
    wanted = []
    for ch in bs.channels:
        if ch.quantity != "intensity":
            raise SceneError(f"the model expects {ch.name} (band set {bs.name}) but {name} is a GRD product "
                             "(intensity only): train a model with --sar-bands lee-intensity")
        wanted.append(ch.band)
    pols = [p.upper() for p in attrs["transmitter_receiver_polarisations"]]
    check_polarisations(name, pols, wanted)
    missing = [f"{kind} {pol}" for pol in wanted for kind in ("measurement", "annotation", "calibration", "noise")
               if (kind, pol) not in files or not fs.exists(f"{loc.root}/{os.path.normpath(files[(kind, pol)])}")]
    if missing:
        raise SceneError(f"{name} lacks files the manifest lists ({', '.join(missing)}): download the complete "
                         "product again")
    return _scene(loc, fs, name, bs, attrs, files, wanted, pols, order, resample or "bilinear",
                  None if dem is None else (dem, dem_crs, aoi))


def _scene(loc: _Location, fs: Any, name: str, bs: BandSet, attrs: dict, files: dict, wanted: list[str],
           pols: list[str], order: int, resampling: str, dem: tuple | None = None) -> Scene:
    import xarray_sentinel
    from pyproj import Transformer
    from xarray_sentinel import esa_safe

    def fs_path(href: str) -> str:
        return f"{loc.root}/{os.path.normpath(href)}"

    swath = str(attrs["swaths"][0]).upper()
    try:
        with fs.open(fs_path(files[("annotation", wanted[0])])) as f:
            image = esa_safe.parse_tag(f, "//imageInformation")
        with fs.open(fs_path(files[("annotation", wanted[0])])) as f:
            gcp = xarray_sentinel.sentinel1.open_gcp_dataset(f)
        if dem is not None:
            with fs.open(fs_path(files[("annotation", wanted[0])])) as f:
                text = f.read()
            from .terrain import grd_geometry

            geometry = grd_geometry(text, image, name)
        bands = []
        for pol in wanted:
            cal = xarray_sentinel.open_sentinel1_dataset(loc.root, fs=fs, group=f"{swath}/{pol}/calibration")
            noise_range, noise_azimuth = _read_noise(fs, fs_path(files[("noise", pol)]))
            bands.append(_Band(pol, loc.gdal(files[("measurement", pol)]), cal.line.values.astype(np.float64),
                               cal.pixel.values.astype(np.float64), cal.sigmaNought.values.astype(np.float64),
                               noise_range, noise_azimuth))
    except (ValueError, KeyError, TypeError, ElementTree.ParseError) as exc:
        raise SceneError(f"{name}: cannot read its annotation ({type(exc).__name__}: {exc}): give an unchanged "
                         "Sentinel-1 SAFE product") from None
    lines, samples = int(image["numberOfLines"]), int(image["numberOfSamples"])
    lat, lon = gcp.latitude.values, gcp.longitude.values
    line_g = np.broadcast_to(gcp.line.values[:, None], lat.shape).astype(np.float64)
    pixel_g = np.broadcast_to(gcp.pixel.values[None, :], lat.shape).astype(np.float64)
    ok = np.isfinite(lat) & np.isfinite(lon)
    corners = [(lon[i, j], lat[i, j]) for i in (0, -1) for j in (0, -1)]
    clon, clat = float(np.mean([c[0] for c in corners])), float(np.mean([c[1] for c in corners]))
    crs = utm_crs(clon, clat)
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = to_utm.transform(lon[ok], lat[ok])
    xy = np.stack([x, y], axis=1)
    lp = np.stack([line_g[ok], pixel_g[ok]], axis=1)
    half = PIXEL_SIZE / 2  # the grid's outer points are pixel centres
    eps = 1e-6  # pixels: points on pixel centres, up to the round trip through lon/lat, stay on them
    x0 = math.floor((xy[:, 0].min() - half) / PIXEL_SIZE + eps) * PIXEL_SIZE
    y0 = math.ceil((xy[:, 1].max() + half) / PIXEL_SIZE - eps) * PIXEL_SIZE
    width = int(math.ceil((xy[:, 0].max() + half - x0) / PIXEL_SIZE - eps))
    height = int(math.ceil((y0 - xy[:, 1].min() + half) / PIXEL_SIZE - eps))
    transform = (PIXEL_SIZE, 0.0, float(x0), 0.0, -PIXEL_SIZE, float(y0))
    reader = SafeReader(tuple(bands), lines, samples, xy, lp, transform, order)
    geocoding: tuple[str, ...] = (f"geocoding: ellipsoid, annotation geolocation grid ({int(ok.sum())} points) -> {crs.to_string()} at "
                 f"{PIXEL_SIZE:g} m, {resampling}",)
    if dem is not None:
        from .terrain import Terrain, check_cover, terrain_conversions

        check_cover(dem[0], dem[1], np.stack([lon[ok], lat[ok]], axis=1), dem[2], name)
        times, positions, radar = geometry
        terrain = Terrain(dem[0], crs.to_wkt(), transform, times, positions)
        reader.terrain = (terrain, radar)
        geocoding = terrain_conversions(dem[0], len(times), crs.to_string(), resampling,
                                        "slant-to-ground range: annotation coordinateConversion (srgrCoefficients)")
    ipf = ipf_version(fs, loc)
    ptype = str(attrs["product_type"]).upper()
    parts = name.split("_")
    label = parts[2] if len(parts) > 2 and parts[2].upper().startswith(ptype) else ptype  # GRDH, GRDM
    azimuth = any(b.noise_azimuth for b in bands)
    conversions = (
        f"product: Sentinel-1{attrs['number']} {attrs['mode']} {label} SAFE (manifest.safe, IPF {ipf})",
        f"orbit: absolute {attrs['orbit_number']}, relative {attrs['relative_orbit_number']}, {str(attrs['pass']).lower()}",
        f"acquisition: {attrs['start_time']} to {attrs['stop_time']} UTC",
        f"polarisations: {', '.join(pols)} (used: {', '.join(wanted)})",
        "calibration: DN -> sigma0 = (DN^2 - N) / A^2, A = sigmaNought calibration LUT (bilinear)",
        "noise removal: N = noise range LUT" + (" x noise azimuth LUT" if azimuth else "") + f" (bilinear); "
        f"values <= 0 -> {NOISE_FLOOR:g}",
        *geocoding,
        "no data: DN 0",
    )
    scene_bands = tuple(SceneBand(b.measurement, 1, "value", 0.0, ch) for b, ch in zip(bands, bs.channels))
    return Scene(name=name.rsplit(".", 1)[0] if name.lower().endswith((".safe", ".zip")) else name,
                 bands=scene_bands, units="linear", crs=crs.to_wkt(), transform=transform, height=height,
                 width=width, band_set=bs.name, sources=(loc.path,), quantity="sigma0",
                 conversions=conversions, reader=reader)

