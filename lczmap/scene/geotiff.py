"""Open a GDAL raster (GeoTIFF, COG, VRT, ``/vsicurl/``), a recognised product or a STAC Item as
a :class:`~lczmap.scene.Scene`: match its bands to a model's channels by description or name,
settle units (linear power, amplitude, dB) and normalisation (sigma0, gamma0, beta0), attach the
incidence angle and validity masks, and decide the warp onto the model's 10 m grid."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import rasterio

from ..bands import BACKSCATTER, Backscatter, BandSet, band_set as _band_set
from ..errors import SceneError
from . import stac
from .grid import PIXEL_SIZE, RESAMPLING, resample_warp, utm_warp
from .masks import describe as describe_mask
from .products import Product, angle_band, detect, parse_tokens
from .scene import Scene, SceneAngle, SceneBand
from .units import UNITS, Part, Units, check_linear, intensity_nodata, negative_shares

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
    description: str = ""


#: Unit tags (lower case) that name intensity in decibels, and in linear power.
_DB_TAGS = ("db", "decibel", "decibels")
_LINEAR_TAGS = ("linear", "power", "intensity", "linear power", "linear intensity")
_AMPLITUDE_TAGS = ("amplitude", "amp", "linear amplitude")


def _tag_units(tag: str) -> Units | None:
    t = tag.strip().lower()
    return "db" if t in _DB_TAGS else "linear" if t in _LINEAR_TAGS else "amplitude" if t in _AMPLITUDE_TAGS else None


#: Where the incidence angle of a product kind comes from, for the refusal without one.
_ANGLE_HINT = {
    "hyp3": "order the product with its incidence angle map (include_inc_map) and keep the _inc_map.tif beside it",
    "opera": "put the burst's RTC-S1-STATIC ..._incidence_angle.tif beside it",
    "planetary": "the collection publishes none",
    "stac": "add an incidence_angle asset to the item",
}
_TO_SIGMA0 = {"gamma0": "gamma0 * cos(theta)", "beta0": "beta0 * sin(theta)"}
_UNIT_NAMES = {"linear": "linear power", "amplitude": "amplitude", "db": "dB"}


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
    quantity: Backscatter | None = None,
    resample: str | None = None,
    dem: str | os.PathLike | None = None,
    aoi: Any = None,
) -> Scene:
    """Open a scene lazily for a model trained on ``band_set``.

    ``path``: one raster holding all polarisations, one file of a recognised product (ASF HyP3
    RTC, OPERA RTC-S1, Planetary Computer ``sentinel-1-rtc``, SNAP/pyroSAR output; the other
    polarisations, masks and angle layers are found beside it), an Earth Engine export, or a
    local STAC Item (``.json``); or ``vv``/``vh``: one file each.
    ``bands``: names of the file's bands in order (e.g. ``["VH", "VV"]``), overriding band
    descriptions. ``units``: ``linear``, ``amplitude`` or ``db`` for intensity bands; None reads
    the product's naming, the band's unit tag or description, and otherwise assumes linear.
    Units are checked, not trusted: a given ``units`` that contradicts the product or a band's
    unit tag, tags that disagree, and linear intensity or amplitude with negative values raise
    :class:`SceneError` naming both facts. ``quantity``: ``sigma0``, ``gamma0`` or ``beta0``
    (None: what the product says, else sigma0); gamma0 and beta0 are converted to sigma0 with the
    product's incidence angle (``gamma0 * cos``, ``beta0 * sin``: flat terrain) and refused
    without one. A given ``quantity`` overrides what the product says (recorded in
    ``Scene.conversions``). Zero and -32768 in linear intensity bands, and the product's masks
    (HyP3 ``_ls_map.tif``, OPERA ``_mask.tif``), read as no data.
    ``resample``: resampling for scenes whose pixels are not 10 m (refused when None).
    ``dem``: a DEM to terrain-correct a Sentinel-1 SAFE product with (see
    :func:`~lczmap.scene.safe.open_safe`); it must cover the scene, or its part inside ``aoi`` (as
    ``PredictOptions.aoi``; the scene itself is not cropped). Refused for other scenes.
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
        raise SceneError(f"unknown units {units!r}: use {', '.join(UNITS)} (--units)")
    if quantity is not None and quantity not in BACKSCATTER:
        raise SceneError(f"unknown quantity {quantity!r}: use {', '.join(BACKSCATTER)} (--quantity)")

    for given in (path, vv, vh):
        if given is not None:
            _check_source(os.fspath(given))
    if path is not None and stac.is_item(os.fspath(path)):
        product = stac.read_item(os.fspath(path))
    else:
        product = detect(None if path is None else os.fspath(path),
                         None if vv is None else os.fspath(vv), None if vh is None else os.fspath(vh))
    if product.kind == "safe" and path is not None:  # calibrated and geocoded window by window
        from .safe import open_safe

        return open_safe(os.fspath(path), bs, bands=bands, units=units, quantity=quantity, resample=resample,
                         dem=dem, aoi=aoi)
    if dem is not None:
        given = os.path.basename(os.fspath(path if path is not None else vv if vv is not None else vh))  # type: ignore[arg-type]
        raise SceneError(f"--dem applies to Sentinel-1 SAFE products (.SAFE folder or .zip, GRD or SLC), not to "
                         f"{given}: RTC and other geocoded products are already terrain corrected; drop --dem")
    files: list[tuple[str, str | None]] = list(product.files)
    one_file = len(files) == 1 and files[0][1] is None

    avail: list[_Avail] = []
    ref: tuple | None = None  # (crs, transform, width, height, gcps)
    unit_tags: list[str] = []
    angle = product.angle
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
            if bands is not None and one_file and len(bands) != src.count:
                raise SceneError(
                    f"--bands names {len(bands)} bands but {fpath} has {src.count}: give one name per band"
                )
            descriptions = [d or "" for d in src.descriptions]
            if bands is not None and one_file:
                descriptions = list(bands)
            if angle is None and one_file:
                found = angle_band(descriptions, src.units)
                if found is not None:
                    angle = SceneAngle(fpath, found[0], found[1])
            unit_tags.extend(u for u in src.units if u)
            for b in range(1, src.count + 1):
                desc = descriptions[b - 1]
                pol, part = _describe_pol(desc)
                if forced is not None:
                    pol = forced
                if angle is not None and angle.path == fpath and angle.band == b:
                    pol = None
                is_complex = np.dtype(src.dtypes[b - 1]).kind == "c"
                nodata = src.nodatavals[b - 1]
                unit = src.units[b - 1] or ""
                if is_complex:
                    avail.append(_Avail(fpath, b, pol, "real", True, nodata, unit, desc))
                    avail.append(_Avail(fpath, b, pol, "imag", True, nodata, unit, desc))
                else:
                    avail.append(_Avail(fpath, b, pol, part or "value", False, nodata, unit, desc))

    if ref is None:  # pragma: no cover - files is never empty here
        raise SceneError("no scene given: pass a scene file, or --vv/--vh files")
    crs, transform, width, height, has_gcps = ref
    chosen = _match(bs, avail, files)
    by_band = {(a.path, a.band): a for a in avail}
    intensity = [sb for sb in chosen if sb.channel.quantity == "intensity"]
    for aux in ([angle.path] if angle is not None else []) + [m.path for m in product.masks]:
        _check_aux_grid(aux, ref, files[0][0])

    units, why_units = _settle_units(units, product, intensity, by_band)
    q, q_source, override = _settle_quantity(quantity, product, intensity, by_band)
    conversions: list[str] = []
    if product.kind != "geotiff":
        conversions.append(f"product: {product.label} ({product.evidence})")
    if intensity and units != "linear":
        conversions.append(f"{_UNIT_NAMES[units]} -> linear power" + (" (a^2)" if units == "amplitude" else ""))
    if override:
        conversions.append(override)
    if q != "sigma0":
        if len(intensity) != len(chosen):
            raise SceneError(f"the scene holds {q} ({q_source}) but complex channels must be sigma0-calibrated "
                             f"(band set {bs.name}): give a sigma0 product")
        if angle is None:
            hint = _ANGLE_HINT.get(product.kind, "add the incidence angle as a band described 'angle' (degrees)")
            raise SceneError(
                f"{files[0][0]} holds {q} ({q_source}) but the model expects sigma0 and no incidence angle comes with "
                f"it ({hint}): give the angle, or pass --quantity sigma0 (quantity='sigma0') to map the {q} values unconverted"
            )
        where = "band" if angle.path in {f for f, _ in files} else "file"
        conversions.append(f"{q} -> sigma0 = {_TO_SIGMA0[q]}, flat terrain, theta from {where} "
                           f"{os.path.basename(angle.path)}:{angle.band}")
    elif quantity is None and product.quantity is None and intensity:
        conversions.append(f"sigma0 assumed ({q_source})")
    extra_nodata = intensity_nodata(units, product.zero_in_db) if intensity else ()
    if extra_nodata:
        conversions.append("no data: " + " and ".join(f"{v:g}" for v in extra_nodata) + " in intensity bands")
    for m in product.masks:
        conversions.append(f"mask: {os.path.basename(m.path)} ({describe_mask(m.kind)})")

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
        quantity=q,
        angle=angle if q != "sigma0" else None,
        masks=product.masks,
        extra_nodata=extra_nodata,
        conversions=tuple(conversions),
    )
    if why_units == "values":
        shares = negative_shares(scene)
        decided: Units = "db" if any(s > 0.01 for _, s in shares) else "linear"
        conv = [c for c in conversions if not c.startswith("no data:")]
        if decided == "db":
            conv.insert(1 if product.kind != "geotiff" else 0, "dB -> linear power (negative values: S1_GRD)")
        nod = intensity_nodata(decided, product.zero_in_db)
        conv.append("no data: " + " and ".join(f"{v:g}" for v in nod) + " in intensity bands")
        scene = dataclasses.replace(scene, units=decided, extra_nodata=nod, conversions=tuple(conv))
        log.info("%s: %s (from the values)", name, _UNIT_NAMES[decided])
    elif units in ("linear", "amplitude") and intensity:
        check_linear(scene, why_units)
    for line in scene.conversions:
        log.info("%s: %s", name, line)
    return scene


