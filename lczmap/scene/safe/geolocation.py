"""From map to radar coordinates with a SAFE product's annotation: the geolocation grid
(:class:`GeolocationGrid`), the lattice of output pixels where radar coordinates are evaluated
exactly (every :data:`LATTICE_STEP` pixels, bilinear in between), the linear and bilinear
interpolation the readers share, and the one 10 m UTM grid a SAFE scene is mapped onto
(:func:`utm_grid`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..grid import PIXEL_SIZE, utm_crs

if TYPE_CHECKING:
    from rasterio.crs import CRS

__all__ = ["GeolocationGrid", "LATTICE_STEP", "weights", "bilinear", "lattice", "UtmGrid", "utm_grid"]

#: Output pixels between the radar coordinates evaluated exactly (bilinear in between).
LATTICE_STEP = 16
#: Pixels: grid points on pixel centres, up to the round trip through lon/lat, stay on them.
_EPS = 1e-6


def weights(knots: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Linear interpolation from ``knots`` to ``targets`` (clamped at the ends) as a dense matrix
    (targets x used knots) and the used knots' range ``lo:hi``."""
    n = len(knots)
    if n == 1:
        return np.ones((len(targets), 1)), 0, 1
    i = np.clip(np.searchsorted(knots, targets, side="right") - 1, 0, n - 2)
    lo, hi = int(i.min()), int(i.max()) + 2
    frac = np.clip((targets - knots[i]) / (knots[i + 1] - knots[i]), 0.0, 1.0)
    w = np.zeros((len(targets), hi - lo))
    rows = np.arange(len(targets))
    w[rows, i - lo] = 1.0 - frac
    w[rows, i + 1 - lo] += frac
    return w, lo, hi


def bilinear(lines: np.ndarray, pixels: np.ndarray, lut: np.ndarray, at_lines: np.ndarray, at_pixels: np.ndarray) -> np.ndarray:
    """A LUT given on a (lines x pixels) grid, bilinear at ``at_lines`` x ``at_pixels``."""
    wl, l0, l1 = weights(lines, at_lines)
    wp, p0, p1 = weights(pixels, at_pixels)
    return wl @ lut[l0:l1, p0:p1] @ wp.T


