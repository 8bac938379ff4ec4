"""The verb: :func:`detect_change` reads a time series of class-probability rasters on one grid
window by window, runs the per-pixel hidden Markov model (:mod:`lczmap.change.hmm`: Viterbi for
the consistent maps, forward-backward for the probability of any change) and writes, into one
folder, a styled LCZ map per date, the change layer (styled from-to), the probability of change
and the transition table with areas."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._io import atomic_path, check_outputs, check_utf8
from ..classes import lcz
from ..errors import ConfigError, OutputError
from ..predict.runner import Progress
from .hmm import emissions_from, forward_backward, transition_matrix, viterbi
from .inputs import ProbabilityStack, open_stack
from .options import ChangeOptions
from .style import CHANGE_BANDS, CHANGE_NODATA, NO_CHANGE, change_qml

__all__ = ["detect_change", "ChangeResult", "TABLE_FIELDS", "check_stay", "pixel_areas"]

log = logging.getLogger(__name__)

#: Columns of ``transitions.csv``: one row per (from, to, date of the first change); unchanged
#: pixels are the rows whose from equals to and whose date is empty.
TABLE_FIELDS = (
    "from_code",
    "from_class",
    "to_code",
    "to_class",
    "date_index",
    "date",
    "pixels",
    "area_m2",
    "area_km2",
)
_CHUNK = 8192  # pixels the HMM handles at once: (N, K, K) float64 scores, 19 MB at K = 17
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class ChangeResult:
    """What :func:`detect_change` wrote: ``maps`` (one LCZ COG per date, in order), ``change``
    (the change layer, with ``change.qml``), ``probability`` (of any change), ``table`` (CSV),
    the ``dates`` labels, the grid ``shape``, the ``pixels`` with data, how many ``changed``,
    the ``area_m2`` mapped and ``seconds``."""

    maps: tuple[Path, ...]
    change: Path
    probability: Path
    table: Path
    dates: tuple[str, ...]
    shape: tuple[int, int]
    pixels: int
    changed: int
    area_m2: float
    seconds: float


def _labels(paths: Sequence[Path], dates: Sequence[str] | None) -> tuple[str, ...]:
    if dates is None:
        labels = tuple(p.stem for p in paths)
        if len(set(labels)) != len(labels):
            labels = tuple(f"{i + 1:02d}" for i in range(len(paths)))
        return tuple(re.sub(r"[^A-Za-z0-9_.-]", "_", s)[:64] or f"{i + 1:02d}" for i, s in enumerate(labels))
    labels = tuple(str(d).strip() for d in dates)
    if len(labels) != len(paths):
        raise ConfigError(f"{len(labels)} dates for {len(paths)} rasters (--dates): give one label per raster, in order")
    bad = [s for s in labels if not _LABEL.match(s)]
    if bad:
        raise ConfigError(f"date label {bad[0]!r} cannot name a file (--dates): use letters, digits, '-', '_' or '.', e.g. 2019")
    if len(set(labels)) != len(labels):
        raise ConfigError("date labels repeat (--dates): give each date its own label")
    return labels


def check_stay(codes: Sequence[int], opts: ChangeOptions) -> None:
    """Refuse a transition prior under which staying is no likelier than some single change: the
    smoothing would then favour change (with K classes, ``stay`` must exceed about 1 / K)."""
    a = transition_matrix(codes, opts.stay, opts.built_to_natural)
    move = float((a - np.diag(np.diag(a))).max())
    if opts.stay <= move:
        raise ConfigError(
            f"stay {opts.stay:g} (--stay) is no likelier than one change with these {len(codes)} classes "
            f"({move:.3g}, built_to_natural {opts.built_to_natural:g}): give a stay above {move:.3g}"
        )


def pixel_areas(crs_wkt: str, transform: Sequence[float], rows: np.ndarray) -> np.ndarray:
    """Area in m^2 of one pixel in each of ``rows`` (a projected grid: the same everywhere; a
    geographic one: on the WGS84 ellipsoid, by latitude)."""
    from rasterio.crs import CRS

    a, b, c, d, e, f = transform[:6]
    crs = CRS.from_wkt(crs_wkt)
    if not crs.is_geographic:
        factor = crs.linear_units_factor[1] if crs.linear_units else 1.0
        return np.full(len(rows), abs(a * e - b * d) * factor * factor)
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    out = np.empty(len(rows))
    for i, r in enumerate(rows):
        x0, y0 = c + b * r, f + e * r
        lons = [x0, x0 + a, x0 + a + b, x0 + b]
        lats = [y0, y0 + d, y0 + d + e, y0 + e]
        out[i] = abs(geod.polygon_area_perimeter(lons, lats)[0])
    return out


def _windows(shape: tuple[int, int], block: int) -> Iterator[tuple[int, int, int, int]]:
    h, w = shape
    for i0 in range(0, h, block):
        for j0 in range(0, w, block):
            yield i0, min(h, i0 + block), j0, min(w, j0 + block)


def smooth_window(probs: np.ndarray, codes: Sequence[int], opts: ChangeOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One window's series (T, N, K) -> (the consistent LCZ codes (T, N) uint8, 0 where no date
    has data; the probability of any change (N,) float32, NaN there; valid (N,) bool)."""
    t_n, n, k = probs.shape
    lut = np.asarray(codes, np.uint8)
    a = transition_matrix(codes, opts.stay, opts.built_to_natural)
    valid = ~np.isnan(probs).any(axis=2).all(axis=0)
    out = np.zeros((t_n, n), np.uint8)
    p_change = np.full(n, np.nan, np.float32)
    idx = np.flatnonzero(valid)
    for s in range(0, len(idx), _CHUNK):
        sel = idx[s : s + _CHUNK]
        e = emissions_from(probs[:, sel], opts.floor)
        out[:, sel] = lut[viterbi(e, a)]
        p_change[sel] = forward_backward(e, a).p_change
    return out, p_change, valid