def _check_aux_grid(path: str, ref: tuple, scene_file: str) -> None:
    """Refuse an angle or mask layer whose grid differs from the scene's."""
    with _open(path) as src:
        if (src.crs, src.transform, src.width, src.height) != tuple(ref[:4]):
            raise SceneError(
                f"{path} is not on the grid of {scene_file} ({src.width} x {src.height} pixels vs {ref[2]} x {ref[3]}, "
                "or another CRS or transform): give the mask or angle layer that came with the scene, or move it away"
            )


def _settle_units(units: Units | None, product: Product, intensity: list[SceneBand],
                  by_band: dict) -> tuple[Units, str]:
    """The units of the intensity bands and where they came from (a phrase for messages;
    "values" when they are to be told from the values)."""
    tagged = {sb.channel.band: _tag_units(by_band[(sb.path, sb.band)].unit) for sb in intensity}
    described = {}
    for sb in intensity:
        _, q, u = parse_tokens(by_band[(sb.path, sb.band)].description)
        if u is not None or q is not None:  # SNAP: Sigma0_VV_db; Sigma0_VV is linear
            described[sb.channel.band] = u or "linear"
    if units is not None:
        for sb in intensity:
            tag = by_band[(sb.path, sb.band)].unit
            if _tag_units(tag) not in (None, units):
                raise SceneError(
                    f"--units {units} (units={units!r}) contradicts band {sb.channel.band} of {sb.path}, whose unit "
                    f"tag says {tag!r}: drop --units to use the tag, or correct the tag if it is wrong"
                )
        if product.units is not None and product.units != units:
            raise SceneError(f"--units {units} (units={units!r}) contradicts {product.evidence}, which says "
                             f"{_UNIT_NAMES[product.units]}: drop --units")
        return units, f"--units {units} (units={units!r}) was given"
    said = {f"{band} unit tag": u for band, u in tagged.items() if u is not None}
    said.update({f"{band} band description": u for band, u in described.items()})
    if product.units is not None:
        said[product.evidence] = product.units
    if len(set(said.values())) > 1:
        listed = ", ".join(f"{k}: {_UNIT_NAMES[v]}" for k, v in said.items())
        raise SceneError(f"the scene's units are ambiguous ({listed}): pass --units linear|amplitude|db")
    if said:
        source, found = next(iter(said.items()))
        return found, f"{_UNIT_NAMES[found]} comes from the {source}".replace("the the ", "the ")
    if product.units_from_values:
        return "linear", "values"
    return "linear", "linear was assumed (no unit tag)"


