"""A synthetic So2Sat LCZ42 twin and Sentinel-1-like scenes rendered from the same class models.

Real So2Sat LCZ42 is 52 GB and real Sentinel-1 scenes are large downloads, so tests, benchmarks and
the demo run on data generated here. Both products come from one renderer:

1. **Class models** (:data:`CLASS_MODELS`): each of the 17 LCZ classes is a material model: a block
   grid of buildings (block size, footprint, occupancy, height, share of metal roofs, streets) and
   a ground-cover mix (paved, trees, shrubs, low plants, bare soil, rock, water) laid out by smooth
   noise at a class-specific scale.
2. **Materials -> signals.** Radar: each material has a VV and VH backscatter (linear sigma0);
   building walls facing the sensor give double bounce that grows with height, tall buildings cast
   radar shadow, vegetation gives volume scattering (strong in VH), water is dark. Single-look
   complex amplitudes are zero-mean circular complex Gaussian speckle with that power; the
   intensities and the VV-VH covariance are Lee-filtered from the speckle (:func:`lee_filter`,
   :func:`polsar_lee`) exactly as So2Sat's ``sen1`` channels 4-7. Optical: each material has a
   10-band Sentinel-2 spectrum (vegetation red edge and NIR plateau, dark water in NIR/SWIR, bright
   metal roofs), with per-building albedo, building shadows, a 3x3 point-spread blur and noise.
3. **Cities.** Patches come in cities (:class:`City`), each with its own radar calibration
   (gain in dB, VH offset, water roughness), optical illumination gain and haze, building height
   scale and class mix. Validation and test cities are not training cities (as So2Sat v2), so
   models face a real domain shift; radar calibration varies more than optical illumination, so
   EO carries the class more clearly than SAR.

All randomness comes from a counter-based hash of world pixel coordinates and the seed, so a scene
rendered window by window is identical to one rendered whole, and output does not depend on
chunk or window sizes.

Public API: :func:`write_twin`, :func:`write_scene`, :func:`render_patches`, :func:`lee_filter`,
:func:`polsar_lee`, :data:`CLASS_MODELS`, :data:`SO2SAT_CLASS_COUNTS`.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Literal

import numpy as np

from .. import __version__
from .._io import atomic_path, check_output
from ..classes import NODATA
from ..errors import ConfigError, OutputExistsError
from .so2sat import V3_VARIANTS

__all__ = [
    "MATERIALS",
    "ClassModel",
    "CLASS_MODELS",
    "SO2SAT_CLASS_COUNTS",
    "City",
    "make_cities",
    "render_patches",
    "lee_filter",
    "polsar_lee",
    "write_twin",
    "write_scene",
    "twin_files",
    "PATCH",
    "SCENE_NODATA",
]

log = logging.getLogger(__name__)

#: Patch side in pixels (So2Sat: 32 x 32 pixels of 10 m).
PATCH = 32
#: Extra pixels rendered around every window: 2 for the 5x5 Lee filter, 3 for radar/optical
#: shadows. Output never depends on the window partition.
_HALO = 5
#: Nodata value of synthetic scenes (float32 and complex64): NaN.
SCENE_NODATA = float("nan")

#: Ground materials, in the index order of the tables below (0 = building roof).
MATERIALS = ("roof", "paved", "tree", "shrub", "grass", "soil", "rock", "water")
_ROOF, _PAVED, _TREE, _SHRUB, _GRASS, _SOIL, _ROCK, _WATER = range(8)

#: Pixel counts per class in So2Sat LCZ42 v2 training.h5 (label index order, LCZ 1-10, A-G),
#: used as relative class frequencies (approximate; rare: LCZ 1, 7, E).
SO2SAT_CLASS_COUNTS = (
    5068, 24431, 31693, 8651, 16493, 35290, 3269, 39326, 13584,
    11954, 42902, 9514, 9165, 41377, 2392, 7898, 49359,
)  # fmt: skip


@dataclass(frozen=True)
class ClassModel:
    """How one LCZ class is built, at 10 m pixels.

    Buildings sit on a square block grid of ``block`` pixels; each block holds one building of
    ``footprint`` x ``footprint`` pixels with probability ``occupancy``, of mean height ``height``
    (m). ``metal`` is the share of bright metal roofs; ``streets`` marks paved street lines between
    blocks. Pixels that are neither building nor street get a ground material drawn by ``cover``
    (material name -> share) from smooth noise of feature size ``cover_scale`` pixels.
    """

    code: int
    block: int = 8
    footprint: int = 0
    occupancy: float = 0.0
    height: float = 0.0
    metal: float = 0.0
    streets: bool = False
    cover: dict = field(default_factory=dict)
    cover_scale: float = 4.0


#: One material model per LCZ class, in label-index order (LCZ 1-10, A-G).
CLASS_MODELS: tuple[ClassModel, ...] = (
    ClassModel(1, block=6, footprint=5, occupancy=0.85, height=45, metal=0.05, streets=True,
               cover={"paved": 0.85, "tree": 0.08, "grass": 0.04, "soil": 0.03}, cover_scale=3),
    ClassModel(2, block=5, footprint=4, occupancy=0.85, height=16, metal=0.05, streets=True,
               cover={"paved": 0.78, "tree": 0.12, "grass": 0.06, "soil": 0.04}, cover_scale=3),
    ClassModel(3, block=4, footprint=3, occupancy=0.85, height=7, metal=0.1, streets=True,
               cover={"paved": 0.6, "tree": 0.12, "grass": 0.13, "soil": 0.15}, cover_scale=3),
    ClassModel(4, block=11, footprint=4, occupancy=0.75, height=45, metal=0.05,
               cover={"paved": 0.35, "tree": 0.25, "grass": 0.37, "soil": 0.03}, cover_scale=4),
    ClassModel(5, block=8, footprint=3, occupancy=0.75, height=16, metal=0.05,
               cover={"paved": 0.33, "tree": 0.27, "grass": 0.35, "soil": 0.05}, cover_scale=4),
    ClassModel(6, block=6, footprint=2, occupancy=0.7, height=7, metal=0.1,
               cover={"paved": 0.2, "tree": 0.3, "grass": 0.42, "soil": 0.08}, cover_scale=3),
    ClassModel(7, block=3, footprint=2, occupancy=0.8, height=3.5, metal=0.7,
               cover={"soil": 0.6, "paved": 0.15, "grass": 0.2, "tree": 0.05}, cover_scale=2),
    ClassModel(8, block=14, footprint=11, occupancy=0.8, height=9, metal=0.5, streets=True,
               cover={"paved": 0.75, "grass": 0.12, "soil": 0.1, "tree": 0.03}, cover_scale=5),
    ClassModel(9, block=10, footprint=2, occupancy=0.35, height=6, metal=0.15,
               cover={"grass": 0.55, "tree": 0.22, "soil": 0.15, "paved": 0.08}, cover_scale=5),
    ClassModel(10, block=12, footprint=7, occupancy=0.65, height=14, metal=0.75, streets=True,
               cover={"paved": 0.5, "soil": 0.3, "rock": 0.1, "grass": 0.1}, cover_scale=4),
    ClassModel(11, cover={"tree": 0.93, "grass": 0.05, "shrub": 0.02}, cover_scale=6),
    ClassModel(12, cover={"tree": 0.45, "grass": 0.45, "soil": 0.05, "shrub": 0.05}, cover_scale=3),
    ClassModel(13, cover={"shrub": 0.6, "grass": 0.2, "soil": 0.15, "tree": 0.05}, cover_scale=3),
    ClassModel(14, cover={"grass": 0.9, "soil": 0.07, "tree": 0.03}, cover_scale=10),
    ClassModel(15, block=16, footprint=2, occupancy=0.05, height=5,
               cover={"paved": 0.5, "rock": 0.42, "soil": 0.08}, cover_scale=6),
    ClassModel(16, cover={"soil": 0.9, "grass": 0.05, "rock": 0.05}, cover_scale=8),
    ClassModel(17, cover={"water": 0.97, "grass": 0.03}, cover_scale=12),
)  # fmt: skip

# Radar backscatter per material, linear sigma0 (VV, VH); roofs are plain roofs, the double bounce
# of walls is added separately.
_SIGMA = np.array(
    [
        (0.08, 0.012),  # roof
        (0.015, 0.0015),  # paved
        (0.13, 0.035),  # tree: volume scattering, strong cross-pol
        (0.09, 0.02),  # shrub
        (0.05, 0.009),  # grass / low plants
        (0.06, 0.006),  # soil
        (0.11, 0.013),  # rock
        (0.004, 0.0006),  # water (calm), roughened per city
    ],
    dtype=np.float32,
)
_SIGMA_METAL = (0.4, 0.04)
_SIGMA_SHADOW = (0.002, 0.0004)
_DOUBLE_BOUNCE_VV = 2.5  # at 10 m height; grows as (h / 10) ** 0.7
_DOUBLE_BOUNCE_VH_RATIO = 0.15

# Surface reflectance per material, Sentinel-2 B2, B3, B4, B5, B6, B7, B8, B8A, B11, B12.
_SPECTRA = np.array(
    [
        (0.10, 0.11, 0.12, 0.13, 0.14, 0.15, 0.16, 0.16, 0.20, 0.18),  # roof (concrete, tiles)
        (0.08, 0.09, 0.10, 0.11, 0.12, 0.12, 0.13, 0.13, 0.16, 0.15),  # paved
        (0.025, 0.045, 0.025, 0.07, 0.20, 0.26, 0.30, 0.31, 0.15, 0.07),  # tree
        (0.04, 0.06, 0.06, 0.10, 0.18, 0.22, 0.25, 0.26, 0.22, 0.14),  # shrub
        (0.035, 0.07, 0.045, 0.11, 0.27, 0.33, 0.37, 0.38, 0.23, 0.12),  # grass / low plants
        (0.09, 0.12, 0.16, 0.19, 0.21, 0.23, 0.25, 0.26, 0.32, 0.27),  # bare soil, sand
        (0.13, 0.14, 0.15, 0.16, 0.17, 0.18, 0.19, 0.19, 0.24, 0.22),  # rock
        (0.06, 0.05, 0.03, 0.022, 0.015, 0.012, 0.010, 0.009, 0.004, 0.003),  # water
    ],
    dtype=np.float32,
)
_SPECTRUM_METAL = np.array((0.22, 0.23, 0.23, 0.24, 0.25, 0.26, 0.27, 0.27, 0.28, 0.24), dtype=np.float32)
_HAZE = np.array((0.05, 0.025, 0.022, 0.016, 0.011, 0.009, 0.007, 0.006, 0.002, 0.001), dtype=np.float32)
_EO_SHADOW = 0.35
_EO_NOISE = 0.006

# Per-class tables gathered per pixel.
_N_CLASSES = len(CLASS_MODELS)
_BLOCK = np.array([m.block for m in CLASS_MODELS], dtype=np.int64)
_FOOT = np.array([m.footprint for m in CLASS_MODELS], dtype=np.int64)
_OCC = np.array([m.occupancy for m in CLASS_MODELS], dtype=np.float32)
_HEIGHT = np.array([m.height for m in CLASS_MODELS], dtype=np.float32)
_METAL = np.array([m.metal for m in CLASS_MODELS], dtype=np.float32)
_STREETS = np.array([m.streets for m in CLASS_MODELS], dtype=bool)
_COVER_SCALE = np.array([m.cover_scale for m in CLASS_MODELS], dtype=np.float64)
_COVER_CUM = np.zeros((_N_CLASSES, len(MATERIALS) - 1), dtype=np.float32)  # thresholds over materials 1..7
for _i, _m in enumerate(CLASS_MODELS):
    _shares = np.array([_m.cover.get(name, 0.0) for name in MATERIALS[1:]], dtype=np.float64)
    _COVER_CUM[_i] = np.cumsum(_shares / _shares.sum())
_COVER_CUM[:, -1] = 2.0  # guard: every pixel gets a material

# ----------------------------------------------------------------------------------------------
# Counter-based randomness: splitmix64 of world coordinates, stream and key.

_U64 = np.uint64
_M1, _M2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)
_PX, _PY = _U64(0x9E3779B97F4A7C15), _U64(0xC2B2AE3D27D4EB4F)
_MASK64 = (1 << 64) - 1


def _mix(z: np.ndarray) -> np.ndarray:
    z = z ^ (z >> _U64(30))
    z *= _M1
    z ^= z >> _U64(27)
    z *= _M2
    z ^= z >> _U64(31)
    return z


def _stream_key(key: int, stream: int) -> np.uint64:
    z = (key * 0x9E3779B97F4A7C15 + stream * 0xD1B54A32D192ED03 + 0x632BE59BD9B4E019) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return _U64(z ^ (z >> 31))


def _hash(x: np.ndarray, y: np.ndarray, key: int, stream: int) -> np.ndarray:
    """64 random bits per (x, y) for this key and stream (x, y: int64 arrays, broadcast)."""
    return _mix(x.astype(np.uint64) * _PX + (y.astype(np.uint64) * _PY ^ _stream_key(key, stream)))


def _uniform16(h: np.ndarray, part: int) -> np.ndarray:
    """The ``part``-th (0-3) 16-bit slice of ``h`` as float32 in [0, 1)."""
    return ((h >> _U64(16 * part)) & _U64(0xFFFF)).astype(np.float32) * np.float32(1 / 65536)


def _uniform12(h: np.ndarray, part: int) -> np.ndarray:
    """The ``part``-th (0-4) 12-bit slice of ``h`` as float32 in [0, 1)."""
    return ((h >> _U64(12 * part)) & _U64(0xFFF)).astype(np.float32) * np.float32(1 / 4096)


def _complex_normal(x: np.ndarray, y: np.ndarray, key: int, stream: int) -> np.ndarray:
    """Circular complex Gaussian field with E|z|^2 = 1 (complex64), Box-Muller from one hash."""
    h = _hash(x, y, key, stream)
    u = ((h >> _U64(40)).astype(np.float32) + 1) * np.float32(2.0**-24)  # (0, 1]
    theta = (h & _U64(0xFFFFFF)).astype(np.float32) * np.float32(2 * np.pi / 2.0**24)
    r = np.sqrt(-np.log(u))
    z = np.empty(r.shape, dtype=np.complex64)
    z.real = r * np.cos(theta)
    z.imag = r * np.sin(theta)
    return z


def _value_noise(x: np.ndarray, y: np.ndarray, scale, key: int, stream: int) -> np.ndarray:
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
    v00 = _uniform16(_hash(ix, iy, key, stream), 0)
    v10 = _uniform16(_hash(ix + one, iy, key, stream), 0)
    v01 = _uniform16(_hash(ix, iy + one, key, stream), 0)
    v11 = _uniform16(_hash(ix + one, iy + one, key, stream), 0)
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
    v = _value_noise(x, y, 4.37, 1, 1)
    grid = (np.arange(_LUT_SIZE) + 0.5) / _LUT_SIZE
    return np.searchsorted(np.sort(v), grid).astype(np.float32) / n


def _uniform_noise(x, y, scale, key: int, stream: int) -> np.ndarray:
    """Smooth noise with a (near) uniform distribution on [0, 1)."""
    v = _value_noise(x, y, scale, key, stream)
    return _uniformising_table()[np.minimum((v * _LUT_SIZE).astype(np.int32), _LUT_SIZE - 1)]


# ----------------------------------------------------------------------------------------------
# Cities: calibration, illumination and class mix.


@dataclass(frozen=True)
class City:
    """One city of the twin: its radar calibration, optical conditions and class mix."""

    name: str
    key: int  # hash key for the city's own randomness
    sar_gain_db: float  # added to VV and VH
    vh_offset_db: float  # added to VH only
    water_roughness_db: float  # wind on water
    eo_gain: float  # illumination / atmosphere gain on all bands
    haze: float  # scale of the additive path radiance (blue strongest)
    height_scale: float  # building heights of this city
    class_weights: tuple[float, ...]  # relative frequency of each class (17)

    def to_dict(self) -> dict:
        return asdict(self)


def make_cities(n: int, seed: int = 0, prefix: str = "city", stream: int = 0) -> list[City]:
    """``n`` random cities. Radar gains vary by about 1.5 dB (VH by a further 1 dB); optical gain
    by about 6 %; class mixes are Dirichlet draws around So2Sat's class frequencies."""
    rng = np.random.default_rng([seed & _MASK64, stream, 0xC17])
    base = np.asarray(SO2SAT_CLASS_COUNTS, dtype=np.float64)
    base = base / base.sum()
    cities = []
    for i in range(n):
        weights = rng.dirichlet(base * 25 + 0.05)
        cities.append(
            City(
                name=f"{prefix}-{i:02d}",
                key=int(rng.integers(1, 1 << 62)),
                sar_gain_db=float(rng.normal(0, 1.5)),
                vh_offset_db=float(rng.normal(0, 1.0)),
                water_roughness_db=float(rng.normal(0, 3.0)),
                eo_gain=float(np.clip(rng.normal(1.0, 0.06), 0.85, 1.15)),
                haze=float(rng.uniform(0.6, 1.4)),
                height_scale=float(np.clip(rng.normal(1.0, 0.15), 0.7, 1.4)),
                class_weights=tuple(float(w) for w in weights),
            )
        )
    return cities


