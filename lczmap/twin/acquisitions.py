"""Many acquisitions of one twin city: dates, passes and footprints that a mosaic has to fuse and stitch.

:func:`write_acquisitions` writes N Sentinel-1-like GRD scenes of one city and ONE ground-truth
LCZ map of the area they cover. The city is the one :func:`~lczmap.twin.write_scene` renders for
the same seed (its radar calibration, its class models); what is new is what changes between
acquisitions, as it does between Sentinel-1 passes over a city:

- **Dates.** Every acquisition has its own speckle (independent looks), and its own radiometry:
  a season term (vegetation vigour) and a soil-moisture term (rain before the pass, varying
  slowly across the area) and a wind term on water, each drawn per date in [-1, 1] and turned
  into dB per material by :data:`DATE_CHANGE_DB`. Vegetation changes by up to 0.5 dB, bare soil
  by 0.4, water by 0.5, buildings, streets and rock by at most 0.05 dB, so that two dates differ
  by at most twice that.
- **Passes.** Acquisitions cycle through the relative orbits of :data:`ORBITS`, ascending and
  descending: an ascending pass looks east (+x: walls facing east flash, buildings cast shadow
  to the east) with its incidence angle rising from west to east (:data:`SCENE_ANGLES`), a
  descending pass looks west, its angle ramp reversed and its swath edges mirrored.
- **Footprints.** Each acquisition is a window of a larger truth area, shifted by up to
  ``max_offset`` pixels: a column offset of its orbit (:data:`ORBIT_COLUMN_SHIFT`, other
  orbits see other swaths) and a row offset of its own (frames slide along the track from date
  to date), both whole 100 m cells, so that every acquisition lies on the truth's 100 m grid
  and a mosaic of them has to stitch.

An acquisition depends only on the seed, its index and the sizes: the first N of N + 1
acquisitions are the N acquisitions, and the truth does not depend on N where it is not nodata.
Each file carries its date, pass and orbit as GeoTIFF metadata (:data:`ACQUISITION_TAGS`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from .._io import atomic_path, check_output
from ..classes import NODATA
from ..errors import ConfigError
from .cities import City, make_cities
from .materials import HALO, MATERIALS, Look, material_maps, radar_sigma0
from .noise import MASK64, multilook_intensity, stream_key, uniform_noise
from .scene import (
    SCENE_ANGLES,
    SCENE_SIZE,
    SceneUnits,
    check_scene_options,
    check_scene_room,
    check_scene_size,
    describe_file,
    file_specs,
    land_map,
    scene_band,
    scene_bytes,
    valid_mask,
)

__all__ = [
    "Pass",
    "AcquisitionKind",
    "ACQUISITION_KINDS",
    "ORBITS",
    "ORBIT_COLUMN_SHIFT",
    "REPEAT_DAYS",
    "FIRST_DATE",
    "DATE_CHANGE_DB",
    "ACQUISITION_TAGS",
    "Acquisition",
    "render_window",
    "AcquisitionSet",
    "plan_acquisitions",
    "date_change_db",
    "check_acquisition_options",
    "default_max_offset",
    "write_acquisitions",
]

Pass = Literal["ascending", "descending"]
AcquisitionKind = Literal["grd", "gamma0"]
#: Scene kinds :func:`write_acquisitions` writes: ``grd`` (sigma0 VV, VH) and ``gamma0`` (with
#: the acquisition's own ``angle`` band).
ACQUISITION_KINDS: tuple[AcquisitionKind, ...] = ("grd", "gamma0")

#: The relative orbits that see a twin city, in the order acquisitions cycle through them:
#: (relative orbit, pass, days after the cycle's first pass, UTC time of the pass). Sentinel-1A
#: passes over Europe ascending in the evening and descending in the morning.
ORBITS: tuple[tuple[int, Pass, int, str], ...] = (
    (117, "ascending", 0, "17:24:13"),
    (22, "descending", 2, "05:31:40"),
    (44, "ascending", 5, "17:16:02"),
    (95, "descending", 7, "05:39:51"),
)
#: Column offset of each orbit's footprint, as a share of ``max_offset``'s columns.
ORBIT_COLUMN_SHIFT = (0.0, 1.0, 0.4, 0.7)
#: Days between two passes of one relative orbit (Sentinel-1A's repeat cycle).
REPEAT_DAYS = 12
#: The date of the first acquisition.
FIRST_DATE = dt.date(2023, 6, 3)
_ABSOLUTE_ORBIT_0 = 48_810  # Sentinel-1A's absolute orbit on FIRST_DATE (about)

#: Change of sigma0 per date, dB per unit of the date's (season, moisture, wind) terms, for each
#: material of :data:`lczmap.twin.MATERIALS` (both polarisations; the terms lie in [-1, 1]).
DATE_CHANGE_DB: dict[str, tuple[float, float, float]] = {
    "roof": (0.0, 0.05, 0.0),  # buildings (their double bounce and metal roofs too)
    "paved": (0.0, 0.05, 0.0),
    "tree": (0.3, 0.2, 0.0),
    "shrub": (0.3, 0.2, 0.0),
    "grass": (0.3, 0.2, 0.0),
    "soil": (0.0, 0.4, 0.0),
    "rock": (0.0, 0.05, 0.0),
    "water": (0.0, 0.0, 0.5),
}
_CHANGE = np.array([DATE_CHANGE_DB[name] for name in MATERIALS], dtype=np.float64)  # (8, 3)
#: Scale of the moisture term's variation across the area (10 m pixels: about 3 km), and its size.
_MOISTURE_SCALE, _MOISTURE_SPREAD = 300.0, 0.3

#: The GeoTIFF metadata (dataset tags) each acquisition carries, beside the scene's own: names as
#: GDAL's Sentinel-1 SAFE driver gives them where it has one (``ACQUISITION_START_TIME``,
#: ``ORBIT_DIRECTION``, ``ORBIT_NUMBER``, ``MISSION_ID``), STAC's ``sat:`` fields otherwise.
ACQUISITION_TAGS = (
    "PRODUCT_ID",  # unique per acquisition, shaped as a Sentinel-1 product name
    "ACQUISITION_START_TIME",  # ISO 8601, UTC, e.g. 2023-06-03T17:24:13Z
    "ACQUISITION_STOP_TIME",
    "ACQUISITION_DATE",  # 2023-06-03
    "MISSION_ID",  # S1A
    "ORBIT_DIRECTION",  # ASCENDING or DESCENDING
    "ORBIT_NUMBER",  # absolute orbit
    "RELATIVE_ORBIT",  # 1-175
    "LOOK_DIRECTION",  # east or west (right-looking)
    "INCIDENCE_ANGLE_NEAR",  # degrees, at the near-range edge
    "INCIDENCE_ANGLE_FAR",
    "ACQUISITION_INDEX",  # 0-based, in the set
)


@dataclass(frozen=True)
class Acquisition:
    """One acquisition of a set: when, from where, and which window of the truth area it covers."""

    index: int
    start: dt.datetime  # UTC
    pass_: Pass
    relative_orbit: int
    absolute_orbit: int
    offset: tuple[int, int]  # (row, column) of its first pixel in the truth area, 10 m pixels
    season: float  # the date's terms, in [-1, 1] (DATE_CHANGE_DB)
    moisture: float
    wind: float
    product_id: str

    @property
    def look(self) -> Look:
        return "east" if self.pass_ == "ascending" else "west"

    @property
    def date(self) -> dt.date:
        return self.start.date()

    @property
    def angles(self) -> tuple[float, float]:
        """Incidence angle at the first and last column (degrees)."""
        return SCENE_ANGLES if self.pass_ == "ascending" else (SCENE_ANGLES[1], SCENE_ANGLES[0])

    def tags(self) -> dict[str, str]:
        """The acquisition's GeoTIFF metadata (:data:`ACQUISITION_TAGS`)."""
        stop = self.start + dt.timedelta(seconds=25)
        return {
            "PRODUCT_ID": self.product_id,
            "ACQUISITION_START_TIME": f"{self.start:%Y-%m-%dT%H:%M:%S}Z",
            "ACQUISITION_STOP_TIME": f"{stop:%Y-%m-%dT%H:%M:%S}Z",
            "ACQUISITION_DATE": f"{self.date:%Y-%m-%d}",
            "MISSION_ID": "S1A",
            "ORBIT_DIRECTION": self.pass_.upper(),
            "ORBIT_NUMBER": str(self.absolute_orbit),
            "RELATIVE_ORBIT": str(self.relative_orbit),
            "LOOK_DIRECTION": self.look,
            "INCIDENCE_ANGLE_NEAR": f"{min(SCENE_ANGLES):.1f}",
            "INCIDENCE_ANGLE_FAR": f"{max(SCENE_ANGLES):.1f}",
            "ACQUISITION_INDEX": str(self.index),
        }

    def file_name(self) -> str:
        """``acq03_20230610_D022.tif``: index, date, pass and relative orbit."""
        return f"acq{self.index:02d}_{self.date:%Y%m%d}_{self.pass_[0].upper()}{self.relative_orbit:03d}.tif"


