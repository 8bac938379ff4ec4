"""So2Sat's Lee-filtered ``sen1`` channels 4-7 as the twin renders them: :mod:`lczmap.speckle`'s
refined Lee 7 x 7 (the one filter that prediction runs too), on CPU torch, numpy in and out; and
the box mean the optical renderer blurs with."""

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


def lee_filter(intensity: np.ndarray, looks: float = 1.0) -> np.ndarray:
    """Refined Lee 7 x 7 of an intensity image on the last two axes (the intensity form), float64,
    'valid' mode: :data:`lczmap.speckle.HALO` (3) pixels smaller on each side."""
    import torch

    from ..speckle import refined_lee_intensity

    a = torch.from_numpy(np.ascontiguousarray(intensity, dtype=np.float64))
    return refined_lee_intensity(a.unsqueeze(-3), looks=looks).squeeze(-3).numpy()


def polsar_lee(vh: np.ndarray, vv: np.ndarray, looks: float = 1.0):
    """So2Sat's ``sen1`` channels 4-7 from single-look complex VH and VV ('valid' mode, 3 pixels
    smaller on each side): the dual-pol covariance matrix (``|VH|^2``, ``|VV|^2``, ``VV VH*``)
    refined-Lee filtered with one weight from its span ``|VH|^2 + |VV|^2``, as SNAP's
    Polarimetric-Speckle-Filter filters a C2 matrix. Returns ``(vh_intensity, vv_intensity,
    covariance)`` (float64, float64, complex128)."""
    import torch

    from ..speckle import refined_lee

    vh = np.asarray(vh)
    vv = np.asarray(vv)
    a, b = vh.real.astype(np.float64), vh.imag.astype(np.float64)
    c, d = vv.real.astype(np.float64), vv.imag.astype(np.float64)
    i_vh = a * a + b * b
    i_vv = c * c + d * d
    # VV * conj(VH), in real arithmetic so that results do not depend on array sizes (SIMD paths).
    cov_re = c * a + d * b
    cov_im = d * a - c * b
    stack = torch.from_numpy(np.stack([i_vh, i_vv, cov_re, cov_im], axis=-3))
    out = refined_lee(stack, torch.from_numpy(i_vh + i_vv), looks=looks).numpy()
    return out[..., 0, :, :], out[..., 1, :, :], out[..., 2, :, :] + 1j * out[..., 3, :, :]