# ----------------------------------------------------------------------------------------------
# Rendering.


def _shift_x(a: np.ndarray, k: int, fill=0) -> np.ndarray:
    """``out[..., j] = a[..., j - k]`` (k > 0), filled at the near edge."""
    out = np.full_like(a, fill)
    out[..., k:] = a[..., :-k]
    return out


def _shift_y(a: np.ndarray, k: int, fill=0) -> np.ndarray:
    out = np.full_like(a, fill)
    out[..., k:, :] = a[..., :-k, :]
    return out


def _materials(cls: np.ndarray, x: np.ndarray, y: np.ndarray, key: int, height_scale) -> dict:
    """Per-pixel materials of a class map. ``cls``: label index (0-16), ``x``/``y``: world pixel
    coordinates (int64), all of shape (..., H, W); ``height_scale`` broadcasts against them."""
    block = _BLOCK[cls]
    bx = np.floor_divide(x, block)
    by = np.floor_divide(y, block)
    ox = x - bx * block
    oy = y - by * block
    # One hash per block: occupancy, height, metal roof, roof albedo, wall orientation (12 bits each).
    hb = _hash(bx * 31 + cls, by, key, 1)
    foot = _FOOT[cls]
    building = (ox < foot) & (oy < foot) & (_uniform12(hb, 0) < _OCC[cls])
    height = np.where(building, _HEIGHT[cls] * (0.6 + 0.8 * _uniform12(hb, 1)) * height_scale, 0).astype(np.float32)
    metal = building & (_uniform12(hb, 2) < _METAL[cls])
    albedo = 0.7 + 0.6 * _uniform12(hb, 3)
    street = _STREETS[cls] & ((ox == block - 1) | (oy == block - 1)) & ~building
    u = _uniform_noise(x, y, _COVER_SCALE[cls], key, 2)
    cum = _COVER_CUM[cls]  # (..., H, W, 7)
    cover = 1 + (u[..., None] >= cum).sum(axis=-1).astype(np.uint8)
    mat = np.where(building, _ROOF, np.where(street, _PAVED, cover)).astype(np.uint8)
    # Wall orientation: a lognormal brightness per building (aligned walls flash brightly).
    orient = np.exp((_uniform12(hb, 4) * 2 - 1) * 1.7).astype(np.float32)
    # Slow variation of roughness, moisture and plant vigour, shared by radar and optics.
    tex = _value_noise(x, y, 5.0, key, 3)
    return {"mat": mat, "height": height, "metal": metal, "albedo": albedo, "orient": orient, "tex": tex}


