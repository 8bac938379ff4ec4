"""Sentinel-1-like scenes and their ground-truth LCZ maps, rendered from the twin's class models.

A scene's class layout is blobs about 500 m across around jittered seeds, with urban cores and a
meandering river (100 m cells); its pixels come out of the same renderer as the twin's patches, with
a city calibration of its own. Written window by window with a halo, so the output never depends on
the window size (:func:`write_scene`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np

from .._io import atomic_path, check_output
from ..bands import UNITS, Units
from ..classes import NODATA
from ..errors import ConfigError
from .cities import City, make_cities
from .lee import polsar_lee
from .materials import HALO, material_maps, radar_sigma0
from .noise import MASK64, speckle, stream_key, value_noise

__all__ = ["SceneKind", "SceneUnits", "SCENE_KINDS", "SCENE_UNITS", "SCENE_SIZE", "SCENE_NODATA", "check_scene_options",
           "write_scene"]

SceneKind = Literal["grd", "slc"]
SceneUnits = Units  # one home: lczmap.bands
#: Accepted scene ``kind`` names: GRD (Lee-filtered intensity) or SLC (complex amplitudes).
SCENE_KINDS: tuple[SceneKind, ...] = ("grd", "slc")
#: Accepted scene ``units`` names (an SLC scene is always linear).
SCENE_UNITS = UNITS
#: Default scene size (rows, columns) in 10 m pixels.
SCENE_SIZE = (1000, 1200)
#: Nodata value of synthetic scenes (float32 and complex64): NaN.
SCENE_NODATA = float("nan")

_URBAN_BANDS = (  # (minimum urbanity, {LCZ code: weight})
    (0.7, {1: 2, 2: 4, 4: 2, 5: 2, 10: 1, 8: 1, 15: 1}),
    (0.4, {2: 2, 3: 3, 5: 2, 6: 3, 8: 3, 10: 1.5, 7: 1, 4: 1, 12: 0.5}),
    (0.15, {6: 4, 3: 1, 9: 2, 8: 1.5, 7: 0.7, 12: 1.5, 11: 1, 14: 1}),
    (-1.0, {11: 3, 12: 1.5, 13: 1.5, 14: 4, 16: 1, 9: 1, 17: 0.7, 15: 0.3}),
)


def _land_map(rows: int, cols: int, seed: int) -> np.ndarray:
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


def _valid_mask(r: np.ndarray, c: np.ndarray, rows: int, cols: int, border: int) -> np.ndarray:
    """Scene footprint: a ``border``-pixel frame of nodata, with slanted left/right edges (the
    swath of a satellite track), widening to 2 x ``border`` on the left at the bottom and on the
    right at the top."""
    t = r / max(rows - 1, 1)
    left = border + border * t
    right = cols - border - border * (1 - t)
    return (r >= border) & (r < rows - border) & (c >= left) & (c < right)


def check_scene_options(size: tuple[int, int], kind: str, units: str) -> None:
    """Refuse a scene size, kind or units that :func:`write_scene` cannot write (before any work)."""
    rows, cols = (int(v) for v in size)
    if rows < 20 or cols < 20:
        raise ConfigError(f"scene size {tuple(size)!r} is too small: use at least 20 x 20 pixels (--scene-size)")
    if kind not in SCENE_KINDS:
        raise ConfigError(f"unknown scene kind {kind!r}: choose {' or '.join(SCENE_KINDS)} (--scene-kind)")
    if units not in SCENE_UNITS:
        raise ConfigError(f"unknown units {units!r}: choose {' or '.join(SCENE_UNITS)} (--units)")
    if kind == "slc" and units != "linear":
        raise ConfigError(
            "an SLC scene holds complex amplitudes and cannot be in dB: "
            "use units='linear' (drop --units) or kind='grd' (--scene-kind grd)"
        )


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
    """Write a Sentinel-1-like scene and its ground-truth LCZ map; return their paths.

    The scene (GeoTIFF, ``crs``, 10 m pixels, upper-left corner ``origin``) holds band 1 'VV' and
    band 2 'VH'. ``kind="grd"``: float32 Lee-filtered backscatter intensity (sigma0), linear or in
    dB (``units``), rendered exactly as the twin's ``sen1`` channels 5 and 4; ``kind="slc"``:
    complex64 single-look amplitudes, as the twin's channels 2+3j and 0+1j (``units`` must be
    linear). A nodata frame of about 3 % of the size (NaN, with slanted swath edges) surrounds the
    data. The scene is rendered from a city calibration not used by the twin.

    The truth (``truth_path``, default ``<stem>_truth.tif``) is uint8 LCZ codes 1-17 at 100 m with
    the same upper-left origin: truth cell (i, j) covers scene pixels [10i, 10i+10) x [10j, 10j+10);
    it is 0 (nodata) where that cell's centre pixel is scene nodata. It carries the WUDAPT colours.

    Written window by window (``block`` pixels), atomically; memory stays bounded for any size.
    """
    import rasterio
    from rasterio.transform import Affine
    from rasterio.windows import Window

    from ..raster import LCZ_COLORMAP

    check_scene_options(size, kind, units)
    rows, cols = (int(v) for v in size)
    path = Path(path)
    truth_path = Path(truth_path) if truth_path is not None else path.with_name(f"{path.stem}_truth.tif")
    for p in (path, truth_path):
        check_output(p, overwrite)
    try:
        crs_obj = rasterio.crs.CRS.from_user_input(crs)
    except Exception as exc:
        raise ConfigError(f"cannot understand CRS {crs!r} ({exc}): pass e.g. 'EPSG:32633'") from None

    t_rows, t_cols = -(-rows // 10), -(-cols // 10)
    land = _land_map(t_rows, t_cols, int(seed))
    border = max(1, int(round(0.03 * min(rows, cols))))
    city = make_cities(1, int(seed), "scene", stream=99)[0]
    key = int(stream_key(int(seed) & MASK64, 0x5CE4E))

    x0, y0 = float(origin[0]), float(origin[1])
    transform = Affine(10.0, 0.0, x0, 0.0, -10.0, y0)
    tile = 512 if min(rows, cols) >= 512 else 256 if min(rows, cols) >= 256 else None
    profile = {
        "driver": "GTiff",
        "width": cols,
        "height": rows,
        "count": 2,
        "dtype": "float32" if kind == "grd" else "complex64",
        "crs": crs_obj,
        "transform": transform,
        "nodata": SCENE_NODATA,
        "interleave": "band",
        "BIGTIFF": "IF_SAFER",
    }
    if tile:
        profile.update(tiled=True, blockxsize=tile, blockysize=tile)
    quantity = "sigma0 backscatter intensity, Lee-filtered 5x5" if kind == "grd" else "single-look complex amplitude"
    unit = {"linear": "linear power" if kind == "grd" else "linear amplitude", "db": "dB"}[units]

    blocks = [(r0, c0) for r0 in range(0, rows, block) for c0 in range(0, cols, block)]
    bar = progress(total=len(blocks), desc="scene") if progress else None
    try:
        with atomic_path(path, overwrite=overwrite, suffix=".tif") as tmp:
            with rasterio.open(tmp, "w", **profile) as dst:
                dst.update_tags(
                    PRODUCT=kind.upper(),
                    UNITS=units,
                    QUANTITY=quantity,
                    SENSOR="synthetic Sentinel-1 (lczmap.twin)",
                    SEED=str(seed),
                    NODATA="NaN outside the swath",
                )
                for b, pol in ((1, "VV"), (2, "VH")):
                    dst.set_band_description(b, pol)
                    dst.set_band_unit(b, unit)  # GDAL's band unit type, what readers (and lczmap.scene) look at
                    dst.update_tags(b, POLARISATION=pol, UNITS=unit, QUANTITY=quantity)
                for r0, c0 in blocks:
                    h, w = min(block, rows - r0), min(block, cols - c0)
                    vv, vh = _render_scene_window(r0, c0, h, w, land, rows, cols, border, city, key, kind, units)
                    win = Window(c0, r0, w, h)
                    dst.write(vv, 1, window=win)
                    dst.write(vh, 2, window=win)
                    if bar is not None:
                        bar.update(1)
        # Truth: nodata where the cell centre is outside the swath.
        ti = np.arange(t_rows)[:, None] * 10 + 5
        tj = np.arange(t_cols)[None, :] * 10 + 5
        inside = (ti < rows) & (tj < cols) & _valid_mask(ti, tj, rows, cols, border)
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
                dst.update_tags(SCENE=path.name, SEED=str(seed))
                dst.write_colormap(1, LCZ_COLORMAP)
    finally:
        if bar is not None:
            bar.close()
    return path, truth_path


def _render_scene_window(r0, c0, h, w, land, rows, cols, border, city: City, key, kind, units):
    """Render scene pixels [r0, r0+h) x [c0, c0+w): (vv, vh) float32 or complex64, NaN outside."""
    r = np.arange(r0 - HALO, r0 + h + HALO, dtype=np.int64)[:, None]
    c = np.arange(c0 - HALO, c0 + w + HALO, dtype=np.int64)[None, :]
    y, x = np.broadcast_arrays(r, c)
    cls = land[np.clip(y // 10, 0, land.shape[0] - 1), np.clip(x // 10, 0, land.shape[1] - 1)]
    cls = cls.astype(np.int64)
    m = material_maps(cls, x, y, key, np.float32(city.height_scale))
    vv, vh = radar_sigma0(m, city.sar_gain_db, city.vh_offset_db, city.water_roughness_db)
    s_vv, s_vh = speckle(vv, vh, x, y, key)
    valid = _valid_mask(y[HALO:-HALO, HALO:-HALO], x[HALO:-HALO, HALO:-HALO], rows, cols, border)
    if kind == "slc":
        out_vv = s_vv[HALO:-HALO, HALO:-HALO].astype(np.complex64)
        out_vh = s_vh[HALO:-HALO, HALO:-HALO].astype(np.complex64)
        nan = np.complex64(complex(np.nan, np.nan))
        return np.where(valid, out_vv, nan), np.where(valid, out_vh, nan)
    i_vh, i_vv, _ = polsar_lee(s_vh, s_vv)
    out = []
    for img in (i_vv, i_vh):
        img = img[HALO - 2 : HALO - 2 + h, HALO - 2 : HALO - 2 + w]
        if units == "db":
            img = 10 * np.log10(np.maximum(img, 1e-10))
        out.append(np.where(valid, img, np.nan).astype(np.float32))
    return out[0], out[1]
