"""Cities of the twin: each with its own radar calibration, optical conditions and class mix.

Each city has its own radar calibration (gain in dB, VH offset, water roughness), optical
illumination gain and haze, building height scale and class mix. Validation and test cities are
not training cities (as So2Sat v2), so models face a real domain shift; radar calibration varies
more than optical illumination, so EO carries the class more clearly than SAR.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .materials import SO2SAT_CLASS_COUNTS
from .noise import MASK64

__all__ = ["City", "make_cities"]


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
    rng = np.random.default_rng([seed & MASK64, stream, 0xC17])
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
