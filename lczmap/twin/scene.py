"""Sentinel-1-like scenes and their ground-truth LCZ maps, rendered from the twin's class models.

A scene's class layout is blobs about 500 m across around jittered seeds, with urban cores and a
meandering river (100 m cells); its pixels come out of the same renderer as the twin's patches, with
a city calibration of its own. Written window by window with a halo, so the output never depends on
the window size (:func:`write_scene`).

A scene is written as a user receives it (:data:`SCENE_KINDS`): unfiltered multi-looked GRD
intensity (about 4.4 looks), as gamma0 with an ``angle`` band, as an ASF HyP3 RTC pair, as a
Planetary Computer ``sentinel-1-rtc`` pair; or as So2Sat had it (single-look sigma0 refined-Lee
filtered exactly as the twin's ``sen1`` channels 5 and 4, ``lee``), or single-look complex (``slc``),
or as the archive holds a GRD: an IW GRD product in ESA's SAFE layout (``safe``: digital numbers,
calibration and noise LUTs, geolocation grid; :mod:`lczmap.twin.safe`).

One module: every scene kind is the same rendered window written through one writer; the kinds
differ only in how the window's bands are expressed, side by side in :func:`write_scene`.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from .._io import atomic_path, check_free_space, check_output, check_writable
from ..bands import UNITS, Units
from ..classes import NODATA
from ..errors import ConfigError
from ..speckle import HALO as LEE_HALO
from .cities import City, make_cities
from .lee import polsar_lee
from .materials import HALO, material_maps, radar_sigma0
from .noise import GRD_LOOKS, MASK64, multilook_intensity, speckle, stream_key, value_noise

if TYPE_CHECKING:
    from rasterio.io import DatasetWriter

__all__ = [
    "SceneKind",
    "SceneUnits",
    "SCENE_KINDS",
    "SCENE_UNITS",
    "SCENE_SIZE",
    "SCENE_NODATA",
    "SCENE_ANGLES",
    "HYP3_NAME",
    "MAX_SCENE_PIXELS",
    "check_scene_options",
    "check_scene_size",
    "check_scene_room",
    "scene_bytes",
    "write_scene",
    "scene_files",
]

SceneKind = Literal["grd", "gamma0", "hyp3", "planetary", "lee", "slc", "safe"]
SceneUnits = Units  # one home: lczmap.bands
#: Accepted scene ``kind`` names: ``grd`` (unfiltered multi-looked sigma0, bands VV, VH),
#: ``gamma0`` (the same as gamma0, bands Gamma0_VV, Gamma0_VH and ``angle``), ``hyp3`` (an ASF
#: HyP3 RTC pair, gamma0), ``planetary`` (a Planetary Computer sentinel-1-rtc pair, gamma0),
#: ``lee`` (single-look sigma0 refined-Lee filtered, as So2Sat's channels), ``slc``
#: (single-look complex amplitudes) and ``safe`` (the GRD as an IW GRD SAFE product).
SCENE_KINDS: tuple[SceneKind, ...] = ("grd", "gamma0", "hyp3", "planetary", "lee", "slc", "safe")
#: Accepted scene ``units`` names (SLC and Planetary Computer scenes are always linear).
SCENE_UNITS = UNITS
#: Incidence angle across a scene's columns, first to last (degrees): an IW swath's range
#: compressed into the scene, so that gamma0 differs from sigma0 by up to 1.5 dB.
SCENE_ANGLES = (30.5, 45.5)
#: The HyP3 product name a ``hyp3`` scene is written under (``{id}``: 4 hex digits from the seed);
#: g = gamma0, p/d = power/dB (the HyP3 RTC naming convention).
HYP3_NAME = "S1A_IW_20230615T052311_DVP_RTC10_G_g{scale}uned_{id}"
#: Default scene size (rows, columns) in 10 m pixels.
SCENE_SIZE = (1000, 1200)
#: Most 10 m pixels a written scene (or the truth area of acquisitions) may hold: more than a whole
#: Sentinel-1 IW scene (about 25,000 x 17,000). Its ground truth is drawn in memory whole, about
#: 1.2 bytes a pixel (1.2 GB at the limit).
MAX_SCENE_PIXELS = 1_000_000_000
#: Memory the ground truth of one scene pixel takes while it is drawn (:func:`land_map`, bytes).
_TRUTH_BYTES_PER_PIXEL = 1.2
#: Nodata value of synthetic scenes (float32 and complex64): NaN.
SCENE_NODATA = float("nan")

_URBAN_BANDS = (  # (minimum urbanity, {LCZ code: weight})
    (0.7, {1: 2, 2: 4, 4: 2, 5: 2, 10: 1, 8: 1, 15: 1}),
    (0.4, {2: 2, 3: 3, 5: 2, 6: 3, 8: 3, 10: 1.5, 7: 1, 4: 1, 12: 0.5}),
    (0.15, {6: 4, 3: 1, 9: 2, 8: 1.5, 7: 0.7, 12: 1.5, 11: 1, 14: 1}),
    (-1.0, {11: 3, 12: 1.5, 13: 1.5, 14: 4, 16: 1, 9: 1, 17: 0.7, 15: 0.3}),
)


def land_map(rows: int, cols: int, seed: int) -> np.ndarray:
    """LCZ label index (0-16) per 100 m cell: blobs around jittered seeds, urban cores, a river."""
    rng = np.random.default_rng([seed & MASK64, 0x1A4D])
    spacing = 5.0  # cells between region seeds (about 500 m)
    gr = int(math.ceil(rows / spacing)) + 3
    gc = int(math.ceil(cols / spacing)) + 3
    seeds_r = (np.arange(gr)[:, None] - 1 + rng.uniform(0.1, 0.9, (gr, gc))) * spacing
    seeds_c = (np.arange(gc)[None, :] - 1 + rng.uniform(0.1, 0.9, (gr, gc))) * spacing
    # Urbanity of each seed: distance to a few centres, plus noise.
    n_centres = max(1, int(round(rows * cols / 150**2)))
    cr = rng.uniform(0.25, 0.75, n_centres) * rows
    cc = rng.uniform(0.25, 0.75, n_centres) * cols
    radius = rng.uniform(0.18, 0.3, n_centres) * math.sqrt(rows * cols / n_centres)
    urb = np.zeros((gr, gc))
    for r0, c0, rad in zip(cr, cc, radius):
        urb = np.maximum(urb, np.exp(-np.hypot(seeds_r - r0, seeds_c - c0) / rad))
    urb += rng.normal(0, 0.1, urb.shape)
    seed_cls = np.zeros((gr, gc), dtype=np.uint8)
    for lo, weights in reversed(_URBAN_BANDS):
        codes = np.array(list(weights))
        w = np.array(list(weights.values()), dtype=np.float64)
        pick = rng.choice(codes, size=urb.shape, p=w / w.sum()) - 1
        seed_cls = np.where(urb > lo, pick, seed_cls).astype(np.uint8)
    # Nearest seed in warped coordinates: irregular blobs.
    r = np.arange(rows, dtype=np.float64)[:, None]
    c = np.arange(cols, dtype=np.float64)[None, :]
    ri = np.broadcast_to(r, (rows, cols)).astype(np.int64)
    ci = np.broadcast_to(c, (rows, cols)).astype(np.int64)
    key = int(stream_key(seed & MASK64, 0x1A4E))
    wr = r + (value_noise(ci, ri, 6.0, key, 1) - 0.5) * 6
    wc = c + (value_noise(ci, ri, 6.0, key, 2) - 0.5) * 6
    best = np.full((rows, cols), np.inf)
    land = np.zeros((rows, cols), dtype=np.uint8)
    base_r = np.floor(wr / spacing).astype(np.int64) + 1
    base_c = np.floor(wc / spacing).astype(np.int64) + 1
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            gi = np.clip(base_r + dr, 0, gr - 1)
            gj = np.clip(base_c + dc, 0, gc - 1)
            d = (seeds_r[gi, gj] - wr) ** 2 + (seeds_c[gi, gj] - wc) ** 2
            closer = d < best
            best = np.where(closer, d, best)
            land = np.where(closer, seed_cls[gi, gj], land)
    # A meandering river across the scene.
    width = max(1.0, 0.012 * rows)
    centre = rows * rng.uniform(0.3, 0.7) + 0.08 * rows * np.sin(2 * np.pi * c / max(cols / 1.5, 1) + rng.uniform(0, 6.3))
    land = np.where(np.abs(r - centre) < width, 16, land).astype(np.uint8)
    return land


def valid_mask(r: np.ndarray, c: np.ndarray, rows: int, cols: int, border: int) -> np.ndarray:
    """Scene footprint: a ``border``-pixel frame of nodata, with slanted left/right edges (the
    swath of a satellite track), widening to 2 x ``border`` on the left at the bottom and on the
    right at the top."""
    t = r / max(rows - 1, 1)
    left = border + border * t
    right = cols - border - border * (1 - t)
    return (r >= border) & (r < rows - border) & (c >= left) & (c < right)


def check_scene_size(size: tuple[int, int], what: str = "scene size") -> None:
    """Refuse a scene (or truth area) of more than :data:`MAX_SCENE_PIXELS`, whose ground truth
    would not fit in memory, before anything is written."""
    rows, cols = (int(v) for v in size)
    if rows * cols > MAX_SCENE_PIXELS:
        raise ConfigError(
            f"{what} {rows} x {cols} is too large: at most {MAX_SCENE_PIXELS:,} pixels (a whole Sentinel-1 IW scene "
            f"is about 25,000 x 17,000), as its ground truth is drawn in memory whole "
            f"(~{rows * cols * _TRUTH_BYTES_PER_PIXEL / 1e9:,.0f} GB here): choose a smaller --scene-size"
        )


def scene_bytes(size: tuple[int, int], kind: str, units: str) -> int:
    """Bytes the files of one ``kind`` scene of ``size`` take on disk (uncompressed, as written),
    its truth included; a SAFE product also stages the ``grd`` scene beside it while written."""
    rows, cols = (int(v) for v in size)
    per_pixel = sum(len(f.layers) * np.dtype(f.dtype).itemsize for f in file_specs(Path("scene"), kind, units, 0))
    if kind == "safe":
        per_pixel += 2 * np.dtype("float32").itemsize
    return rows * cols * per_pixel + -(-rows // 10) * -(-cols // 10)


def check_scene_room(folder: str | os.PathLike, needed: int) -> None:
    """Refuse up front when the file system of ``folder`` (or of its nearest existing parent, for
    a folder still to be made) has less than ``needed`` bytes free: one line with both figures."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    check_writable(folder)  # a read-only folder says so, not that it is full
    check_free_space(folder / "scene", needed)


