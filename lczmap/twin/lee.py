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


def polsar_lee(vh: np.ndarray, vv: np.ndarray, looks: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """So2Sat's ``sen1`` channels 4-7 from single-look complex VH and VV, float64: ``(vh_intensity,
    vv_intensity, covariance)``
    (:func:`lczmap.speckle.refined_lee_c2`, the filter prediction runs too)."""
    from ..speckle import refined_lee_c2

    return refined_lee_c2(vh, vv, looks=looks)
