"""Read a product made of GDAL rasters (GeoTIFF, COG, VRT, ``/vsicurl/``: every kind but SAFE)
as a :class:`~lczmap.scene.Scene`: match its bands to a model's channels by description or name,
settle units (linear power, amplitude, dB) and normalisation (sigma0, gamma0, beta0), attach the
incidence angle and validity masks, and decide the warp onto the model's 10 m grid. Which product
a path is was decided before (:func:`lczmap.scene.open.detect`)."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.io import DatasetReader

from .._io import check_input
from ..bands import Backscatter, BandSet
from ..errors import SceneError
from .crs import no_crs
from .grid import PIXEL_SIZE, check_pixel_size, crs_name, degree_pixel_metres, resample_warp, utm_warp
from .masks import describe as describe_mask
from .products.base import PLAIN_KIND, Product, angle_band, parse_tokens
from .scene import Scene, SceneAngle, SceneBand
from .units import Part, Units, check_linear, check_polarisations, intensity_nodata, negative_shares

__all__ = ["open_raster", "check_source"]

log = logging.getLogger(__name__)

_POLS = ("VV", "VH", "HH", "HV")


class _Georef(NamedTuple):
    """A raster's georeferencing; the first four must agree between a scene's files."""

    crs: CRS | None
    transform: Affine
    width: int
    height: int
    gcps: bool


@dataclass(frozen=True)
class _Avail:
    path: str
    band: int
    pol: str | None
    part: Part  # 'value' for real-valued bands; real/imag for complex ones or described parts
    complex_band: bool
    nodata: float | None
    unit: str = ""  # the band's unit tag (GDAL's unit type, else its UNITS metadata)
    description: str = ""
    file_unit: str = ""  # the file's dataset-level UNITS tag, which holds for each of its bands


#: Unit tags (lower case) that name intensity in decibels, and in linear power.
_DB_TAGS = ("db", "decibel", "decibels")
_LINEAR_TAGS = ("linear", "power", "intensity", "linear power", "linear intensity")
_AMPLITUDE_TAGS = ("amplitude", "amp", "linear amplitude")


def _tag_units(tag: str) -> Units | None:
    t = tag.strip().lower()
    return "db" if t in _DB_TAGS else "linear" if t in _LINEAR_TAGS else "amplitude" if t in _AMPLITUDE_TAGS else None


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


def check_source(path: str, folder: bool = False) -> None:
    """Refuse a local ``path`` that does not exist, or that is a named pipe, device or socket
    (or a folder, unless ``folder``: a SAFE product); ``/vsi...`` and URLs are GDAL's to check."""
    is_remote = path.startswith("/vsi") or "://" in path
    if not is_remote and not os.path.exists(path):
        raise SceneError(f"scene {path} does not exist: check the path")
    check_input(path, "scene", SceneError, folder=folder)


def _open(path: str) -> DatasetReader:
    check_source(path)
    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        if "://" in path or path.startswith("/vsi"):
            from ..remote.http import read_error

            remote = read_error(path, exc)
            if remote is not None:
                raise remote from None
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise SceneError(f"cannot read {path} as a raster ({first}): give a GeoTIFF, COG, VRT or other GDAL raster") from None


