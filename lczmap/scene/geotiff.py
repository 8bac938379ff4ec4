"""Open a GDAL raster (GeoTIFF, COG, VRT, ``/vsicurl/``) as a :class:`~lczmap.scene.Scene`:
match its bands to a model's channels by description or name, read units, and decide the warp
onto the model's 10 m grid."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import rasterio

from ..bands import BandSet, band_set as _band_set
from ..errors import SceneError
from .grid import PIXEL_SIZE, RESAMPLING, resample_warp, utm_warp
from .scene import Scene, SceneBand
from .units import UNITS, Part, Units, check_linear

__all__ = ["open_scene"]

log = logging.getLogger(__name__)

_POLS = ("VV", "VH", "HH", "HV")


@dataclass(frozen=True)
class _Avail:
    path: str
    band: int
    pol: str | None
    part: Part  # 'value' for real-valued bands; real/imag for complex ones or described parts
    complex_band: bool
    nodata: float | None
    unit: str = ""  # the band's unit tag


#: Unit tags (lower case) that name intensity in decibels, and in linear power.
_DB_TAGS = ("db", "decibel", "decibels")
_LINEAR_TAGS = ("linear", "power", "intensity", "linear power", "linear intensity")


def _tag_units(tag: str) -> Units | None:
    t = tag.strip().lower()
    return "db" if t in _DB_TAGS else "linear" if t in _LINEAR_TAGS else None


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
    unit metadata and otherwise assumes linear. Units are checked, not trusted: a given ``units``
    that contradicts a band's unit tag, and linear intensity with negative values (given or
    assumed), raise :class:`SceneError` naming both facts.
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
    if units is not None and units not in UNITS:
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
    ref: tuple | None = None  # (crs, transform, width, height, gcps)
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
                unit = src.units[b - 1] or ""
                if is_complex:
                    avail.append(_Avail(fpath, b, pol, "real", True, nodata, unit))
                    avail.append(_Avail(fpath, b, pol, "imag", True, nodata, unit))
                else:
                    avail.append(_Avail(fpath, b, pol, part or "value", False, nodata, unit))

    if ref is None:  # pragma: no cover - files is never empty here
        raise SceneError("no scene given: pass a scene file, or --vv/--vh files")
    crs, transform, width, height, has_gcps = ref
    chosen = _match(bs, avail, files)

    if units is None:
        units = "db" if any(_tag_units(u) == "db" for u in unit_tags) else "linear"
        guessed = True
    else:
        guessed = False
        tags = {(a.path, a.band): a.unit for a in avail}
        for sb in chosen:
            tag = tags.get((sb.path, sb.band), "")
            if sb.channel.quantity == "intensity" and _tag_units(tag) not in (None, units):
                raise SceneError(
                    f"--units {units} (units={units!r}) contradicts band {sb.channel.band} of {sb.path}, whose unit "
                    f"tag says {tag!r}: drop --units to use the tag, or correct the tag if it is wrong"
                )

    warp = None
    if has_gcps or crs is None or crs.is_geographic:
        warp = utm_warp(files[0][0], resample or "bilinear")
        log.info("warping %s to %s at %g m", files[0][0], warp.crs, PIXEL_SIZE)
    else:
        if not crs.is_projected or (crs.linear_units or "").lower() not in ("metre", "meter", "m"):
            raise SceneError(f"{files[0][0]} uses a CRS whose units are not metres: reproject it to UTM first")
        xres, yres = abs(transform.a), abs(transform.e)
        if transform.b != 0 or transform.d != 0:
            warp = utm_warp(files[0][0], resample or "bilinear", dst_crs=crs)
        elif max(abs(xres - PIXEL_SIZE), abs(yres - PIXEL_SIZE)) > 0.05 * PIXEL_SIZE:
            if resample is None:
                raise SceneError(
                    f"{files[0][0]} has {xres:g} x {yres:g} m pixels but the model expects {PIXEL_SIZE:g} m: "
                    "pass --resample bilinear (or average, nearest...) to resample it"
                )
            warp = resample_warp(crs, transform, width, height, resample)
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
    if units == "linear" and any(b.channel.quantity == "intensity" for b in scene.bands):
        check_linear(scene, given=not guessed)
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
