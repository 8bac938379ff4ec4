"""Physical units of scene bands: nodata to NaN, dB to linear power, complex parts, and the
check that refuses dB values taken for linear intensity."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..bands import UNITS, Units
from ..errors import SceneError

if TYPE_CHECKING:
    from .scene import Scene

__all__ = ["Units", "Part", "UNITS", "check_linear"]

Part = Literal["value", "real", "imag"]


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


def check_linear(scene: Scene, given: bool = False) -> None:
    """Refuse dB data taken for linear intensity: more than 1 % negative values in a 128 x 128
    sample at the centre. ``given``: linear came from the caller (``--units linear``), not from
    the absence of a unit tag; the message says which."""
    r = max(0, scene.height // 2 - 64)
    c = max(0, scene.width // 2 - 64)
    sample = scene.read(r, min(scene.height, r + 128), c, min(scene.width, c + 128))
    for i, b in enumerate(scene.bands):
        if b.channel.quantity != "intensity":
            continue
        values = sample[i][np.isfinite(sample[i])]
        share = (values < 0).mean() if values.size else 0.0
        if share > 0.01:
            why = "--units linear (units='linear') was given" if given else "linear was assumed (no unit tag)"
            raise SceneError(
                f"{why} but band {b.channel.band} of {b.path} holds negative values ({share:.0%} of a sample), "
                "so it is not linear intensity: pass --units db (units='db') for backscatter in decibels"
            )
