"""A twin city over several years, with real change in its truth, and several acquisitions a year.

:func:`write_years` writes ``years`` x ``per_year`` Sentinel-1-like GRD scenes of the twin city of
``seed`` (its radar calibration and class models: the city :func:`~lczmap.twin.write_scene` and
:func:`~lczmap.twin.write_acquisitions` render for that seed) and one ground-truth LCZ map a year.
The first year's truth is the city's (:func:`~lczmap.twin.scene.land_map`); change is injected
into the later years' truth (:func:`plan_changes`), in blobs of 100 m cells, each in one year and
kept from then on:

- ``development``: low plants (LCZ D) built over as open low-rise (6);
- ``densification``: open low-rise or sparsely built (6, 9) rebuilt as compact mid-rise (2);
- ``demolition``: built land (2, 3, 5, 6, 8, 10) cleared to bare soil (F);
- ``reservoir``: natural land (B, C, D, F) flooded (G).

Within a year the acquisitions are those of :func:`~lczmap.twin.plan_acquisitions` (cycling
through two ascending and two descending relative orbits, 12 days apart, each its own speckle and
its own date radiometry), moved into their year, all on one footprint (no offsets), so that every
year's mosaic lies on one grid: the truth's 100 m grid. Unchanged pixels render the same
buildings and fields every year (the twin's materials are a function of the world pixel), so the
only differences between the years' scenes over them are speckle and the date's radiometry.

This module adds to the twin without changing it: the acquisitions' own window renderer (the
same materials and noise) over each year's truth, the first year's truth is the city's, and
nothing of :mod:`~lczmap.twin.acquisitions` is altered: the first year's scenes are those
:func:`~lczmap.twin.write_acquisitions` writes of the city on one footprint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._io import atomic_path, check_output
from ..classes import NODATA
from ..errors import ConfigError
from .acquisitions import Acquisition, plan_acquisitions, render_window
from .cities import make_cities
from .noise import MASK64, stream_key
from .scene import check_scene_options, check_scene_room, describe_file, file_specs, land_map, scene_band, scene_bytes, valid_mask

__all__ = ["CHANGE_KINDS", "Change", "YearsSet", "plan_changes", "yearly_land", "write_years", "FIRST_YEAR"]

#: The first year of :func:`write_years`'s series.
FIRST_YEAR = 2019
#: The kinds of change injected: kind -> (LCZ codes it happens on, LCZ code it leaves).
CHANGE_KINDS: dict[str, tuple[tuple[int, ...], int]] = {
    "development": ((14,), 6),
    "densification": ((6, 9), 2),
    "demolition": ((2, 3, 5, 6, 8, 10), 16),
    "reservoir": ((12, 13, 14, 16), 17),
}
_REGIONS = {"development": 3, "densification": 2, "demolition": 2, "reservoir": 1}


@dataclass(frozen=True)
class Change:
    """One injected change: its ``kind``, the ``year`` index (0-based: the first year whose truth
    shows it), the LCZ code it leaves (``to``) and its 100 m ``cells`` ((row, column) pairs)."""

    kind: str
    year: int
    to: int
    cells: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class YearsSet:
    """What :func:`write_years` wrote: the ``years`` (labels), the ``scenes`` of each year, each
    year's ``truths`` (uint8 LCZ at 100 m), ``change_truth`` (uint8: the 1-based index of the year
    a cell changed, 0 where it did not, NODATA outside every swath is 0 too), ``changes`` (JSON)
    and the :class:`Change` list."""

    years: tuple[int, ...]
    scenes: tuple[tuple[Path, ...], ...]
    truths: tuple[Path, ...]
    change_truth: Path
    changes_json: Path
    changes: tuple[Change, ...]


def plan_changes(land: np.ndarray, years: int, seed: int) -> list[Change]:
    """Blobs of change (about 10-25 cells each, radius 2-3 cells) on the first year's ``land``
    (label indices 0-16, as :func:`land_map`), in years 1 .. ``years`` - 1 spread evenly, never
    overlapping; a kind whose land the city lacks is left out."""
    rng = np.random.default_rng([int(seed) & MASK64, 0xC4A6E])
    rows, cols = land.shape
    codes = land + 1
    taken = np.zeros(land.shape, bool)
    rr, cc = np.mgrid[0:rows, 0:cols]
    out: list[Change] = []
    n = 0
    for kind, (sources, to) in CHANGE_KINDS.items():
        for _ in range(_REGIONS[kind]):
            year = 1 + n % max(years - 1, 1)
            for _attempt in range(60):
                cand = np.isin(codes, sources) & ~taken
                if cand.sum() < 6:
                    break
                k = int(rng.integers(cand.sum()))
                r0, c0 = int(rr[cand][k]), int(cc[cand][k])
                radius = float(rng.uniform(2.0, 3.0))
                blob = ((rr - r0) ** 2 + (cc - c0) ** 2 <= radius**2) & cand
                if blob.sum() >= 6:
                    taken |= blob
                    cells = tuple((int(r), int(c)) for r, c in zip(*np.nonzero(blob)))
                    out.append(Change(kind, year, to, cells))
                    n += 1
                    break
    return out


def yearly_land(land: np.ndarray, changes: Sequence[Change], years: int) -> list[np.ndarray]:
    """Each year's label indices (0-16): the first year's ``land`` with every change of that
    year or before applied."""
    out = []
    for y in range(years):
        cur = land.copy()
        for ch in changes:
            if ch.year <= y:
                r, c = np.array(ch.cells).T
                cur[r, c] = ch.to - 1
        out.append(cur)
    return out


def _year_acquisitions(years: int, per_year: int, seed: int, size: tuple[int, int]) -> list[list[Acquisition]]:
    plan = plan_acquisitions(years * per_year, seed, size, (0, 0), [(0, 0)] * (years * per_year))
    out = []
    for y in range(years):
        mine = []
        for acq in plan[y * per_year : (y + 1) * per_year]:
            k = acq.index - y * per_year  # its place within the year: the year's first cycle
            first = plan[k].start
            start = first.replace(year=FIRST_YEAR + y)
            pid = acq.product_id.replace(f"{acq.start:%Y%m%dT%H%M%S}", f"{start:%Y%m%dT%H%M%S}")
            stop = acq.start + (start - acq.start)
            pid = pid.replace(f"{acq.start:%Y%m%d}", f"{stop:%Y%m%d}")
            mine.append(dataclasses.replace(acq, start=start, product_id=pid))
        out.append(mine)
    return out


def write_years(
    out_dir: str | os.PathLike,
    years: int = 6,
    per_year: int = 3,
    size: tuple[int, int] = (400, 400),
    seed: int = 0,
    overwrite: bool = False,
    progress: Callable | None = None,
    block: int = 512,
) -> YearsSet:
    """Write the city of ``seed`` over ``years`` years (5 or more is the point; 2 at least) with
    ``per_year`` GRD acquisitions a year (sigma0 VV, VH, linear) of ``size`` 10 m pixels (whole
    100 m cells) into ``out_dir``: ``<year>/acqNN_<date>_<pass><orbit>.tif``, ``truth_<year>.tif``,
    ``truth_change.tif`` and ``changes.json`` (see the module docstring). Each file atomically."""
    import rasterio
    from rasterio.transform import Affine
    from rasterio.windows import Window

    from ..raster import LCZ_COLORMAP

    rows, cols = (int(v) for v in size)
    if int(years) < 2:
        raise ConfigError(f"years must be at least 2, not {years}")
    if int(per_year) < 1:
        raise ConfigError(f"per_year must be at least 1, not {per_year}")
    if rows % 10 or cols % 10:
        raise ConfigError(f"size {size!r} must be whole 100 m cells (multiples of 10 pixels)")
    check_scene_options((rows, cols), "grd", "linear")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {out} ({exc.strerror}): choose a writable folder") from None
    check_scene_room(out, int(years) * int(per_year) * scene_bytes((rows, cols), "grd", "linear"))
    labels = tuple(FIRST_YEAR + y for y in range(int(years)))
    plan = _year_acquisitions(int(years), int(per_year), int(seed), (rows, cols))
    specs = [
        [file_specs(out / str(labels[y]) / a.file_name(), "grd", "linear", int(seed))[0] for a in acqs]
        for y, acqs in enumerate(plan)
    ]
    truths = tuple(out / f"truth_{label}.tif" for label in labels)
    change_truth, changes_json = out / "truth_change.tif", out / "changes.json"
    for y in range(int(years)):
        (out / str(labels[y])).mkdir(exist_ok=True)
    for p in [s.path for ss in specs for s in ss] + [*truths, change_truth, changes_json]:
        check_output(p, overwrite)

    land0 = land_map(rows // 10, cols // 10, int(seed))
    changes = plan_changes(land0, int(years), int(seed))
    lands = yearly_land(land0, changes, int(years))
    border = max(1, int(round(0.03 * min(rows, cols))))
    city = make_cities(1, int(seed), "scene", stream=99)[0]
    key = int(stream_key(int(seed) & MASK64, 0x5CE4E))
    x0, y0 = 380000.0, 5830000.0
    crs = rasterio.crs.CRS.from_epsg(32633)
    tile = 512 if min(rows, cols) >= 512 else 256 if min(rows, cols) >= 256 else None
    blocks = [(r0, c0) for r0 in range(0, rows, block) for c0 in range(0, cols, block)]
    bar = progress(total=len(blocks) * int(years) * int(per_year), desc="years") if progress else None
    try:
        for y, acqs in enumerate(plan):
            for acq, spec in zip(acqs, specs[y]):
                profile = {
                    "driver": "GTiff",
                    "width": cols,
                    "height": rows,
                    "crs": crs,
                    "transform": Affine(10.0, 0.0, x0, 0.0, -10.0, y0),
                    "interleave": "band",
                    "count": len(spec.layers),
                    "dtype": spec.dtype,
                    "nodata": spec.nodata,
                }
                if tile:
                    profile.update(tiled=True, blockxsize=tile, blockysize=tile)
                with contextlib.ExitStack() as stack:
                    tmp = stack.enter_context(atomic_path(spec.path, overwrite=overwrite, suffix=".tif"))
                    dst = stack.enter_context(rasterio.open(tmp, "w", **profile))
                    describe_file(dst, spec, seed)
                    dst.update_tags(**acq.tags(), YEAR=str(labels[y]))
                    for r0, c0 in blocks:
                        h, w = min(block, rows - r0), min(block, cols - c0)
                        layers = render_window(acq, r0, c0, h, w, lands[y], (rows, cols), border, city, key)
                        for b, name in enumerate(spec.layers, start=1):
                            dst.write(scene_band(layers, name, "grd", "linear", spec.nodata), b, window=Window(c0, r0, w, h))
                        if bar is not None:
                            bar.update(1)
        seen = _seen(plan, (rows, cols), border)
        truth_profile = {
            "driver": "GTiff",
            "width": cols // 10,
            "height": rows // 10,
            "count": 1,
            "dtype": "uint8",
            "crs": crs,
            "transform": Affine(100.0, 0.0, x0, 0.0, -100.0, y0),
            "nodata": NODATA,
            "compress": "deflate",
        }
        for y, path in enumerate(truths):
            _write_codes(
                path,
                np.where(seen, lands[y] + 1, NODATA).astype(np.uint8),
                truth_profile,
                overwrite,
                LCZ_COLORMAP,
                {"YEAR": str(labels[y]), "SEED": str(seed)},
            )
        when = np.zeros(land0.shape, np.uint8)
        for ch in changes:
            r, c = np.array(ch.cells).T
            when[r, c] = ch.year + 1
        _write_codes(
            change_truth,
            np.where(seen, when, 0).astype(np.uint8),
            {**truth_profile, "nodata": None},
            overwrite,
            None,
            {"UNITS": "1-based index of the year a cell changed, 0 = no change", "YEARS": ",".join(map(str, labels))},
        )
        doc = {
            "seed": int(seed),
            "years": list(labels),
            "per_year": int(per_year),
            "changes": [
                {
                    "kind": ch.kind,
                    "year": labels[ch.year],
                    "year_index": ch.year + 1,
                    "to": ch.to,
                    "cells": [list(v) for v in ch.cells],
                }
                for ch in changes
            ],
        }
        with atomic_path(changes_json, overwrite=overwrite) as tmp:
            tmp.write_text(json.dumps(doc, indent=1))
    finally:
        if bar is not None:
            bar.close()
    return YearsSet(labels, tuple(tuple(s.path for s in ss) for ss in specs), truths, change_truth, changes_json, tuple(changes))


def _seen(plan: Sequence[Sequence[Acquisition]], size: tuple[int, int], border: int) -> np.ndarray:
    """Cells whose centre every year sees (some acquisition of the year covers it)."""
    rows, cols = size
    ti = np.arange(rows // 10)[:, None] * 10 + 5
    tj = np.arange(cols // 10)[None, :] * 10 + 5
    ti, tj = np.broadcast_arrays(ti, tj)
    every = np.ones(ti.shape, bool)
    for acqs in plan:
        year = np.zeros(ti.shape, bool)
        for acq in acqs:
            cc = tj if acq.pass_ == "ascending" else cols - 1 - tj
            year |= valid_mask(ti, cc, rows, cols, border)
        every &= year
    return every


def _write_codes(path: Path, data: np.ndarray, profile: dict, overwrite: bool, colormap: dict | None, tags: dict) -> None:
    import rasterio

    with atomic_path(path, overwrite=overwrite, suffix=".tif") as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data, 1)
            dst.update_tags(**tags)
            if colormap is not None:
                dst.set_band_description(1, "LCZ")
                dst.write_colormap(1, colormap)
