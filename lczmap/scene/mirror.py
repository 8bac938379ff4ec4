"""Reading any row/column range of an image, mirrored outside it (numpy's ``reflect``).

Windows near a scene's edge reach past it; the model then sees the image mirrored, as it saw
So2Sat's patches padded. One routine serves :class:`~lczmap.scene.Scene` and
:func:`lczmap.predict_dataarray`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["read_mirrored", "reflect_index"]


def read_mirrored(
    read_window: Callable[..., np.ndarray],
    height: int,
    width: int,
    r0: int,
    r1: int,
    c0: int,
    c1: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Rows ``r0:r1`` and columns ``c0:c1`` of a (C, height, width) image, mirrored outside it.

    ``read_window(rlo, rhi, clo, chi, out=None)`` reads a range inside the image into ``out`` or
    a new array. With ``out`` (C x (r1 - r0) x (c1 - c0)), the result lands there: read straight
    into it when the range lies inside the image, copied in when it is mirrored."""
    result = _read_mirrored(read_window, height, width, r0, r1, c0, c1, out)
    if out is not None and result is not out:
        np.copyto(out, result, casting="same_kind")
        return out
    return result


def _read_mirrored(
    read_window: Callable[..., np.ndarray], height: int, width: int, r0: int, r1: int, c0: int, c1: int, out: np.ndarray | None
) -> np.ndarray:
    pads = (max(0, -r0), max(0, r1 - height), max(0, -c0), max(0, c1 - width))
    simple = r0 < height and r1 > 0 and c0 < width and c1 > 0 and max(pads[:2]) < height and max(pads[2:]) < width
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
