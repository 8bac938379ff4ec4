"""The time series a change run reads: class-probability rasters (``predict --probabilities``,
``mosaic --probabilities``), one per date, in time order, on ONE grid. Checked before any work:
at least two dates, float bands named by LCZ class, the same classes and the same grid in every
file; each window read is checked to hold probabilities (in [0, 1], summing to one)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._io import check_input
from ..classes import LCZ_CLASSES
from ..errors import ConfigError

__all__ = ["ProbabilityStack", "open_stack", "MOSAIC_HINT"]

#: How to put a series on one grid, said in every grid error.
MOSAIC_HINT = (
    "put them on one grid with `lczmap mosaic SCENE... OUT --probabilities PROB.tif --aoi W,S,E,N --align` "
    "(the same --aoi, --crs and --resolution for every date)"
)
_BY_TITLE = {c.title.lower(): c.code for c in LCZ_CLASSES}
_SUM_TOLERANCE = 0.02


@dataclass(frozen=True)
class ProbabilityStack:
    """The checked series: ``paths`` in time order, the LCZ ``codes`` of their bands, the grid
    (``crs`` as WKT, ``transform``, ``shape``)."""

    paths: tuple[Path, ...]
    codes: tuple[int, ...]
    crs: str
    transform: tuple[float, ...]
    shape: tuple[int, int]

    def read(self, i0: int, i1: int, j0: int, j1: int) -> np.ndarray:
        """The window's probabilities, (T, N, K) float32 with N = (i1 - i0) * (j1 - j0), NaN where
        a date has no data; a window that is not probabilities raises :class:`ConfigError`."""
        import rasterio
        from rasterio.windows import Window

        h, w = i1 - i0, j1 - j0
        out = np.empty((len(self.paths), h * w, len(self.codes)), np.float32)
        for t, path in enumerate(self.paths):
            with rasterio.open(path) as src:
                block = src.read(window=Window(j0, i0, w, h), masked=True).astype(np.float32)
            data = block.filled(np.nan).reshape(len(self.codes), h * w).T
            check_probabilities(data, path)
            out[t] = data
        return out


def check_probabilities(data: np.ndarray, path: Path) -> None:
    """Refuse values outside [0, 1] or pixels whose classes do not sum to one (N, K)."""
    ok = ~np.isnan(data).any(axis=1)
    if not ok.any():
        return
    v = data[ok]
    if v.min() < -1e-4 or v.max() > 1 + 1e-4:
        raise ConfigError(
            f"{path} is not a class-probability raster (values from {v.min():g} to {v.max():g}, not 0-1): "
            "give the --probabilities output of lczmap predict or lczmap mosaic"
        )
    sums = v.sum(axis=1)
    worst = float(np.abs(sums - 1).max())
    if worst > _SUM_TOLERANCE:
        raise ConfigError(
            f"{path} is not a class-probability raster (a pixel's classes sum to {sums[np.abs(sums - 1).argmax()]:.3f}, not 1): "
            "give the --probabilities output of lczmap predict or lczmap mosaic"
        )


def _codes_of(path: Path, descriptions: tuple[str | None, ...], dtype: str) -> tuple[int, ...]:
    not_probs = (
        f"{path} is not a class-probability raster ({len(descriptions)} band(s) of {dtype}"
        "{why}): give the --probabilities output of lczmap predict or lczmap mosaic"
    )
    if not dtype.startswith("float"):
        raise ConfigError(not_probs.format(why=""))
    codes = []
    for d in descriptions:
        code = _BY_TITLE.get((d or "").strip().lower())
        if code is None:
            raise ConfigError(not_probs.format(why=f", band {d!r} is not named as an LCZ class"))
        codes.append(code)
    if len(codes) < 2 or len(set(codes)) != len(codes):
        raise ConfigError(not_probs.format(why=", it needs two or more distinct LCZ classes"))
    return tuple(codes)


def open_stack(paths: list[str | os.PathLike[str]]) -> ProbabilityStack:
    """Check the series (see the module docstring) and return it; one-line
    :class:`~lczmap.errors.ConfigError` otherwise."""
    import rasterio
    from rasterio.errors import RasterioIOError

    if len(paths) < 2:
        raise ConfigError(
            f"change needs two or more dates, got {len(paths)}: give one class-probability raster per date, in time order"
        )
    files = [Path(p) for p in paths]
    seen: dict[Path, Path] = {}
    for f in files:
        check_input(f, "probability raster", ConfigError)
        key = f.resolve()
        if key in seen:
            raise ConfigError(f"{f} is given twice: give each date's raster once, in time order")
        seen[key] = f
    first = None
    for f in files:
        try:
            with rasterio.open(f) as src:
                codes = _codes_of(f, tuple(src.descriptions), src.dtypes[0])
                grid = (src.crs, src.transform, (src.height, src.width))
        except RasterioIOError as exc:
            raise ConfigError(f"cannot open {f} as a raster ({' '.join(str(exc).split())[:200]})") from None
        if grid[0] is None:
            raise ConfigError(f"{f} has no CRS: write the probabilities with lczmap predict or lczmap mosaic")
        if first is None:
            first = (f, codes, grid)
            continue
        f0, codes0, grid0 = first
        if codes != codes0:
            raise ConfigError(
                f"{f} holds other classes than {f0} ({len(codes)} vs {len(codes0)} bands): map every date with one model"
            )
        same = grid[0] == grid0[0] and grid[2] == grid0[2] and grid[1].almost_equals(grid0[1], precision=1e-6 * abs(grid0[1].a))
        if not same:
            raise ConfigError(
                f"{f} lies on another grid than {f0} ({grid[2][1]} x {grid[2][0]} pixels at {grid[1].c:.2f}, {grid[1].f:.2f} "
                f"in {grid[0].to_string()} vs {grid0[2][1]} x {grid0[2][0]} at {grid0[1].c:.2f}, {grid0[1].f:.2f} "
                f"in {grid0[0].to_string()}): {MOSAIC_HINT}"
            )
    assert first is not None
    f0, codes0, (crs, transform, shape) = first
    return ProbabilityStack(tuple(files), codes0, crs.to_wkt(), tuple(transform)[:6], shape)
