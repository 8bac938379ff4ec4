"""LCZ rasters as QGIS users expect them.

An LCZ raster is a uint8 Cloud-Optimized GeoTIFF holding LCZ codes 1-17 (A-G = 11-17) with
nodata 0, the WUDAPT colour table embedded (QGIS shows it as "Paletted/Unique values"), overviews
resampled by MODE (classes never blend), DEFLATE compression, 512-pixel tiles and tags naming the
model, lczmap's version, the input and the date. Beside it go ``<name>.aux.xml`` (GDAL category
names and a raster attribute table) and ``<name>.qml`` (a QGIS paletted style with class names).
Probabilities and confidence are float32 COGs (nodata NaN, overviews by AVERAGE).

``coding="101-107"`` writes LCZ A-G as 101-107 instead of 11-17 (the LCZ Generator's and
GeoClimate's convention, which UMEP's converter expects); colours, names and style follow, and
the ``lcz_coding`` tag says which. The LCZ Generator product (:func:`write_lcz_product`) is one
uint8 GeoTIFF with the bands ``lcz`` (raw), ``lczFilter`` (filtered, the recommended layer) and
``classProbability`` (percent), named as the LCZ Generator names them, so that tools that pick
the filtered band by its name (w2w, LCZ4r) take the right one; its style shows ``lczFilter``.

Every file is written through :func:`lczmap._io.atomic_path`: a temporary name in the
destination folder, renamed into place when complete. A COG is reopened and its last block (and
that of its smallest overview) read before it replaces anything, since GDAL's copy can report
success for a file a full disk cut short; the COG and its sidecars replace the old set together
or not at all (the old files are kept under hidden names until every new one is in place). A
failed write is one :class:`~lczmap.errors.OutputError` line: "no space left on ..." with the
figures when the file system (or the process's file-size limit) has no room, else what failed.

One module: the LCZ map, the LCZ Generator layout and the float layers share one COG writer, one
verification and one sidecar set (style, categories, colour table).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.windows import Window

from ._io import (
    NO_SPACE,
    check_free_space,
    check_output,
    disk_full_error,
    fsync_path,
    output_fileset,
    sidecars_of,
    writing,
)
from .classes import LCZ_CLASSES, NODATA, coded_value
from .errors import OutputError

if TYPE_CHECKING:
    from rasterio.crs import CRS
    from rasterio.io import DatasetWriter

__all__ = [
    "gdal_error_message",
    "LCZ_COLORMAP",
    "LCZ_GENERATOR_BANDS",
    "lcz_colormap",
    "coding_lut",
    "write_lcz_product",
    "lcz_profile",
    "float_profile",
    "create_lcz",
    "create_float",
    "publish_cog",
    "write_lcz",
    "write_lcz_strips",
    "write_float",
    "lcz_qml",
    "lcz_aux_xml",
    "verify_raster",
    "raster_bytes",
    "STYLE_PATH",
]

log = logging.getLogger(__name__)

#: The QGIS style shipped with lczmap, copied beside every LCZ raster.
STYLE_PATH = Path(__file__).parent / "styles" / "lcz_raster.qml"

#: Colour table of LCZ rasters: code -> (r, g, b, alpha); 0 (nodata) is transparent.
LCZ_COLORMAP: dict[int, tuple[int, int, int, int]] = {NODATA: (0, 0, 0, 0)}
LCZ_COLORMAP.update({c.code: (*c.rgb, 255) for c in LCZ_CLASSES})
#: Band names of the LCZ Generator product, in its order: raw LCZ, filtered LCZ, probability (%).
LCZ_GENERATOR_BANDS = ("lcz", "lczFilter", "classProbability")


def lcz_colormap(coding: str = "1-17") -> dict[int, tuple[int, int, int, int]]:
    """Colour table of an LCZ raster in ``coding`` (pixel value -> RGBA; 0 transparent)."""
    table = {NODATA: (0, 0, 0, 0)}
    table.update({coded_value(c.code, coding): (*c.rgb, 255) for c in LCZ_CLASSES})
    return table


def coding_lut(coding: str = "1-17") -> np.ndarray:
    """uint8 lookup table from codes 0-17 (0 = nodata) to the pixel values of ``coding``."""
    return np.array([0] + [coded_value(c, coding) for c in range(1, 18)], dtype=np.uint8)


_BLOCK = 512


def lcz_profile(height: int, width: int, transform: Affine, crs: CRS | str | None) -> dict:
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


def float_profile(count: int, height: int, width: int, transform: Affine, crs: CRS | str | None) -> dict:
    """GeoTIFF creation profile of a float32 (probability, confidence) raster; a new dict."""
    profile = lcz_profile(height, width, transform, crs)
    profile.update(dtype="float32", count=count, nodata=float("nan"), predictor=3)
    return profile


def create_lcz(
    path: str | os.PathLike,
    height: int,
    width: int,
    transform: Affine,
    crs: CRS | str | None,
    tags: Mapping | None = None,
    coding: str = "1-17",
    descriptions: tuple[str, ...] = ("LCZ",),
) -> DatasetWriter:
    """Open a new tiled uint8 GeoTIFF for LCZ values in ``coding`` (one band per description;
    one band gets the colour table); the caller writes and closes.

    This is the intermediate file that :func:`publish_cog` turns into the final COG.
    """
    profile = lcz_profile(height, width, transform, crs)
    profile["count"] = len(descriptions)
    ds = rasterio.open(path, "w", **profile)
    if len(descriptions) == 1:  # GeoTIFF holds a colour table for single-band files only
        ds.write_colormap(1, lcz_colormap(coding))
    for i, text in enumerate(descriptions, start=1):
        ds.set_band_description(i, text)
    ds.update_tags(**{k: str(v) for k, v in (tags or {}).items()}, lcz_coding=coding)
    return ds


def create_float(
    path: str | os.PathLike,
    count: int,
    height: int,
    width: int,
    transform: Affine,
    crs: CRS | str | None,
    descriptions: Iterable[str] = (),
    tags: Mapping | None = None,
) -> DatasetWriter:
    """Open a new tiled float32 GeoTIFF (nodata NaN); the caller writes and closes."""
    ds = rasterio.open(path, "w", **float_profile(count, height, width, transform, crs))
    for i, text in enumerate(descriptions, start=1):
        ds.set_band_description(i, text)
    if tags:
        ds.update_tags(**{k: str(v) for k, v in tags.items()})
    return ds


def raster_bytes(count: int, height: int, width: int, dtype: str = "uint8") -> int:
    """Upper bound of the size of a COG: the uncompressed pixels, a third more for overviews,
    and room for headers and sidecars."""
    return int(count * height * width * np.dtype(dtype).itemsize * 4 / 3) + (1 << 16)


def verify_raster(path: str | os.PathLike, count: int | None = None, height: int | None = None, width: int | None = None) -> None:
    """Reopen the raster at ``path`` and read its last block (every band) and the last block of
    its smallest overview; raise :class:`OSError` when it does not open, has another shape, or a
    block cannot be read (a file cut short)."""
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(path) as ds:
        shape = (ds.count, ds.height, ds.width)
        want = (count or ds.count, height or ds.height, width or ds.width)
        if shape != want:
            raise OSError(f"{path} holds {shape} pixels, expected {want}")
        bh, bw = ds.block_shapes[0]
        r0, c0 = (ds.height - 1) // bh * bh, (ds.width - 1) // bw * bw
        ds.read(window=Window(c0, r0, ds.width - c0, ds.height - r0))
        levels = ds.overviews(1)
        if levels:
            f = levels[-1]
            ds.read(1, out_shape=(math.ceil(ds.height / f), math.ceil(ds.width / f)))


def _replace_set(
    out: Path,
    overwrite: bool,
    needed: int,
    write: Callable[[Path], None],
    verify: Callable[[Path], None],
    sidecars: Mapping[Path, Callable[[Path], object]],
) -> None:
    """Write ``out`` with ``write(tmp)`` and its ``sidecars`` (target -> writer), check ``out``
    with ``verify(tmp)``, then put the set in place together: on any failure the old files stay."""
    for target in sidecars:
        check_output(target, overwrite=True)
    check_free_space(out, needed)
    stale = [side.name[len(out.stem) :] for side in sidecars_of(out) if side not in sidecars]  # the old map's
    with output_fileset(out, overwrite=overwrite, stale=stale, needed=needed) as unit:
        with writing(out, needed, unit.main):
            write(unit.main)
            fsync_path(unit.main)
            verify(unit.main)
        for target, write_side in sidecars.items():
            with writing(target, needed):
                unit.extra(target, write_side, overwrite=True)  # a style belongs to whatever raster is in place


def publish_cog(
    src: str | os.PathLike,
    out: str | os.PathLike,
    overwrite: bool = False,
    kind: str = "lcz",
    coding: str = "1-17",
    lcz_bands: tuple[int, ...] = (1,),
    style_band: int = 1,
) -> Path:
    """Copy the GeoTIFF ``src`` to ``out`` as a Cloud-Optimized GeoTIFF, atomically.

    ``kind='lcz'``: MODE overviews, plus ``.aux.xml`` (category names and attribute table of the
    ``lcz_bands`` in ``coding``) and ``.qml`` (a paletted style of ``style_band``) beside it.
    ``kind='float'``: AVERAGE overviews. The COG is reopened and read back before it replaces
    ``out``; it and its sidecars replace the old set together. Returns ``out``.
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
    with writing(out, 2 * os.stat(src).st_size), rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(src) as ds:
        shape, dtype = (ds.count, ds.height, ds.width), ds.dtypes[0]

    def write(tmp: Path) -> None:
        with rasterio.Env(GDAL_PAM_ENABLED="NO"):
            rasterio.shutil.copy(src, tmp, driver="COG", **options)

    sidecars: dict[Path, Callable[[Path], object]] = {}
    if kind == "lcz":
        sidecars[out.with_name(out.name + ".aux.xml")] = lambda tmp: tmp.write_text(lcz_aux_xml(coding, lcz_bands))
        if coding == "1-17" and style_band == 1:
            sidecars[out.with_suffix(".qml")] = lambda tmp: shutil.copyfile(STYLE_PATH, tmp)
        else:
            sidecars[out.with_suffix(".qml")] = lambda tmp: tmp.write_text(lcz_qml(coding, style_band))
    _replace_set(out, overwrite, raster_bytes(*shape, dtype), write, lambda tmp: verify_raster(tmp, *shape), sidecars)
    log.info("wrote %s", out)
    return out