def _sigma0(m: dict, gain_db, vh_offset_db, water_db) -> tuple[np.ndarray, np.ndarray]:
    """Linear sigma0 (VV, VH) per pixel, float64. Valid 3 pixels inside the near-range edge."""
    mat, height = m["mat"], m["height"]
    vv = _SIGMA[mat, 0].astype(np.float64)
    vh = _SIGMA[mat, 1].astype(np.float64)
    metal = m["metal"]
    vv = np.where(metal, _SIGMA_METAL[0], vv)
    vh = np.where(metal, _SIGMA_METAL[1], vh)
    water = mat == _WATER
    wgain = 10 ** (np.asarray(water_db) / 10)
    vv = np.where(water, vv * wgain, vv)
    vh = np.where(water, vh * wgain, vh)
    building = height > 0
    # Double bounce on walls facing the sensor (range direction: +x).
    front = building & ~_shift_x(building, 1, False)
    bounce = _DOUBLE_BOUNCE_VV * (np.maximum(height, 1) / 10) ** 0.7 * m["orient"]
    vv = np.where(front, vv + bounce, vv)
    vh = np.where(front, vh + bounce * _DOUBLE_BOUNCE_VH_RATIO, vh)
    # Radar shadow behind buildings: about 0.07 pixels per metre of height, at most 3 pixels.
    shadow = np.zeros_like(building)
    for k in (1, 2, 3):
        shadow |= _shift_x(height, k) > (k - 0.5) * 14.0
    shadow &= ~building
    vv = np.where(shadow, _SIGMA_SHADOW[0], vv)
    vh = np.where(shadow, _SIGMA_SHADOW[1], vh)
    # Texture: slowly varying roughness / moisture, +-1 dB.
    tex = 10 ** ((m["tex"].astype(np.float64) - 0.5) * 0.2)
    g = 10 ** (np.asarray(gain_db, dtype=np.float64) / 10)
    gvh = 10 ** ((np.asarray(gain_db, dtype=np.float64) + vh_offset_db) / 10)
    return vv * tex * g, vh * tex * gvh


