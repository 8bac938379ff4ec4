"""A stratified random sample of an LCZ map for area-adjusted accuracy (Olofsson et al. 2014).

The strata are the map's LCZ classes (no-data pixels excluded). :func:`allocate` splits the
sample size ``n`` over the strata:

- ``proportional``: ``n_h`` in proportion to the stratum's area;
- ``equal``: the same number in every stratum;
- ``neyman``: in proportion to ``A_h S_h`` (``A_h`` the stratum's area) with
  ``S_h = sqrt(U_h (1 - U_h))`` and ``U_h`` the *anticipated* user's accuracy of class ``h``:
  Neyman's allocation, which minimises the variance of the overall accuracy for those
  accuracies (Cochran 1977, Sampling Techniques, 5.5). Nobody knows ``U_h`` before the
  assessment: unless told (``anticipated``), lczmap assumes :data:`ANTICIPATED_UA`, 0.7 for the
  built types LCZ 1-10 (often confused among themselves), 0.85 for the land-cover types A-F and
  0.95 for water (G). These are assumptions, not measurements: a wrong guess costs precision,
  never bias (every estimator of :mod:`.olofsson` weights by the design).

Every stratum then gets at least ``min_per_class`` points (so that rare classes get a user's
accuracy worth the name) and at most its number of pixels; the rest is spread by the rule; rounding keeps
the sum at ``n`` (largest remainders).

:func:`draw_pixels` draws ``n_h`` distinct pixels of each stratum with equal probability in one
pass over the map (the ranks are drawn first, then found strip by strip); each point is a
uniformly random location inside its pixel (in the map's coordinates). Every sampled pixel thus
stands for an equal share of its stratum: exact on a projected grid; on a geographic grid a
pixel's area changes with latitude (by about 1.7 % per degree at 45 degrees, 3 % at 60), which
the estimators do not weight: project a map that spans many degrees first. :func:`design_sample`
writes the points as a GeoPackage (layer ``sample``, in the map's CRS, in random order so that
strata are not grouped) with an empty ``reference`` field to fill, the map class ``map_lcz``
(the stratum), the stratum's size ``stratum_px`` (pixels) and ``stratum_km2`` and its weight; a
table ``strata`` (one row per stratum: pixels, km2, weight, anticipated user's accuracy, points)
and the design as JSON in the GeoPackage's metadata (``lczmap_design``); and the same points as
KML beside it (WGS84) for labelling in Google Earth. ``lczmap assess MAP SAMPLE --design`` reads
either back.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from .._io import check_outputs, output_fileset, writing
from ..classes import LCZ_CLASSES, label_of, name_of
from ..errors import OutputError, ZonesError
from ..zones.lczraster import DEFAULT_BLOCK_ROWS, CodeScheme, LczRasterInfo, Progress, inspect_lcz, read_codes, strips

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

__all__ = [
    "ALLOCATIONS",
    "ANTICIPATED_UA",
    "Allocation",
    "DEFAULT_MIN_PER_CLASS",
    "DEFAULT_SAMPLE_SIZE",
    "DESIGN_COLUMNS",
    "REFERENCE_FIELD",
    "SAMPLE_LAYER",
    "STRATA_LAYER",
    "SampleDesign",
    "allocate",
    "anticipated_accuracies",
    "parse_anticipated",
    "design_sample",
    "draw_pixels",
]

log = logging.getLogger(__name__)

Allocation = Literal["proportional", "equal", "neyman"]
#: How the sample is split over the strata.
ALLOCATIONS: tuple[str, ...] = get_args(Allocation)
#: Points drawn unless told otherwise (Olofsson et al. 2014's example used 640).
DEFAULT_SAMPLE_SIZE = 600
#: Points per stratum at least (or all its pixels, when fewer).
DEFAULT_MIN_PER_CLASS = 50
#: The user's accuracy assumed per LCZ code for the Neyman allocation unless told: an
#: assumption (built types 0.7, land-cover types 0.85, water 0.95), not a measurement.
ANTICIPATED_UA: dict[int, float] = {c.code: (0.7 if c.code <= 10 else 0.95 if c.code == 17 else 0.85) for c in LCZ_CLASSES}
#: Layer of the points and table of the strata in the GeoPackage.
SAMPLE_LAYER = "sample"
STRATA_LAYER = "strata"
#: The field the interpreter fills with the reference class.
REFERENCE_FIELD = "reference"
#: The fields that make a layer a sample of this design: the stratum (map class) and its size in pixels.
DESIGN_COLUMNS: tuple[str, str] = ("map_lcz", "stratum_px")
#: Key of the design's JSON in the GeoPackage's metadata.
METADATA_KEY = "lczmap_design"


def anticipated_accuracies(anticipated: float | Mapping[int, float] | None) -> dict[int, float]:
    """User's accuracies by LCZ code for the Neyman allocation: :data:`ANTICIPATED_UA`, one value
    for every class, or those given per code over the defaults. Each must lie in (0, 1)."""
    out = dict(ANTICIPATED_UA)
    if isinstance(anticipated, (int, float)):
        out = dict.fromkeys(out, float(anticipated))
    elif anticipated is not None:
        for code, value in anticipated.items():
            if int(code) not in out:
                raise ZonesError(f"anticipated user's accuracy for {code!r}: no LCZ code (1-17)")
            out[int(code)] = float(value)
    bad = {label_of(c): v for c, v in out.items() if not 0 < v < 1}
    if bad:
        shown = ", ".join(f"LCZ {k}={v}" for k, v in bad.items())
        raise ZonesError(f"anticipated user's accuracies must lie between 0 and 1 (exclusive), got {shown}")
    return out


def parse_anticipated(items: Iterable[str]) -> float | dict[int, float] | None:
    """Anticipated user's accuracies as the command line gives them: ``0.8`` (every class) or
    ``CLASS=VALUE`` items (``6=0.8``, ``A=0.9``, ``LCZ G=0.95``; any coding
    :func:`~lczmap.maps.reference.normalise_codes` reads); None when none is given."""
    from .reference import normalise_codes

    single: float | None = None
    per: dict[int, float] = {}
    for item in items:
        key, sep, value = item.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            raise ZonesError(f"--anticipated-ua {item!r}: give a user's accuracy (0.8) or CLASS=VALUE (6=0.8, A=0.9)") from None
        if not sep:
            single = number
            continue
        code = int(normalise_codes([key.strip()], name="--anticipated-ua", field="CLASS")[0])
        per[code] = number
    if single is not None and per:
        return {**dict.fromkeys(ANTICIPATED_UA, single), **per}
    return per or single


def allocate(
    pixels: np.ndarray,
    n: int = DEFAULT_SAMPLE_SIZE,
    allocation: Allocation = "proportional",
    min_per_class: int = DEFAULT_MIN_PER_CLASS,
    anticipated: float | Mapping[int, float] | None = None,
    areas: np.ndarray | None = None,
) -> np.ndarray:
    """Points per stratum: ``pixels`` (18,) pixels per LCZ code (index 0, no data, is never
    sampled); returns (18,) int64 summing to ``n``, each stratum with pixels getting at least
    ``min(min_per_class, pixels)`` and at most ``pixels``. ``areas`` (18,): the strata's areas,
    which the proportional and Neyman rules follow (default: the pixel counts; they differ on a
    geographic grid). Rules: the module docstring."""
    px = np.asarray(pixels, np.int64).copy()
    if px.shape != (18,):
        raise ZonesError(f"pixels must hold 18 counts (no data and LCZ 1-17), got shape {px.shape}")
    px[0] = 0
    if allocation not in ALLOCATIONS:
        raise ZonesError(f"unknown allocation {allocation!r} (--allocation): use {', '.join(ALLOCATIONS)}")
    if n < 1 or min_per_class < 0:
        raise ZonesError(f"n (--n) must be >= 1 and min_per_class (--min-per-class) >= 0, got {n} and {min_per_class}")
    strata = np.flatnonzero(px > 0)
    if strata.size == 0:
        raise ZonesError("the map has no LCZ pixels to sample")
    floor = np.minimum(min_per_class, px[strata]).astype(np.float64)
    cap = px[strata].astype(np.float64)
    if n < floor.sum():
        raise ZonesError(
            f"n (--n) {n} is below {int(floor.sum())}, the minimum of {min_per_class} points (--min-per-class) in each of the "
            f"map's {strata.size} classes: raise --n or lower --min-per-class"
        )
    if n > cap.sum():
        raise ZonesError(f"n (--n) {n} is more than the map's {int(cap.sum())} LCZ pixels: lower --n")
    size = cap if areas is None else np.asarray(areas, np.float64)[strata]
    match allocation:
        case "proportional":
            weight = size.copy()
        case "equal":
            weight = np.ones_like(cap)
        case "neyman":
            ua = anticipated_accuracies(anticipated)
            weight = size * np.sqrt([ua[int(c)] * (1 - ua[int(c)]) for c in strata])
    x = _spread(float(n), weight, floor, cap)
    base = np.floor(x + 1e-9)
    short = int(round(n - base.sum()))
    if short > 0:
        order = np.argsort(-(x - base), kind="stable")
        room = [i for i in order if base[i] < cap[i]]
        base[room[:short]] += 1
    out = np.zeros(18, np.int64)
    out[strata] = base.astype(np.int64)
    return out


def _spread(n: float, weight: np.ndarray, floor: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """``n`` spread in proportion to ``weight`` with each share within ``[floor, cap]`` (feasible:
    ``floor.sum() <= n <= cap.sum()``): strata below their floor are fixed there, then those above
    their cap are fixed at it, and the rest shared again, until none is out of bounds."""
    fixed = np.zeros(weight.size, bool)
    x = np.zeros(weight.size)
    for _ in range(2 * weight.size + 1):
        free = ~fixed
        left = n - x[fixed].sum()
        w = weight[free]
        x[free] = left * w / w.sum() if w.sum() > 0 else left / max(int(free.sum()), 1)
        low = free & (x < floor - 1e-9)
        if low.any():
            x[low], fixed[low] = floor[low], True
            continue
        high = free & (x > cap + 1e-9)
        if high.any():
            x[high], fixed[high] = cap[high], True
            continue
        break
    return x


def draw_pixels(
    blocks: Iterable[tuple[int, np.ndarray]], pixels: np.ndarray, n_h: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_h[c]`` distinct pixels of each LCZ code ``c`` (equal probability within a stratum).

    blocks: ``(row offset, codes)`` strips of the map in row order (codes: (rows, width) uint8,
    0 for no data) covering it once; pixels: (18,) pixels per code in the map (as
    :func:`~lczmap.zones.lczraster.inspect_lcz` counted); n_h: (18,) points per code. The ranks of
    the chosen pixels within each stratum (row-major order) are drawn first, then found strip by
    strip. Returns ``(rows, cols, codes)``, stratum by stratum, each in row-major order.
    """
    px = np.asarray(pixels, np.int64)
    want = np.asarray(n_h, np.int64)
    ranks = {int(c): np.sort(rng.choice(int(px[c]), size=int(want[c]), replace=False)) for c in np.flatnonzero(want[1:] > 0) + 1}
    seen = np.zeros(18, np.int64)
    width = 0
    found: dict[int, list[np.ndarray]] = {c: [] for c in ranks}
    for r0, codes in blocks:
        width = codes.shape[1]
        counts = np.bincount(codes.ravel(), minlength=18)[:18]
        for c, rk in ranks.items():
            lo, hi = np.searchsorted(rk, [seen[c], seen[c] + counts[c]])
            if hi > lo:
                flat = np.flatnonzero(codes.ravel() == c)[rk[lo:hi] - seen[c]]
                found[c].append(flat + r0 * width)
        seen += counts
    if np.any(seen[1:] != px[1:]):
        raise ZonesError("the map changed while it was read (its pixel counts differ between two passes): rerun")
    parts = [np.concatenate(found[c]) if found[c] else np.zeros(0, np.int64) for c in ranks]
    flat_all = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    codes_all = np.concatenate([np.full(p.size, c, np.uint8) for c, p in zip(ranks, parts)]) if parts else np.zeros(0, np.uint8)
    rows, cols = np.divmod(flat_all, max(width, 1))
    return rows, cols, codes_all


