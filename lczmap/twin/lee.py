"""Lee speckle filters: So2Sat's ``sen1`` channels 4-7 from single-look complex VH and VV."""

from __future__ import annotations

import numpy as np

__all__ = ["lee_filter", "polsar_lee", "box_mean"]


def box_mean(a: np.ndarray, size: int) -> np.ndarray:
    """Mean over ``size`` x ``size`` windows on the last two axes ('valid': shrinks by size - 1)."""
    n_y = a.shape[-2] - size + 1
    n_x = a.shape[-1] - size + 1
    rows = a[..., 0:n_y, :].copy()
    for k in range(1, size):
        rows += a[..., k : k + n_y, :]
    out = rows[..., :, 0:n_x].copy()
    for k in range(1, size):
        out += rows[..., :, k : k + n_x]
    return out / (size * size)


def _lee_weight(intensity: np.ndarray, size: int, looks: float) -> tuple[np.ndarray, np.ndarray]:
    m = box_mean(intensity, size)
    v = np.maximum(box_mean(intensity * intensity, size) - m * m, 0)
    cu2 = 1.0 / looks
    var_x = np.maximum((v - m * m * cu2) / (1 + cu2), 0)
    k = np.divide(var_x, v, out=np.zeros_like(v), where=v > 0)
    return m, k


def lee_filter(intensity: np.ndarray, size: int = 5, looks: float = 1.0) -> np.ndarray:
    """Lee (1980) speckle filter of an intensity image on the last two axes, 'valid' mode.

    ``out = m + k (I - m)`` with ``m``, ``v`` the local mean and variance over ``size`` x ``size``
    windows and ``k = max(0, (v - m^2 / L) / (1 + 1 / L)) / v`` for ``L`` looks. The output is
    ``size - 1`` pixels smaller in each of the last two axes (no edge padding).
    """
    intensity = np.asarray(intensity, dtype=np.float64)
    m, k = _lee_weight(intensity, size, looks)
    c = size // 2
    centre = intensity[..., c : c + m.shape[-2], c : c + m.shape[-1]]
    return m + k * (centre - m)


def polsar_lee(vh: np.ndarray, vv: np.ndarray, size: int = 5, looks: float = 1.0):
    """So2Sat's ``sen1`` channels 4-7 from single-look complex VH and VV ('valid' mode).

    Returns ``(vh_intensity, vv_intensity, covariance)``: each intensity Lee-filtered with its own
    weights (:func:`lee_filter`), and the off-diagonal ``VV * conj(VH)`` filtered with the Lee
    weights of the span ``|VV|^2 + |VH|^2`` (the polarimetric Lee filter's shared weight).
    """
    vh = np.asarray(vh)
    vv = np.asarray(vv)
    a, b = vh.real.astype(np.float64), vh.imag.astype(np.float64)
    c, d = vv.real.astype(np.float64), vv.imag.astype(np.float64)
    i_vh = a * a + b * b
    i_vv = c * c + d * d
    # VV * conj(VH), in real arithmetic so that results do not depend on array sizes (SIMD paths).
    cov_re = c * a + d * b
    cov_im = d * a - c * b
    m, k = _lee_weight(i_vh + i_vv, size, looks)
    h = size // 2
    sl = (Ellipsis, slice(h, h + m.shape[-2]), slice(h, h + m.shape[-1]))
    out_re = box_mean(cov_re, size)
    out_re += k * (cov_re[sl] - out_re)
    out_im = box_mean(cov_im, size)
    out_im += k * (cov_im[sl] - out_im)
    return lee_filter(i_vh, size, looks), lee_filter(i_vv, size, looks), out_re + 1j * out_im
