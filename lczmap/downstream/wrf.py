"""Before w2w: will an LCZ map go into this WRF domain? (:func:`check_wrf`)

w2w (github.com/matthiasdemuzere/w2w, MIT) puts an LCZ map into a WRF geo_em file: urban
fraction FRC_URB2D, LU_INDEX of the urban cells as LCZ classes, the urban canopy parameters. What
breaks on the way, from its issue tracker and WRF's:

- the map must be larger than the domain on every side (w2w compares the map's bounds with the
  outermost cell centres and stops otherwise);
- a domain whose largest urban class is 3 or less (no built LCZ, or only LCZ 1-3) stops WRF with
  ``USING URBPARM_LCZ.TBL WITH OLD 3 URBAN CLASSES`` when ``use_wudapt_lcz=1``: WRF's
  ``module_physics_init.F`` takes the largest urban type UTYPE_URB2D in the domain and stops when it is
  3 or less, taking the domain for one of the three old urban classes (wrf-model/WRF#1878);
- WRF before 4.4.2 codes urban LCZ 1-10 (and 11: LCZ E when w2w's ``--built-lcz`` holds 15) as
  LU_INDEX 31-41 (NUM_LAND_CAT 41), WRF 4.4.2 and later as 51-61 (NUM_LAND_CAT 61; wrf-model/WRF#1786);
  w2w 0.6.0 writes 31-41 (w2w's pull request https://github.com/matthiasdemuzere/w2w/pull/127 adds the newer coding);
- w2w samples the natural land around each urban cell from ``--npix-area`` cells (default
  ``--npix-nlc`` 45 squared, 2,025) and stops on a domain with fewer cells;
- w2w reads the whole map into memory: the global LCZ map needs about 20 GB
  (https://github.com/matthiasdemuzere/w2w/issues/98); crop first.

:func:`check_wrf` puts the map on the domain's grid as w2w does (the same projection and cells;
FRC_URB2D from w2w's table, cells above the 0.2 threshold urban, their class the most common
built LCZ) and says what w2w will make of it, before anyone runs w2w.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..classes import LCZ_CLASSES
from ..errors import ZonesError
from ..zones.lczraster import LczRasterInfo, inspect_lcz, read_codes
from .geo_em import WrfDomain, read_wrf_domain

if TYPE_CHECKING:
    from affine import Affine
    from rasterio.windows import Window

__all__ = [
    "W2W_BUILT",
    "W2W_FRC_URB2D",
    "W2W_FRC_THRESHOLD",
    "W2W_NPIX_NLC",
    "WrfCheck",
    "check_wrf",
    "wrf_urban_offset",
]

#: LCZ classes w2w counts as urban by default (its ``--built-lcz``).
W2W_BUILT: tuple[int, ...] = tuple(range(1, 11))
#: w2w's urban fraction of each LCZ class (``w2w/resources/LCZ_UCP_lookup.csv``, FRC_URB2D; w2w
#: 0.6.0): code -> fraction. The classes not built count 0 (w2w masks them).
W2W_FRC_URB2D: dict[int, float] = {
    **{1: 0.95, 2: 0.9, 3: 0.85, 4: 0.65, 5: 0.7, 6: 0.6, 7: 0.85, 8: 0.85, 9: 0.3, 10: 0.55},
    15: 0.95,  # LCZ E (bare rock or paved): urban only when --built-lcz names it; WRF's urban class 11
}
#: The largest urban class (UTYPE_URB2D) at or below which WRF with use_wudapt_lcz=1 stops.
WRF_OLD_URBAN_CLASSES = 3
#: w2w's default ``--npix-nlc``: its ``--npix-area`` defaults to this squared.
W2W_NPIX_NLC = 45
#: w2w's default ``--frc-threshold``: a cell whose urban fraction is not above it stays natural.
W2W_FRC_THRESHOLD = 0.2
#: A cell counts as covered when map pixels cover this share of it.
_COVERED = 0.99
#: A map this many times the domain's area gets the advice to crop it (w2w reads it whole).
_CROP_RATIO = 25.0


def wrf_urban_offset(wrf_version: str | None) -> int:
    """What WRF adds to an urban class (LCZ 1-10, 11 for LCZ E) to get its LU_INDEX: 30 before WRF
    4.4.2 (31-41, NUM_LAND_CAT 41), 50 from 4.4.2 (51-61, NUM_LAND_CAT 61). None: what w2w 0.6.0
    writes (30)."""
    if wrf_version is None:
        return 30
    try:
        parts = tuple(int(p) for p in wrf_version.strip().lstrip("vV").split("."))
    except ValueError:
        raise ZonesError(f"WRF version {wrf_version!r} is not a version number: give e.g. 4.5.1") from None
    return 50 if parts >= (4, 4, 2) else 30


@dataclass(frozen=True)
class WrfCheck:
    """What :func:`check_wrf` found. Arrays are on the domain's grid (rows south to north).

    ``coverage``: share of each cell the map's pixels cover; ``urban_fraction``: FRC_URB2D as w2w
    computes it (0 at or below the threshold); ``urban_class``: the most common built LCZ of each
    urban cell (0 elsewhere); ``classes``: the LCZ codes found over the domain; ``problems``: what
    stops w2w or WRF (empty when none); ``notes``: what to know before running them."""

    map_path: Path
    band: int
    domain: WrfDomain
    coverage: np.ndarray = field(repr=False)
    urban_fraction: np.ndarray = field(repr=False)
    urban_class: np.ndarray = field(repr=False)
    classes: tuple[int, ...]
    problems: tuple[str, ...]
    notes: tuple[str, ...]
    wrf_version: str | None = None
    frc_threshold: float = W2W_FRC_THRESHOLD

    @property
    def ok(self) -> bool:
        """True when nothing stops w2w and WRF."""
        return not self.problems

    @property
    def urban_cells(self) -> int:
        """WRF cells w2w will make urban."""
        return int((self.urban_class > 0).sum())

    @property
    def urban_classes(self) -> tuple[int, ...]:
        """The LCZ classes the urban cells will have."""
        return tuple(int(c) for c in np.unique(self.urban_class[self.urban_class > 0]))

    def lu_index(self, wrf_version: str | None = None) -> tuple[int, ...]:
        """LU_INDEX values of the urban cells for ``wrf_version`` (None: as w2w 0.6.0 writes them)."""
        offset = wrf_urban_offset(wrf_version if wrf_version is not None else self.wrf_version)
        return tuple(offset + _wrf_class(c) for c in self.urban_classes)

    def lines(self) -> list[str]:
        """The report, one line each."""
        d = self.domain
        w, s, e, n = d.bounds
        labels = {c.code: c.label for c in LCZ_CLASSES}
        out = [
            f"domain: {d.path.name}, {d.shape[1]} x {d.shape[0]} cells of {d.dx:.0f} x {d.dy:.0f} m, "
            f"cell centres {w:.4f},{s:.4f} to {e:.4f},{n:.4f}",
            f"map: {self.map_path.name}, band {self.band}; covers {int((self.coverage >= _COVERED).sum())} of "
            f"{self.coverage.size} cells",
            f"classes over the domain: {', '.join(labels[c] for c in self.classes) or 'none'}",
            f"urban cells (FRC_URB2D > {self.frc_threshold:g}): {self.urban_cells}, classes "
            f"{', '.join(labels[c] for c in self.urban_classes) or 'none'}; "
            f"LU_INDEX {_values(self.lu_index('4.4.1'))} as w2w 0.6.0 "
            f"writes them (WRF < 4.4.2), {_values(self.lu_index('4.4.2'))} for WRF >= 4.4.2",
        ]
        out += [f"note: {m}" for m in self.notes]
        out += [f"problem: {m}" for m in self.problems]
        out.append("ready for w2w" if self.ok else f"not ready for w2w: {len(self.problems)} problem(s)")
        return out


def _values(v: tuple[int, ...]) -> str:
    return ", ".join(map(str, v)) if v else "none"


def check_wrf(
    map_path: str | os.PathLike,
    geo_em: str | os.PathLike,
    band: int | str | None = None,
    built: tuple[int, ...] = W2W_BUILT,
    frc_threshold: float = W2W_FRC_THRESHOLD,
    wrf_version: str | None = None,
    npix_area: int | None = None,
) -> WrfCheck:
    """Check an LCZ map against a WRF domain before w2w: the map covers the domain, the domain's
    urban cells have a largest class above 3, the LU_INDEX coding fits ``wrf_version``.

    ``band``: the map's band (default the ``lczFilter`` band of an LCZ Generator product, the one
    w2w takes, else band 1); ``built``/``frc_threshold``: w2w's ``--built-lcz`` and
    ``--frc-threshold``; ``npix_area``: w2w's ``--npix-area`` (default ``--npix-nlc`` 45 squared).
    Returns a :class:`WrfCheck`; nothing is written."""
    import rasterio
    from rasterio.warp import Resampling, reproject

    bad = [c for c in built if c not in W2W_FRC_URB2D]
    if bad or not built:
        raise ZonesError(f"built classes must be among LCZ 1-10 and 15 (w2w --built-lcz), got {list(built)}")
    if not 0 <= frc_threshold < 1:
        raise ZonesError(f"the urban fraction threshold must be in [0, 1), got {frc_threshold}")
    offset = wrf_urban_offset(wrf_version)
    domain = read_wrf_domain(geo_em)
    info = inspect_lcz(map_path, band=band)
    ny, nx = domain.shape
    dst_transform = domain.transform
    dst_crs = rasterio.crs.CRS.from_proj4(domain.proj4)
    # the domain's cells with two cells of margin, in the domain's projection
    x0, y0 = dst_transform @ (-2, -2)
    x1, y1 = dst_transform @ (nx + 2, ny + 2)
    box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    codes, src_transform, src_crs, map_bounds = _map_as_w2w_reads_it(info, dst_crs, box)

    def warp(values: np.ndarray, how: Resampling, src_nodata: float | None) -> np.ndarray:
        out = np.full((ny, nx), np.nan if values.dtype.kind == "f" else 0, dtype=values.dtype)
        reproject(
            values,
            out,
            src_transform=src_transform,
            src_crs=src_crs,
            src_nodata=src_nodata,
            dst_transform=dst_transform,
            dst_crs=dst_crs,
            dst_nodata=np.nan if values.dtype.kind == "f" else 0,
            resampling=how,
        )
        return out

    coverage = np.nan_to_num(warp((codes > 0).astype(np.float32), Resampling.average, None), nan=0.0)
    frc_lut = np.zeros(256, np.float32)
    for c in built:
        frc_lut[c] = W2W_FRC_URB2D[c]
    frc = np.nan_to_num(warp(frc_lut[codes], Resampling.average, None), nan=0.0)
    frc = np.where(frc > frc_threshold, frc, 0.0).astype(np.float32)
    built_codes = np.where(np.isin(codes, built), codes, 0).astype(np.uint8)
    dominant = warp(built_codes, Resampling.mode, 0)
    urban_class = np.where(frc > 0, dominant, 0).astype(np.uint8)
    inside = _inside(codes, src_transform, src_crs, domain)
    classes = tuple(int(c) for c in np.unique(inside[inside > 0]))

    problems: list[str] = []
    notes: list[str] = []
    uncovered = int((coverage < _COVERED).sum())
    mw, ms, me, mn = map_bounds
    w, s, e, n = domain.bounds
    if uncovered or not (mw < w and me > e and ms < s and mn > n):
        problems.append(
            f"{info.path.name} does not cover the WRF domain: {uncovered} of {coverage.size} cells lack map pixels "
            f"(domain cell centres {w:.4f},{s:.4f},{e:.4f},{n:.4f}; map {mw:.4f},{ms:.4f},{me:.4f},{mn:.4f}); w2w needs "
            f"the map larger than the domain on every side: map a larger area (e.g. lczmap predict --aoi "
            f"{w - 0.05:.2f},{s - 0.05:.2f},{e + 0.05:.2f},{n + 0.05:.2f})"
        )
    top_class = max((_wrf_class(int(c)) for c in np.unique(urban_class) if c > 0), default=0)
    if top_class <= WRF_OLD_URBAN_CLASSES:
        found = "no cell" if top_class == 0 else f"only LCZ {', '.join(str(c) for c in np.unique(urban_class) if c > 0)}"
        problems.append(
            f"{found} becomes urban in the domain (FRC_URB2D > {frc_threshold:g}): WRF with use_wudapt_lcz=1 stops with "
            "'USING URBPARM_LCZ.TBL WITH OLD 3 URBAN CLASSES' when the largest urban class is 3 or less "
            "(wrf-model/WRF#1878): use a domain holding more of the city, or use_wudapt_lcz=0"
        )
    area = W2W_NPIX_NLC**2 if npix_area is None else int(npix_area)
    if area > coverage.size:
        side = int(math.isqrt(coverage.size))
        problems.append(
            f"the domain has {coverage.size} cells and w2w samples natural land from --npix-area {area} cells "
            f"(--npix-nlc {W2W_NPIX_NLC} squared by default): it stops; run w2w with -n {side} (or -a {coverage.size})"
        )
    if info.scheme == "101-107":
        notes.append("the map codes LCZ A-G as 101-107: w2w renames them 11-17 itself")
    if not _is_wgs84(info.crs):
        notes.append(f"the map is in {info.crs.to_string()}: w2w reprojects it to EPSG:4326 (nearest) first")
    descriptions = _descriptions(info.path)
    # w2w takes band 2 (lczFilter) whenever the band names hold 'lczFilter' (rioxarray's long_name: the
    # one band's description, or the tuple of them) and ignores its -l then; otherwise band -l + 1
    generator = "lczFilter" in ((descriptions[0] or "") if len(descriptions) == 1 else descriptions)
    if generator and len(descriptions) < 2:
        problems.append(
            f"{info.path.name} has one band, named lczFilter: w2w takes band 2 of any map whose band names hold "
            f"'lczFilter' and stops on this one; write it again with lczmap recode {info.path.name} OUT.tif --to 1-17"
        )
    elif generator and info.band != 2:
        notes.append(
            f"w2w always reads band 2 (lczFilter) of an LCZ Generator product and ignores its -l: to put band "
            f"{info.band} into WRF, write it alone first (lczmap recode {info.path.name} OUT.tif --to 1-17 --band {info.band})"
        )
    elif not generator and info.band != 1:
        notes.append(f"w2w reads band 1 unless told: run it with -l {info.band - 1} for band {info.band}")
    domain_area = coverage.size * domain.dx * domain.dy
    map_area = float(info.areas.sum())
    if map_area > _CROP_RATIO * domain_area:
        notes.append(
            f"the map is {map_area / domain_area:.0f} times the domain's area and w2w reads it whole (the global map "
            "needs about 20 GB): crop it to the domain with a margin first (gdal_translate -projwin)"
        )
    if offset == 50:
        notes.append(
            "WRF >= 4.4.2 reads urban LCZ as LU_INDEX 51-61 with NUM_LAND_CAT 61 and stops on the 31-41 and "
            "NUM_LAND_CAT 41 that w2w 0.6.0 writes (wrf-model/WRF#2159): use a w2w with WRF-version support (w2w "
            "pull request https://github.com/matthiasdemuzere/w2w/pull/127), or renumber w2w's urban LU_INDEX "
            "to 51-61 with NUM_LAND_CAT 61 as https://github.com/matthiasdemuzere/w2w/issues/125 describes"
        )
    return WrfCheck(
        map_path=info.path,
        band=info.band,
        domain=domain,
        coverage=coverage,
        urban_fraction=frc,
        urban_class=urban_class,
        classes=classes,
        problems=tuple(problems),
        notes=tuple(notes),
        wrf_version=wrf_version,
        frc_threshold=frc_threshold,
    )


def _is_wgs84(crs: object) -> bool:
    from rasterio.crs import CRS

    return bool(crs == CRS.from_epsg(4326))


def _map_as_w2w_reads_it(
    info: LczRasterInfo, dst_crs: object, box: tuple[float, float, float, float]
) -> tuple[np.ndarray, Affine, object, tuple[float, float, float, float]]:
    """The map's codes around ``box`` (in ``dst_crs``) as w2w reads them: a map not in EPSG:4326
    is first reprojected to it as w2w does (rioxarray's ``reproject``: GDAL's default output grid
    for the whole map, nearest neighbour), and that grid is what w2w aggregates to the WRF cells.
    Returns the codes (0: no data), their transform and CRS, and the map's bounds in degrees
    (west, south, east, north) that w2w's extent check compares with the domain."""
    import rasterio
    from rasterio.crs import CRS
    from rasterio.warp import Resampling, calculate_default_transform, reproject, transform_bounds
    from rasterio.windows import Window, from_bounds

    height, width = info.shape
    full = _bounds(info.transform, info.shape)
    native = _is_wgs84(info.crs)
    if native:
        grid, grid_shape, crs = info.transform, info.shape, info.crs
    else:
        crs = CRS.from_epsg(4326)
        grid, grid_w, grid_h = calculate_default_transform(info.crs, crs, width, height, *full)
        grid_shape = (int(grid_h), int(grid_w))
    map_bounds = _bounds(grid, grid_shape)
    window = _window(from_bounds(*transform_bounds(dst_crs, crs, *box, densify_pts=21), transform=grid), grid_shape)
    if window is None:
        return np.zeros((1, 1), np.uint8), grid, crs, map_bounds
    with rasterio.open(info.path) as src:
        if native:
            return read_codes(src, info, window), rasterio.windows.transform(window, grid), crs, map_bounds
        # the source pixels under the window of the EPSG:4326 grid, with a margin of four pixels
        sub = rasterio.windows.transform(window, grid)
        sub_bounds = rasterio.windows.bounds(Window(0, 0, window.width, window.height), sub)
        src_win = from_bounds(*transform_bounds(crs, info.crs, *sub_bounds, densify_pts=21), transform=info.transform)
        padded = Window(src_win.col_off - 4, src_win.row_off - 4, src_win.width + 8, src_win.height + 8)
        src_window = _window(padded, (height, width))
        out = np.zeros((int(window.height), int(window.width)), np.uint8)
        if src_window is not None:
            reproject(
                read_codes(src, info, src_window),
                out,
                src_transform=rasterio.windows.transform(src_window, info.transform),
                src_crs=info.crs,
                src_nodata=0,
                dst_transform=sub,
                dst_crs=crs,
                dst_nodata=0,
                resampling=Resampling.nearest,
            )
    return out, sub, crs, map_bounds


