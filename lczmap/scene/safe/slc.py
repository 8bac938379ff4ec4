"""Sentinel-1 IW SLC products in ESA's SAFE format (a ``.SAFE`` folder or its ``.zip``) as a
:class:`~lczmap.scene.Scene` of complex sigma0, the way So2Sat's ``sen1`` was made (SNAP:
Calibration to complex sigma0 -> TOPSAR-Deburst -> Refined Lee 7 x 7 -> Range-Doppler terrain
correction, nearest neighbour), one output window at a time. :func:`~lczmap.scene.safe.open_safe`
sends SLC products here; the manifest (:mod:`.archive`) and geolocation (:mod:`.geolocation`)
helpers are shared with the GRD reader.

1. Calibration (ESA, Sentinel-1 Level-1 product specification; xarray-sentinel's
   ``calibrate_amplitude``): complex sigma0 amplitude ``z = DN / A``, ``DN`` the complex int16
   measurement and ``A`` the sigmaNought LUT, bilinear in (line, pixel) of the measurement TIFF.
   ``|z|^2`` is sigma0. No thermal noise is removed: noise is a power and cannot be taken off a
   complex amplitude without changing its statistics, and So2Sat's chain did not remove it.
2. Deburst, per sub-swath: a continuous line grid at the azimuth time interval from the first
   burst's first line; each line is taken from one burst, the overlap of two bursts being cut at
   the middle of their valid lines (those with ``firstValidSample >= 0``); the burst's line
   nearest in time is used (SNAP's TOPSAR-Deburst fills its output lines the same way). Samples
   outside ``firstValidSample..lastValidSample`` of their line are no data.
3. Sub-swath merge: IW1, IW2 and IW3 overlap in slant range; the overlap is cut at the middle of
   the two sub-swaths' valid samples (in slant-range time). A pixel whose side of the cut has no
   data takes the other sub-swath's, so the merge leaves no gap.
4. Speckle filter, only for models with So2Sat's Lee channels (``s1-all``): the dual-pol
   covariance (``|VH|^2``, ``|VV|^2``, ``VV VH*``) refined-Lee filtered 7 x 7 with one weight from
   its span, single look, on the debursted sub-swath in radar geometry before geocoding, as
   So2Sat's graph did: :func:`lczmap.speckle.refined_lee_c2` (float32), the filter prediction and the twin run.
   The complex channels stay unfiltered.
5. Geocoding: each sub-swath's annotation geolocation grid (latitude, longitude at azimuth and
   slant-range times; the ellipsoid heights of the grid, no DEM) -> UTM zone of the scene centre
   at 10 m; an output pixel's radar coordinates are piecewise linear on the grid's triangles
   (exact every :data:`~lczmap.scene.safe.geolocation.LATTICE_STEP` pixels on a lattice fixed to
   the scene, bilinear in between), and it takes the nearest radar sample: complex values are never interpolated.
   With a DEM (:mod:`.terrain`) the radar coordinates come instead from sarsen's range-Doppler
   backward geocoding of the DEM height of each output pixel with the product's orbit; a
   sub-swath's line is its zero-Doppler time on the debursted grid, its sample
   ``(slant-range time - slantRangeTime) x rangeSamplingRate``.

Per window only the radar lines and samples under it (plus the filter's 3-pixel halo) are read.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

import numpy as np

from ...bands import BandSet
from ...errors import SceneError
from ...speckle import refined_lee_c2
from ..grid import PIXEL_SIZE
from ..scene import Scene, SceneBand
from .archive import FileKind, Location, Manifest, check_measurements, check_polarisations, header, measurement_error
from .geolocation import GeolocationGrid, bilinear, lattice, utm_grid
from .terrain import DemRequest, Orbit, SlcRadar, Terrain, check_cover, read_orbit, seconds, terrain_conversions

if TYPE_CHECKING:
    import fsspec

__all__ = ["open_slc", "SlcReader", "SLC_HALO"]

log = logging.getLogger(__name__)

#: Radar pixels read around a window's for the refined Lee filter (its 7 x 7 window).
SLC_HALO = 3
_COMPLEX = ("complex_real", "complex_imag")
_FILTERED = ("intensity", "covariance_real", "covariance_imag")
_NAN = np.complex64(complex(np.nan, np.nan))


@dataclass(frozen=True)
class _Swath:
    """One debursted sub-swath: its files per polarisation, calibration LUTs, the row table of
    the debursted line grid, the range it claims in the merge, and its geolocation grid."""

    name: str
    measurements: dict[str, str]  # polarisation -> GDAL path
    luts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # polarisation -> (lines, pixels, sigmaNought)
    samples: int
    rows: np.ndarray  # debursted line -> measurement line (-1: no data)
    first: np.ndarray  # debursted line -> first valid sample
    last: np.ndarray  # debursted line -> last valid sample
    claim: tuple[float, float]  # samples [lo, hi) this sub-swath maps in the merge
    grid: GeolocationGrid  # map (x, y) -> (debursted line, sample)


def _ints(value: Any) -> np.ndarray:
    if isinstance(value, dict):
        value = value.get("$", "")
    if isinstance(value, str):
        return np.array(value.split(), dtype=np.int64)
    return np.asarray(value, dtype=np.int64)


def _seconds(t: Any, ref: np.datetime64) -> float:
    return float((np.datetime64(str(t), "ns") - ref) / np.timedelta64(1, "ns")) * 1e-9


def _deburst(timing: dict, interval: float) -> tuple[np.datetime64, np.ndarray, np.ndarray, np.ndarray, int]:
    """The debursted line grid of a sub-swath from its ``swathTiming``: (time of line 0, row
    table, first and last valid sample per line, bursts)."""
    lpb = int(timing["linesPerBurst"])
    bursts = timing["burstList"].get("burst") or []
    if isinstance(bursts, dict):
        bursts = [bursts]
    if not bursts:
        raise ValueError("the annotation lists no bursts")
    ref = np.datetime64(str(bursts[0]["azimuthTime"]), "ns")
    starts = np.array([_seconds(b["azimuthTime"], ref) for b in bursts])
    firsts = [_ints(b["firstValidSample"]) for b in bursts]
    lasts = [_ints(b["lastValidSample"]) for b in bursts]
    valid = [np.flatnonzero(f >= 0) for f in firsts]
    if any(len(v) == 0 or len(f) != lpb for v, f in zip(valid, firsts)):
        raise ValueError("a burst has no valid lines or a valid-sample list of the wrong length")
    begin = starts + np.array([v[0] for v in valid]) * interval
    end = starts + np.array([v[-1] for v in valid]) * interval
    cuts = (end[:-1] + begin[1:]) / 2  # the middle of each overlap
    n = int(round(end[-1] / interval)) + 1
    t = np.arange(n) * interval
    k = np.searchsorted(cuts, t, side="right")
    i = np.rint((t - starts[k]) / interval).astype(np.int64)
    inside = (i >= 0) & (i < lpb)
    ii = np.clip(i, 0, lpb - 1)
    first = np.stack(firsts)[k, ii]
    last = np.stack(lasts)[k, ii]
    ok = inside & (first >= 0)
    rows = np.where(ok, k * lpb + ii, -1)
    return ref, rows, np.where(ok, first, 0), np.where(ok, last, -1), len(bursts)


class SlcReader:
    """Reads windows of the 10 m UTM grid of a SAFE IW SLC product (see the module docstring):
    each sub-swath's ``grid`` maps the output pixels to radar coordinates on the ellipsoid; with a
    DEM, ``terrain`` (:class:`~.terrain.Terrain` and each sub-swath's radar converter, in the
    order of ``swaths``) does instead. Picklable: plain arrays; triangulations are rebuilt where
    they are used."""

    def __init__(
        self,
        swaths: tuple[_Swath, ...],
        transform: tuple[float, ...],
        terrain: tuple[Terrain, tuple[SlcRadar, ...]] | None = None,
    ):
        self.swaths, self.transform, self.terrain = swaths, transform, terrain

    def read_window(
        self, bands: tuple[SceneBand, ...], rlo: int, rhi: int, clo: int, chi: int, out: np.ndarray | None = None
    ) -> np.ndarray:
        """``bands`` on output rows ``rlo:rhi`` and columns ``clo:chi`` (NaN: no data)."""
        h, w = rhi - rlo, chi - clo
        if out is None:
            out = np.empty((len(bands), h, w), dtype=np.float32)
        out.fill(np.nan)
        done = np.zeros((h, w), dtype=bool)
        found = []
        if self.terrain is not None:
            geocoder, radars = self.terrain
            terrain = geocoder.coordinates(rlo, rhi, clo, chi, radars)
        for k, sw in enumerate(self.swaths):
            if self.terrain is None:
                line, sample = lattice(sw.grid, self.transform, rlo, rhi, clo, chi)
            else:  # no DEM height: no data
                line, sample = (np.nan_to_num(v, nan=-1e6) for v in terrain[k])
            d = np.floor(line + 0.5).astype(np.int64)
            p = np.floor(sample + 0.5).astype(np.int64)
            n = len(sw.rows)
            dc = np.clip(d, 0, n - 1)
            has = (d >= 0) & (d < n) & (p >= sw.first[dc]) & (p <= sw.last[dc]) & (sw.rows[dc] >= 0)
            if not has.any():
                continue
            values = self._sample(sw, bands, d, p, has)
            mine = has & (sample >= sw.claim[0]) & (sample < sw.claim[1])
            out[:, mine] = values[:, mine]
            done |= mine
            found.append((has, values))
        for has, values in found:  # the other side of a cut where this side has no data
            fill = has & ~done
            out[:, fill] = values[:, fill]
            done |= fill
        return out

    def _sample(self, sw: _Swath, bands: tuple[SceneBand, ...], d: np.ndarray, p: np.ndarray, has: np.ndarray) -> np.ndarray:
        """The nearest radar sample of each output pixel with data (``has``), per band."""
        filtered = any(b.channel.quantity in _FILTERED for b in bands)
        halo = SLC_HALO if filtered else 0
        d0, d1 = int(d[has].min()), int(d[has].max())
        p0, p1 = int(p[has].min()), int(p[has].max())
        pols = ("VH", "VV") if filtered else tuple(sorted({b.channel.band for b in bands}))
        block = {pol: self._block(sw, pol, d0 - halo, d1 + halo, p0 - halo, p1 + halo) for pol in pols}
        derived: dict[str, np.ndarray] = {}
        if filtered:
            vh, vv, cov = refined_lee_c2(block["VH"], block["VV"], dtype=np.float32)
            derived = {"VH": vh, "VV": vv, "covariance_real": cov.real, "covariance_imag": cov.imag}
        r, c = d[has] - d0, p[has] - p0
        values = np.full((len(bands),) + d.shape, np.nan, dtype=np.float32)
        for i, b in enumerate(bands):
            q = b.channel.quantity
            if q in _COMPLEX:
                z = block[b.channel.band][r + halo, c + halo]
                values[i][has] = z.real if q == "complex_real" else z.imag
            elif q == "intensity":
                values[i][has] = derived[b.channel.band][r, c]
            else:
                values[i][has] = derived[q][r, c]
        return values

    def _block(self, sw: _Swath, pol: str, d0: int, d1: int, p0: int, p1: int) -> np.ndarray:
        """Complex sigma0 (complex64) of debursted lines ``d0..d1`` and samples ``p0..p1`` of the
        sub-swath (inclusive; NaN outside the valid samples and the image)."""
        import rasterio
        from rasterio.windows import Window

        out = np.full((d1 - d0 + 1, p1 - p0 + 1), _NAN, dtype=np.complex64)
        dd = np.arange(max(d0, 0), min(d1, len(sw.rows) - 1) + 1)
        dd = dd[sw.rows[dd] >= 0]
        q0, q1 = max(p0, 0), min(p1, sw.samples - 1)
        if not len(dd) or q0 > q1:
            return out
        lines = sw.rows[dd]
        breaks = np.flatnonzero((np.diff(lines) != 1) | (np.diff(dd) != 1)) + 1
        lut_lines, lut_pixels, sigma = sw.luts[pol]
        cols = np.arange(q0, q1 + 1)
        try:
            with rasterio.open(sw.measurements[pol]) as src:
                for run_d, run_l in zip(np.split(dd, breaks), np.split(lines, breaks)):
                    dn = src.read(1, window=Window(q0, int(run_l[0]), q1 - q0 + 1, len(run_l)))
                    a = bilinear(lut_lines, lut_pixels, sigma, run_l.astype(np.float64), cols.astype(np.float64))
                    z = (dn / a).astype(np.complex64)
                    bad = (cols[None, :] < sw.first[run_d][:, None]) | (cols[None, :] > sw.last[run_d][:, None])
                    z[bad] = _NAN
                    out[run_d[0] - d0 : run_d[-1] - d0 + 1, q0 - p0 : q1 - p0 + 1] = z
        except rasterio.errors.RasterioIOError as exc:  # damaged after the checks at open time
            raise measurement_error(sw.measurements[pol], exc) from None
        return out


def _check_bands(name: str, bs: BandSet, pols: list[str]) -> list[str]:
    """The polarisations the model needs from ``name``; refuses what an SLC cannot supply."""
    quantities = {ch.quantity for ch in bs.channels}
    if not quantities & set(_COMPLEX):
        raise SceneError(
            f"the model expects {', '.join(ch.name for ch in bs.channels)} (band set {bs.name}) but "
            f"{name} is an IW SLC product (single-look complex): map the IW GRD product of the same "
            "acquisition with this model, or use a model trained with --sar-bands vv-complex, "
            "dual-complex or s1-all"
        )
    # the Lee channels come from the dual-pol covariance: they need both polarisations
    dual = quantities & set(_FILTERED)
    wanted = sorted({p for ch in bs.channels for p in (("VH", "VV") if dual or ch.band == "VVVH" else (ch.band,))})
    check_polarisations(name, pols, wanted)
    return wanted


def open_slc(
    loc: Location,
    fs: fsspec.AbstractFileSystem,
    name: str,
    bs: BandSet,
    manifest: Manifest,
    resample: str | None,
    dem: DemRequest | None = None,
    swaths: Sequence[str] | None = None,
) -> Scene:
    """The Scene of an IW SLC product already located and identified by
    :func:`~lczmap.scene.safe.open_safe` (see the module docstring); ``dem``: the DEM to
    terrain-correct with. ``swaths``: the sub-swaths to map (e.g. ``("IW1", "IW2")``); None maps
    every sub-swath the product holds whole (measurement, annotation and calibration of each
    polarisation the model needs): a partial product (test data, burst extracts) maps what it
    holds, the sub-swaths missing from it named in a warning and in the conversions."""
    if resample not in (None, "nearest"):
        raise SceneError(
            f"{name} is an SLC product: its complex values are geocoded by nearest neighbour, as "
            f"So2Sat's were, and never interpolated: drop --resample {resample}"
        )
    pols = list(manifest.polarisations)
    wanted = _check_bands(name, bs, pols)
    files = {(f.kind, f.swath, f.pol): href for href, f in manifest.files.items() if f.pol in wanted}
    listed = sorted({s for _, s, _ in files} | {s.upper() for s in manifest.swaths if s.upper()[-1:].isdigit()})
    lacking = {
        s: [
            f"{kind} {pol}"
            for pol in wanted
            for kind in ("measurement", "annotation", "calibration")
            if (kind, s, pol) not in files or not fs.exists(loc.fs_path(files[(kind, s, pol)]))
        ]
        for s in listed
    }
    held = [s for s in listed if not lacking[s]]
    if swaths is not None:
        asked = [s.upper() for s in swaths]
        unknown = [s for s in asked if s not in listed]
        if unknown:
            raise SceneError(
                f"--swaths {','.join(swaths)}: {name} has no {', '.join(unknown)} (its manifest lists "
                f"{', '.join(listed) or 'no sub-swath'}): choose among them"
            )
        short = [f"{f.split()[0]} {s} {f.split()[1]}" for s in asked for f in lacking[s]]
        if short:
            raise SceneError(
                f"--swaths {','.join(swaths)}: {name} lacks files of {', '.join(s for s in asked if lacking[s])} "
                f"({', '.join(short)}): choose among the sub-swaths it holds whole "
                f"({', '.join(held) or 'none'}), or download the complete product again"
            )
        chosen = [s for s in listed if s in asked]
    elif not held:
        missing = [f"{f.split()[0]} {s} {f.split()[1]}" for s in listed for f in lacking[s]]
        raise SceneError(
            f"{name} lacks files of every sub-swath ({', '.join(missing) or 'no annotation'}): download "
            "the complete product again"
        )
    else:
        chosen = held
    left = [s for s in listed if s not in chosen]
    partial = [s for s in left if lacking[s]]
    parts = [f"sub-swaths: {', '.join(chosen)} mapped"]
    if swaths is not None and len(left) > len(partial):
        parts.append(f"{', '.join(s for s in left if s not in partial)} left out (--swaths)")
    if partial:
        parts.append(
            f"{', '.join(partial)} missing from the product (listed in its manifest: "
            + "; ".join(f"{s} lacks {', '.join(lacking[s])}" for s in partial)
            + ")"
        )
        if swaths is None:
            log.warning(
                "%s holds %s of the sub-swaths its manifest lists (%s): mapping %s only (--swaths to choose)",
                name,
                ", ".join(held),
                ", ".join(listed),
                ", ".join(chosen),
            )
    note = "; ".join(parts) if left else None
    swaths = chosen
    try:
        built = [_swath(loc, fs, s, wanted, files) for s in swaths]
    except (ValueError, KeyError, TypeError, IndexError, ElementTree.ParseError) as exc:
        raise SceneError(
            f"{name}: cannot read its annotation ({type(exc).__name__}: {exc}): give an unchanged Sentinel-1 SAFE product"
        ) from None
    check_measurements(
        [(path, s["lines"], s["samples"]) for s in built for path in s["measurements"].values()], ("complex_int16",)
    )
    orbit = None
    if dem is not None:
        with fs.open(loc.fs_path(files[("annotation", swaths[0], wanted[0])])) as f:
            orbit = read_orbit(f.read(), name)
    return _scene(loc, name, bs, manifest, wanted, built, dem, orbit, note)


def _swath(
    loc: Location, fs: fsspec.AbstractFileSystem, swath: str, pols: list[str], files: dict[tuple[FileKind, str, str], str]
) -> dict[str, Any]:
    """What the annotation and calibration of one sub-swath say (geometry from the first polarisation)."""
    import xarray_sentinel
    from xarray_sentinel import esa_safe

    with fs.open(loc.fs_path(files[("annotation", swath, pols[0])])) as f:
        text = f.read()
    # xarray-sentinel's annotations say TextIO; ElementTree.parse, which reads them, takes bytes too
    image = esa_safe.parse_tag(io.BytesIO(text), "//imageInformation")  # type: ignore[arg-type]
    product = esa_safe.parse_tag(io.BytesIO(text), "//productInformation")  # type: ignore[arg-type]
    timing = esa_safe.parse_tag(io.BytesIO(text), "//swathTiming")  # type: ignore[arg-type]
    gcp = xarray_sentinel.sentinel1.open_gcp_dataset(io.BytesIO(text))  # type: ignore[arg-type]
    interval = float(image["azimuthTimeInterval"])
    ref, rows, first, last, bursts = _deburst(timing, interval)
    luts = {}
    for pol in pols:
        cal = xarray_sentinel.open_sentinel1_dataset(loc.root, fs=fs, group=f"{swath}/{pol}/calibration")
        luts[pol] = (
            cal.line.values.astype(np.float64),
            cal.pixel.values.astype(np.float64),
            cal.sigmaNought.values.astype(np.float64),
        )
    t = (gcp.azimuth_time.values - ref) / np.timedelta64(1, "ns") * 1e-9 / interval
    lat, lon = gcp.latitude.values, gcp.longitude.values
    return {
        "name": swath,
        "measurements": {p: loc.gdal(files[("measurement", swath, p)]) for p in pols},
        "luts": luts,
        "samples": int(image["numberOfSamples"]),
        "lines": int(image["numberOfLines"]),
        "rows": rows,
        "first": first,
        "last": last,
        "bursts": bursts,
        "range_time": float(image["slantRangeTime"]),
        "rate": float(product["rangeSamplingRate"]),
        "first_time": ref,
        "interval": interval,
        "lat": lat,
        "lon": lon,
        "line": np.broadcast_to(t[:, None], lat.shape),
        "pixel": np.broadcast_to(gcp.pixel.values[None, :].astype(np.float64), lat.shape),
    }


def _claims(built: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """Samples [lo, hi) each sub-swath maps: sub-swaths in slant-range order, each overlap cut at
    the middle of the two sub-swaths' valid samples."""
    order = sorted(range(len(built)), key=lambda i: built[i]["range_time"])
    claims = [(-math.inf, math.inf)] * len(built)
    for a, b in zip(order[:-1], order[1:]):
        sa, sb = built[a], built[b]
        end = sa["range_time"] + float(sa["last"][sa["rows"] >= 0].max()) / sa["rate"]
        start = sb["range_time"] + float(sb["first"][sb["rows"] >= 0].min()) / sb["rate"]
        cut = (end + start) / 2
        claims[a] = (claims[a][0], (cut - sa["range_time"]) * sa["rate"])
        claims[b] = ((cut - sb["range_time"]) * sb["rate"], claims[b][1])
    return claims


