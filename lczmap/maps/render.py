"""A map of an LCZ raster that a person can read at a glance (matplotlib's object API).

:func:`render_map` draws the WUDAPT palette, a legend naming the classes present, a scale bar,
the CRS and, from the raster's tags (what :mod:`lczmap.predict` writes: ``model``, ``date``,
``lczmap_version``), the model and date. Large maps are reduced for display by the most common
class of each block of ``f x f`` pixels (mode; no data only where the whole block is no data),
read in strips so memory stays bounded whatever the map's size.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._io import check_outputs
from ..classes import LCZ_CLASSES
from ..errors import ZonesError
from ..zones.lczraster import CodeScheme, LczRasterInfo, Progress, inspect_lcz, read_codes
from .report import figure_format, save_figure

if TYPE_CHECKING:
    from rasterio.crs import CRS

__all__ = ["render_map", "DEFAULT_MAX_PIXELS", "display_codes", "pixel_size_text"]

#: Largest number of map pixels drawn; larger maps are reduced by block mode.
DEFAULT_MAX_PIXELS = 1_500_000


def display_codes(info: LczRasterInfo, max_pixels: int = DEFAULT_MAX_PIXELS, progress: Progress = None) -> tuple[np.ndarray, int]:
    """The map reduced by block mode to at most ``max_pixels`` pixels: (codes, factor)."""
    import rasterio
    from rasterio.windows import Window

    height, width = info.shape
    f = max(1, math.ceil(math.sqrt(height * width / max(max_pixels, 1))))
    out_h, out_w = math.ceil(height / f), math.ceil(width / f)
    out = np.zeros((out_h, out_w), np.uint8)
    bar = progress(total=out_h, desc="reduce for display") if progress else None
    with rasterio.open(info.path) as src:
        for i in range(out_h):
            r0 = i * f
            strip = read_codes(src, info, Window(0, r0, width, min(f, height - r0)))
            if f == 1:
                out[i] = strip[0]
            else:
                pad = np.zeros((f, out_w * f), np.uint8)
                pad[: strip.shape[0], :width] = strip
                blocks = pad.reshape(f, out_w, f).transpose(1, 0, 2).reshape(out_w, f * f)
                counts = np.stack([(blocks == k).sum(axis=1) for k in range(1, 18)], axis=1)
                out[i] = np.where(counts.max(axis=1) > 0, counts.argmax(axis=1) + 1, 0)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return out, f


def _nice(length: float) -> float:
    """A round length (1, 2 or 5 x 10^n) not above ``length``."""
    if length <= 0:
        return 0.0
    base = 10 ** math.floor(math.log10(length))
    return max(m * base for m in (1, 2, 5) if m * base <= length)


def render_map(
    lcz_path: str | os.PathLike,
    out_path: str | os.PathLike,
    title: str | None = None,
    codes: CodeScheme = "auto",
    nodata: float | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    dpi: int = 150,
    overwrite: bool = False,
    progress: Progress = None,
    band: int | str | None = None,
) -> Path:
    """Draw the LCZ map ``lcz_path`` to ``out_path`` (.png or .pdf). Returns ``out_path``.

    ``band``: the band to draw, by number or description (default: the ``lczFilter`` band of an
    LCZ Generator product, else band 1; see :func:`~lczmap.zones.lczraster.pick_band`)."""
    import rasterio
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    figure_format(out_path)
    if max_pixels < 1 or dpi < 10:
        raise ZonesError(f"max_pixels (--max-pixels) must be >= 1 and dpi (--dpi) >= 10, got {max_pixels} and {dpi}")
    check_outputs([Path(out_path)], [lcz_path], overwrite)
    info = inspect_lcz(lcz_path, codes=codes, nodata=nodata, progress=progress, band=band)
    with rasterio.open(info.path) as src:
        tags = src.tags()
        band_name = src.descriptions[info.band - 1] if src.count > 1 else None
    shown, factor = display_codes(info, max_pixels, progress)
    t, (height, width) = info.transform, info.shape
    extent = (t.c, t.c + t.a * width, t.f + t.e * height, t.f)
    colours = ["#ffffff"] + [c.colour for c in LCZ_CLASSES]
    cmap = ListedColormap(colours)
    rgba = cmap(shown.astype(np.int64))
    rgba[shown == 0, 3] = 0.0  # no data: transparent

    aspect = (height / width) if width else 1.0
    fig = Figure(figsize=(9.5, max(4.0, min(12.0, 6.5 * aspect + 1.0))))
    ax = fig.add_axes((0.05, 0.1, 0.62, 0.82))
    ax.imshow(rgba, extent=extent, interpolation="nearest")
    ax.set_title(title or Path(lcz_path).name, fontsize=11)
    ax.tick_params(labelsize=7)
    ax.ticklabel_format(useOffset=False, style="plain")
    present = [c for c in LCZ_CLASSES if info.pixels[c.code] > 0]
    handles = [Patch(facecolor=c.colour, edgecolor="#444444", linewidth=0.4, label=c.title) for c in present]
    fig.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(0.69, 0.92),
        fontsize=8,
        frameon=False,
        title="Local Climate Zones",
        title_fontsize=9,
    )

    metres_per_unit = _metres_per_unit(info)
    span = (extent[1] - extent[0]) * metres_per_unit
    bar_m = _nice(span / 5)
    if bar_m > 0:
        label = f"{bar_m / 1000:g} km" if bar_m >= 1000 else f"{bar_m:g} m"
        ax.add_artist(
            AnchoredSizeBar(
                ax.transData,
                bar_m / metres_per_unit,
                label,
                "lower left",
                pad=0.4,
                frameon=True,
                size_vertical=(extent[3] - extent[2]) / 150,
                fontproperties={"size": 8},
            )
        )
    lines = [f"CRS: {_crs_text(info.crs)}"]
    if band_name is not None or info.band != 1:
        lines.append(f"Band: {info.band}" + (f" ({band_name})" if band_name else ""))
    if "model" in tags:
        lines.append(f"Model: {tags['model']}")
    if "date" in tags:
        lines.append(f"Date: {tags['date']}")
    if "lczmap_version" in tags:
        lines.append(f"lczmap {tags['lczmap_version']}")
    lines.append(f"Pixel: {pixel_size_text(info)}" + (f" (shown: mode of {factor} x {factor})" if factor > 1 else ""))
    fig.text(0.69, 0.1, "\n".join(lines), fontsize=8, va="bottom", ha="left")
    return save_figure(fig, out_path, overwrite, dpi=dpi)


def pixel_size_text(info: LczRasterInfo) -> str:
    """The pixel size as a reader wants it: '10 m', '10 x 20 m', or for a geographic map its
    degrees and their length on the ground at the map's centre ('0.001° x 0.00135° (about 112 x 150 m)')."""
    t, (height, width) = info.transform, info.shape
    if info.crs.is_geographic:
        from pyproj import Geod

        lon, lat = t.c + t.a * width / 2, t.f + t.e * height / 2
        geod = Geod(ellps="WGS84")
        x_m = geod.inv(lon - abs(t.a) / 2, lat, lon + abs(t.a) / 2, lat)[2]
        y_m = geod.inv(lon, lat - abs(t.e) / 2, lon, lat + abs(t.e) / 2)[2]
        return f"{abs(t.a):.3g}° x {abs(t.e):.3g}° (about {_metres(x_m)} x {_metres(y_m)} m)"
    unit = _metres_per_unit(info)
    x_m, y_m = abs(t.a) * unit, abs(t.e) * unit
    if math.isclose(x_m, y_m, rel_tol=1e-6):
        return f"{_metres(x_m)} m"
    return f"{_metres(x_m)} x {_metres(y_m)} m"


def _metres(length: float) -> str:
    return f"{length:.0f}" if length >= 10 else f"{length:.2g}"


def _crs_text(crs: CRS) -> str:
    """'EPSG:32633 (WGS 84 / UTM zone 33N)', or the CRS's name."""
    from pyproj import CRS

    name = CRS.from_wkt(crs.to_wkt()).name
    epsg = crs.to_epsg()
    return f"EPSG:{epsg} ({name})" if epsg else name


def _metres_per_unit(info: LczRasterInfo) -> float:
    """Metres per CRS unit along x (at the map's centre latitude for geographic CRSs)."""
    from ..zones.lczraster import linear_unit

    if info.crs.is_geographic:
        t, (height, _) = info.transform, info.shape
        lat = t.f + t.e * height / 2
        return 111_320.0 * math.cos(math.radians(lat))
    return linear_unit(info.crs)