def open_raster(
    product: Product,
    bs: BandSet,
    *,
    bands: Sequence[str] | None = None,
    units: Units | None = None,
    quantity: Backscatter | None = None,
    resample: str | None = None,
) -> Scene:
    """The Scene of ``product`` (a product whose ``layout`` is ``rasters``) for a model with the
    band set ``bs``; the options as :func:`lczmap.scene.open_scene` takes them, checked there.
    Raises :class:`SceneError` when the scene cannot supply what the model needs."""
    files: list[tuple[str, str | None]] = list(product.files)
    one_file = len(files) == 1 and files[0][1] is None

    avail: list[_Avail] = []
    ref: _Georef | None = None
    unit_tags: list[str] = []
    speckle_tags: list[tuple[str, str]] = []
    angle = product.angle
    for fpath, forced in files:
        with _open(fpath) as src:
            gcps, _ = src.gcps
            georef = _Georef(src.crs, src.transform, src.width, src.height, bool(gcps))
            if src.crs is None and not gcps:
                raise SceneError(no_crs("scene", fpath))
            if ref is None:
                ref = georef
            elif georef[:4] != ref[:4]:
                raise SceneError(
                    f"{fpath} is not on the same grid as {files[0][0]}: "
                    "give --vv/--vh files with the same CRS, transform and size"
                )
            if forced is not None and src.count != 1 and bands is None:
                raise SceneError(
                    f"--{forced.lower()} file {fpath} has {src.count} bands, expected 1: give a single-band file per polarisation"
                )
            if bands is not None and one_file and len(bands) != src.count:
                raise SceneError(f"--bands names {len(bands)} bands but {fpath} has {src.count}: give one name per band")
            descriptions = [d or "" for d in src.descriptions]
            if bands is not None and one_file:
                descriptions = list(bands)
            if angle is None and one_file:
                found = angle_band(descriptions, src.units)
                if found is not None:
                    angle = SceneAngle(fpath, found[0], found[1])
            unit_tags.extend(u for u in src.units if u)
            file_tags = {k.upper(): v for k, v in src.tags().items()}
            file_unit = file_tags.get("UNITS", "") if _tag_units(file_tags.get("UNITS", "")) else ""
            for b in range(1, src.count + 1):
                desc = descriptions[b - 1]
                pol, part = _describe_pol(desc)
                if forced is not None:
                    pol = forced
                if angle is not None and angle.path == fpath and angle.band == b:
                    pol = None
                is_complex = np.dtype(src.dtypes[b - 1]).kind == "c"
                nodata = src.nodatavals[b - 1]
                band_tags = {k.upper(): v for k, v in src.tags(b).items()}
                unit = src.units[b - 1] or band_tags.get("UNITS", "")
                said = band_tags.get("SPECKLE_FILTER", file_tags.get("SPECKLE_FILTER", ""))
                if said.strip().lower() not in ("", "none", "no", "false") and (fpath, said) not in speckle_tags:
                    speckle_tags.append((fpath, said))
                if is_complex:
                    avail.append(_Avail(fpath, b, pol, "real", True, nodata, unit, desc, file_unit))
                    avail.append(_Avail(fpath, b, pol, "imag", True, nodata, unit, desc, file_unit))
                else:
                    avail.append(_Avail(fpath, b, pol, part or "value", False, nodata, unit, desc, file_unit))

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
    if product.kind != PLAIN_KIND:
        conversions.append(f"product: {product.label} ({product.evidence})")
    if intensity and units != "linear":
        conversions.append(f"{_UNIT_NAMES[units]} -> linear power" + (" (a^2)" if units == "amplitude" else ""))
    if override:
        conversions.append(override)
    if q != "sigma0":
        if len(intensity) != len(chosen):
            raise SceneError(
                f"the scene holds {q} ({q_source}) but complex channels must be sigma0-calibrated "
                f"(band set {bs.name}): give a sigma0 product"
            )
        if angle is None:
            raise SceneError(
                f"{files[0][0]} holds {q} ({q_source}) but the model expects sigma0 and no incidence angle comes with "
                f"it ({product.angle_hint}): give the angle, or pass --quantity sigma0 (quantity='sigma0') "
                f"to map the {q} values unconverted"
            )
        where = "band" if angle.path in {f for f, _ in files} else "file"
        conversions.append(
            f"{q} -> sigma0 = {_TO_SIGMA0[q]}, flat terrain, theta from {where} {os.path.basename(angle.path)}:{angle.band}"
        )
    elif quantity is None and product.quantity is None and intensity:
        conversions.append(f"sigma0 assumed ({q_source})")
    extra_nodata = intensity_nodata(units, product.zero_in_db) if intensity else ()
    if extra_nodata:
        conversions.append("no data: " + " and ".join(f"{v:g}" for v in extra_nodata) + " in intensity bands")
    for m in product.masks:
        conversions.append(f"mask: {os.path.basename(m.path)} ({describe_mask(m.kind)})")
    prefiltered = bool(speckle_tags) and bool(intensity)
    if prefiltered:  # the kernel's filter is then off, and --speckle-filter refined-lee refused
        conversions.append(
            "speckle filtered already ("
            + "; ".join(f"{os.path.basename(f)}: SPECKLE_FILTER={t!r}" for f, t in speckle_tags)
            + ")"
        )

    warp = None
    if has_gcps or crs is None or crs.is_geographic:
        if not has_gcps and crs is not None:  # a degree grid: its pixels' ground size, as for projected ones
            ew, ns, lat = degree_pixel_metres(crs, transform, width, height)
            check_pixel_size(files[0][0], ew, ns, resample, geographic=True, lat=lat)
        warp = utm_warp(files[0][0], resample or "bilinear")
        log.info("warping %s to %s at %g m", files[0][0], warp.crs, PIXEL_SIZE)
        conversions.append(
            f"warped from {'its GCPs' if has_gcps else crs_name(crs)} to {crs_name(warp.crs)} at "
            f"{PIXEL_SIZE:g} m ({warp.resampling})"
        )
    else:
        if not crs.is_projected or (crs.linear_units or "").lower() not in ("metre", "meter", "m"):
            raise SceneError(f"{files[0][0]} uses a CRS whose units are not metres: reproject it to UTM first")
        xres, yres = abs(transform.a), abs(transform.e)
        if transform.b != 0 or transform.d != 0:
            warp = utm_warp(files[0][0], resample or "bilinear", dst_crs=crs)
            conversions.append(f"warped from its rotated grid to {PIXEL_SIZE:g} m north up ({warp.resampling})")
        elif check_pixel_size(files[0][0], xres, yres, resample):
            warp = resample_warp(crs, transform, width, height, resample or "bilinear")  # given: checked above
            log.info("resampling %s from %g m to %g m (%s)", files[0][0], xres, PIXEL_SIZE, resample)
            conversions.append(f"resampled from {xres:g} x {yres:g} m to {PIXEL_SIZE:g} m ({resample})")

    if warp is not None:
        g_crs, g_transform, g_width, g_height = warp.crs, warp.transform, warp.width, warp.height
    else:
        assert crs is not None  # for mypy: scenes without a CRS were warped above
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
        prefiltered=prefiltered,
    )
    # a remote file refused here is named in one line by Scene.read (Scene.remote_failure)
    scene = _check_values(scene, why_units, units, product, intensity, one_file, bands)
    for line in scene.conversions:
        log.info("%s: %s", name, line)
    return scene