@dataclass(frozen=True)
class AcquisitionSet:
    """What :func:`write_acquisitions` wrote: the scene files (in acquisition order), the truth
    map of the whole area, and each acquisition's :class:`Acquisition`."""

    scenes: tuple[Path, ...]
    truth: Path
    acquisitions: tuple[Acquisition, ...]
    area: tuple[int, int]  # truth area, 10 m pixels (rows, columns)


def default_max_offset(size: tuple[int, int]) -> tuple[int, int]:
    """A quarter of the scene's rows and columns, in whole 100 m cells."""
    return (int(size[0]) // 4 // 10 * 10, int(size[1]) // 4 // 10 * 10)


def plan_acquisitions(
    n: int,
    seed: int = 0,
    size: tuple[int, int] = SCENE_SIZE,
    max_offset: tuple[int, int] | None = None,
    offsets: Sequence[tuple[int, int]] | None = None,
) -> list[Acquisition]:
    """The first ``n`` acquisitions of the city of ``seed`` (each depends only on the seed, its
    index and the sizes). ``offsets``: the footprints' (row, column) offsets to use instead of
    drawn ones (e.g. a region of tracks and frames), one per acquisition."""
    rows_off, cols_off = default_max_offset(size) if max_offset is None else (int(v) for v in max_offset)
    out = []
    for i in range(int(n)):
        k, cycle = i % len(ORBITS), i // len(ORBITS)
        orbit, pass_, day, clock = ORBITS[k]
        rng = np.random.default_rng([int(seed) & MASK64, 0xAC0, i])
        season, moisture, wind = (float(v) for v in rng.uniform(-1, 1, 3))
        row = int(rng.integers(0, rows_off // 10 + 1)) * 10
        jitter = rng.normal(0, 0.1 * cols_off)
        col = int(np.clip(round((ORBIT_COLUMN_SHIFT[k] * cols_off + jitter) / 10), 0, cols_off // 10)) * 10
        hh, mm, ss = (int(v) for v in clock.split(":"))
        day0 = FIRST_DATE + dt.timedelta(days=cycle * REPEAT_DAYS + day)
        start = dt.datetime(day0.year, day0.month, day0.day, hh, mm, ss)
        # absolute orbit: about 175 / 12 a day since the first date, where Sentinel-1A's (absolute - 73) % 175 + 1
        # is the relative orbit
        days = (start - dt.datetime(FIRST_DATE.year, FIRST_DATE.month, FIRST_DATE.day)).total_seconds() / 86400
        near = _ABSOLUTE_ORBIT_0 + int(round(days * 175 / REPEAT_DAYS))
        absolute = near + (orbit - ((near - 73) % 175 + 1) + 87) % 175 - 87
        take = int(stream_key(int(seed) & MASK64, 0xD7 + i)) & 0xFFFFFF
        product_id = (
            f"S1A_IW_GRDH_1SDV_{start:%Y%m%dT%H%M%S}_{start + dt.timedelta(seconds=25):%Y%m%dT%H%M%S}_"
            f"{absolute:06d}_{take:06X}_{take & 0xFFFF:04X}"
        )
        if offsets is not None:
            row, col = (int(v) for v in offsets[i])
        out.append(Acquisition(i, start, pass_, orbit, absolute, (row, col), season, moisture, wind, product_id))
    return out


def check_acquisition_options(
    n: int,
    size: tuple[int, int],
    kind: str,
    units: str,
    max_offset: tuple[int, int] | None = None,
    offsets: Sequence[tuple[int, int]] | None = None,
    folder: str | os.PathLike | None = None,
) -> None:
    """Refuse what :func:`write_acquisitions` cannot write (before any work): the scene options
    (:func:`~lczmap.twin.scene.check_scene_options`), a truth area beyond its pixel limit and,
    given the ``folder`` they are to be written in, ``n`` scenes that do not fit there."""
    check_scene_options(size, kind, units)
    if kind not in ACQUISITION_KINDS:
        raise ConfigError(
            f"acquisitions are written as {' or '.join(ACQUISITION_KINDS)} scenes, not {kind!r}: "
            "drop --scene-kind or choose one of those"
        )
    if int(n) < 1:
        raise ConfigError(f"--acquisitions must be at least 1, not {n}")
    if max_offset is not None and any(int(v) < 0 or int(v) % 10 for v in max_offset):
        raise ConfigError(f"max_offset {tuple(max_offset)!r} must be whole 100 m cells (multiples of 10 pixels, >= 0)")
    if offsets is not None:
        if len(offsets) < int(n):
            raise ConfigError(f"{len(offsets)} offsets for {n} acquisitions: give one (row, column) per acquisition")
        if any(int(v) < 0 or int(v) % 10 for o in offsets for v in o):
            raise ConfigError("offsets must be whole 100 m cells (multiples of 10 pixels, >= 0)")
        if max_offset is not None and any(int(o[k]) > int(max_offset[k]) for o in offsets[: int(n)] for k in (0, 1)):
            raise ConfigError(f"an offset lies beyond max_offset {tuple(max_offset)!r}: drop max_offset or enlarge it")
    rows, cols = (int(v) for v in size)
    offset = _area_offset((rows, cols), int(n), max_offset, offsets)
    check_scene_size((rows + offset[0], cols + offset[1]), "the acquisitions' truth area (--scene-size and offsets)")
    if folder is not None:
        check_scene_room(folder, int(n) * scene_bytes((rows, cols), kind, units))


def _area_offset(
    size: tuple[int, int], n: int, max_offset: tuple[int, int] | None, offsets: Sequence[tuple[int, int]] | None
) -> tuple[int, int]:
    """How far (rows, columns) the truth area reaches beyond one scene's ``size``."""
    if max_offset is not None:
        return (int(max_offset[0]), int(max_offset[1]))
    if offsets is not None:
        return (max(int(o[0]) for o in offsets[:n]), max(int(o[1]) for o in offsets[:n]))
    return default_max_offset(size)


def write_acquisitions(
    out_dir: str | os.PathLike,
    n: int,
    size: tuple[int, int] = SCENE_SIZE,
    seed: int = 0,
    kind: AcquisitionKind = "grd",
    units: SceneUnits = "linear",
    max_offset: tuple[int, int] | None = None,
    offsets: Sequence[tuple[int, int]] | None = None,
    truth_path: str | os.PathLike | None = None,
    crs: str = "EPSG:32633",
    origin: tuple[float, float] = (380000.0, 5830000.0),
    overwrite: bool = False,
    progress: Callable | None = None,
    block: int = 512,
) -> AcquisitionSet:
    """Write ``n`` acquisitions of the twin city of ``seed`` into ``out_dir`` and the truth map of
    the area they cover (see the module docstring); return an :class:`AcquisitionSet`.

    Each acquisition is a scene of ``size`` (rows, columns) 10 m pixels written as
    :func:`~lczmap.twin.write_scene` writes a ``kind`` scene (``grd``: sigma0 VV, VH; ``gamma0``:
    with an ``angle`` band), named :meth:`Acquisition.file_name`, a window of the truth area
    (``size`` + ``max_offset``, default :func:`default_max_offset`, whose upper-left corner is
    ``origin`` in ``crs``); ``offsets`` places the footprints instead (one (row, column) per
    acquisition, whole 100 m cells; the area then reaches the farthest). The truth (``truth_path``,
    default ``<out_dir>/truth_lcz.tif``) is uint8 LCZ codes at 100 m over the whole area, 0 where
    no acquisition's swath covers a cell's centre.
    Written window by window (``block`` pixels), each file atomically.
    """
    import rasterio
    from rasterio.transform import Affine
    from rasterio.windows import Window

    from ..raster import LCZ_COLORMAP

    rows, cols = (int(v) for v in size)
    check_acquisition_options(n, (rows, cols), kind, units, max_offset, offsets, folder=out_dir)
    offset = _area_offset((rows, cols), n, max_offset, offsets)
    out = Path(out_dir)
    plan = plan_acquisitions(n, seed, (rows, cols), offset, offsets)
    truth_path = Path(truth_path) if truth_path is not None else out / "truth_lcz.tif"
    specs = [file_specs(out / a.file_name(), kind, units, int(seed))[0] for a in plan]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {out} ({exc.strerror}): choose a writable folder") from None
    for p in [s.path for s in specs] + [truth_path]:
        check_output(p, overwrite)
    try:
        crs_obj = rasterio.crs.CRS.from_user_input(crs)
    except Exception as exc:
        raise ConfigError(f"cannot understand CRS {crs!r} ({exc}): pass e.g. 'EPSG:32633'") from None

    area = (rows + offset[0], cols + offset[1])
    t_rows, t_cols = -(-area[0] // 10), -(-area[1] // 10)
    land = land_map(t_rows, t_cols, int(seed))
    border = max(1, int(round(0.03 * min(rows, cols))))
    city = make_cities(1, int(seed), "scene", stream=99)[0]  # the city of write_scene(seed=seed)
    key = int(stream_key(int(seed) & MASK64, 0x5CE4E))
    x0, y0 = float(origin[0]), float(origin[1])
    tile = 512 if min(rows, cols) >= 512 else 256 if min(rows, cols) >= 256 else None
    blocks = [(r0, c0) for r0 in range(0, rows, block) for c0 in range(0, cols, block)]
    bar = progress(total=len(blocks) * len(plan), desc="acquisitions") if progress else None
    try:
        for acq, spec in zip(plan, specs):
            transform = Affine(10.0, 0.0, x0 + 10.0 * acq.offset[1], 0.0, -10.0, y0 - 10.0 * acq.offset[0])
            profile = {
                "driver": "GTiff",
                "width": cols,
                "height": rows,
                "crs": crs_obj,
                "transform": transform,
                "interleave": "band",
                "BIGTIFF": "IF_SAFER",
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
                dst.update_tags(**acq.tags())
                for r0, c0 in blocks:
                    h, w = min(block, rows - r0), min(block, cols - c0)
                    layers = render_window(acq, r0, c0, h, w, land, (rows, cols), border, city, key)
                    for b, name in enumerate(spec.layers, start=1):
                        dst.write(scene_band(layers, name, kind, units, spec.nodata), b, window=Window(c0, r0, w, h))
                    if bar is not None:
                        bar.update(1)
        _write_truth(truth_path, land, plan, (rows, cols), border, crs_obj, (x0, y0), seed, overwrite, LCZ_COLORMAP)
    finally:
        if bar is not None:
            bar.close()
    return AcquisitionSet(tuple(s.path for s in specs), truth_path, tuple(plan), area)


def _footprint(acq: Acquisition, r: np.ndarray, c: np.ndarray, size: tuple[int, int], border: int) -> np.ndarray:
    """Inside the acquisition's swath, at its own pixel (r, c): a descending pass's swath edges
    slant the other way (the scene's frame mirrored along x)."""
    rows, cols = size
    cc = c if acq.pass_ == "ascending" else cols - 1 - c
    return valid_mask(r, cc, rows, cols, border)


def _write_truth(
    path: Path,
    land: np.ndarray,
    plan: list[Acquisition],
    size: tuple[int, int],
    border: int,
    crs: object,
    origin: tuple[float, float],
    seed: int,
    overwrite: bool,
    colormap: dict,
) -> None:
    import rasterio
    from rasterio.transform import Affine

    rows, cols = size
    t_rows, t_cols = land.shape
    ti = np.arange(t_rows)[:, None] * 10 + 5  # centre pixel of each truth cell, area pixels
    tj = np.arange(t_cols)[None, :] * 10 + 5
    seen = np.zeros((t_rows, t_cols), dtype=bool)
    for acq in plan:
        r, c = ti - acq.offset[0], tj - acq.offset[1]
        inside = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
        seen |= inside & _footprint(acq, r, c, size, border)
    truth = np.where(seen, land + 1, NODATA).astype(np.uint8)
    profile = {
        "driver": "GTiff",
        "width": t_cols,
        "height": t_rows,
        "count": 1,
        "dtype": "uint8",
        "crs": crs,
        "transform": Affine(100.0, 0.0, origin[0], 0.0, -100.0, origin[1]),
        "nodata": NODATA,
        "compress": "deflate",
    }
    with atomic_path(path, overwrite=overwrite, suffix=".tif") as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(truth, 1)
            dst.set_band_description(1, "LCZ")
            dst.update_tags(1, UNITS="LCZ code 1-17 (A-G = 11-17), 0 = nodata")
            dst.update_tags(SCENES=",".join(a.file_name() for a in plan), SEED=str(seed))
            dst.write_colormap(1, colormap)


def date_change_db(acq: Acquisition, mat: np.ndarray, x: np.ndarray, y: np.ndarray, key: int) -> np.ndarray:
    """The date's change of sigma0 (dB) per pixel of material ``mat`` (indices into
    :data:`MATERIALS`) at area pixels (``x``, ``y``): :data:`DATE_CHANGE_DB` times the date's
    season, moisture and wind terms; the moisture varies by up to 0.3 across the area (rain cells
    about 3 km across) and stays in [-1, 1]."""
    local = np.clip(
        acq.moisture + _MOISTURE_SPREAD * (2 * uniform_noise(x, y, _MOISTURE_SCALE, key, 0xDA7E + acq.index) - 1), -1, 1
    )
    coef = _CHANGE[mat]
    out: np.ndarray = coef[..., 0] * acq.season + coef[..., 1] * local + coef[..., 2] * acq.wind
    return out


def render_window(
    acq: Acquisition, r0: int, c0: int, h: int, w: int, land: np.ndarray, size: tuple[int, int], border: int, city: City, key: int
) -> dict[str, np.ndarray]:
    """Render the acquisition's pixels [r0, r0+h) x [c0, c0+w): layers ``vv``, ``vh`` (GRD sigma0
    intensity), ``valid`` and ``angle`` (radians), as :func:`lczmap.twin.scene` renders a scene's."""
    rows, cols = size
    r = np.arange(r0 - HALO, r0 + h + HALO, dtype=np.int64)[:, None] + acq.offset[0]
    c = np.arange(c0 - HALO, c0 + w + HALO, dtype=np.int64)[None, :] + acq.offset[1]
    y, x = np.broadcast_arrays(r, c)  # area pixels: the city's buildings and fields do not move
    cls = land[np.clip(y // 10, 0, land.shape[0] - 1), np.clip(x // 10, 0, land.shape[1] - 1)].astype(np.int64)
    m = material_maps(cls, x, y, key, np.float32(city.height_scale))
    vv, vh = radar_sigma0(m, city.sar_gain_db, city.vh_offset_db, city.water_roughness_db, look=acq.look)
    inner = (slice(HALO, -HALO), slice(HALO, -HALO))
    xi, yi = x[inner], y[inner]
    gain = 10 ** (date_change_db(acq, m["mat"][inner], xi, yi, key) / 10)
    date_key = int(stream_key(key, 0xA0C0 + acq.index))  # independent speckle per date
    g_vv, g_vh = multilook_intensity(vv[inner] * gain, vh[inner] * gain, xi, yi, date_key)
    lr, lc = yi - acq.offset[0], xi - acq.offset[1]  # the acquisition's own pixels
    first, last = np.radians(acq.angles)
    angle = first + (last - first) * lc.astype(np.float64) / max(cols - 1, 1)
    return {
        "valid": _footprint(acq, lr, lc, size, border),
        "angle": angle,
        "vv": g_vv.astype(np.float64),
        "vh": g_vh.astype(np.float64),
    }