def check_scene_options(size: tuple[int, int], kind: str, units: str, folder: str | os.PathLike | None = None) -> None:
    """Refuse a scene size, kind or units that :func:`write_scene` cannot write (before any work):
    at least 20 x 20 and at most :data:`MAX_SCENE_PIXELS` pixels, and, given the ``folder`` it is
    to be written in, room for its files there."""
    rows, cols = (int(v) for v in size)
    if rows < 20 or cols < 20:
        raise ConfigError(f"scene size {tuple(size)!r} is too small: use at least 20 x 20 pixels (--scene-size)")
    check_scene_size((rows, cols))
    if kind not in SCENE_KINDS:
        raise ConfigError(f"unknown scene kind {kind!r}: choose one of {', '.join(SCENE_KINDS)} (--scene-kind)")
    if units not in SCENE_UNITS:
        raise ConfigError(f"unknown units {units!r}: choose {' or '.join(SCENE_UNITS)} (--units)")
    if kind == "slc" and units != "linear":
        raise ConfigError(
            "an SLC scene holds complex amplitudes and cannot be in dB: "
            "use units='linear' (drop --units) or kind='grd' (--scene-kind grd)"
        )
    if kind == "planetary" and units != "linear":
        raise ConfigError("a Planetary Computer sentinel-1-rtc scene is linear gamma0: drop --units (units='linear')")
    if kind == "safe" and units != "linear":
        raise ConfigError("a SAFE product holds digital numbers, not dB: drop --units (units='linear')")
    if folder is not None:
        check_scene_room(folder, scene_bytes((rows, cols), kind, units))