def _scene(
    loc: Location,
    name: str,
    bs: BandSet,
    manifest: Manifest,
    wanted: list[str],
    built: list[dict[str, Any]],
    dem: DemRequest | None = None,
    orbit: Orbit | None = None,
    note: str | None = None,
) -> Scene:
    first, last = built[0], built[-1]  # corners: near range of the first sub-swath, far range of the last
    corners = [(s["lon"][i, j], s["lat"][i, j]) for s, j in ((first, 0), (last, -1)) for i in (0, -1)]
    oks = [np.isfinite(s["lat"]) & np.isfinite(s["lon"]) for s in built]
    grid, points = utm_grid(corners, [np.stack([s["lon"][ok], s["lat"][ok]], axis=1) for s, ok in zip(built, oks)])
    crs, transform = grid.crs, grid.transform
    swaths = []
    for s, ok, xy, claim in zip(built, oks, points, _claims(built)):
        geolocation = GeolocationGrid(xy, np.stack([s["line"][ok], s["pixel"][ok]], axis=1))
        swaths.append(
            _Swath(s["name"], s["measurements"], s["luts"], s["samples"], s["rows"], s["first"], s["last"], claim, geolocation)
        )
    names = ", ".join(s["name"] for s in built)
    filtered = [ch.name for ch in bs.channels if ch.quantity in _FILTERED]
    conversions = [
        *header(manifest, "SLC", wanted),
        "calibration: complex DN -> complex sigma0 amplitude = DN / A, A = sigmaNought calibration LUT (bilinear); "
        "no thermal noise removal (complex data, as So2Sat)",
        f"deburst: {', '.join(str(s['bursts']) for s in built)} bursts ({names}), valid lines and samples "
        "(firstValidSample/lastValidSample), overlaps cut at their middle",
        f"sub-swath merge: {names}, range overlaps cut at their middle"
        if len(built) > 1
        else f"sub-swath merge: none ({names} only)",
        *(() if note is None else (note,)),
    ]
    if filtered:
        conversions.append(
            f"speckle filter: refined Lee 7 x 7 of the VH/VV covariance, 1 look, in radar geometry "
            f"before geocoding ({', '.join(filtered)}); complex channels unfiltered"
        )
    terrain = None
    if dem is None or orbit is None:
        conversions.append(
            f"geocoding: ellipsoid, annotation geolocation grids of {names} ({sum(len(p) for p in points)} "
            f"points) -> {crs.to_string()} at {PIXEL_SIZE:g} m, nearest neighbour"
        )
    else:
        lonlat = np.concatenate([np.stack([s["lon"].ravel(), s["lat"].ravel()], axis=1) for s in built])
        check_cover(dem, lonlat[np.isfinite(lonlat).all(axis=1)], name)
        radars = tuple(SlcRadar(seconds(s["first_time"], orbit.epoch), s["interval"], s["range_time"], s["rate"]) for s in built)
        terrain = (Terrain(dem.path, crs.to_wkt(), transform, orbit), radars)
        conversions += terrain_conversions(
            dem.path,
            len(orbit.times),
            crs.to_string(),
            "nearest neighbour",
            f"sub-swaths {names}: slant-range time and sampling rate",
        )
    conversions.append("no data: outside the bursts' valid samples")
    ref = {pol: swaths[0].measurements[pol] for pol in wanted}
    scene_bands = tuple(
        SceneBand(
            ref["VV" if ch.band == "VVVH" else ch.band],
            1,
            "real" if ch.quantity.endswith("real") else "imag" if ch.quantity.endswith("imag") else "value",
            None,
            ch,
        )
        for ch in bs.channels
    )
    return Scene(
        name=name.rsplit(".", 1)[0] if name.lower().endswith((".safe", ".zip")) else name,
        bands=scene_bands,
        units="linear",
        crs=crs.to_wkt(),
        transform=transform,
        height=grid.height,
        width=grid.width,
        band_set=bs.name,
        sources=(loc.path,),
        quantity="sigma0",
        conversions=tuple(conversions),
        reader=SlcReader(tuple(swaths), transform, terrain),
        prefiltered=bool(filtered),
    )
