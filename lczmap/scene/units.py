"""Physical units of scene bands: nodata to NaN, amplitude and dB to linear power, complex parts,
and the check that refuses dB values taken for linear intensity.

Besides a band's own nodata value, intensity bands treat two more values as no data
(``extra_nodata``, chosen per scene): -32768, the fill of Planetary Computer's RTC COGs and of
many int16 exports, which no backscatter takes; and 0 in linear power or amplitude, which no
measured backscatter takes either (a radar return is never exactly zero): it is the fill of
swath borders (GRD, RTC products, Earth Engine exports) left unflagged."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..bands import UNITS, Units
from ..errors import SceneError

if TYPE_CHECKING:
    from .scene import Scene, SceneBand

__all__ = [
    "Units",
    "Part",
    "UNITS",
    "check_linear",
    "intensity_nodata",
    "negative_shares",
    "band_values",
    "band_values_in_place",
    "check_polarisations",
    "SWAP_DB",
    "AMPLITUDE_VH",
    "AMPLITUDE_VV",
]

log = logging.getLogger(__name__)

#: How much brighter (dB) the median of the band taken as VH may be than the band taken as VV
#: before the two are refused as swapped. Cross-polarised backscatter is 5-10 dB darker than
#: co-polarised over every land cover (BigEarthNet-S1 patches: 4.9-7.8 dB; the twin: 6.5-9.1 dB),
#: so a real Sentinel-1 scene never comes near; the margin leaves room for noise and water.
SWAP_DB = 2.0
#: Medians (linear power) above which intensity read as power looks like amplitude: the VH median
#: of real scenes is 0.015-0.03 (-18 to -15 dB; amplitude read as power: 0.12-0.17), VV 0.04-0.16
#: (amplitude: 0.22-0.40). With both bands, the VV/VH ratio must also be below 4.5 dB (amplitude
#: halves the ratio in dB: 2.5-4.5 dB against 4.9-9 dB).
AMPLITUDE_VH = 0.05
AMPLITUDE_VV = 0.2
_AMPLITUDE_RATIO_DB = (1.0, 4.5)

Part = Literal["value", "real", "imag"]


def _has_value(nodata: float | None) -> bool:
    return nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata))


def intensity_nodata(units: Units, zero_in_db: bool = False) -> tuple[float, ...]:
    """Values that mean no data in intensity bands of these units (see the module docstring);
    ``zero_in_db``: also 0 in dB, for products known to fill borders with 0 (Earth Engine exports)."""
    return (-32768.0,) if units == "db" and not zero_in_db else (0.0, -32768.0)


def _to_power_in_place(values: np.ndarray, units: Units) -> None:
    match units:
        case "db":
            np.multiply(values, np.float32(0.1), out=values)
            np.power(np.float32(10.0), values, out=values)
        case "amplitude":
            np.square(values, out=values)


def band_values_in_place(
    values: np.ndarray, nodata: float | None, units: Units, quantity: str, extra_nodata: tuple[float, ...] = ()
) -> None:
    """float32 band read in place: nodata values and infinities -> NaN, amplitude and dB -> linear
    power (no copies)."""
    missing = np.isinf(values)
    if _has_value(nodata):
        missing |= values == np.float32(nodata)
    if quantity == "intensity":
        for v in extra_nodata:
            missing |= values == np.float32(v)
        _to_power_in_place(values, units)
    values[missing] = np.nan


def band_values(
    raw: np.ndarray, part: Part, nodata: float | None, units: Units, quantity: str, extra_nodata: tuple[float, ...] = ()
) -> np.ndarray:
    """float32 values of a band read as ``raw`` (its ``part`` for a complex band): nodata values
    and non-finite ones -> NaN, amplitude and dB intensity -> linear power."""
    if part == "value":
        values = raw.astype(np.float32)
        missing = ~np.isfinite(values)
    else:
        values = (raw.real if part == "real" else raw.imag).astype(np.float32)
        missing = ~np.isfinite(raw)
    if _has_value(nodata):
        missing |= raw == nodata
    if quantity == "intensity":
        for v in extra_nodata:
            missing |= raw == v
        _to_power_in_place(values, units)
    values[missing] = np.nan
    return values


def negative_shares(scene: Scene) -> list[tuple[int, float]]:
    """(index, share) of negative values of each intensity band in a 128 x 128 sample at the
    centre, read before any conversion."""
    import dataclasses

    raw = dataclasses.replace(scene, units="linear", angle=None, masks=())
    r = max(0, scene.height // 2 - 64)
    c = max(0, scene.width // 2 - 64)
    sample = raw.read(r, min(scene.height, r + 128), c, min(scene.width, c + 128))
    shares = []
    for i, b in enumerate(scene.bands):
        if b.channel.quantity == "intensity":
            values = sample[i][np.isfinite(sample[i])]
            shares.append((i, float((values < 0).mean()) if values.size else 0.0))
    return shares


def check_linear(scene: Scene, why: str) -> None:
    """Refuse dB data taken for linear intensity or amplitude: more than 1 % negative values in a
    128 x 128 sample at the centre (read before any conversion). ``why`` says where the units came
    from (e.g. "--units linear (units='linear') was given"); the message repeats it."""
    for i, share in negative_shares(scene):
        if share > 0.01:
            b = scene.bands[i]
            raise SceneError(
                f"{why} but band {b.channel.band} of {b.path} holds negative values ({share:.0%} of a sample), "
                f"so it is not {'linear intensity' if scene.units == 'linear' else 'amplitude'}: pass --units db "
                "(units='db') for backscatter in decibels"
            )


def _centre_sample(scene: Scene) -> np.ndarray:
    """Up to 128 x 128 pixels at the centre of ``scene``, as the model sees them (linear power)."""
    r = max(0, scene.height // 2 - 64)
    c = max(0, scene.width // 2 - 64)
    return scene.read(r, min(scene.height, r + 128), c, min(scene.width, c + 128))


def check_polarisations(scene: Scene, how: str) -> None:
    """Refuse VV and VH that are swapped or the same, and warn when linear power looks like
    amplitude, from the medians of a 128 x 128 sample at the centre (converted to linear power).

    VH (cross-polarised) is 5-10 dB darker than VV over land and water alike: a band taken as VH
    that is :data:`SWAP_DB` dB brighter than the band taken as VV is refused (no real scene does
    it, so there is no switch to allow it: name the bands as they are). ``how`` says how the
    polarisations were told (e.g. "--vv/--vh"), for the fix in the message. Amplitude read as
    power only warns: a bright city centre can come near its medians (:data:`AMPLITUDE_VH`)."""
    pos = {b.channel.band: i for i, b in enumerate(scene.bands) if b.channel.quantity == "intensity"}
    if not pos:
        return
    sample = _centre_sample(scene)
    med: dict[str, float] = {}
    for pol, i in pos.items():
        values = sample[i][np.isfinite(sample[i])]
        if values.size >= 100:
            med[pol] = float(np.median(values))
    if "VV" in pos and "VH" in pos:
        vv, vh = (scene.bands[pos[p]] for p in ("VV", "VH"))
        a, b = sample[pos["VV"]], sample[pos["VH"]]
        both = np.isfinite(a) & np.isfinite(b)
        if both.sum() >= 100 and np.array_equal(a[both], b[both]):
            raise SceneError(
                f"the bands taken as VV ({_where(vv)}) and VH ({_where(vh)}) hold the same values: give the VH band as VH ({how})"
            )
        if "VV" in med and "VH" in med and med["VH"] > 0 and med["VV"] > 0:
            ratio = 10 * math.log10(med["VV"] / med["VH"])
            if -ratio >= SWAP_DB:
                raise SceneError(
                    f"the band taken as VH ({_where(vh)}) is {-ratio:.1f} dB brighter than the band taken as VV "
                    f"({_where(vv)}) at the scene's centre, but VH is 5-10 dB darker than VV over any land cover: "
                    f"the two are swapped; {_swap_fix(how)}"
                )
            if med["VH"] > AMPLITUDE_VH and _AMPLITUDE_RATIO_DB[0] < ratio < _AMPLITUDE_RATIO_DB[1]:
                _warn_amplitude(scene, f"median VH {med['VH']:.3f}, VV/VH {ratio:.1f} dB")
        return
    if scene.units == "linear" and med.get("VV", 0.0) > AMPLITUDE_VV:
        _warn_amplitude(scene, f"median VV {med['VV']:.3f}")


def _where(b: SceneBand) -> str:
    import os

    return f"band {b.band} of {os.path.basename(b.path)}"


def _swap_fix(how: str) -> str:
    match how:
        case "--vv/--vh":
            return "swap the files of --vv and --vh"
        case "--bands":
            return "give --bands in the order the file holds them (e.g. --bands VV,VH for --bands VH,VV)"
    return "name the bands as the file holds them with --bands (e.g. --bands VV,VH), or correct the band descriptions"


def _warn_amplitude(scene: Scene, stats: str) -> None:
    if scene.units != "linear":
        return
    log.warning(
        "%s: the intensities read as linear power look like amplitude (%s at the scene's centre; power is "
        "-18 to -15 dB in VH): if the file holds amplitude, pass --units amplitude (units='amplitude')",
        scene.name,
        stats,
    )