def _speckle(vv: np.ndarray, vh: np.ndarray, x, y, key: int) -> tuple[np.ndarray, np.ndarray]:
    """Single-look complex amplitudes (VV, VH): zero-mean circular complex Gaussian, E|s|^2 = sigma0."""
    s_vv = np.sqrt(vv) * _complex_normal(x, y, key, 10)
    s_vh = np.sqrt(vh) * _complex_normal(x, y, key, 11)
    return s_vv, s_vh


def _box_mean(a: np.ndarray, size: int) -> np.ndarray:
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
    m = _box_mean(intensity, size)
    v = np.maximum(_box_mean(intensity * intensity, size) - m * m, 0)
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
    out_re = _box_mean(cov_re, size)
    out_re += k * (cov_re[sl] - out_re)
    out_im = _box_mean(cov_im, size)
    out_im += k * (cov_im[sl] - out_im)
    return lee_filter(i_vh, size, looks), lee_filter(i_vv, size, looks), out_re + 1j * out_im


def _eo(m: dict, x, y, key: int, gain, haze) -> np.ndarray:
    """Sentinel-2 reflectance (..., 10, H-2, W-2) float32, after the 3x3 blur ('valid')."""
    mat, height = m["mat"], m["height"]
    building = height > 0
    veg = (mat == _TREE) | (mat == _SHRUB) | (mat == _GRASS)
    # Optical shadow cast northwards (-y): about 1 pixel per 12 m of height, at most 3.
    shadow = np.zeros_like(building)
    for k in (1, 2, 3):
        shadow |= _shift_y(height, k) > (k - 0.5) * 12.0
    shadow &= ~building
    # One brightness factor per pixel: roof albedo, plant vigour, shadow.
    f = np.where(building, m["albedo"], np.where(veg, 0.8 + 0.4 * m["tex"], np.float32(1)))
    f = np.where(shadow, f * np.float32(_EO_SHADOW), f).astype(np.float32)
    spectra = np.concatenate([_SPECTRA, _SPECTRUM_METAL[None]]).T  # (10, 9)
    refl = spectra[:, np.where(m["metal"], len(MATERIALS), mat)] * f  # (10, ..., H, W)
    refl = _box_mean(np.moveaxis(refl, 0, -3), 3)  # (..., 10, H-2, W-2)
    xc = x[..., 1:-1, 1:-1]
    yc = y[..., 1:-1, 1:-1]
    gain = np.asarray(gain, dtype=np.float32)[..., None, None, None] if np.ndim(gain) else np.float32(gain)
    haze = np.asarray(haze, dtype=np.float32)[..., None, None, None] if np.ndim(haze) else np.float32(haze)
    out = refl * gain + _HAZE[:, None, None] * haze
    h = [_hash(xc, yc, key, 20 + i) for i in range(3)]
    noise = np.stack([_uniform16(h[i // 4], i % 4) for i in range(10)], axis=-3)
    out += (noise - 0.5) * np.float32(_EO_NOISE * math.sqrt(12))
    return np.maximum(out, 0).astype(np.float32)


def render_patches(
    labels: np.ndarray,
    cities: list[City],
    city_index: np.ndarray,
    origins: np.ndarray,
    key: int,
    eo: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Render So2Sat patches.

    labels: (B,) label index 0-16; city_index: (B,) index into ``cities``; origins: (B, 2) int64
    world pixel coordinates (x, y) of each patch's upper-left pixel; key: the twin's hash key.
    Returns ``sen1`` (B, 32, 32, 8) float64 in So2Sat channel order and ``sen2`` (B, 32, 32, 10)
    float64 (or None when ``eo`` is false).
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = PATCH + 2 * _HALO
    offs = np.arange(-_HALO, PATCH + _HALO, dtype=np.int64)
    x = origins[:, 0, None, None] + offs[None, None, :]
    y = origins[:, 1, None, None] + offs[None, :, None]
    x, y = np.broadcast_arrays(x, y)
    cls = np.broadcast_to(labels[:, None, None], (len(labels), n, n))
    table = lambda attr: np.array([getattr(c, attr) for c in cities], dtype=np.float64)[city_index]  # noqa: E731
    per = lambda v: v[:, None, None]  # noqa: E731
    m = _materials(cls, x, y, key, per(table("height_scale")).astype(np.float32))
    vv, vh = _sigma0(m, per(table("sar_gain_db")), per(table("vh_offset_db")), per(table("water_roughness_db")))
    s_vv, s_vh = _speckle(vv, vh, x, y, key)
    i_vh, i_vv, cov = polsar_lee(s_vh, s_vv)
    c1, c2 = _HALO, _HALO + PATCH
    l1, l2 = _HALO - 2, _HALO - 2 + PATCH
    sen1 = np.stack(
        [
            s_vh.real[:, c1:c2, c1:c2],
            s_vh.imag[:, c1:c2, c1:c2],
            s_vv.real[:, c1:c2, c1:c2],
            s_vv.imag[:, c1:c2, c1:c2],
            i_vh[:, l1:l2, l1:l2],
            i_vv[:, l1:l2, l1:l2],
            cov.real[:, l1:l2, l1:l2],
            cov.imag[:, l1:l2, l1:l2],
        ],
        axis=-1,
    )
    sen2 = None
    if eo:
        e = _eo(m, x, y, key, table("eo_gain"), table("haze"))  # (B, 10, n-2, n-2)
        e1, e2 = _HALO - 1, _HALO - 1 + PATCH
        sen2 = np.moveaxis(e[:, :, e1:e2, e1:e2], 1, -1).astype(np.float64)
    return sen1, sen2


# ----------------------------------------------------------------------------------------------
# The So2Sat twin.

Layout = Literal["v1", "v2", "v3"]


def twin_files(layout: str = "v2") -> tuple[str, ...]:
    """Relative paths of the HDF5 files of a twin layout."""
    match layout:
        case "v1":
            return ("training.h5", "validation.h5")
        case "v2":
            return ("training.h5", "validation.h5", "testing.h5")
        case "v3":
            return tuple(f"{d}/{s}.h5" for d in V3_VARIANTS for s in ("training", "testing"))
    raise ConfigError(f"unknown So2Sat layout {layout!r}: choose v1, v2 or v3")


def _class_counts(n: int, weights: np.ndarray) -> np.ndarray:
    """Deterministic counts per class summing to ``n``, proportional to ``weights``, with every
    class present at least ``min(3, n // 17)`` times (so every split of >= 17 patches has all)."""
    k = len(weights)
    floor = min(3, n // k)
    rest = n - floor * k
    share = weights / weights.sum() * rest
    counts = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - counts), kind="stable")
    counts[order[: rest - counts.sum()]] += 1
    return counts + floor


def _split_plan(layout: str, n_train: int, n_val: int, n_test: int, seed: int) -> list[dict]:
    """Which file gets how many patches from which cities."""
    n_tr_c = int(np.clip(n_train // 250, 3, 42))
    n_ho_c = int(np.clip((n_val + n_test) // 150, 2, 10))
    train_c = make_cities(n_tr_c, seed, "train", stream=1)
    held_c = make_cities(n_ho_c, seed, "heldout", stream=2)
    match layout:
        case "v1":
            plan = [("training.h5", n_train, train_c, 1), ("validation.h5", n_val, held_c, 2)]
        case "v2":
            plan = [
                ("training.h5", n_train, train_c, 1),
                ("validation.h5", n_val, held_c, 2),  # "western halves" of the held-out cities
                ("testing.h5", n_test, held_c, 3),  # "eastern halves"
            ]
        case "v3":
            plan = []
            for j, folder in enumerate(V3_VARIANTS):
                test_c = held_c if folder == "culture_10" else train_c
                plan += [(f"{folder}/training.h5", n_train, train_c, 10 + 2 * j), (f"{folder}/testing.h5", n_test, test_c, 11 + 2 * j)]
        case _:
            twin_files(layout)  # raises
    return [{"file": f, "n": n, "cities": c, "stream": s} for f, n, c, s in plan]


_QUANT = {  # key -> (low, high) physical range mapped onto an integer dtype's range
    "sen1": (-2.0, 2.0),
    "sen2": (0.0, 1.0),
    "label": (0.0, 1.0),
}


def _to_dtype(a: np.ndarray, key: str, dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "f":
        return a.astype(dtype)
    info = np.iinfo(dtype)
    if key == "label":
        return a.astype(dtype)
    lo, hi = _QUANT[key]
    scaled = (np.clip(a, lo, hi) - lo) / (hi - lo) * (info.max - info.min) + info.min
    return np.rint(scaled).astype(dtype)


def _write_split(
    path: Path,
    spec: dict,
    seed: int,
    key: int,
    dtype: np.dtype,
    compression,
    chunk: int,
    params: dict,
    advance: Callable[[int], None] | None,
) -> None:
    import h5py

    n = spec["n"]
    cities = spec["cities"]
    rng = np.random.default_rng([seed & _MASK64, spec["stream"], 0x7715])
    counts = _class_counts(n, np.asarray(SO2SAT_CLASS_COUNTS, dtype=np.float64))
    labels = rng.permutation(np.repeat(np.arange(_N_CLASSES), counts))
    cw = np.array([c.class_weights for c in cities])  # (n_cities, 17)
    probs = cw[:, labels].T
    probs /= probs.sum(axis=1, keepdims=True)
    city_index = (rng.random(n)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    city_index = np.minimum(city_index, len(cities) - 1)
    # Each patch sits somewhere in its city: world coordinates far apart per city and split.
    origins = np.stack([rng.integers(0, 1 << 40, n), rng.integers(0, 1 << 40, n)], axis=1).astype(np.int64)
    skey = int(_stream_key(key, spec["stream"]))
    with atomic_path(path, overwrite=True, suffix=".h5") as tmp, h5py.File(tmp, "w") as f:
        shapes = {"sen1": (n, PATCH, PATCH, 8), "sen2": (n, PATCH, PATCH, 10), "label": (n, 17)}
        ds = {}
        for name, shape in shapes.items():
            kw = {}
            if compression is not None:
                kw = {"compression": compression, "chunks": (max(1, min(n, 64)),) + shape[1:]}
            ds[name] = f.create_dataset(name, shape=shape, dtype=dtype, **kw)
            if dtype.kind != "f" and name != "label":
                lo, hi = _QUANT[name]
                info = np.iinfo(dtype)
                ds[name].attrs["scale"] = (hi - lo) / (info.max - info.min)
                ds[name].attrs["offset"] = lo - info.min * (hi - lo) / (info.max - info.min)
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            lab = labels[a:b]
            sen1, sen2 = render_patches(lab, cities, city_index[a:b], origins[a:b], skey)
            onehot = np.zeros((b - a, 17), dtype=np.float64)
            onehot[np.arange(b - a), lab] = 1.0
            ds["sen1"][a:b] = _to_dtype(sen1, "sen1", dtype)
            ds["sen2"][a:b] = _to_dtype(sen2, "sen2", dtype)
            ds["label"][a:b] = _to_dtype(onehot, "label", dtype)
            if advance:
                advance(b - a)
        meta = dict(params, file=spec["file"], cities=[c.name for c in cities])
        f.attrs["lczmap_synthetic"] = json.dumps(meta)


def _existing_params(path: Path) -> dict | None:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("lczmap_synthetic")
    except OSError:
        return None
    if raw is None:
        return None
    meta = json.loads(raw)
    meta.pop("file", None)
    meta.pop("cities", None)
    return meta


def write_twin(
    out_dir: str | os.PathLike,
    n_train: int = 2000,
    n_val: int = 500,
    n_test: int = 500,
    seed: int = 0,
    layout: Layout = "v2",
    dtype: str | np.dtype = "float64",
    compression: str | None = None,
    progress: Callable | None = None,
    overwrite: bool = False,
    chunk: int = 256,
) -> Path:
    """Write a synthetic So2Sat LCZ42 twin into ``out_dir`` and return its path.

    Files and keys are So2Sat's: ``sen1`` (N, 32, 32, 8), ``sen2`` (N, 32, 32, 10), ``label``
    (N, 17) one-hot, float64 by default. ``layout``: ``v2`` writes training/validation/testing.h5
    (``n_train``/``n_val``/``n_test`` patches; validation and testing from the same held-out
    cities, none of them training cities); ``v1`` writes training/validation.h5; ``v3`` writes
    random/, block/ and culture_10/, each with training.h5 (``n_train``) and testing.h5
    (``n_test``): random and block test on training cities, culture_10 on held-out cities.

    ``dtype`` other than float (e.g. ``uint8``, as torchgeo's test files) quantises sen1 from
    [-2, 2] and sen2 from [0, 1] onto the integer range (attributes ``scale``/``offset`` recover
    the values); ``compression`` (e.g. ``"gzip"``) writes chunked, compressed datasets.

    Files are written one by one, atomically, ``chunk`` patches at a time (bounded memory). A file
    that exists and was written with the same parameters is kept (so an interrupted run resumes);
    any other existing file raises :class:`~lczmap.errors.OutputExistsError` unless ``overwrite``.
    ``progress``: optional ``(total=, desc=) -> tqdm-like`` factory.
    """
    for name, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if int(value) != value or value < 1:
            raise ConfigError(f"{name} must be a positive integer, not {value!r}: pass a patch count >= 1")
    if int(chunk) < 1:
        raise ConfigError(f"chunk must be >= 1, not {chunk!r}")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ConfigError(f"unknown dtype {dtype!r}: use e.g. float64, float32 or uint8") from None
    if dt.kind not in "fiu":
        raise ConfigError(f"dtype {dt} cannot hold So2Sat data: use a float or integer dtype")
    twin_files(layout)  # refuses an unknown layout before anything is written
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a folder: choose another output folder")
    plan = _split_plan(layout, int(n_train), int(n_val), int(n_test), int(seed))
    params = {
        "generator": "lczmap.data.synthetic",
        "lczmap_version": __version__,
        "layout": layout,
        "seed": int(seed),
        "n_train": int(n_train),
        "n_val": int(n_val),
        "n_test": int(n_test),
        "dtype": dt.name,
        "compression": compression,
    }
    todo = []
    for spec in plan:
        path = out / spec["file"]
        if path.exists() and not overwrite:
            if _existing_params(path) == params:
                log.info("keeping %s: already written with the same parameters", path)
                continue
            raise OutputExistsError(f"{path} exists: pass --overwrite (overwrite=True) to replace it")
        todo.append((path, spec))
    for d in {p.parent for p, _ in todo}:
        d.mkdir(parents=True, exist_ok=True)
    bar = progress(total=sum(s["n"] for _, s in todo), desc="So2Sat twin") if progress and todo else None
    key = int(_stream_key(int(seed) & _MASK64, 0x5EED))
    try:
        for path, spec in todo:
            log.info("writing %s (%d patches)", path, spec["n"])
            _write_split(path, spec, int(seed), key, dt, compression, int(chunk), params, bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()
    return out


# ----------------------------------------------------------------------------------------------
# Scenes.

_URBAN_BANDS = (  # (minimum urbanity, {LCZ code: weight})
    (0.7, {1: 2, 2: 4, 4: 2, 5: 2, 10: 1, 8: 1, 15: 1}),
    (0.4, {2: 2, 3: 3, 5: 2, 6: 3, 8: 3, 10: 1.5, 7: 1, 4: 1, 12: 0.5}),
    (0.15, {6: 4, 3: 1, 9: 2, 8: 1.5, 7: 0.7, 12: 1.5, 11: 1, 14: 1}),
    (-1.0, {11: 3, 12: 1.5, 13: 1.5, 14: 4, 16: 1, 9: 1, 17: 0.7, 15: 0.3}),
)


def _land_map(rows: int, cols: int, seed: int) -> np.ndarray:
    """LCZ label index (0-16) per 100 m cell: blobs around jittered seeds, urban cores, a river."""
    rng = np.random.default_rng([seed & _MASK64, 0x1A4D])
    spacing = 5.0  # cells between region seeds (about 500 m)
    gr = int(math.ceil(rows / spacing)) + 3
    gc = int(math.ceil(cols / spacing)) + 3
    seeds_r = (np.arange(gr)[:, None] - 1 + rng.uniform(0.1, 0.9, (gr, gc))) * spacing
    seeds_c = (np.arange(gc)[None, :] - 1 + rng.uniform(0.1, 0.9, (gr, gc))) * spacing
    # Urbanity of each seed: distance to a few centres, plus noise.
    n_centres = max(1, int(round(rows * cols / 150**2)))
    cr = rng.uniform(0.25, 0.75, n_centres) * rows
    cc = rng.uniform(0.25, 0.75, n_centres) * cols
    radius = rng.uniform(0.18, 0.3, n_centres) * math.sqrt(rows * cols / n_centres)
    urb = np.zeros((gr, gc))
    for r0, c0, rad in zip(cr, cc, radius):
        urb = np.maximum(urb, np.exp(-np.hypot(seeds_r - r0, seeds_c - c0) / rad))
    urb += rng.normal(0, 0.1, urb.shape)
    seed_cls = np.zeros((gr, gc), dtype=np.uint8)
    for lo, weights in reversed(_URBAN_BANDS):
        codes = np.array(list(weights))
        w = np.array(list(weights.values()), dtype=np.float64)
        pick = rng.choice(codes, size=urb.shape, p=w / w.sum()) - 1
        seed_cls = np.where(urb > lo, pick, seed_cls).astype(np.uint8)
    # Nearest seed in warped coordinates: irregular blobs.
    r = np.arange(rows, dtype=np.float64)[:, None]
    c = np.arange(cols, dtype=np.float64)[None, :]
    ri = np.broadcast_to(r, (rows, cols)).astype(np.int64)
    ci = np.broadcast_to(c, (rows, cols)).astype(np.int64)
    key = int(_stream_key(seed & _MASK64, 0x1A4E))
    wr = r + (_value_noise(ci, ri, 6.0, key, 1) - 0.5) * 6
    wc = c + (_value_noise(ci, ri, 6.0, key, 2) - 0.5) * 6
    best = np.full((rows, cols), np.inf)
    land = np.zeros((rows, cols), dtype=np.uint8)
    base_r = np.floor(wr / spacing).astype(np.int64) + 1
    base_c = np.floor(wc / spacing).astype(np.int64) + 1
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            gi = np.clip(base_r + dr, 0, gr - 1)
            gj = np.clip(base_c + dc, 0, gc - 1)
            d = (seeds_r[gi, gj] - wr) ** 2 + (seeds_c[gi, gj] - wc) ** 2
            closer = d < best
            best = np.where(closer, d, best)
            land = np.where(closer, seed_cls[gi, gj], land)
    # A meandering river across the scene.
    width = max(1.0, 0.012 * rows)
    centre = rows * rng.uniform(0.3, 0.7) + 0.08 * rows * np.sin(2 * np.pi * c / max(cols / 1.5, 1) + rng.uniform(0, 6.3))
    land = np.where(np.abs(r - centre) < width, 16, land).astype(np.uint8)
    return land


def _valid_mask(r: np.ndarray, c: np.ndarray, rows: int, cols: int, border: int) -> np.ndarray:
    """Scene footprint: a ``border``-pixel frame of nodata, with slanted left/right edges (the
    swath of a satellite track), widening to 2 x ``border`` on the left at the bottom and on the
    right at the top."""
    t = r / max(rows - 1, 1)
    left = border + border * t
    right = cols - border - border * (1 - t)
    return (r >= border) & (r < rows - border) & (c >= left) & (c < right)


def write_scene(
    path: str | os.PathLike,
    size: tuple[int, int] = (1000, 1200),
    seed: int = 0,
    kind: Literal["grd", "slc"] = "grd",
    units: Literal["linear", "db"] = "linear",
    truth_path: str | os.PathLike | None = None,
    crs: str = "EPSG:32633",
    origin: tuple[float, float] = (380000.0, 5830000.0),
    overwrite: bool = False,
    progress: Callable | None = None,
    block: int = 512,
) -> tuple[Path, Path]:
    """Write a Sentinel-1-like scene and its ground-truth LCZ map; return their paths.

    The scene (GeoTIFF, ``crs``, 10 m pixels, upper-left corner ``origin``) holds band 1 'VV' and
    band 2 'VH'. ``kind="grd"``: float32 Lee-filtered backscatter intensity (sigma0), linear or in
    dB (``units``), rendered exactly as the twin's ``sen1`` channels 5 and 4; ``kind="slc"``:
    complex64 single-look amplitudes, as the twin's channels 2+3j and 0+1j (``units`` must be
    linear). A nodata frame of about 3 % of the size (NaN, with slanted swath edges) surrounds the
    data. The scene is rendered from a city calibration not used by the twin.

    The truth (``truth_path``, default ``<stem>_truth.tif``) is uint8 LCZ codes 1-17 at 100 m with
    the same upper-left origin: truth cell (i, j) covers scene pixels [10i, 10i+10) x [10j, 10j+10);
    it is 0 (nodata) where that cell's centre pixel is scene nodata. It carries the WUDAPT colours.

    Written window by window (``block`` pixels), atomically; memory stays bounded for any size.
    """
    import rasterio
    from rasterio.transform import Affine
    from rasterio.windows import Window

    from ..raster import LCZ_COLORMAP

    rows, cols = (int(v) for v in size)
    if rows < 20 or cols < 20:
        raise ConfigError(f"scene size {size!r} is too small: use at least 20 x 20 pixels")
    if kind not in ("grd", "slc"):
        raise ConfigError(f"unknown scene kind {kind!r}: choose grd or slc")
    if units not in ("linear", "db"):
        raise ConfigError(f"unknown units {units!r}: choose linear or db")
    if kind == "slc" and units != "linear":
        raise ConfigError("an SLC scene holds complex amplitudes, which have no dB form: use units='linear'")
    path = Path(path)
    truth_path = Path(truth_path) if truth_path is not None else path.with_name(f"{path.stem}_truth.tif")
    for p in (path, truth_path):
        check_output(p, overwrite)
    try:
        crs_obj = rasterio.crs.CRS.from_user_input(crs)
    except Exception as exc:
        raise ConfigError(f"cannot understand CRS {crs!r} ({exc}): pass e.g. 'EPSG:32633'") from None

    t_rows, t_cols = -(-rows // 10), -(-cols // 10)
    land = _land_map(t_rows, t_cols, int(seed))
    border = max(1, int(round(0.03 * min(rows, cols))))
    city = make_cities(1, int(seed), "scene", stream=99)[0]
    key = int(_stream_key(int(seed) & _MASK64, 0x5CE4E))

    x0, y0 = float(origin[0]), float(origin[1])
    transform = Affine(10.0, 0.0, x0, 0.0, -10.0, y0)
    tile = 512 if min(rows, cols) >= 512 else 256 if min(rows, cols) >= 256 else None
    profile = {
        "driver": "GTiff",
        "width": cols,
        "height": rows,
        "count": 2,
        "dtype": "float32" if kind == "grd" else "complex64",
        "crs": crs_obj,
        "transform": transform,
        "nodata": SCENE_NODATA,
        "interleave": "band",
        "BIGTIFF": "IF_SAFER",
    }
    if tile:
        profile.update(tiled=True, blockxsize=tile, blockysize=tile)
    quantity = "sigma0 backscatter intensity, Lee-filtered 5x5" if kind == "grd" else "single-look complex amplitude"
    unit = {"linear": "linear power" if kind == "grd" else "linear amplitude", "db": "dB"}[units]

    blocks = [(r0, c0) for r0 in range(0, rows, block) for c0 in range(0, cols, block)]
    bar = progress(total=len(blocks), desc="scene") if progress else None
    try:
        with atomic_path(path, overwrite=overwrite, suffix=".tif") as tmp:
            with rasterio.open(tmp, "w", **profile) as dst:
                dst.update_tags(
                    PRODUCT=kind.upper(),
                    UNITS=units,
                    QUANTITY=quantity,
                    SENSOR="synthetic Sentinel-1 (lczmap.data.synthetic)",
                    SEED=str(seed),
                    NODATA="NaN outside the swath",
                )
                for b, pol in ((1, "VV"), (2, "VH")):
                    dst.set_band_description(b, pol)
                    dst.set_band_unit(b, unit)  # GDAL's band unit type, what readers (and lczmap.scene) look at
                    dst.update_tags(b, POLARISATION=pol, UNITS=unit, QUANTITY=quantity)
                for r0, c0 in blocks:
                    h, w = min(block, rows - r0), min(block, cols - c0)
                    vv, vh = _render_scene_window(r0, c0, h, w, land, rows, cols, border, city, key, kind, units)
                    win = Window(c0, r0, w, h)
                    dst.write(vv, 1, window=win)
                    dst.write(vh, 2, window=win)
                    if bar is not None:
                        bar.update(1)
        # Truth: nodata where the cell centre is outside the swath.
        ti = np.arange(t_rows)[:, None] * 10 + 5
        tj = np.arange(t_cols)[None, :] * 10 + 5
        inside = (ti < rows) & (tj < cols) & _valid_mask(ti, tj, rows, cols, border)
        truth = np.where(inside, land + 1, NODATA).astype(np.uint8)
        tprofile = {
            "driver": "GTiff",
            "width": t_cols,
            "height": t_rows,
            "count": 1,
            "dtype": "uint8",
            "crs": crs_obj,
            "transform": Affine(100.0, 0.0, x0, 0.0, -100.0, y0),
            "nodata": NODATA,
            "compress": "deflate",
        }
        with atomic_path(truth_path, overwrite=overwrite, suffix=".tif") as tmp:
            with rasterio.open(tmp, "w", **tprofile) as dst:
                dst.write(truth, 1)
                dst.set_band_description(1, "LCZ")
                dst.update_tags(1, UNITS="LCZ code 1-17 (A-G = 11-17), 0 = nodata")
                dst.update_tags(SCENE=path.name, SEED=str(seed))
                dst.write_colormap(1, LCZ_COLORMAP)
    finally:
        if bar is not None:
            bar.close()
    return path, truth_path


def _render_scene_window(r0, c0, h, w, land, rows, cols, border, city: City, key, kind, units):
    """Render scene pixels [r0, r0+h) x [c0, c0+w): (vv, vh) float32 or complex64, NaN outside."""
    r = np.arange(r0 - _HALO, r0 + h + _HALO, dtype=np.int64)[:, None]
    c = np.arange(c0 - _HALO, c0 + w + _HALO, dtype=np.int64)[None, :]
    y, x = np.broadcast_arrays(r, c)
    cls = land[np.clip(y // 10, 0, land.shape[0] - 1), np.clip(x // 10, 0, land.shape[1] - 1)]
    cls = cls.astype(np.int64)
    m = _materials(cls, x, y, key, np.float32(city.height_scale))
    vv, vh = _sigma0(m, city.sar_gain_db, city.vh_offset_db, city.water_roughness_db)
    s_vv, s_vh = _speckle(vv, vh, x, y, key)
    valid = _valid_mask(y[_HALO:-_HALO, _HALO:-_HALO], x[_HALO:-_HALO, _HALO:-_HALO], rows, cols, border)
    if kind == "slc":
        out_vv = s_vv[_HALO:-_HALO, _HALO:-_HALO].astype(np.complex64)
        out_vh = s_vh[_HALO:-_HALO, _HALO:-_HALO].astype(np.complex64)
        nan = np.complex64(complex(np.nan, np.nan))
        return np.where(valid, out_vv, nan), np.where(valid, out_vh, nan)
    i_vh, i_vv, _ = polsar_lee(s_vh, s_vv)
    out = []
    for img in (i_vv, i_vh):
        img = img[_HALO - 2 : _HALO - 2 + h, _HALO - 2 : _HALO - 2 + w]
        if units == "db":
            img = 10 * np.log10(np.maximum(img, 1e-10))
        out.append(np.where(valid, img, np.nan).astype(np.float32))
    return out[0], out[1]
