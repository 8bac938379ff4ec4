"""A seeded synthetic series of class-probability rasters with known change, written as
``predict --probabilities`` writes them (float32 COGs, bands named by LCZ class, a UTM grid)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine

from lczmap import raster
from lczmap.classes import lcz

CODES = (2, 6, 8, 14, 16, 17)
TRANSFORM = Affine(100.0, 0.0, 380000.0, 0.0, -100.0, 5830000.0)
CRS = "EPSG:32633"


@dataclass
class Series:
    paths: list[Path]
    truth: np.ndarray  # (T, H, W) LCZ codes
    changed_at: np.ndarray  # (H, W) 1-based date index of the change, 0 = none


def write_series(
    folder: Path, dates: int = 6, shape: tuple[int, int] = (60, 80), seed: int = 0, signal: float = 1.6, noise: float = 1.0
) -> Series:
    """``dates`` rasters over ``shape`` pixels: a class map of blocks, three regions that change
    (low plants -> open low-rise at date 3, open low-rise -> compact mid-rise at date 4, low
    plants -> water at date 3); each date's probabilities are the softmax of ``signal`` on the
    true class plus independent Gaussian noise (the maps of single dates flicker)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    k = len(CODES)
    base = np.empty(shape, np.int64)
    for i in range(0, h, 10):
        for j in range(0, w, 10):
            base[i : i + 10, j : j + 10] = rng.integers(0, k)
    truth = np.repeat(base[None], dates, axis=0)
    changed = np.zeros(shape, np.int64)
    idx = {c: i for i, c in enumerate(CODES)}
    for (i0, i1, j0, j1), start, src, dst in (
        ((5, 20, 5, 25), 3, 14, 6),
        ((30, 45, 40, 60), 4, 6, 2),
        ((45, 58, 5, 20), 3, 14, 17),
    ):
        truth[:, i0:i1, j0:j1] = idx[src]
        truth[start - 1 :, i0:i1, j0:j1] = idx[dst]
        changed[i0:i1, j0:j1] = start
    paths = []
    for t in range(dates):
        logits = signal * np.eye(k)[truth[t]].transpose(2, 0, 1) + rng.normal(0, noise, (k, h, w))
        p = np.exp(logits - logits.max(axis=0))
        p /= p.sum(axis=0)
        path = folder / f"prob_{2019 + t}.tif"
        raster.write_float(path, p.astype(np.float32), TRANSFORM, CRS, [lcz(c).title for c in CODES])
        paths.append(path)
    codes = np.asarray(CODES)[truth]
    return Series(paths, codes, changed)