def change_bands(seq: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The change layer (5, N) uint16 (:data:`~lczmap.change.style.CHANGE_BANDS`) from the
    consistent codes (T, N)."""
    seq = seq.astype(np.uint16)
    steps = seq[1:] != seq[:-1]
    n_changes = steps.sum(axis=0).astype(np.uint16)
    first = np.where(n_changes > 0, steps.argmax(axis=0) + 2, 0).astype(np.uint16)
    transition = np.where(n_changes > 0, seq[0] * 100 + seq[-1], NO_CHANGE).astype(np.uint16)
    bands = np.stack([transition, seq[0], seq[-1], first, n_changes])
    bands[:, ~valid] = CHANGE_NODATA
    return bands


def detect_change(
    probabilities: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    dates: Sequence[str] | None = None,
    options: ChangeOptions | None = None,
    progress: Progress | None = None,
    **overrides: Any,
) -> ChangeResult:
    """Temporally consistent LCZ maps and what changed, from class-probability rasters.

    ``probabilities``: one raster per date, in time order, as ``predict --probabilities`` and
    ``mosaic --probabilities`` write them, all on one grid. ``out_dir`` (created if missing, its
    parent must exist) receives ``lcz_<date>.tif`` (one styled LCZ COG per date: the Viterbi
    sequence), ``change.tif`` (uint16 bands ``transition``, ``from``, ``to``, ``date``,
    ``changes``, styled by ``change.qml``), ``change_probability.tif`` (float32: the posterior
    probability that the class changed at least once, from forward-backward) and
    ``transitions.csv`` (pixels and area of each from -> to and date of change; unchanged pixels
    too, so the areas sum to the mapped area). ``dates``: labels of the dates (default: the file
    names), used in names and the table. ``options``: :class:`~lczmap.change.ChangeOptions`, or
    its fields as keywords. Everything is computed window by window into hidden files in
    ``out_dir`` and renamed into place at the end; bad input is one-line
    :class:`~lczmap.errors.ConfigError` before anything is written.
    """
    t_start = time.perf_counter()
    opts = options or ChangeOptions()
    if not isinstance(opts, ChangeOptions):
        raise ConfigError(f"options must be a ChangeOptions, got {type(opts).__name__}")
    if overrides:
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(ChangeOptions)})
        if unknown:
            raise TypeError(f"unknown change option(s) {', '.join(unknown)}: see lczmap.change.ChangeOptions")
        opts = dataclasses.replace(opts, **overrides)
    if isinstance(probabilities, (str, os.PathLike)):
        probabilities = [probabilities]
    stack = open_stack(list(probabilities))
    labels = _labels(stack.paths, dates)
    check_stay(stack.codes, opts)
    out = Path(out_dir)
    check_utf8(out, "output folder")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file: give a folder for the change outputs (-o)")
    if not out.parent.is_dir():
        raise OutputError(f"the folder of {out} does not exist: create it first")
    out.mkdir(exist_ok=True)
    maps = tuple(out / f"lcz_{label}.tif" for label in labels)
    change_p, prob_p, table_p = out / "change.tif", out / "change_probability.tif", out / "transitions.csv"
    check_outputs([*maps, change_p, prob_p, table_p], stack.paths, opts.overwrite)

    stage = Path(tempfile.mkdtemp(prefix=".change.", suffix=".stage", dir=out))
    try:
        counts, n_valid, n_changed, area = _compute(stack, labels, opts, stage, progress)
        _publish(stack, labels, opts, stage, maps, change_p, prob_p, counts)
        _write_table(table_p, counts, labels, opts.overwrite)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    seconds = time.perf_counter() - t_start
    log.info("change over %d dates: %d of %d pixels changed, %.1f s -> %s", len(labels), n_changed, n_valid, seconds, out)
    return ChangeResult(maps, change_p, prob_p, table_p, labels, stack.shape, n_valid, n_changed, area, seconds)


def _tags(stack: ProbabilityStack, labels: Sequence[str], opts: ChangeOptions) -> dict[str, str]:
    return {
        "lczmap_version": __version__,
        "method": "hidden Markov model per pixel: Viterbi sequence; forward-backward probability of change",
        "dates": ",".join(labels),
        "inputs": ", ".join(p.name for p in stack.paths),
        "stay": f"{opts.stay:g}",
        "built_to_natural": f"{opts.built_to_natural:g}",
        "floor": f"{opts.floor:g}",
    }


def _compute(
    stack: ProbabilityStack, labels: Sequence[str], opts: ChangeOptions, stage: Path, progress: Progress | None
) -> tuple[dict[tuple[int, int, int], list[float]], int, int, float]:
    """Smooth every window into the staged rasters; the table's (pixels, area) per (from, to, date)."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    from .. import raster

    h, w = stack.shape
    transform = Affine(*stack.transform)
    tags = _tags(stack, labels, opts)
    t_n = len(labels)
    counts: dict[tuple[int, int, int], list[float]] = {}
    n_valid = n_changed = 0
    area = 0.0
    wins = list(_windows(stack.shape, opts.block))
    bar = progress(total=len(wins), desc="change") if progress else None
    try:
        with contextlib.ExitStack() as files:
            lcz_ds = [
                files.enter_context(raster.create_lcz(stage / f"lcz_{i}.tif", h, w, transform, stack.crs, tags))
                for i in range(t_n)
            ]
            prob_ds = files.enter_context(
                raster.create_float(stage / "probability.tif", 1, h, w, transform, stack.crs, ["probability of change"], tags)
            )
            profile = raster.lcz_profile(h, w, transform, stack.crs)
            profile.update(dtype="uint16", count=len(CHANGE_BANDS), nodata=CHANGE_NODATA)
            change_ds = files.enter_context(rasterio.open(stage / "change.tif", "w", **profile))
            for b, name in enumerate(CHANGE_BANDS, start=1):
                change_ds.set_band_description(b, name)
            change_ds.update_tags(**tags)
            for i0, i1, j0, j1 in wins:
                wh, ww = i1 - i0, j1 - j0
                win = Window(j0, i0, ww, wh)
                seq, p_change, valid = smooth_window(stack.read(i0, i1, j0, j1), stack.codes, opts)
                for t, ds in enumerate(lcz_ds):
                    ds.write(seq[t].reshape(1, wh, ww), window=win)
                prob_ds.write(p_change.reshape(1, wh, ww), window=win)
                bands = change_bands(seq, valid)
                change_ds.write(bands.reshape(len(CHANGE_BANDS), wh, ww), window=win)
                px_area = np.repeat(pixel_areas(stack.crs, stack.transform, np.arange(i0, i1) + 0.5), ww)
                key = (bands[1].astype(np.int64) * 18 + bands[2]) * (t_n + 1) + bands[3]
                key, a_ = key[valid], px_area[valid]
                n_valid += int(valid.sum())
                n_changed += int((bands[4][valid] > 0).sum())
                area += float(a_.sum())
                uniq, inv = np.unique(key, return_inverse=True)
                pix = np.bincount(inv, minlength=len(uniq))
                ar = np.bincount(inv, weights=a_, minlength=len(uniq))
                for u, p, s in zip(uniq.tolist(), pix.tolist(), ar.tolist()):
                    k = (u // (t_n + 1) // 18, u // (t_n + 1) % 18, u % (t_n + 1))
                    c = counts.setdefault(k, [0.0, 0.0])
                    c[0] += p
                    c[1] += s
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return counts, n_valid, n_changed, area


def _publish(
    stack: ProbabilityStack,
    labels: Sequence[str],
    opts: ChangeOptions,
    stage: Path,
    maps: Sequence[Path],
    change_p: Path,
    prob_p: Path,
    counts: dict[tuple[int, int, int], list[float]],
) -> None:
    """The staged rasters as COGs (each written beside its target and renamed into place)."""
    import rasterio
    import rasterio.shutil

    from .. import raster

    for i, target in enumerate(maps):
        raster.publish_cog(stage / f"lcz_{i}.tif", target, overwrite=opts.overwrite, kind="lcz")
    raster.publish_cog(stage / "probability.tif", prob_p, overwrite=opts.overwrite, kind="float")
    h, w = stack.shape

    def verify(tmp: Path) -> None:
        raster.verify_raster(tmp, len(CHANGE_BANDS), h, w)

    with atomic_path(change_p, overwrite=opts.overwrite, suffix=".tif", verify=verify) as tmp:
        with rasterio.Env(GDAL_PAM_ENABLED="NO"):
            rasterio.shutil.copy(
                stage / "change.tif", tmp, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=512, OVERVIEW_RESAMPLING="NEAREST"
            )
    values = {f * 100 + t for (f, t, d) in counts if d > 0}
    with atomic_path(change_p.with_suffix(".qml"), overwrite=True) as tmp:
        tmp.write_text(change_qml(values), encoding="utf-8")
    log.info("wrote %s", change_p)


def _write_table(path: Path, counts: dict[tuple[int, int, int], list[float]], labels: Sequence[str], overwrite: bool) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(TABLE_FIELDS)
    for (f, t, d), (pixels, area) in sorted(counts.items()):
        writer.writerow(
            [
                f,
                lcz(f).title,
                t,
                lcz(t).title,
                d if d else "",
                labels[d - 1] if d else "",
                int(pixels),
                f"{area:.1f}",
                f"{area / 1e6:.6f}",
            ]
        )
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