@contextlib.contextmanager
def _stage(out: Path) -> Iterator[Path]:
    """A path for the intermediate GeoTIFF of ``out``, in a hidden folder beside it that is
    removed afterwards (whatever happens)."""
    try:
        folder = Path(tempfile.mkdtemp(prefix=f".{out.name[:80]}.", suffix=".stage", dir=out.parent))
    except OSError as exc:
        if exc.errno in NO_SPACE:
            raise disk_full_error(out) from None
        raise OutputError(f"cannot write in {out.parent} ({exc.strerror}): choose a writable output folder") from None
    try:
        yield folder / "stage.tif"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _strips(height: int, rows: int = 2048) -> Iterator[tuple[int, int]]:
    for r0 in range(0, height, rows):
        yield r0, min(height, r0 + rows)


def write_lcz(
    path: str | os.PathLike,
    codes: np.ndarray,
    transform: Affine,
    crs: CRS | str | None,
    tags: Mapping | None = None,
    overwrite: bool = False,
    coding: str = "1-17",
) -> Path:
    """Write a 2-D array of LCZ codes (0 = nodata) as an LCZ COG with its ``.aux.xml`` and ``.qml``.

    ``codes``: uint8-compatible (H, W) array, values in 0-17; written in ``coding``
    (``"101-107"``: A-G as 101-107). Returns the path written.
    """
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must be a 2-D array, got shape {codes.shape}")
    if codes.size and (codes.min() < 0 or codes.max() > 17):
        raise ValueError("codes must hold LCZ codes 1-17 or 0 for nodata")
    strips = ((r0, r1, codes[r0:r1].astype(np.uint8)) for r0, r1 in _strips(codes.shape[0]))
    return write_lcz_strips(path, strips, codes.shape, transform, crs, tags, overwrite, coding)