@dataclass(frozen=True)
class SceneFile:
    """One file of a scene: its ``layers`` (vv, vh, angle, inc_map, ls_map) as bands."""

    path: Path
    layers: tuple[str, ...]
    descriptions: tuple[str | None, ...]
    dtype: str
    nodata: float
    tags: dict


def scene_files(path: str | os.PathLike, kind: SceneKind = "grd", units: SceneUnits = "linear", seed: int = 0) -> list[Path]:
    """The files :func:`write_scene` writes for ``path`` (a file; for ``hyp3`` and ``planetary``
    the product's folder), the one to give ``lczmap predict`` first."""
    return [f.path for f in file_specs(Path(path), kind, units, seed)]


def file_specs(path: Path, kind: str, units: str, seed: int) -> list[SceneFile]:
    unit = "dB" if units == "db" else "linear power"
    inten = {"UNITS": units, "LOOKS": f"{GRD_LOOKS:.2f}", "SPECKLE_FILTER": "none"}
    match kind:
        case "grd":
            return [
                SceneFile(
                    path,
                    ("vv", "vh"),
                    ("VV", "VH"),
                    "float32",
                    SCENE_NODATA,
                    {"PRODUCT": "GRD", "QUANTITY": "sigma0", **inten, "BAND_UNIT": unit},
                )
            ]
        case "gamma0":
            db = "_db" if units == "db" else ""  # SNAP's band names: Gamma0_VV, Gamma0_VV_db
            return [
                SceneFile(
                    path,
                    ("vv", "vh", "angle"),
                    (f"Gamma0_VV{db}", f"Gamma0_VH{db}", "angle"),
                    "float32",
                    SCENE_NODATA,
                    {"PRODUCT": "GRD", "QUANTITY": "gamma0", **inten, "BAND_UNIT": unit},
                )
            ]
        case "lee":
            return [
                SceneFile(
                    path,
                    ("vv", "vh"),
                    ("VV", "VH"),
                    "float32",
                    SCENE_NODATA,
                    {
                        "PRODUCT": "GRD",
                        "QUANTITY": "sigma0",
                        "UNITS": units,
                        "LOOKS": "1",
                        "SPECKLE_FILTER": "refined Lee 7x7 (lczmap.speckle), as So2Sat",
                        "BAND_UNIT": unit,
                    },
                )
            ]
        case "slc":
            return [
                SceneFile(
                    path,
                    ("vv", "vh"),
                    ("VV", "VH"),
                    "complex64",
                    SCENE_NODATA,
                    {
                        "PRODUCT": "SLC",
                        "QUANTITY": "sigma0 single-look complex amplitude",
                        "UNITS": "linear",
                        "BAND_UNIT": "linear amplitude",
                    },
                )
            ]
        case "hyp3":
            base = HYP3_NAME.format(scale="d" if units == "db" else "p", id=f"{seed & 0xFFFF:04X}")
            tags = {"PRODUCT": "RTC", "QUANTITY": "gamma0", **inten}
            return [
                SceneFile(path / f"{base}_{pol}.tif", (pol.lower(),), (None,), "float32", 0.0, tags) for pol in ("VV", "VH")
            ] + [
                SceneFile(path / f"{base}_inc_map.tif", ("inc_map",), (None,), "float32", 0.0, {}),
                SceneFile(path / f"{base}_ls_map.tif", ("ls_map",), (None,), "uint8", 0.0, {}),
            ]
        case "planetary":
            tags = {"PRODUCT": "RTC", "QUANTITY": "gamma0", **inten}
            return [
                SceneFile(path / "measurement" / f"iw-{pol}.rtc.tiff", (pol,), (None,), "float32", -32768.0, tags)
                for pol in ("vv", "vh")
            ]
        case "safe":
            from .safe import SAFE_NAME

            return [SceneFile(path / f"{SAFE_NAME}.SAFE", ("vv", "vh"), ("VV", "VH"), "uint16", 0.0, {})]
    raise ConfigError(f"unknown scene kind {kind!r}")  # pragma: no cover - checked before


