"""LCZ rasters as QGIS users expect them.

An LCZ raster is a uint8 Cloud-Optimized GeoTIFF holding LCZ codes 1-17 (A-G = 11-17) with
nodata 0, the WUDAPT colour table embedded (QGIS shows it as "Paletted/Unique values"), overviews
resampled by MODE (classes never blend), DEFLATE compression, 512-pixel tiles and tags naming the
model, lczmap's version, the input and the date. Beside it go ``<name>.aux.xml`` (GDAL category
names and a raster attribute table) and ``<name>.qml`` (a QGIS paletted style with class names).
Probabilities and confidence are float32 COGs (nodata NaN, overviews by AVERAGE).

Every file is written through :func:`lczmap._io.atomic_path`: a temporary name in the
destination folder, renamed into place when complete.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Mapping
from xml.sax.saxutils import escape

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.windows import Window

from ._io import atomic_path, check_output
from .classes import LCZ_CLASSES, NODATA

__all__ = [
    "LCZ_COLORMAP",
    "lcz_profile",
    "float_profile",
    "create_lcz",
    "create_float",
    "publish_cog",
    "write_lcz",
    "write_float",
    "lcz_qml",
    "lcz_aux_xml",
    "STYLE_PATH",
]

log = logging.getLogger(__name__)

#: The QGIS style shipped with lczmap, copied beside every LCZ raster.
STYLE_PATH = Path(__file__).parent / "styles" / "lcz_raster.qml"

#: Colour table of LCZ rasters: code -> (r, g, b, alpha); 0 (nodata) is transparent.
LCZ_COLORMAP: dict[int, tuple[int, int, int, int]] = {NODATA: (0, 0, 0, 0)}
LCZ_COLORMAP.update({c.code: (*c.rgb, 255) for c in LCZ_CLASSES})

_BLOCK = 512


def lcz_profile(height: int, width: int, transform, crs) -> dict:
    """GeoTIFF creation profile of an (intermediate) LCZ raster; a new dict each call."""
    return {
        "driver": "GTiff",
        "dtype": "uint8",
        "count": 1,
        "height": height,
        "width": width,
        "transform": transform,
        "crs": crs,
        "nodata": NODATA,
        "tiled": True,
        "blockxsize": _BLOCK,
        "blockysize": _BLOCK,
        "compress": "deflate",
    }


def float_profile(count: int, height: int, width: int, transform, crs) -> dict:
    """GeoTIFF creation profile of a float32 (probability, confidence) raster; a new dict."""
    profile = lcz_profile(height, width, transform, crs)
    profile.update(dtype="float32", count=count, nodata=float("nan"), predictor=3)
    return profile


def create_lcz(path: str | os.PathLike, height: int, width: int, transform, crs, tags: Mapping | None = None):
    """Open a new tiled uint8 GeoTIFF for LCZ codes, colour table set; the caller writes and closes.

    This is the intermediate file that :func:`publish_cog` turns into the final COG.
    """
    ds = rasterio.open(path, "w", **lcz_profile(height, width, transform, crs))
    ds.write_colormap(1, LCZ_COLORMAP)
    ds.set_band_description(1, "LCZ")
    if tags:
        ds.update_tags(**{k: str(v) for k, v in tags.items()})
    return ds


def create_float(
    path: str | os.PathLike,
    count: int,
    height: int,
    width: int,
    transform,
    crs,
    descriptions: Iterable[str] = (),
    tags: Mapping | None = None,
):
    """Open a new tiled float32 GeoTIFF (nodata NaN); the caller writes and closes."""
    ds = rasterio.open(path, "w", **float_profile(count, height, width, transform, crs))
    for i, text in enumerate(descriptions, start=1):
        ds.set_band_description(i, text)
    if tags:
        ds.update_tags(**{k: str(v) for k, v in tags.items()})
    return ds


def publish_cog(src: str | os.PathLike, out: str | os.PathLike, overwrite: bool = False, kind: str = "lcz") -> Path:
    """Copy the GeoTIFF ``src`` to ``out`` as a Cloud-Optimized GeoTIFF, atomically.

    ``kind='lcz'``: MODE overviews, plus ``.aux.xml`` (category names, attribute table) and
    ``.qml`` beside it. ``kind='float'``: AVERAGE overviews. Returns ``out``.
    """
    out = Path(out)
    resampling = "MODE" if kind == "lcz" else "AVERAGE"
    options = dict(
        COMPRESS="DEFLATE",
        BLOCKSIZE=_BLOCK,
        OVERVIEW_RESAMPLING=resampling,
        OVERVIEWS="AUTO",
        BIGTIFF="IF_SAFER",
    )
    if kind != "lcz":
        options["PREDICTOR"] = "FLOATING_POINT"
    with atomic_path(out, overwrite=overwrite) as tmp:
        with rasterio.Env(GDAL_PAM_ENABLED="NO"):
            rasterio.shutil.copy(src, tmp, driver="COG", **options)
    if kind == "lcz":
        with atomic_path(out.with_name(out.name + ".aux.xml"), overwrite=True) as tmp:
            tmp.write_text(lcz_aux_xml())
        with atomic_path(out.with_suffix(".qml"), overwrite=True) as tmp:
            shutil.copyfile(STYLE_PATH, tmp)
    log.info("wrote %s", out)
    return out


def _strips(height: int, rows: int = 2048):
    for r0 in range(0, height, rows):
        yield r0, min(height, r0 + rows)


def write_lcz(
    path: str | os.PathLike,
    codes: np.ndarray,
    transform,
    crs,
    tags: Mapping | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a 2-D array of LCZ codes (0 = nodata) as an LCZ COG with its ``.aux.xml`` and ``.qml``.

    ``codes``: uint8-compatible (H, W) array, values in 0-17. Returns the path written.
    """
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must be a 2-D array, got shape {codes.shape}")
    if codes.size and (codes.min() < 0 or codes.max() > 17):
        raise ValueError("codes must hold LCZ codes 1-17 or 0 for nodata")
    out = check_output(path, overwrite)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as tmp:
        stage = Path(tmp) / "stage.tif"
        with create_lcz(stage, *codes.shape, transform, crs, tags) as ds:
            for r0, r1 in _strips(codes.shape[0]):
                ds.write(codes[r0:r1].astype(np.uint8), 1, window=Window(0, r0, codes.shape[1], r1 - r0))
        publish_cog(stage, out, overwrite=overwrite, kind="lcz")
    return out