@dataclass(frozen=True)
class SampleDesign:
    """What :func:`design_sample` drew: ``points`` (a GeoDataFrame in the map's CRS), ``strata``
    (a DataFrame, one row per stratum), the ``design`` record (JSON-ready) and the files written."""

    points: Any
    strata: Any
    design: dict[str, Any]
    outputs: dict[str, Path] = field(default_factory=dict)

    def summary(self) -> str:
        """A line per stratum for a terminal."""
        d = self.design
        lines = [f"{d['n']} points over {len(self.strata)} strata ({d['allocation']} allocation, seed {d['seed']})"]
        for r in self.strata.itertuples():
            lines.append(f"  LCZ {r.label:>2} {r.name:<22} {r.points:5d} points  {r.area_km2:12.4g} km2  weight {r.weight:.4f}")
        return "\n".join(lines)


def _strips(info: LczRasterInfo, block_rows: int, progress: Progress) -> Iterable[tuple[int, np.ndarray]]:
    import rasterio

    height, width = info.shape
    bar = progress(total=height, desc="draw sample") if progress else None
    with rasterio.open(info.path) as src:
        for win in strips(height, width, block_rows):
            yield int(win.row_off), read_codes(src, info, win)
            if bar is not None:
                bar.update(int(win.height))
    if bar is not None:
        bar.close()