def write_lcz_strips(
    path: str | os.PathLike,
    strips: Iterable[tuple[int, int, np.ndarray]],
    shape: tuple[int, int],
    transform: Affine,
    crs: CRS | str | None,
    tags: Mapping | None = None,
    overwrite: bool = False,
    coding: str = "1-17",
) -> Path:
    """:func:`write_lcz` for a map of ``shape`` (H, W) given as ``(r0, r1, codes)`` strips of whole
    rows (uint8, codes 0-17), so that it is never held in memory whole. Returns the path written."""
    lut = coding_lut(coding)
    return _write_bands(
        path,
        ((r0, r1, lut[block][None]) for r0, r1, block in strips),
        shape,
        transform,
        crs,
        tags,
        overwrite,
        coding,
        ("LCZ",),
        (1,),
        1,
    )


def write_lcz_product(
    path: str | os.PathLike,
    strips: Iterable[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]],
    shape: tuple[int, int],
    transform: Affine,
    crs: CRS | str | None,
    tags: Mapping | None = None,
    overwrite: bool = False,
    coding: str = "1-17",
) -> Path:
    """Write the LCZ Generator product: ``(r0, r1, raw, filtered, percent)`` strips of whole rows
    (codes 0-17 and the probability of the raw class in percent 1-100, 0 = nodata) as one uint8
    COG with the bands of :data:`LCZ_GENERATOR_BANDS`; its style shows ``lczFilter``."""
    lut = coding_lut(coding)
    blocks = ((r0, r1, np.stack([lut[raw], lut[filt], pct.astype(np.uint8)])) for r0, r1, raw, filt, pct in strips)
    return _write_bands(path, blocks, shape, transform, crs, tags, overwrite, coding, LCZ_GENERATOR_BANDS, (1, 2), 2)