class GeolocationGrid:
    """Map coordinates (x, y) -> radar coordinates of a geolocation grid: ``gcp_xy`` (N, 2) in the
    scene's CRS, ``gcp_lp`` (N, 2) the radar coordinates there; piecewise linear on the grid's
    triangles, a quadratic fit outside. Picklable: the triangulation is rebuilt where it is used."""

    def __init__(self, gcp_xy: np.ndarray, gcp_lp: np.ndarray):
        self.gcp_xy, self.gcp_lp = gcp_xy, gcp_lp
        self._scale = (gcp_xy.mean(axis=0), gcp_xy.std(axis=0) + 1.0)
        self._poly = np.linalg.lstsq(self._design(gcp_xy), gcp_lp, rcond=None)[0]
        self._interp: Any = None  # scipy.spatial.Delaunay, built on first use

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_interp": None}

    def _design(self, xy: np.ndarray) -> np.ndarray:
        u = (xy - self._scale[0]) / self._scale[1]
        x, y = u[:, 0], u[:, 1]
        return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)

    def radar(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(line, pixel) of map coordinates ``x``, ``y`` (any shape) in the scene's UTM zone."""
        from scipy.spatial import Delaunay

        if self._interp is None:
            self._interp = Delaunay((self.gcp_xy - self._scale[0]) / self._scale[1])
        tri = self._interp
        xy = np.stack([x.ravel(), y.ravel()], axis=1)
        u = (xy - self._scale[0]) / self._scale[1]
        simplex = tri.find_simplex(u)
        inside = simplex >= 0
        lp = np.empty((len(u), 2))
        t = tri.transform[simplex[inside]]  # barycentric coordinates, as scipy's LinearNDInterpolator
        b = np.einsum("nij,nj->ni", t[:, :2], u[inside] - t[:, 2])
        bary = np.concatenate([b, 1 - b.sum(axis=1, keepdims=True)], axis=1)
        lp[inside] = np.einsum("ni,nij->nj", bary, self.gcp_lp[tri.simplices[simplex[inside]]])
        if not inside.all():
            lp[~inside] = self._design(xy[~inside]) @ self._poly
        return lp[:, 0].reshape(x.shape), lp[:, 1].reshape(x.shape)


def lattice(
    grid: GeolocationGrid, transform: tuple[float, ...], rlo: int, rhi: int, clo: int, chi: int
) -> tuple[np.ndarray, np.ndarray]:
    """Radar coordinates of the centres of output rows ``rlo:rhi``, columns ``clo:chi``: exact on
    a lattice every :data:`LATTICE_STEP` pixels fixed to the scene, bilinear in between (so a
    pixel's value never depends on the window it is read in)."""
    step = LATTICE_STEP
    a, _, c, _, e, f = transform[:6]
    r0, c0 = rlo // step * step, clo // step * step
    rows = np.arange(r0, rhi + step, step, dtype=np.float64)
    cols = np.arange(c0, chi + step, step, dtype=np.float64)
    xx, yy = np.meshgrid(c + (cols + 0.5) * a, f + (rows + 0.5) * e)
    on_lattice = grid.radar(xx, yy)
    ro, co = np.arange(rlo, rhi) - r0, np.arange(clo, chi) - c0
    ir, ic = ro // step, co // step
    fr, fc = ((ro % step) / step)[:, None], ((co % step) / step)[None, :]
    out = []
    for v in on_lattice:
        top = v[ir][:, ic] * (1 - fc) + v[ir][:, ic + 1] * fc
        bottom = v[ir + 1][:, ic] * (1 - fc) + v[ir + 1][:, ic + 1] * fc
        out.append(top * (1 - fr) + bottom * fr)
    return out[0], out[1]


@dataclass(frozen=True)
class UtmGrid:
    """The 10 m grid of a SAFE scene: its UTM zone ``crs``, ``transform`` (north up) and size."""

    crs: CRS
    transform: tuple[float, float, float, float, float, float]
    width: int
    height: int


def utm_grid(corners: Sequence[tuple[float, float]], points: Sequence[np.ndarray]) -> tuple[UtmGrid, list[np.ndarray]]:
    """The 10 m grid in the UTM zone of the centre of ``corners`` (lon, lat) whose pixel centres
    hold ``points`` (arrays (N, 2) of lon, lat: geolocation grid points), and the points in its
    CRS. The grid's outer points are pixel centres; points on pixel centres up to the round trip
    through lon/lat stay on them (a tolerance of 1e-6 pixel)."""
    from pyproj import Transformer

    crs = utm_crs(float(np.mean([c[0] for c in corners])), float(np.mean([c[1] for c in corners])))
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    projected = []
    for p in points:
        x, y = to_utm.transform(p[:, 0], p[:, 1])
        projected.append(np.stack([x, y], axis=1))
    xy = np.concatenate(projected)
    half = PIXEL_SIZE / 2
    x0 = math.floor((xy[:, 0].min() - half) / PIXEL_SIZE + _EPS) * PIXEL_SIZE
    y0 = math.ceil((xy[:, 1].max() + half) / PIXEL_SIZE - _EPS) * PIXEL_SIZE
    width = int(math.ceil((xy[:, 0].max() + half - x0) / PIXEL_SIZE - _EPS))
    height = int(math.ceil((y0 - xy[:, 1].min() + half) / PIXEL_SIZE - _EPS))
    transform = (PIXEL_SIZE, 0.0, float(x0), 0.0, -PIXEL_SIZE, float(y0))
    return UtmGrid(crs, transform, width, height), projected