def design_sample(
    lcz_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    n: int = DEFAULT_SAMPLE_SIZE,
    allocation: Allocation = "proportional",
    min_per_class: int = DEFAULT_MIN_PER_CLASS,
    anticipated: float | Mapping[int, float] | None = None,
    seed: int = 0,
    codes: CodeScheme = "auto",
    nodata: float | None = None,
    overwrite: bool = False,
    block_rows: int | None = None,
    progress: Progress = None,
) -> SampleDesign:
    """Draw a stratified random sample of ``n`` points from the LCZ map ``lcz_path`` and write it
    to ``out_path`` (.gpkg) and as KML beside it (the same name, .kml). The strata, allocation,
    fields and files: the module docstring. ``anticipated``: the user's accuracies the Neyman
    allocation assumes (one value, or a mapping LCZ code -> value over :data:`ANTICIPATED_UA`).
    The same map, options and ``seed`` give the same points."""
    import geopandas as gpd
    import pandas as pd

    out = Path(out_path)
    if out.suffix.lower() != ".gpkg":
        raise ZonesError(f"the sample is written as a GeoPackage: end the name of {out} with .gpkg")
    kml = out.with_suffix(".kml")
    check_outputs([out, kml], [lcz_path], overwrite)
    if allocation not in ALLOCATIONS:
        raise ZonesError(f"unknown allocation {allocation!r} (--allocation): use {', '.join(ALLOCATIONS)}")
    ua = anticipated_accuracies(anticipated)
    rows = block_rows or DEFAULT_BLOCK_ROWS
    info = inspect_lcz(lcz_path, codes=codes, nodata=nodata, block_rows=rows, progress=progress)
    n_h = allocate(info.pixels, n, allocation, min_per_class, ua, areas=info.areas)
    rng = np.random.default_rng(seed)
    r, c, strata = draw_pixels(_strips(info, rows, progress), info.pixels, n_h, rng)
    height, width = info.shape
    u, v = rng.random(r.size), rng.random(r.size)
    t = info.transform
    x = t.c + (c + u) * t.a
    y = t.f + (r + v) * t.e
    order = rng.permutation(r.size)  # labelling order: strata not grouped
    total = float(info.areas[1:].sum())
    km2 = 1e-6
    points = gpd.GeoDataFrame(
        {
            "point": np.arange(1, r.size + 1, dtype=np.int32),
            "name": [f"P{i:04d}" for i in range(1, r.size + 1)],
            REFERENCE_FIELD: [""] * r.size,
            "map_lcz": strata[order].astype(np.int32),
            "map_label": [label_of(int(k)) for k in strata[order]],
            "map_name": [name_of(int(k)) for k in strata[order]],
            "stratum_px": info.pixels[strata[order]].astype(np.int64),
            "stratum_km2": info.areas[strata[order]] * km2,
            "weight": info.areas[strata[order]] / total,
            "row": r[order].astype(np.int32),
            "col": c[order].astype(np.int32),
        },
        geometry=gpd.points_from_xy(x[order], y[order]),
        crs=info.crs,
    )
    wgs84 = points.geometry.to_crs("EPSG:4326")
    points.insert(len(points.columns) - 1, "lon", wgs84.x.to_numpy())
    points.insert(len(points.columns) - 1, "lat", wgs84.y.to_numpy())
    present = [k for k in range(1, 18) if info.pixels[k] > 0]
    table = pd.DataFrame(
        {
            "lcz": present,
            "label": [label_of(k) for k in present],
            "name": [name_of(k) for k in present],
            "pixels": [int(info.pixels[k]) for k in present],
            "area_km2": [float(info.areas[k]) * km2 for k in present],
            "weight": [float(info.areas[k]) / total for k in present],
            "anticipated_ua": [ua[k] for k in present],
            "points": [int(n_h[k]) for k in present],
        }
    )
    from .. import __version__

    design = {
        "method": "stratified random sample, strata = map classes "
        "(Olofsson et al. 2014, Remote Sensing of Environment 148:42-57)",
        "map": str(info.path),
        "crs": info.crs.to_string(),
        "shape": [height, width],
        "transform": list(t)[:6],
        "n": int(n_h.sum()),
        "allocation": allocation,
        "min_per_class": min_per_class,
        "anticipated_ua": {label_of(k): ua[k] for k in present} if allocation == "neyman" else None,
        "seed": seed,
        "strata": table.to_dict(orient="records"),
        "lczmap": __version__,
    }
    with output_fileset(out, overwrite) as fileset, writing(out, tmp=fileset.main):
        _write_gpkg(fileset.main, points, table, design)
        fileset.extra(kml, lambda tmp: _write_kml(tmp, points))
    log.info("drew %d points from %s into %s and %s", len(points), info.path, out, kml)
    return SampleDesign(points, table, design, {"sample": out, "kml": kml})


