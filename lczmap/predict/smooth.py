"""The filtered LCZ map: class probabilities smoothed by a Gaussian over valid pixels only, then
the most likely class, strip by strip (each strip reads a halo, so strips join seamlessly)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

__all__ = ["smooth_probabilities", "filtered_strips", "product_strips"]


def _radius(sigma: float, extent: int) -> int:
    """The Gaussian's radius in pixels (3 sigma), no longer than the ``extent`` of the data it
    smooths: taps beyond it only ever meet the zeros past the edge, so a huge sigma costs no
    more memory than the map itself."""
    return max(1, min(int(math.ceil(3 * sigma)), extent))


def smooth_probabilities(p: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of (K, h, w) probabilities over valid pixels only (normalised convolution)."""
    from scipy import ndimage

    r = _radius(sigma, max(p.shape[-2:]))
    kern = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2).astype(np.float32)
    w = valid.astype(np.float32)
    num = np.where(valid[None], p, 0).astype(np.float32)
    for axis in (-1, -2):  # zeros beyond the edge
        num = ndimage.correlate1d(num, kern, axis=axis, mode="constant")
        w = ndimage.correlate1d(w, kern, axis=axis, mode="constant")
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / w


def filtered_strips(
    probs: np.ndarray, codes: np.ndarray, model_codes: Sequence[int], sigma: float, rows: int = 512
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(r0, r1, filtered codes)`` strips of the map from ``probs`` (K, h, w) and
    ``codes`` (h, w; 0 = nodata), array-likes read a strip and its halo at a time."""
    h = codes.shape[0]
    r = _radius(sigma, h)
    lut = np.asarray(model_codes, dtype=np.uint8)
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        a, b = max(0, r0 - r), min(h, r1 + r)
        valid = np.asarray(codes[a:b]) != 0
        sm = smooth_probabilities(np.nan_to_num(np.asarray(probs[:, a:b])), valid, sigma)[:, r0 - a : r0 - a + (r1 - r0)]
        v = valid[r0 - a : r0 - a + (r1 - r0)]
        out = np.where(v, lut[np.nan_to_num(sm, nan=-1).argmax(0)], 0).astype(np.uint8)
        yield r0, r1, out


def product_strips(
    probs: np.ndarray, codes: np.ndarray, confidence: np.ndarray, model_codes: Sequence[int], sigma: float, rows: int = 512
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(r0, r1, raw, filtered, percent)`` strips of the LCZ Generator product: the codes,
    the filtered codes (:func:`filtered_strips`) and the probability of the raw class in percent
    (1-100; 0 where there is no class)."""
    for r0, r1, filtered in filtered_strips(probs, codes, model_codes, sigma, rows):
        raw = np.asarray(codes[r0:r1]).astype(np.uint8)
        top = np.nan_to_num(np.asarray(confidence[r0:r1], dtype=np.float32))
        percent = np.where(raw != 0, np.clip(np.rint(top * 100), 1, 100), 0).astype(np.uint8)
        yield r0, r1, raw, filtered, percent