def write_scene(
    path: str | os.PathLike,
    size: tuple[int, int] = SCENE_SIZE,
    seed: int = 0,
    kind: SceneKind = "grd",
    units: SceneUnits = "linear",
    truth_path: str | os.PathLike | None = None,
    crs: str = "EPSG:32633",
    origin: tuple[float, float] = (380000.0, 5830000.0),
    overwrite: bool = False,
    progress: Callable | None = None,
    block: int = 512,
) -> tuple[Path, Path]:
    """Write a Sentinel-1-like scene and its ground-truth LCZ map; return the scene's (first) file
    and the truth's path.

    ``kind`` (:data:`SCENE_KINDS`), 10 m pixels in ``crs`` with upper-left corner ``origin``:

    - ``grd``: a GeoTIFF, band 1 'VV', band 2 'VH', float32 sigma0 intensity as a user receives a
      GRD: multi-looked (about 4.4 looks), no speckle filter; linear or dB (``units``), NaN outside.
    - ``gamma0``: the same intensities as gamma0 (``sigma0 / cos(angle)``), bands 'Gamma0_VV',
      'Gamma0_VH' and 'angle' (incidence angle in degrees, :data:`SCENE_ANGLES` across the columns).
    - ``hyp3``: ``path`` is a folder holding an ASF HyP3 RTC product (:data:`HYP3_NAME`):
      ``..._VV.tif``, ``..._VH.tif`` (gamma0 power, or dB with ``units="db"``; nodata 0),
      ``..._inc_map.tif`` (incidence angle, radians) and ``..._ls_map.tif`` (1 inside the footprint).
    - ``planetary``: ``path`` is a folder holding ``measurement/iw-vv.rtc.tiff`` and
      ``iw-vh.rtc.tiff`` as Planetary Computer's ``sentinel-1-rtc`` assets: gamma0, linear power,
      nodata -32768.
    - ``lee``: single-look sigma0 refined-Lee filtered (:mod:`lczmap.speckle`) exactly as the
      twin's ``sen1`` channels 5 (VV) and 4 (VH): a scene written pre-filtered, as So2Sat had it.
    - ``slc``: complex64 single-look amplitudes, as the twin's channels 2+3j and 0+1j (linear).
    - ``safe``: ``path`` is a folder that receives an IW GRD SAFE product (``<name>.SAFE``,
      :func:`lczmap.twin.safe.write_safe`) holding the ``grd`` scene's sigma0 as uint16 digital
      numbers with calibration and noise LUTs, its radar grid the scene's 10 m grid (north up, so
      a reader that calibrates and geocodes right gives back the ``grd`` scene on its grid).

    A nodata frame of about 3 % of the size (with slanted swath edges) surrounds the data. The
    scene is rendered from a city calibration not used by the twin. The truth (``truth_path``,
    default ``<stem>_truth.tif`` beside ``path``) is uint8 LCZ codes 1-17 at 100 m with the same
    upper-left origin: truth cell (i, j) covers scene pixels [10i, 10i+10) x [10j, 10j+10); it is 0
    (nodata) where that cell's centre pixel is scene nodata. It carries the WUDAPT colours.

    Written window by window (``block`` pixels), atomically; memory stays bounded for any size.
    """
    import rasterio
    from rasterio.transform import Affine
    from rasterio.windows import Window

    from ..raster import LCZ_COLORMAP

    check_scene_options(size, kind, units)
    rows, cols = (int(v) for v in size)
    path = Path(path)
    files = file_specs(path, kind, units, int(seed))
    if truth_path is None:
        stem = path.name if kind in ("hyp3", "planetary", "safe") else path.stem
        truth_path = path.with_name(f"{stem}_truth.tif")
    truth_path = Path(truth_path)
    if kind == "safe":
        return _write_safe_scene(path, files[0].path, (rows, cols), seed, truth_path, crs, origin, overwrite, progress, block)
    for d in sorted({f.path.parent for f in files} - {path.parent}):
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create {d} ({exc.strerror}): choose a writable folder") from None
    for p in [f.path for f in files] + [truth_path]:
        check_output(p, overwrite)
    check_scene_room(path.parent, scene_bytes((rows, cols), kind, units))
    try:
        crs_obj = rasterio.crs.CRS.from_user_input(crs)
    except Exception as exc:
        raise ConfigError(f"cannot understand CRS {crs!r} ({exc}): pass e.g. 'EPSG:32633'") from None

    t_rows, t_cols = -(-rows // 10), -(-cols // 10)
    land = land_map(t_rows, t_cols, int(seed))
    border = max(1, int(round(0.03 * min(rows, cols))))
    city = make_cities(1, int(seed), "scene", stream=99)[0]
    key = int(stream_key(int(seed) & MASK64, 0x5CE4E))

    x0, y0 = float(origin[0]), float(origin[1])
    transform = Affine(10.0, 0.0, x0, 0.0, -10.0, y0)
    tile = 512 if min(rows, cols) >= 512 else 256 if min(rows, cols) >= 256 else None
    base = {
        "driver": "GTiff",
        "width": cols,
        "height": rows,
        "crs": crs_obj,
        "transform": transform,
        "interleave": "band",
        "BIGTIFF": "IF_SAFER",
    }
    if tile:
        base.update(tiled=True, blockxsize=tile, blockysize=tile)

    blocks = [(r0, c0) for r0 in range(0, rows, block) for c0 in range(0, cols, block)]
    bar = progress(total=len(blocks), desc="scene") if progress else None
    try:
        with contextlib.ExitStack() as stack:
            dsts = []
            for f in files:
                tmp = stack.enter_context(atomic_path(f.path, overwrite=overwrite, suffix=f.path.suffix))
                dst = stack.enter_context(rasterio.open(tmp, "w", **base, count=len(f.layers), dtype=f.dtype, nodata=f.nodata))
                describe_file(dst, f, seed)
                dsts.append(dst)
            for r0, c0 in blocks:
                h, w = min(block, rows - r0), min(block, cols - c0)
                layers = _render_scene_window(r0, c0, h, w, land, rows, cols, border, city, key, kind)
                win = Window(c0, r0, w, h)
                for f, dst in zip(files, dsts):
                    for b, name in enumerate(f.layers, start=1):
                        dst.write(scene_band(layers, name, kind, units, f.nodata), b, window=win)
                if bar is not None:
                    bar.update(1)
        # Truth: nodata where the cell centre is outside the swath.
        ti = np.arange(t_rows)[:, None] * 10 + 5
        tj = np.arange(t_cols)[None, :] * 10 + 5
        inside = (ti < rows) & (tj < cols) & valid_mask(ti, tj, rows, cols, border)
        truth = np.where(inside, land + 1, NODATA).astype(np.uint8)
        tprofile = {
            "driver": "GTiff",
            "width": t_cols,
            "height": t_rows,
            "count": 1,
            "dtype": "uint8",
            "crs": crs_obj,
            "transform": Affine(100.0, 0.0, x0, 0.0, -100.0, y0),
            "nodata": NODATA,
            "compress": "deflate",
        }
        with atomic_path(truth_path, overwrite=overwrite, suffix=".tif") as tmp:
            with rasterio.open(tmp, "w", **tprofile) as dst:
                dst.write(truth, 1)
                dst.set_band_description(1, "LCZ")
                dst.update_tags(1, UNITS="LCZ code 1-17 (A-G = 11-17), 0 = nodata")
                dst.update_tags(SCENE=files[0].path.name, SEED=str(seed))
                dst.write_colormap(1, LCZ_COLORMAP)
    finally:
        if bar is not None:
            bar.close()
    return files[0].path, truth_path


def _write_safe_scene(
    folder: Path,
    product: Path,
    size: tuple[int, int],
    seed: int,
    truth_path: Path,
    crs: str,
    origin: tuple[float, float],
    overwrite: bool,
    progress: Callable | None,
    block: int,
) -> tuple[Path, Path]:
    """The ``grd`` scene as an IW GRD SAFE product whose radar pixel (line, pixel) is the scene's
    pixel (row, column): its centre is put where that pixel's centre is (north up, 10 m)."""
    import shutil
    import tempfile

    import rasterio
    from pyproj import CRS, Transformer
    from rasterio.windows import Window

    from ..errors import OutputExistsError
    from .safe import safe_geometry, write_safe

    if product.exists() and not overwrite:
        raise OutputExistsError(f"{product} exists: pass --overwrite (overwrite=True) to replace it")
    rows, cols = size
    x0, y0 = float(origin[0]), float(origin[1])
    centre = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x0 + 5 + 5 * cols, y0 - 5 - 5 * rows)
    if CRS.from_user_input(safe_geometry(rows, cols, centre, 0.0)[0]) != CRS.from_user_input(crs):
        raise ConfigError(f"a SAFE scene is written in the UTM zone of its centre, not {crs}: give that zone's CRS")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {folder} ({exc.strerror}): choose a writable folder") from None
    with tempfile.TemporaryDirectory(prefix=".scene-safe-", dir=folder) as tmp:
        grd, truth = write_scene(
            Path(tmp) / "grd.tif", size, seed, "grd", "linear", truth_path, crs, origin, overwrite, progress, block
        )
        with rasterio.open(grd) as src:

            def sigma0(pol: str, r0: int, r1: int) -> np.ndarray:
                return src.read(1 if pol == "VV" else 2, window=Window(0, r0, cols, r1 - r0)).astype(np.float32)

            staged = write_safe(Path(tmp), rows, cols, sigma0, centre=centre, angle=0.0)
        if product.exists():
            shutil.rmtree(product)
        os.replace(staged, product)
    return product, truth