def _write_gpkg(tmp: Path, points: gpd.GeoDataFrame, table: pd.DataFrame, design: dict[str, Any]) -> None:
    import pyogrio

    meta = {METADATA_KEY: json.dumps(design, default=_plain)}
    pyogrio.write_dataframe(points, tmp, layer=SAMPLE_LAYER, driver="GPKG", dataset_metadata=meta)
    pyogrio.write_dataframe(table, tmp, layer=STRATA_LAYER, driver="GPKG")
    got = pyogrio.read_info(tmp, layer=SAMPLE_LAYER, force_feature_count=True)
    strata = pyogrio.read_info(tmp, layer=STRATA_LAYER, force_feature_count=True)
    if int(got["features"]) != len(points) or int(strata["features"]) != len(table):
        raise OutputError(f"writing the sample GeoPackage failed ({got['features']} of {len(points)} points read back)")


def _write_kml(tmp: Path, points: gpd.GeoDataFrame) -> None:
    """The points in WGS84 as KML: placemarks named P0001 ..., the fields as extended data."""
    import pyogrio

    frame = points.drop(columns=["row", "col"]).to_crs("EPSG:4326")
    pyogrio.write_dataframe(frame, tmp, layer=SAMPLE_LAYER, driver="KML")
    got = pyogrio.read_info(tmp, force_feature_count=True)
    if int(got["features"]) != len(points):
        raise OutputError(f"writing the sample KML failed ({got['features']} of {len(points)} points read back)")


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value) if math.isfinite(value) else None
    raise TypeError(f"not JSON: {type(value).__name__}")
