"""Counter-based randomness of the twin: hashes of world pixel coordinates, noise fields, speckle.

Every random number is a splitmix64 hash of world pixel coordinates, a stream number and a key, so
a scene rendered window by window is identical to one rendered whole, and output never depends on
chunk or window sizes.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TypeAlias

import numpy as np

#: A number or an array that broadcasts against the pixel arrays (e.g. one value per city).
Broadcast: TypeAlias = float | np.floating | np.ndarray

__all__ = [
    "MASK64",
    "stream_key",
    "pixel_hash",
    "uniform16",
    "uniform12",
    "complex_normal",
    "value_noise",
    "uniform_noise",
    "speckle",
    "GRD_LOOK_WEIGHTS",
    "GRD_LOOKS",
    "multilook_intensity",
]

_U64 = np.uint64
_M1, _M2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)
_PX, _PY = _U64(0x9E3779B97F4A7C15), _U64(0xC2B2AE3D27D4EB4F)
#: All 64 bits set: seeds are taken modulo 2**64.
MASK64 = (1 << 64) - 1


def _mix(z: np.ndarray) -> np.ndarray:
    z = z ^ (z >> _U64(30))
    z *= _M1
    z ^= z >> _U64(27)
    z *= _M2
    z ^= z >> _U64(31)
    return z


def stream_key(key: int, stream: int) -> np.uint64:
    """The hash key of one random stream of ``key``."""
    z = (key * 0x9E3779B97F4A7C15 + stream * 0xD1B54A32D192ED03 + 0x632BE59BD9B4E019) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return _U64(z ^ (z >> 31))


def pixel_hash(x: np.ndarray, y: np.ndarray, key: int, stream: int) -> np.ndarray:
    """64 random bits per (x, y) for this key and stream (x, y: int64 arrays, broadcast)."""
    return _mix(x.astype(np.uint64) * _PX + (y.astype(np.uint64) * _PY ^ stream_key(key, stream)))


def uniform16(h: np.ndarray, part: int) -> np.ndarray:
    """The ``part``-th (0-3) 16-bit slice of ``h`` as float32 in [0, 1)."""
    return ((h >> _U64(16 * part)) & _U64(0xFFFF)).astype(np.float32) * np.float32(1 / 65536)


def uniform12(h: np.ndarray, part: int) -> np.ndarray:
    """The ``part``-th (0-4) 12-bit slice of ``h`` as float32 in [0, 1)."""
    return ((h >> _U64(12 * part)) & _U64(0xFFF)).astype(np.float32) * np.float32(1 / 4096)


def complex_normal(x: np.ndarray, y: np.ndarray, key: int, stream: int) -> np.ndarray:
    """Circular complex Gaussian field with E|z|^2 = 1 (complex64), Box-Muller from one hash."""
    h = pixel_hash(x, y, key, stream)
    u = ((h >> _U64(40)).astype(np.float32) + 1) * np.float32(2.0**-24)  # (0, 1]
    theta = (h & _U64(0xFFFFFF)).astype(np.float32) * np.float32(2 * np.pi / 2.0**24)
    r = np.sqrt(-np.log(u))
    z = np.empty(r.shape, dtype=np.complex64)
    z.real = r * np.cos(theta)
    z.imag = r * np.sin(theta)
    return z


def value_noise(x: np.ndarray, y: np.ndarray, scale: Broadcast, key: int, stream: int) -> np.ndarray:
    """Smooth noise in [0, 1) with features about ``scale`` pixels across (float32)."""
    gx = x / scale
    gy = y / scale
    ix = np.floor(gx)
    iy = np.floor(gy)
    fx = (gx - ix).astype(np.float32)
    fy = (gy - iy).astype(np.float32)
    fx = fx * fx * (3 - 2 * fx)
    fy = fy * fy * (3 - 2 * fy)
    ix = ix.astype(np.int64)
    iy = iy.astype(np.int64)
    one = np.int64(1)
    v00 = uniform16(pixel_hash(ix, iy, key, stream), 0)
    v10 = uniform16(pixel_hash(ix + one, iy, key, stream), 0)
    v01 = uniform16(pixel_hash(ix, iy + one, key, stream), 0)
    v11 = uniform16(pixel_hash(ix + one, iy + one, key, stream), 0)
    top = v00 + (v10 - v00) * fx
    bottom = v01 + (v11 - v01) * fx
    return top + (bottom - top) * fy


_LUT_SIZE = 4096


@lru_cache(maxsize=1)
def _uniformising_table() -> np.ndarray:
    """Lookup table mapping value noise onto a (near) uniform distribution on [0, 1)."""
    n = 400_000
    rng = np.random.default_rng(12345)
    x = rng.integers(0, 1 << 30, n)
    y = rng.integers(0, 1 << 30, n)
    v = value_noise(x, y, 4.37, 1, 1)
    grid = (np.arange(_LUT_SIZE) + 0.5) / _LUT_SIZE
    return np.searchsorted(np.sort(v), grid).astype(np.float32) / n


def uniform_noise(x: np.ndarray, y: np.ndarray, scale: Broadcast, key: int, stream: int) -> np.ndarray:
    """Smooth noise with a (near) uniform distribution on [0, 1)."""
    v = value_noise(x, y, scale, key, stream)
    return _uniformising_table()[np.minimum((v * _LUT_SIZE).astype(np.int32), _LUT_SIZE - 1)]


def speckle(vv: np.ndarray, vh: np.ndarray, x: np.ndarray, y: np.ndarray, key: int) -> tuple[np.ndarray, np.ndarray]:
    """Single-look complex amplitudes (VV, VH): zero-mean circular complex Gaussian, E|s|^2 = sigma0."""
    s_vv = np.sqrt(vv) * complex_normal(x, y, key, 10)
    s_vh = np.sqrt(vh) * complex_normal(x, y, key, 11)
    return s_vv, s_vh


#: Weights of the independent looks averaged into a GRD pixel; unequal, as the looks of a real
#: multi-looked product are, giving :data:`GRD_LOOKS` equivalent looks.
GRD_LOOK_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 0.2)
#: Equivalent number of looks of the twin's GRD intensity: (sum w)^2 / sum w^2 = 4.37 (Sentinel-1
#: IW GRDH: about 4.4).
GRD_LOOKS = sum(GRD_LOOK_WEIGHTS) ** 2 / sum(w * w for w in GRD_LOOK_WEIGHTS)


def multilook_intensity(vv: np.ndarray, vh: np.ndarray, x: np.ndarray, y: np.ndarray, key: int) -> tuple[np.ndarray, np.ndarray]:
    """Multi-looked intensities (VV, VH), float32: sigma0 times the weighted mean of independent
    single-look speckle intensities (:data:`GRD_LOOK_WEIGHTS`), mean sigma0, about 4.4 looks.
    Independent per pixel (a real GRD's speckle is correlated over a pixel or two)."""
    total = float(sum(GRD_LOOK_WEIGHTS))
    out = []
    for sigma0, stream in ((vv, 20), (vh, 30)):
        acc = np.zeros(np.broadcast_shapes(np.shape(sigma0), np.shape(x)), dtype=np.float32)
        for k, w in enumerate(GRD_LOOK_WEIGHTS):
            z = complex_normal(x, y, key, stream + k)
            acc += np.float32(w / total) * (z.real * z.real + z.imag * z.imag)
        out.append((sigma0 * acc).astype(np.float32))
    return out[0], out[1]
