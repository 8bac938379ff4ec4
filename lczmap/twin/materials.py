"""Class materials: how each LCZ class is built, and what its materials look like to radar and optics.

Each of the 17 LCZ classes is a material model (:data:`CLASS_MODELS`): a block grid of buildings
(block size, footprint, occupancy, height, share of metal roofs, streets) and a ground-cover mix
(paved, trees, shrubs, low plants, bare soil, rock, water) laid out by smooth noise at a
class-specific scale. Radar: each material has a VV and VH backscatter (linear sigma0); building
walls facing the sensor give double bounce that grows with height, tall buildings cast radar
shadow, vegetation gives volume scattering (strong in VH), water is dark. Optical: each material
has a 10-band Sentinel-2 spectrum (vegetation red edge and NIR plateau, dark water in NIR/SWIR,
bright metal roofs), with per-building albedo, building shadows, a 3x3 point-spread blur and noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .lee import box_mean
from .noise import Broadcast, pixel_hash, uniform12, uniform16, uniform_noise, value_noise

__all__ = [
    "Look",
    "MATERIALS",
    "ClassModel",
    "CLASS_MODELS",
    "SO2SAT_CLASS_COUNTS",
    "HALO",
    "material_maps",
    "radar_sigma0",
    "optical_reflectance",
]

#: The direction a radar looks in on a north-up grid: ``east`` (+x, a right-looking ascending
#: pass) or ``west`` (-x, a right-looking descending pass).
Look = Literal["east", "west"]

#: Extra pixels rendered around every window: 3 for the 7x7 refined Lee filter, 3 for
#: radar/optical shadows. Output never depends on the window partition.
HALO = 6

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
_BLOCK = np.array([m.block for m in CLASS_MODELS], dtype=np.int64)
_FOOT = np.array([m.footprint for m in CLASS_MODELS], dtype=np.int64)
_OCC = np.array([m.occupancy for m in CLASS_MODELS], dtype=np.float32)
_HEIGHT = np.array([m.height for m in CLASS_MODELS], dtype=np.float32)
_METAL = np.array([m.metal for m in CLASS_MODELS], dtype=np.float32)
_STREETS = np.array([m.streets for m in CLASS_MODELS], dtype=bool)
_COVER_SCALE = np.array([m.cover_scale for m in CLASS_MODELS], dtype=np.float64)
_COVER_CUM = np.zeros((len(CLASS_MODELS), len(MATERIALS) - 1), dtype=np.float32)  # thresholds over materials 1..7
for _i, _m in enumerate(CLASS_MODELS):
    _shares = np.array([_m.cover.get(name, 0.0) for name in MATERIALS[1:]], dtype=np.float64)
    _COVER_CUM[_i] = np.cumsum(_shares / _shares.sum())
_COVER_CUM[:, -1] = 2.0  # guard: every pixel gets a material


def _shift_x(a: np.ndarray, k: int, fill: float = 0) -> np.ndarray:
    """``out[..., j] = a[..., j - k]`` (k > 0), filled at the near edge."""
    out = np.full_like(a, fill)
    out[..., k:] = a[..., :-k]
    return out


def _shift_y(a: np.ndarray, k: int, fill: float = 0) -> np.ndarray:
    out = np.full_like(a, fill)
    out[..., k:, :] = a[..., :-k, :]
    return out


def material_maps(cls: np.ndarray, x: np.ndarray, y: np.ndarray, key: int, height_scale: Broadcast) -> dict[str, np.ndarray]:
    """Per-pixel materials of a class map. ``cls``: label index (0-16), ``x``/``y``: world pixel
    coordinates (int64), all of shape (..., H, W); ``height_scale`` broadcasts against them."""
    block = _BLOCK[cls]
    bx = np.floor_divide(x, block)
    by = np.floor_divide(y, block)
    ox = x - bx * block
    oy = y - by * block
    # One hash per block: occupancy, height, metal roof, roof albedo, wall orientation (12 bits each).
    hb = pixel_hash(bx * 31 + cls, by, key, 1)
    foot = _FOOT[cls]
    building = (ox < foot) & (oy < foot) & (uniform12(hb, 0) < _OCC[cls])
    height = np.where(building, _HEIGHT[cls] * (0.6 + 0.8 * uniform12(hb, 1)) * height_scale, 0).astype(np.float32)
    metal = building & (uniform12(hb, 2) < _METAL[cls])
    albedo = 0.7 + 0.6 * uniform12(hb, 3)
    street = _STREETS[cls] & ((ox == block - 1) | (oy == block - 1)) & ~building
    u = uniform_noise(x, y, _COVER_SCALE[cls], key, 2)
    cum = _COVER_CUM[cls]  # (..., H, W, 7)
    cover = 1 + (u[..., None] >= cum).sum(axis=-1).astype(np.uint8)
    mat = np.where(building, _ROOF, np.where(street, _PAVED, cover)).astype(np.uint8)
    # Wall orientation: a lognormal brightness per building (aligned walls flash brightly).
    orient = np.exp((uniform12(hb, 4) * 2 - 1) * 1.7).astype(np.float32)
    # Slow variation of roughness, moisture and plant vigour, shared by radar and optics.
    tex = value_noise(x, y, 5.0, key, 3)
    return {"mat": mat, "height": height, "metal": metal, "albedo": albedo, "orient": orient, "tex": tex}


def radar_sigma0(
    m: dict[str, np.ndarray], gain_db: Broadcast, vh_offset_db: Broadcast, water_db: Broadcast, look: Look = "east"
) -> tuple[np.ndarray, np.ndarray]:
    """Linear sigma0 (VV, VH) per pixel, float64. Valid 3 pixels inside the near-range edge.

    ``look``: the direction the radar looks in, along +x (``east``: a right-looking ascending pass
    on a north-up grid, the twin's scenes and patches) or -x (``west``: a descending pass). Walls
    facing the sensor flash (double bounce) and buildings cast shadow away from it."""
    if look == "west":  # the same geometry mirrored along x
        vv, vh = radar_sigma0({k: v[..., ::-1] for k, v in m.items()}, gain_db, vh_offset_db, water_db)
        return vv[..., ::-1], vh[..., ::-1]
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


def optical_reflectance(
    m: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, key: int, gain: Broadcast, haze: Broadcast
) -> np.ndarray:
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
    refl = box_mean(np.moveaxis(refl, 0, -3), 3)  # (..., 10, H-2, W-2)
    xc = x[..., 1:-1, 1:-1]
    yc = y[..., 1:-1, 1:-1]
    gain = np.asarray(gain, dtype=np.float32)[..., None, None, None] if np.ndim(gain) else np.float32(gain)
    haze = np.asarray(haze, dtype=np.float32)[..., None, None, None] if np.ndim(haze) else np.float32(haze)
    out = refl * gain + _HAZE[:, None, None] * haze
    h = [pixel_hash(xc, yc, key, 20 + i) for i in range(3)]
    noise = np.stack([uniform16(h[i // 4], i % 4) for i in range(10)], axis=-3)
    out += (noise - 0.5) * np.float32(_EO_NOISE * math.sqrt(12))
    return np.maximum(out, 0).astype(np.float32)
