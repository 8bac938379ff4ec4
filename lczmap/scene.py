"""Open a Sentinel-1 scene lazily and map its bands onto a model's SAR band set.

A :class:`Scene` is a small, picklable description of where each model channel comes from
(file, band, real/imaginary part), the units, and the 10 m grid the model sees. Pixels are read
on demand with :meth:`Scene.read` (any row/column range; outside the scene the image is mirrored,
numpy's ``reflect``), or as a dask-backed :class:`xarray.DataArray` with
:meth:`Scene.to_dataarray`. Nothing is read when a scene is opened except a small sample used to
check the units.

Inputs: anything GDAL reads (GeoTIFF, COG, VRT, ``/vsicurl/`` URLs), one multi-band file or one
file per polarisation. Complex bands (SLC) supply real and imaginary parts. Bands are matched to
the model's channels by their description (``VV``, ``VH``, ``VV real``...) or by ``bands``.
dB intensities are converted to linear power. Scenes whose pixels are not 10 m are resampled
when ``resample`` is given and refused otherwise; scenes in a geographic CRS or georeferenced
by GCPs only are warped to their local UTM zone at 10 m.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from .data.bands import BandSet, Channel, band_set as _band_set
from .errors import SceneError

__all__ = ["Scene", "SceneBand", "open_scene", "PIXEL_SIZE", "RESAMPLING"]

log = logging.getLogger(__name__)

#: Pixel size (metres) the models are trained on (So2Sat).
PIXEL_SIZE = 10.0
#: Accepted ``resample`` names.
RESAMPLING = ("nearest", "bilinear", "cubic", "average", "lanczos")

Units = Literal["linear", "db"]
Part = Literal["value", "real", "imag"]

_POLS = ("VV", "VH", "HH", "HV")


@dataclass(frozen=True)
class SceneBand:
    """Where one model channel comes from: ``path``, 1-based ``band``, ``part`` of a complex value."""

    path: str
    band: int
    part: Part
    nodata: float | None
    channel: Channel


@dataclass(frozen=True)
class Warp:
    """Target grid when the scene is warped or resampled on read (a WarpedVRT)."""

    crs: str
    transform: tuple
    width: int
    height: int
    resampling: str


@dataclass(frozen=True)
class Scene:
    """A scene ready for a model: channels in the model's order, on a 10 m grid.

    ``read(r0, r1, c0, c1)`` -> float32 (C, r1 - r0, c1 - c0), physical units the model expects
    (linear intensity or complex parts), NaN where the scene has no data.
    """

    name: str
    bands: tuple[SceneBand, ...]
    units: Units
    crs: str
    transform: tuple
    height: int
    width: int
    warp: Warp | None = None
    band_set: str | None = None
    sources: tuple[str, ...] = field(default=())

    @property
    def affine(self) -> Affine:
        return Affine(*self.transform[:6])

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.bands), self.height, self.width)

    @property
    def channel_names(self) -> list[str]:
        return [b.channel.name for b in self.bands]

    def read(self, r0: int, r1: int, c0: int, c1: int, out: np.ndarray | None = None) -> np.ndarray:
        """Pixels of rows ``r0:r1`` and columns ``c0:c1`` (may run outside the scene: mirrored),
        into ``out`` (float32, C x rows x columns) when given."""
        return read_mirrored(self._read_window, self.height, self.width, r0, r1, c0, c1, out=out)

    def _read_window(self, rlo: int, rhi: int, clo: int, chi: int, out: np.ndarray | None = None) -> np.ndarray:
        window = Window(clo, rlo, chi - clo, rhi - rlo)
        if out is None:
            out = np.empty((len(self.bands), rhi - rlo, chi - clo), dtype=np.float32)
        by_file: dict[str, list[int]] = {}
        for i, b in enumerate(self.bands):
            by_file.setdefault(b.path, []).append(i)
        for path, members in by_file.items():
            with rasterio.open(path) as src:
                ds = self._warped(src) if self.warp else src
                try:
                    raws: dict[int, np.ndarray] = {}
                    for i in members:
                        b = self.bands[i]
                        if b.part == "value" and ds.dtypes[b.band - 1] == "float32":
                            ds.read(b.band, window=window, out=out[i])  # straight into place
                            _value_in_place(out[i], b.nodata, self.units, b.channel.quantity)
                            continue
                        if b.band not in raws:
                            raws[b.band] = ds.read(b.band, window=window)
                        out[i] = _part(raws[b.band], b.part, b.nodata, self.units, b.channel.quantity)
                finally:
                    if ds is not src:
                        ds.close()
        return out

    def _warped(self, src):
        w = self.warp
        nodata = src.nodata if src.nodata is not None else (np.nan if src.dtypes[0].startswith("float") else 0)
        return WarpedVRT(
            src,
            crs=CRS.from_user_input(w.crs),
            transform=Affine(*w.transform[:6]),
            width=w.width,
            height=w.height,
            resampling=Resampling[w.resampling],
            src_nodata=src.nodata,
            nodata=nodata,
        )

    def to_dataarray(self, chunks: int = 2048):
        """The scene as a dask-backed ``xarray.DataArray`` (band, y, x) with pixel-centre coordinates."""
        import dask.array as dsa
        import xarray as xr

        arr = dsa.from_array(_ArrayView(self), chunks=(len(self.bands), chunks, chunks), lock=False, asarray=True)
        t = self.affine
        x = t.c + (np.arange(self.width) + 0.5) * t.a
        y = t.f + (np.arange(self.height) + 0.5) * t.e
        return xr.DataArray(
            arr,
            dims=("band", "y", "x"),
            coords={"band": self.channel_names, "y": y, "x": x},
            name=self.name,
            attrs={"crs": self.crs, "transform": tuple(self.transform[:6]), "units": self.units,
                   "band_set": self.band_set or ""},
        )


class _ArrayView:
    """Array-like view of a scene for ``dask.array.from_array`` (picklable: holds the Scene)."""

    def __init__(self, scene: Scene):
        self.scene = scene
        self.shape = scene.shape
        self.dtype = np.dtype("float32")
        self.ndim = 3

    def __getitem__(self, key):
        bands, rows, cols = key
        r = range(*rows.indices(self.shape[1]))
        c = range(*cols.indices(self.shape[2]))
        return self.scene.read(r.start, r.stop, c.start, c.stop)[bands]


def read_mirrored(read_window: Callable[..., np.ndarray], height: int, width: int,
                  r0: int, r1: int, c0: int, c1: int, out: np.ndarray | None = None) -> np.ndarray:
    """Rows ``r0:r1`` and columns ``c0:c1`` of a (C, height, width) image, mirrored outside it.

    ``read_window(rlo, rhi, clo, chi, out=None)`` reads a range inside the image into ``out`` or
    a new array. With ``out`` (C x (r1 - r0) x (c1 - c0)), the result lands there: read straight
    into it when the range lies inside the image, copied in when it is mirrored."""
    result = _read_mirrored(read_window, height, width, r0, r1, c0, c1, out)
    if out is not None and result is not out:
        np.copyto(out, result, casting="same_kind")
        return out
    return result


def _read_mirrored(read_window, height, width, r0, r1, c0, c1, out):
    pads = (max(0, -r0), max(0, r1 - height), max(0, -c0), max(0, c1 - width))
    simple = (r0 < height and r1 > 0 and c0 < width and c1 > 0
              and max(pads[:2]) < height and max(pads[2:]) < width)
    if simple:  # the common case: inside the image, or running off its edges by less than its size
        rlo, rhi = max(0, r0), min(height, r1)
        clo, chi = max(0, c0), min(width, c1)
        if any(pads) and (rhi - rlo <= max(pads[:2]) or chi - clo <= max(pads[2:])):
            simple = False  # the mirror needs pixels beyond the read range
    if simple:
        if not any(pads):
            return read_window(rlo, rhi, clo, chi, out=out)
        return np.pad(read_window(rlo, rhi, clo, chi), ((0, 0), pads[:2], pads[2:]), mode="reflect")
    rows = reflect_index(np.arange(r0, r1), height)
    cols = reflect_index(np.arange(c0, c1), width)
    rlo, rhi = int(rows.min()), int(rows.max()) + 1
    clo, chi = int(cols.min()), int(cols.max()) + 1
    arr = read_window(rlo, rhi, clo, chi)
    if rlo != r0 or rhi != r1 or clo != c0 or chi != c1:
        arr = arr[:, rows - rlo][:, :, cols - clo]
    return arr


def reflect_index(idx: np.ndarray, n: int) -> np.ndarray:
    """Map indices outside ``0..n-1`` back inside by mirroring (numpy ``reflect``: edge not repeated)."""
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    m = np.mod(idx, period)
    return np.where(m < n, m, period - m)


def _has_value(nodata) -> bool:
    return nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata))


def _value_in_place(values: np.ndarray, nodata, units: Units, quantity: str) -> None:
    """float32 band read in place: nodata value and infinities -> NaN, dB -> linear (no copies)."""
    missing = np.isinf(values)
    if _has_value(nodata):
        missing |= values == np.float32(nodata)
    if quantity == "intensity" and units == "db":
        np.multiply(values, np.float32(0.1), out=values)
        np.power(np.float32(10.0), values, out=values)
    values[missing] = np.nan


def _part(raw: np.ndarray, part: Part, nodata, units: Units, quantity: str) -> np.ndarray:
    if part == "value":
        values = raw.astype(np.float32)
        missing = ~np.isfinite(values)
    else:
        values = (raw.real if part == "real" else raw.imag).astype(np.float32)
        missing = ~np.isfinite(raw)
    if _has_value(nodata):
        missing |= raw == nodata
    if quantity == "intensity" and units == "db":
        values = np.power(np.float32(10.0), values / np.float32(10.0))
    values[missing] = np.nan
    return values


# ---------------------------------------------------------------------------------------------
# Opening and band matching

@dataclass(frozen=True)
class _Avail:
    path: str
    band: int
    pol: str | None
    part: Part  # 'value' for real-valued bands; real/imag for complex ones or described parts
    complex_band: bool
    nodata: float | None


def _describe_pol(text: str | None) -> tuple[str | None, Part | None]:
    if not text:
        return None, None
    t = text.upper()
    pol = next((p for p in _POLS if re.search(rf"(?<![A-Z]){p}(?![A-Z])", t)), None)
    part: Part | None = None
    if re.search(r"(?<![A-Z])(REAL|RE|I)(?![A-Z])", t):
        part = "real"
    elif re.search(r"(?<![A-Z])(IMAG|IMAGINARY|IM|Q)(?![A-Z])", t):
        part = "imag"
    return pol, part


def _check_source(path: str) -> None:
    is_remote = path.startswith("/vsi") or "://" in path
    if not is_remote and not os.path.exists(path):
        raise SceneError(f"scene {path} does not exist: check the path")


def _open(path: str):
    _check_source(path)
    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise SceneError(f"cannot read {path} as a raster ({first}): give a GeoTIFF, COG, VRT or other GDAL raster") from None


def open_scene(
    path: str | os.PathLike | None = None,
    band_set: BandSet | str = "lee-intensity",
    *,
    vv: str | os.PathLike | None = None,
    vh: str | os.PathLike | None = None,
    bands: Sequence[str] | None = None,
    units: Units | None = None,
    resample: str | None = None,
) -> Scene:
    """Open a scene lazily for a model trained on ``band_set``.

    ``path``: one raster holding all polarisations; or ``vv``/``vh``: one file each.
    ``bands``: names of the file's bands in order (e.g. ``["VH", "VV"]``), overriding band
    descriptions. ``units``: ``linear`` or ``db`` for intensity bands; None reads the band's
    unit metadata and otherwise assumes linear (negative values then raise: pass ``db``).
    ``resample``: resampling for scenes whose pixels are not 10 m (refused when None).
    Raises :class:`SceneError` when the scene cannot supply what the model needs.
    """
    bs = _band_set(band_set, "sar") if isinstance(band_set, str) else band_set
    if path is None and vv is None and vh is None:
        raise SceneError("no scene given: pass a scene file, or --vv/--vh files")
    if path is not None and (vv is not None or vh is not None):
        raise SceneError("give either one scene file or --vv/--vh files, not both")
    if resample is not None and resample not in RESAMPLING:
        raise SceneError(f"unknown resampling {resample!r}: choose one of {', '.join(RESAMPLING)}")
    if units is not None and units not in ("linear", "db"):
        raise SceneError(f"unknown units {units!r}: use 'linear' or 'db'")

    files: list[tuple[str, str | None]] = []  # (path, forced polarisation)
    if path is not None:
        files.append((os.fspath(path), None))
    else:
        if vv is not None:
            files.append((os.fspath(vv), "VV"))
        if vh is not None:
            files.append((os.fspath(vh), "VH"))

    avail: list[_Avail] = []
    ref = None  # (crs, transform, width, height, gcps)
    unit_tags: list[str] = []
    for fpath, forced in files:
        with _open(fpath) as src:
            gcps, _ = src.gcps
            georef = (src.crs, src.transform, src.width, src.height, bool(gcps))
            if src.crs is None and not gcps:
                raise SceneError(
                    f"{fpath} has no CRS: assign one (e.g. gdal_edit.py -a_srs EPSG:32632 {fpath}) and retry"
                )
            if ref is None:
                ref = georef
            elif (georef[0], georef[1], georef[2], georef[3]) != (ref[0], ref[1], ref[2], ref[3]):
                raise SceneError(
                    f"{fpath} is not on the same grid as {files[0][0]}: give --vv/--vh files with the same CRS, transform and size"
                )
            if forced is not None and src.count != 1 and bands is None:
                raise SceneError(
                    f"--{forced.lower()} file {fpath} has {src.count} bands, expected 1: give a single-band file per polarisation"
                )
            if bands is not None and path is not None and len(bands) != src.count:
                raise SceneError(
                    f"--bands names {len(bands)} bands but {fpath} has {src.count}: give one name per band"
                )
            unit_tags.extend(u for u in src.units if u)
            for b in range(1, src.count + 1):
                desc = src.descriptions[b - 1]
                if bands is not None and path is not None:
                    desc = bands[b - 1]
                pol, part = _describe_pol(desc)
                if forced is not None:
                    pol = forced
                is_complex = np.dtype(src.dtypes[b - 1]).kind == "c"
                nodata = src.nodatavals[b - 1]
                if is_complex:
                    avail.append(_Avail(fpath, b, pol, "real", True, nodata))
                    avail.append(_Avail(fpath, b, pol, "imag", True, nodata))
                else:
                    avail.append(_Avail(fpath, b, pol, part or "value", False, nodata))

    crs, transform, width, height, has_gcps = ref
    chosen = _match(bs, avail, files)

    if units is None:
        units = "db" if any(u.strip().lower() in ("db", "decibel", "decibels") for u in unit_tags) else "linear"
        guessed = True
    else:
        guessed = False

    warp = None
    if has_gcps or crs is None or crs.is_geographic:
        warp = _utm_warp(files[0][0], resample or "bilinear")
        log.info("warping %s to %s at %g m", files[0][0], warp.crs, PIXEL_SIZE)
    else:
        if not crs.is_projected or (crs.linear_units or "").lower() not in ("metre", "meter", "m"):
            raise SceneError(f"{files[0][0]} uses a CRS whose units are not metres: reproject it to UTM first")
        xres, yres = abs(transform.a), abs(transform.e)
        if transform.b != 0 or transform.d != 0:
            warp = _utm_warp(files[0][0], resample or "bilinear", dst_crs=crs)
        elif max(abs(xres - PIXEL_SIZE), abs(yres - PIXEL_SIZE)) > 0.05 * PIXEL_SIZE:
            if resample is None:
                raise SceneError(
                    f"{files[0][0]} has {xres:g} x {yres:g} m pixels but the model expects {PIXEL_SIZE:g} m: "
                    "pass --resample bilinear (or average, nearest...) to resample it"
                )
            warp = _resample_warp(crs, transform, width, height, resample)
            log.info("resampling %s from %g m to %g m (%s)", files[0][0], xres, PIXEL_SIZE, resample)

    if warp is not None:
        g_crs, g_transform, g_width, g_height = warp.crs, warp.transform, warp.width, warp.height
    else:
        g_crs, g_transform, g_width, g_height = crs.to_wkt(), tuple(transform)[:6], width, height

    name = os.path.splitext(os.path.basename(files[0][0]))[0]
    scene = Scene(
        name=name,
        bands=tuple(chosen),
        units=units,
        crs=g_crs,
        transform=tuple(g_transform)[:6],
        height=g_height,
        width=g_width,
        warp=warp,
        band_set=bs.name,
        sources=tuple(f for f, _ in files),
    )
    if guessed and any(b.channel.quantity == "intensity" for b in scene.bands):
        _check_linear(scene)
    return scene


def _match(bs: BandSet, avail: list[_Avail], files) -> list[SceneBand]:
    chosen = []
    have_pols = sorted({a.pol for a in avail if a.pol})
    for ch in bs.channels:
        match ch.quantity:
            case "intensity":
                cands = [a for a in avail if a.pol == ch.band and a.part == "value"]
                if not cands and any(a.pol == ch.band and a.complex_band for a in avail):
                    raise SceneError(
                        f"the scene holds complex {ch.band} (SLC) but the model expects {ch.band} intensity "
                        f"(band set {bs.name}): calibrate and multilook it to intensity, or train with --sar-bands vv-complex"
                    )
            case "complex_real" | "complex_imag":
                want = "real" if ch.quantity == "complex_real" else "imag"
                cands = [a for a in avail if a.pol == ch.band and a.part == want]
                if not cands:
                    if any(a.pol == ch.band for a in avail) or have_pols:
                        raise SceneError(
                            f"the model expects the {ch.name} part of complex {ch.band} (band set {bs.name}) but the scene "
                            "holds intensity only (like a GRD/RTC product): train a model with --sar-bands lee-intensity"
                        )
            case _:
                raise SceneError(
                    f"the model's band set {bs.name} needs {ch.name}, which a scene cannot supply: "
                    "train a model with --sar-bands lee-intensity"
                )
        if not cands:
            if not have_pols:
                raise SceneError(
                    f"cannot tell which band of {files[0][0]} is {ch.band}: name the bands with --bands "
                    f"(e.g. --bands VV,VH) or give --vv/--vh files"
                )
            raise SceneError(
                f"the scene has no {ch.band} band (it has {', '.join(have_pols)}) but the model needs {ch.name}: "
                f"give a scene with {ch.band}, or name the bands with --bands"
            )
        a = cands[0]
        chosen.append(SceneBand(a.path, a.band, a.part, a.nodata, ch))
    return chosen


def _check_linear(scene: Scene) -> None:
    """Refuse dB data taken for linear intensity (negative values)."""
    r = max(0, scene.height // 2 - 64)
    c = max(0, scene.width // 2 - 64)
    sample = scene.read(r, min(scene.height, r + 128), c, min(scene.width, c + 128))
    for i, b in enumerate(scene.bands):
        if b.channel.quantity != "intensity":
            continue
        values = sample[i][np.isfinite(sample[i])]
        if values.size and (values < 0).mean() > 0.01:
            raise SceneError(
                f"band {b.channel.band} of {b.path} holds negative values, so it is not linear intensity: "
                "pass --units db (units='db') for backscatter in decibels"
            )


def _utm_crs(lon: float, lat: float) -> CRS:
    zone = int(math.floor((lon + 180.0) / 6.0)) % 60 + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def _utm_warp(path: str, resampling: str, dst_crs: CRS | None = None) -> Warp:
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
            dst_crs = _utm_crs(lon[0], lat[0])
        dst_transform, w, h = calculate_default_transform(
            src_crs, dst_crs, src.width, src.height, resolution=PIXEL_SIZE, **kw
        )
    return Warp(dst_crs.to_wkt(), tuple(dst_transform)[:6], int(w), int(h), resampling)


def _resample_warp(crs: CRS, transform: Affine, width: int, height: int, resampling: str) -> Warp:
    w = int(round(width * abs(transform.a) / PIXEL_SIZE))
    h = int(round(height * abs(transform.e) / PIXEL_SIZE))
    t = Affine(math.copysign(PIXEL_SIZE, transform.a), 0, transform.c, 0, math.copysign(PIXEL_SIZE, transform.e), transform.f)
    return Warp(crs.to_wkt(), tuple(t)[:6], max(w, 1), max(h, 1), resampling)