def _window(win: Window, shape: tuple[int, int]) -> Window | None:
    """``win`` widened to whole pixels and clipped to a raster of ``shape``; None when empty."""
    from rasterio.windows import Window

    c0, r0 = max(int(math.floor(win.col_off)), 0), max(int(math.floor(win.row_off)), 0)
    c1 = min(int(math.ceil(win.col_off + win.width)), shape[1])
    r1 = min(int(math.ceil(win.row_off + win.height)), shape[0])
    return Window(c0, r0, c1 - c0, r1 - r0) if c1 > c0 and r1 > r0 else None


def _wrf_class(code: int) -> int:
    """WRF's urban class (UTYPE_URB2D) of an urban LCZ code: LCZ 1-10 as they are, LCZ E (15) as 11."""
    return 11 if code == 15 else code


def _bounds(transform: object, shape: tuple[int, int]) -> tuple[float, float, float, float]:
    from rasterio.transform import array_bounds

    left, bottom, right, top = array_bounds(shape[0], shape[1], transform)
    return (left, bottom, right, top)


def _descriptions(path: Path) -> tuple[str | None, ...]:
    import rasterio

    with rasterio.open(path) as src:
        return tuple(src.descriptions)


def _inside(codes: np.ndarray, transform: object, crs: object, domain: WrfDomain) -> np.ndarray:
    """The map's codes whose pixel centres fall inside the domain's cell-centre box (lon/lat)."""
    from pyproj import Transformer
    from rasterio.transform import xy

    rows, cols = np.indices(codes.shape)
    xs, ys = xy(transform, rows.ravel(), cols.ravel())
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(np.asarray(xs), np.asarray(ys))
    w, s, e, n = domain.bounds
    keep = (lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)
    return codes.ravel()[keep]