def write_float(
    path: str | os.PathLike,
    data: np.ndarray,
    transform,
    crs,
    descriptions: Iterable[str] = (),
    tags: Mapping | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a (K, H, W) or (H, W) float array as a float32 COG (nodata NaN). Returns the path."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:
        data = data[None]
    out = check_output(path, overwrite)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as tmp:
        stage = Path(tmp) / "stage.tif"
        with create_float(stage, data.shape[0], *data.shape[1:], transform, crs, descriptions, tags) as ds:
            for r0, r1 in _strips(data.shape[1], 1024):  # strips of K bands: half the rows
                ds.write(data[:, r0:r1], window=Window(0, r0, data.shape[2], r1 - r0))
        publish_cog(stage, out, overwrite=overwrite, kind="float")
    return out


def lcz_aux_xml() -> str:
    """GDAL PAM sidecar for an LCZ raster: category names (index = pixel value) and a thematic
    raster attribute table (Value, Class, Label, Red, Green, Blue, Alpha)."""
    names = ["No data"] + [""] * 17
    for c in LCZ_CLASSES:
        names[c.code] = c.title
    cats = "\n".join(f"      <Category>{escape(n)}</Category>" for n in names)
    # GDALRATFieldType: 0 int, 2 string; GDALRATFieldUsage: 5 MinMax, 2 Name, 0 Generic, 6-9 RGBA.
    fields = [("Value", 0, 5), ("Class", 2, 2), ("Label", 2, 0), ("Red", 0, 6), ("Green", 0, 7),
              ("Blue", 0, 8), ("Alpha", 0, 9)]
    defs = "\n".join(
        f'      <FieldDefn index="{i}"><Name>{n}</Name><Type>{t}</Type><Usage>{u}</Usage></FieldDefn>'
        for i, (n, t, u) in enumerate(fields)
    )
    rows = []
    for i, c in enumerate(LCZ_CLASSES):
        r, g, b = c.rgb
        cells = "".join(f"<F>{escape(str(v))}</F>" for v in (c.code, c.name, c.label, r, g, b, 255))
        rows.append(f'      <Row index="{i}">{cells}</Row>')
    body = "\n".join(rows)
    return (
        "<PAMDataset>\n"
        '  <PAMRasterBand band="1">\n'
        "    <CategoryNames>\n"
        f"{cats}\n"
        "    </CategoryNames>\n"
        '    <GDALRasterAttributeTable tableType="thematic">\n'
        f"{defs}\n{body}\n"
        "    </GDALRasterAttributeTable>\n"
        "  </PAMRasterBand>\n"
        "</PAMDataset>\n"
    )


def lcz_qml() -> str:
    """A QGIS layer style (paletted renderer, WUDAPT colours, 'LCZ 6 Open low-rise' labels).

    lczmap ships its output as ``lczmap/styles/lcz_raster.qml``; this function is its source."""
    entries = "\n".join(
        f'        <paletteEntry value="{c.code}" color="{c.colour}" alpha="255" '
        f'label="{escape(c.title)}"/>'
        for c in LCZ_CLASSES
    )
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        '<qgis version="3.22" styleCategories="AllStyleCategories">\n'
        "  <pipe>\n"
        '    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">\n'
        "      <rasterTransparency/>\n"
        "      <minMaxOrigin><limits>None</limits><extent>WholeRaster</extent>"
        "<statAccuracy>Estimated</statAccuracy><cumulativeCutLower>0.02</cumulativeCutLower>"
        "<cumulativeCutUpper>0.98</cumulativeCutUpper><stdDevFactor>2</stdDevFactor></minMaxOrigin>\n"
        "      <colorPalette>\n"
        f"{entries}\n"
        "      </colorPalette>\n"
        "      <colorramp type=\"randomcolors\" name=\"[source]\"/>\n"
        "    </rasterrenderer>\n"
        '    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>\n'
        '    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0" colorizeStrength="100"/>\n'
        '    <rasterresampler maxOversampling="2" zoomedInResampler="nearest" zoomedOutResampler="nearest"/>\n'
        "  </pipe>\n"
        "  <blendMode>0</blendMode>\n"
        "</qgis>\n"
    )