def _settle_quantity(quantity: Backscatter | None, product: Product, intensity: list[SceneBand],
                     by_band: dict) -> tuple[Backscatter, str, str]:
    """The normalisation of the intensity bands, where it came from, and the override line for
    the tags when ``quantity`` overrides what the product says."""
    described = {q for sb in intensity if (q := parse_tokens(by_band[(sb.path, sb.band)].description)[1])}
    if len(described) > 1:
        raise SceneError(f"the band descriptions name {' and '.join(sorted(described))}: pass --quantity sigma0|gamma0|beta0")
    said = product.quantity or (next(iter(described)) if described else None)
    source = product.evidence if product.quantity else "the band descriptions" if described else "the product does not say"
    if quantity is not None:
        override = ""
        if said is not None and said != quantity:
            override = f"{said} taken as {quantity} (--quantity {quantity}; {source} says {said})"
            log.warning("%s", override)
        return quantity, f"--quantity {quantity}", override
    return (said or "sigma0"), source, ""


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
            if set(have_pols) <= {"HH", "HV"} and ch.band in ("VV", "VH"):
                raise SceneError(
                    f"the scene holds {'/'.join(have_pols)} only (horizontal transmit) but the model was trained on "
                    f"So2Sat's VV/VH: HH/HV backscatter differs from VV/VH, so this model cannot map it: use a VV/VH acquisition"
                )
            single = f" (or train with --sar-bands {have_pols[0].lower()}-intensity for {have_pols[0]}-only scenes)" \
                if len(have_pols) == 1 and have_pols[0] in ("VV", "VH") else ""
            raise SceneError(
                f"the scene has no {ch.band} band (it has {', '.join(have_pols)}) but the model needs {ch.name}: "
                f"give a scene with {ch.band}, or name the bands with --bands{single}"
            )
        a = cands[0]
        chosen.append(SceneBand(a.path, a.band, a.part, a.nodata, ch))
    return chosen