def _write_bands(
    path: str | os.PathLike,
    blocks: Iterable[tuple[int, int, np.ndarray]],
    shape: tuple[int, int],
    transform: Affine,
    crs: CRS | str | None,
    tags: Mapping | None,
    overwrite: bool,
    coding: str,
    descriptions: tuple[str, ...],
    lcz_bands: tuple[int, ...],
    style_band: int,
) -> Path:
    out = check_output(path, overwrite)
    n = len(descriptions)
    needed = 2 * raster_bytes(n, *shape)  # the intermediate GeoTIFF and the COG
    check_free_space(out, needed)
    with _stage(out) as stage:
        with writing(out, needed, stage):  # GDAL may close a file cut short without a word: read it back
            with create_lcz(stage, shape[0], shape[1], transform, crs, tags, coding=coding, descriptions=descriptions) as ds:
                for r0, r1, block in blocks:
                    ds.write(block, window=Window(0, r0, shape[1], r1 - r0))
            verify_raster(stage, n, *shape)
        publish_cog(stage, out, overwrite=overwrite, kind="lcz", coding=coding, lcz_bands=lcz_bands, style_band=style_band)
    return out


def write_float(
    path: str | os.PathLike,
    data: np.ndarray,
    transform: Affine,
    crs: CRS | str | None,
    descriptions: Iterable[str] = (),
    tags: Mapping | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a (K, H, W) or (H, W) float array as a float32 COG (nodata NaN). Returns the path."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:
        data = data[None]
    out = check_output(path, overwrite)
    k, h, w = data.shape
    needed = 2 * raster_bytes(k, h, w, "float32")
    check_free_space(out, needed)
    with _stage(out) as stage:
        with writing(out, needed, stage):
            with create_float(stage, k, h, w, transform, crs, descriptions, tags) as ds:
                for r0, r1 in _strips(h, 1024):  # strips of K bands: half the rows
                    ds.write(data[:, r0:r1], window=Window(0, r0, w, r1 - r0))
            verify_raster(stage, k, h, w)
        publish_cog(stage, out, overwrite=overwrite, kind="float")
    return out


def lcz_aux_xml(coding: str = "1-17", bands: tuple[int, ...] = (1,)) -> str:
    """GDAL PAM sidecar for an LCZ raster: for each of ``bands``, category names (index = pixel
    value in ``coding``) and a thematic raster attribute table (Value, Class, Label, Red, Green,
    Blue, Alpha)."""
    top = coded_value(17, coding)
    names = ["No data"] + [""] * top
    for c in LCZ_CLASSES:
        names[coded_value(c.code, coding)] = c.title
    cats = "\n".join(f"      <Category>{escape(n)}</Category>" for n in names)
    # GDALRATFieldType: 0 int, 2 string; GDALRATFieldUsage: 5 MinMax, 2 Name, 0 Generic, 6-9 RGBA.
    fields = [("Value", 0, 5), ("Class", 2, 2), ("Label", 2, 0), ("Red", 0, 6), ("Green", 0, 7), ("Blue", 0, 8), ("Alpha", 0, 9)]
    defs = "\n".join(
        f'      <FieldDefn index="{i}"><Name>{n}</Name><Type>{t}</Type><Usage>{u}</Usage></FieldDefn>'
        for i, (n, t, u) in enumerate(fields)
    )
    rows = []
    for i, c in enumerate(LCZ_CLASSES):
        r, g, b = c.rgb
        value = coded_value(c.code, coding)
        cells = "".join(f"<F>{escape(str(v))}</F>" for v in (value, c.name, c.label, r, g, b, 255))
        rows.append(f'      <Row index="{i}">{cells}</Row>')
    body = "\n".join(rows)
    band = (
        "    <CategoryNames>\n"
        f"{cats}\n"
        "    </CategoryNames>\n"
        '    <GDALRasterAttributeTable tableType="thematic">\n'
        f"{defs}\n{body}\n"
        "    </GDALRasterAttributeTable>\n"
    )
    return (
        "<PAMDataset>\n" + "".join(f'  <PAMRasterBand band="{b}">\n{band}  </PAMRasterBand>\n' for b in bands) + "</PAMDataset>\n"
    )


def paletted_qml(entries: Iterable[tuple[int, str, str]], band: int = 1) -> str:
    """A QGIS layer style: a paletted renderer of ``band`` with one entry per ``(value, colour
    '#rrggbb', label)`` of ``entries``, nearest-neighbour resampling (classes are never blended).
    The LCZ map's style (:func:`lcz_qml`) and the change layer's are made with it."""
    lines = "\n".join(
        f'        <paletteEntry value="{value}" color="{colour}" alpha="255" label="{escape(label)}"/>'
        for value, colour, label in entries
    )
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        '<qgis version="3.22" styleCategories="AllStyleCategories">\n'
        "  <pipe>\n"
        f'    <rasterrenderer type="paletted" band="{band}" opacity="1" alphaBand="-1" nodataColor="">\n'
        "      <rasterTransparency/>\n"
        "      <minMaxOrigin><limits>None</limits><extent>WholeRaster</extent>"
        "<statAccuracy>Estimated</statAccuracy><cumulativeCutLower>0.02</cumulativeCutLower>"
        "<cumulativeCutUpper>0.98</cumulativeCutUpper><stdDevFactor>2</stdDevFactor></minMaxOrigin>\n"
        "      <colorPalette>\n"
        f"{lines}\n"
        "      </colorPalette>\n"
        '      <colorramp type="randomcolors" name="[source]"/>\n'
        "    </rasterrenderer>\n"
        '    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>\n'
        '    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0" colorizeStrength="100"/>\n'
        '    <rasterresampler maxOversampling="2" zoomedInResampler="nearest" zoomedOutResampler="nearest"/>\n'
        "  </pipe>\n"
        "  <blendMode>0</blendMode>\n"
        "</qgis>\n"
    )


