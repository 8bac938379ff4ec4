"""Physical units of scene bands: nodata to NaN, amplitude and dB to linear power, complex parts,
and the check that refuses dB values taken for linear intensity.

Besides a band's own nodata value, intensity bands treat two more values as no data
(``extra_nodata``, chosen per scene): -32768, the fill of Planetary Computer's RTC COGs and of
many int16 exports, which no backscatter takes; and 0 in linear power or amplitude, which no
measured backscatter takes either (a radar return is never exactly zero): it is the fill of
swath borders (GRD, RTC products, Earth Engine exports) left unflagged."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..bands import UNITS, Units
from ..errors import SceneError

if TYPE_CHECKING:
    from .scene import Scene

__all__ = ["Units", "Part", "UNITS", "check_linear", "intensity_nodata", "negative_shares"]

Part = Literal["value", "real", "imag"]


def _has_value(nodata) -> bool:
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


def _value_in_place(values: np.ndarray, nodata, units: Units, quantity: str, extra_nodata: tuple = ()) -> None:
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


def _part(raw: np.ndarray, part: Part, nodata, units: Units, quantity: str, extra_nodata: tuple = ()) -> np.ndarray:
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
