"""Twin scenes placed at a lon/lat area: the UTM grid, origin and size that cover it.

:func:`lczmap.twin.write_scene` writes a scene at any CRS and upper-left ``origin`` in 10 m pixels;
:func:`place_scene` works those out for an area given in degrees (e.g. a WRF domain), so that the
scene's valid pixels (inside the nodata frame :func:`~lczmap.twin.write_scene` draws) cover the
area with a margin, and :func:`write_scene_at` writes it there. Nothing of the twin's rendering
changes: the same seed gives the same classes and pixels wherever the scene is placed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from .scene import SceneKind, SceneUnits, write_scene

__all__ = ["ScenePlace", "place_scene", "write_scene_at", "utm_crs"]

#: Scene pixel size (m) and the truth cell size (m) the origin is aligned to.
_PIXEL = 10.0
_CELL = 100.0


@dataclass(frozen=True)
class ScenePlace:
    """Where a twin scene goes: ``crs`` (a UTM zone), upper-left ``origin`` (x, y in metres,
    on the 100 m truth grid) and ``size`` (rows, columns of 10 m pixels)."""

    crs: str
    origin: tuple[float, float]
    size: tuple[int, int]


def utm_crs(lon: float, lat: float) -> str:
    """The WGS 84 UTM zone (``EPSG:326zz`` north, ``EPSG:327zz`` south) holding ``lon``, ``lat``."""
    if not (-180.0 <= lon <= 180.0 and -80.0 <= lat <= 84.0):
        raise ConfigError(f"({lon}, {lat}) is outside UTM's range (longitude -180..180, latitude -80..84)")
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def place_scene(bounds: tuple[float, float, float, float], margin: float = 500.0) -> ScenePlace:
    """The UTM grid of a twin scene covering ``bounds`` (west, south, east, north in degrees,
    WGS 84) with ``margin`` metres of valid pixels on every side: the scene's nodata frame (about
    3 % of its size) lies outside that margin."""
    from pyproj import Transformer

    west, south, east, north = (float(v) for v in bounds)
    if not (west < east and south < north):
        raise ConfigError(f"bounds {tuple(bounds)!r} are not west, south, east, north with west < east and south < north")
    if margin < 0:
        raise ConfigError(f"margin must be >= 0 metres, got {margin}")
    crs = utm_crs((west + east) / 2, (south + north) / 2)
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x0, y0, x1, y1 = to_utm.transform_bounds(west, south, east, north, densify_pts=21)
    width, height = x1 - x0, y1 - y0
    # the nodata frame is 3 % of the scene's smaller side, up to 6 % where the swath edge slants:
    # with the scene S = A + 2 (margin + frame), frame >= 0.06 S holds for frame = 0.07 (A + 2 margin)
    frame = 0.07 * (max(width, height) + 2 * margin) + 2 * _PIXEL
    pad = margin + frame
    left = math.floor((x0 - pad) / _CELL) * _CELL
    top = math.ceil((y1 + pad) / _CELL) * _CELL
    cols = int(math.ceil((x1 + pad - left) / _CELL)) * int(_CELL / _PIXEL)
    rows = int(math.ceil((top - (y0 - pad)) / _CELL)) * int(_CELL / _PIXEL)
    return ScenePlace(crs=crs, origin=(left, top), size=(rows, cols))


def write_scene_at(
    path: str | os.PathLike,
    bounds: tuple[float, float, float, float],
    seed: int = 0,
    kind: SceneKind = "grd",
    units: SceneUnits = "linear",
    margin: float = 500.0,
    truth_path: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: Callable | None = None,
) -> tuple[Path, Path, ScenePlace]:
    """Write a twin scene (:func:`lczmap.twin.write_scene`) covering ``bounds`` (west, south,
    east, north in degrees) on the grid :func:`place_scene` gives; return the scene's (first)
    file, its truth map and the place."""
    place = place_scene(bounds, margin)
    scene, truth = write_scene(
        path,
        size=place.size,
        seed=seed,
        kind=kind,
        units=units,
        truth_path=truth_path,
        crs=place.crs,
        origin=place.origin,
        overwrite=overwrite,
        progress=progress,
    )
    return scene, truth, place
