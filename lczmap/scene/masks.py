"""Validity masks that products ship beside their backscatter, and which of their values mean
that a pixel holds no usable backscatter.

- ``hyp3-ls``: ASF HyP3 RTC ``_ls_map.tif``, a sum of flags (HyP3 RTC product guide and the
  ``ls_map`` metadata template of ASFHyP3/hyp3-gamma): 1 tested, 2 look angle < slope angle,
  4 layover, 8 look angle < opposite slope angle, 16 shadow. A pixel with the layover (4) or the
  shadow (16) flag is invalid; 0 ("not tested") lies outside the footprint, where the backscatter
  file has its own nodata.
- ``opera``: OPERA RTC-S1 ``_mask.tif`` (ASF's OPERA RTC-S1 product guide): 0 valid, 1 shadow,
  2 layover, 3 layover and shadow, 255 invalid sample (fill). Everything but 0 is invalid.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["MaskKind", "MASK_KINDS", "invalid", "describe"]

MaskKind = Literal["hyp3-ls", "opera"]
MASK_KINDS: tuple[MaskKind, ...] = ("hyp3-ls", "opera")

_HYP3_LAYOVER, _HYP3_SHADOW = 4, 16


def invalid(values: np.ndarray, kind: MaskKind) -> np.ndarray:
    """Boolean array: True where the mask says the backscatter is not valid."""
    match kind:
        case "hyp3-ls":
            v = values.astype(np.int64)
            return (v & (_HYP3_LAYOVER | _HYP3_SHADOW)) != 0
        case "opera":
            return values != 0
    raise ValueError(f"unknown mask kind {kind!r}")  # pragma: no cover - MaskKind is closed


def describe(kind: MaskKind) -> str:
    """What a mask of this kind removes, for the map's tags."""
    return {
        "hyp3-ls": "layover and shadow (HyP3 ls_map flags 4, 16)",
        "opera": "layover, shadow and fill (OPERA mask values 1-3, 255)",
    }[kind]