def lcz_qml(coding: str = "1-17", band: int = 1) -> str:
    """A QGIS layer style (paletted renderer of ``band``, WUDAPT colours, 'LCZ 6 Open low-rise'
    labels) for values in ``coding``.

    lczmap ships the default (1-17, band 1) as ``lczmap/styles/lcz_raster.qml``; this function is
    its source."""
    return paletted_qml(((coded_value(c.code, coding), c.colour, c.title) for c in LCZ_CLASSES), band)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def gdal_error_message(exc: BaseException) -> str | None:
    """One line for an error GDAL raised through rasterio while reading a raster (a file cut short
    with its header intact, a header declaring more pixels than the file holds, a VRT whose Python
    pixel function GDAL will not run): GDAL's own words, which name the file and the band, and the
    deepest reason (``TIFFFillTile: ... got 83881 bytes, expected 168343``). None when ``exc`` did
    not come from GDAL. The CLI's error handler shows it instead of a traceback."""
    chain = list(_chain(exc))
    if not any(isinstance(e, rasterio.errors.RasterioError) or type(e).__name__.startswith("CPLE_") for e in chain):
        return None
    said = [" ".join(str(e).split()) for e in chain]
    said = [text for text in said if text and "see previous exception" not in text.lower()]
    if not said:
        return None
    reading = str(exc).startswith("Read failed") or any(word in said[0] for word in ("IReadBlock", "Read error", "Python code"))
    head = said[0][:600] + (f" ({said[-1][:200]})" if len(said) > 1 and said[-1] not in said[0] else "")
    what = "cannot read a raster" if reading else "GDAL failed"
    return (
        f"{what}: {head}: the file may be cut short or damaged, or hold what GDAL will not read: "
        "check it with gdalinfo -checksum, or download or write it again"
    )