def _check_values(
    scene: Scene,
    why_units: str,
    units: Units,
    product: Product,
    intensity: list[SceneBand],
    one_file: bool,
    bands: Sequence[str] | None,
) -> Scene:
    """The checks that read a sample of the pixels: units told from the values, dB refused as
    linear, swapped polarisations."""
    name = scene.name
    conversions = scene.conversions
    if why_units == "values":
        shares = negative_shares(scene)
        decided: Units = "db" if any(s > 0.01 for _, s in shares) else "linear"
        conv = [c for c in conversions if not c.startswith("no data:")]
        if decided == "db":
            conv.insert(1 if product.kind != PLAIN_KIND else 0, "dB -> linear power (negative values: S1_GRD)")
        nod = intensity_nodata(decided, product.zero_in_db)
        conv.append("no data: " + " and ".join(f"{v:g}" for v in nod) + " in intensity bands")
        scene = dataclasses.replace(scene, units=decided, extra_nodata=nod, conversions=tuple(conv))
        log.info("%s: %s (from the values)", name, _UNIT_NAMES[decided])
    elif units in ("linear", "amplitude") and intensity:
        check_linear(scene, why_units)
    check_polarisations(scene, "--vv/--vh" if not one_file else "--bands" if bands is not None else "descriptions")
    return scene


def _check_aux_grid(path: str, ref: _Georef, scene_file: str) -> None:
    """Refuse an angle or mask layer whose grid differs from the scene's."""
    with _open(path) as src:
        if (src.crs, src.transform, src.width, src.height) != ref[:4]:
            raise SceneError(
                f"{path} is not on the grid of {scene_file} ({src.width} x {src.height} pixels vs {ref[2]} x {ref[3]}, "
                "or another CRS or transform): give the mask or angle layer that came with the scene, or move it away"
            )


def _settle_units(
    units: Units | None, product: Product, intensity: list[SceneBand], by_band: dict[tuple[str, int], _Avail]
) -> tuple[Units, str]:
    """The units of the intensity bands and where they came from (a phrase for messages;
    "values" when they are to be told from the values)."""
    tagged = {sb.channel.band: _tag_units(by_band[(sb.path, sb.band)].unit) for sb in intensity}
    file_units = {
        os.path.basename(sb.path): (a.file_unit, u)
        for sb in intensity
        if (u := _tag_units((a := by_band[(sb.path, sb.band)]).file_unit)) is not None
    }
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
        for name, (tag, said_units) in file_units.items():
            if said_units != units:
                raise SceneError(
                    f"--units {units} (units={units!r}) contradicts {name}, whose dataset-level UNITS tag says "
                    f"{tag!r}: drop --units to use the tag, or correct the tag if it is wrong"
                )
        if product.units is not None and product.units != units:
            raise SceneError(
                f"--units {units} (units={units!r}) contradicts {product.evidence}, which says "
                f"{_UNIT_NAMES[product.units]}: drop --units"
            )
        return units, f"--units {units} (units={units!r}) was given"
    said = {f"{band} unit tag": u for band, u in tagged.items() if u is not None}
    said.update({f"{band} band description": u for band, u in described.items()})
    said.update({f"{name} UNITS tag": u for name, (_, u) in file_units.items()})
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


def _settle_quantity(
    quantity: Backscatter | None, product: Product, intensity: list[SceneBand], by_band: dict[tuple[str, int], _Avail]
) -> tuple[Backscatter, str, str]:
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


def _match(bs: BandSet, avail: list[_Avail], files: list[tuple[str, str | None]]) -> list[SceneBand]:
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
            single = (
                f" (or train with --sar-bands {have_pols[0].lower()}-intensity for {have_pols[0]}-only scenes)"
                if len(have_pols) == 1 and have_pols[0] in ("VV", "VH")
                else ""
            )
            raise SceneError(
                f"the scene has no {ch.band} band (it has {', '.join(have_pols)}) but the model needs {ch.name}: "
                f"give a scene with {ch.band}, or name the bands with --bands{single}"
            )
        a = cands[0]
        chosen.append(SceneBand(a.path, a.band, a.part, a.nodata, ch))
    return chosen