def describe_file(dst: DatasetWriter, f: SceneFile, seed: int) -> None:
    """Tags, band descriptions and units of one scene file."""
    tags = dict(f.tags)
    unit = tags.pop("BAND_UNIT", None)
    if tags:
        dst.update_tags(**tags, SENSOR="synthetic Sentinel-1 (lczmap.twin)", SEED=str(seed))
    for b, (name, desc) in enumerate(zip(f.layers, f.descriptions), start=1):
        if desc:
            dst.set_band_description(b, desc)
        if name in ("vv", "vh"):
            pol = name.upper()
            if unit:
                dst.set_band_unit(b, unit)  # GDAL's band unit type, what readers (and lczmap.scene) look at
                dst.update_tags(b, POLARISATION=pol, UNITS=unit)
        elif name == "angle":
            dst.set_band_unit(b, "degrees")
            dst.update_tags(b, UNITS="degrees", QUANTITY="incidence angle from the ellipsoid")
        elif name == "inc_map":
            dst.update_tags(b, UNITS="radians", QUANTITY="incidence angle")
        elif name == "ls_map":
            dst.update_tags(b, QUANTITY="layover and shadow flags (1: tested, no layover or shadow)")


def scene_band(layers: dict, name: str, kind: str, units: str, nodata: float) -> np.ndarray:
    """One band of a window from the rendered ``layers``: the file's quantity, units and nodata."""
    valid = layers["valid"]
    angle = layers["angle"]
    match name:
        case "angle":
            return np.where(valid, np.degrees(angle), nodata).astype(np.float32)
        case "inc_map":
            return np.where(valid, angle, nodata).astype(np.float32)
        case "ls_map":
            return valid.astype(np.uint8)
    img = layers[name]
    if kind == "slc":
        nan = np.complex64(complex(np.nan, np.nan))
        return np.where(valid, img, nan).astype(np.complex64)
    if kind in ("gamma0", "hyp3", "planetary"):
        img = img / np.cos(angle)
    if units == "db":
        img = 10 * np.log10(np.maximum(img, 1e-10))
    return np.where(valid, img, nodata).astype(np.float32)


def _render_scene_window(
    r0: int, c0: int, h: int, w: int, land: np.ndarray, rows: int, cols: int, border: int, city: City, key: int, kind: SceneKind
) -> dict[str, np.ndarray]:
    """Render scene pixels [r0, r0+h) x [c0, c0+w): layers ``vv``, ``vh`` (sigma0 intensity, or
    complex amplitude for ``slc``), ``valid`` (inside the swath) and ``angle`` (radians)."""
    r = np.arange(r0 - HALO, r0 + h + HALO, dtype=np.int64)[:, None]
    c = np.arange(c0 - HALO, c0 + w + HALO, dtype=np.int64)[None, :]
    y, x = np.broadcast_arrays(r, c)
    cls = land[np.clip(y // 10, 0, land.shape[0] - 1), np.clip(x // 10, 0, land.shape[1] - 1)]
    cls = cls.astype(np.int64)
    m = material_maps(cls, x, y, key, np.float32(city.height_scale))
    vv, vh = radar_sigma0(m, city.sar_gain_db, city.vh_offset_db, city.water_roughness_db)
    inner = (slice(HALO, -HALO), slice(HALO, -HALO))
    valid = valid_mask(y[inner], x[inner], rows, cols, border)
    first, last = np.radians(SCENE_ANGLES)
    angle = first + (last - first) * x[inner].astype(np.float64) / max(cols - 1, 1)
    out = {"valid": valid, "angle": angle}
    match kind:
        case "slc" | "lee":
            s_vv, s_vh = speckle(vv, vh, x, y, key)
            if kind == "slc":
                out.update(vv=s_vv[inner], vh=s_vh[inner])
            else:
                i_vh, i_vv, _ = polsar_lee(s_vh, s_vv)
                crop = (slice(HALO - LEE_HALO, HALO - LEE_HALO + h), slice(HALO - LEE_HALO, HALO - LEE_HALO + w))
                out.update(vv=i_vv[crop], vh=i_vh[crop])
        case _:
            g_vv, g_vh = multilook_intensity(vv[inner], vh[inner], x[inner], y[inner], key)
            out.update(vv=g_vv.astype(np.float64), vh=g_vh.astype(np.float64))
    return out
