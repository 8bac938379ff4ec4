"""Reading LCZ rasters of any origin: the coding of the classes, pixel areas, strips.

lczmap's own maps are uint8 codes 1-17 with nodata 0; other LCZ maps code A-G as 11-17 (the
global LCZ map) or 101-107 (some LCZ Generator outputs) and use any nodata value.
:func:`inspect_lcz` scans a map once, checks its values and works out its coding;
:func:`read_codes` then reads any window as codes 1-17 (0 = no data). A confidence or
probability raster on the same grid is read by :func:`confidence_reader`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from ..classes import NODATA
from ..errors import ZonesError

if TYPE_CHECKING:
    from affine import Affine
    from rasterio.crs import CRS
    from rasterio.io import DatasetReader
    from rasterio.windows import Window

__all__ = [
    "CODE_SCHEMES",
    "CodeScheme",
    "DEFAULT_BLOCK_ROWS",
    "LczRasterInfo",
    "Progress",
    "check_block_rows",
    "check_grid",
    "confidence_reader",
    "inspect_lcz",
    "linear_unit",
    "pick_band",
    "read_codes",
    "row_areas",
    "strips",
]

#: A progress factory ``(total=, desc=) -> bar`` with ``update(n)`` and ``close()`` (e.g. tqdm), or None.
Progress = Callable[..., Any] | None
CodeScheme = Literal["auto", "1-17", "101-107"]
#: Accepted ``codes`` values: ``auto`` decides from the values found.
CODE_SCHEMES: tuple[str, ...] = get_args(CodeScheme)

#: Rows per strip unless told otherwise (measured: 256 rows beat 1024 in time and memory).
DEFAULT_BLOCK_ROWS = 256
#: Authalic radius of the WGS84 ellipsoid (m), for pixel areas of geographic rasters.
_AUTHALIC_RADIUS = 6371007.181
#: The band of an LCZ Generator product read unless told otherwise (the filtered map).
FILTERED_BAND = "lczFilter"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LczRasterInfo:
    """What :func:`inspect_lcz` learned about an LCZ raster.

    ``raw_values`` maps each raw pixel value found (nodata excluded) to its LCZ code 1-17;
    ``pixels``/``areas`` give per-code pixel counts and areas in m2 (index 0 = nodata);
    ``band``: the band read (1-based).
    """

    path: Path
    scheme: Literal["1-17", "101-107"]
    nodata: float | None
    raw_values: dict[float, int]
    crs: CRS
    transform: Affine
    shape: tuple[int, int]
    pixels: np.ndarray = field(repr=False)
    areas: np.ndarray = field(repr=False)
    band: int = 1

    @property
    def is_native(self) -> bool:
        """True for lczmap's own coding: uint8 codes 1-17 with nodata 0 (read as is)."""
        return self.scheme == "1-17" and self.nodata in (None, 0)


def row_areas(transform: Affine, crs: CRS, height: int) -> np.ndarray:
    """Area in m2 of one pixel in each row: planar for projected CRSs, on the authalic sphere for
    geographic ones (the area of a pixel then shrinks with latitude)."""
    if crs.is_geographic:
        lat_edges = transform.f + transform.e * np.arange(height + 1, dtype=np.float64)
        sin = np.sin(np.radians(np.clip(lat_edges, -90.0, 90.0)))
        dlon = math.radians(abs(transform.a))
        return _AUTHALIC_RADIUS**2 * dlon * np.abs(sin[:-1] - sin[1:])
    unit = linear_unit(crs)
    return np.full(height, abs(transform.determinant) * unit * unit)


def linear_unit(crs: CRS) -> float:
    """Metres per unit of a projected CRS."""
    try:
        return float(crs.linear_units_factor[1])
    except Exception:  # CRSs without a linear unit raise CRSError in rasterio
        return 1.0


def check_grid(src: DatasetReader, path: str | os.PathLike) -> None:
    """Refuse a raster without a CRS, with a rotated grid or without a geotransform."""
    if src.crs is None:
        raise ZonesError(f"{path} has no CRS: assign one (e.g. gdal_edit -a_srs EPSG:32633 {path}) and rerun")
    if src.transform.b != 0 or src.transform.d != 0:
        raise ZonesError(f"{path} is rotated: warp it to a north-up grid first (gdalwarp {path} out.tif)")
    if src.transform.is_identity:
        raise ZonesError(f"{path} has no geotransform: georeference it (gdal_translate -a_ullr ...) and rerun")


def check_block_rows(block_rows: int | None) -> None:
    """Refuse a strip height below one row (None: the default)."""
    if block_rows is not None and block_rows < 1:
        raise ZonesError(f"block_rows (--block-rows) must be >= 1, got {block_rows}")


def strips(height: int, width: int, rows: int) -> Iterator[Window]:
    """Full-width strips (windows) of ``rows`` rows (the last one shorter) covering the raster."""
    from rasterio.windows import Window

    for r0 in range(0, height, rows):
        yield Window(0, r0, width, min(rows, height - r0))


def inspect_lcz(
    lcz_path: str | os.PathLike,
    codes: CodeScheme = "auto",
    nodata: float | None = None,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    progress: Progress = None,
    band: int | str | None = None,
) -> LczRasterInfo:
    """Scan an LCZ raster once (in strips), check its values and work out its coding.

    ``codes``: ``"1-17"`` (A-G = 11-17, the global LCZ map and lczmap), ``"101-107"`` (A-G =
    101-107, some LCZ Generator outputs) or ``"auto"`` (decided from the values found).
    ``nodata``: the no-data value; default the raster's own. The value 0 is never an LCZ code and
    always counts as no data. ``band``: the band to read, by number (1-based) or description
    (:func:`pick_band`; default the ``lczFilter`` band of an LCZ Generator product, else band 1).
    Raises :class:`ZonesError` for values that are not LCZ codes.
    """
    import rasterio

    path = Path(lcz_path)
    if not path.exists():
        raise ZonesError(f"{path} does not exist: give the path of an LCZ GeoTIFF")
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise ZonesError(f"{path} is not a raster GDAL can read ({exc}): give an LCZ GeoTIFF") from None
    with src:
        check_grid(src, path)
        band = pick_band(src, path, band)
        if np.dtype(src.dtypes[band - 1]).kind == "c":
            raise ZonesError(f"{path} is complex-valued, not an LCZ map: give the LCZ raster `lczmap predict` wrote")
        nd = src.nodata if nodata is None else nodata
        row_area = row_areas(src.transform, src.crs, src.height)
        found: dict[float, list[float]] = {}
        bar = progress(total=src.height, desc="scan LCZ map") if progress else None
        for win in strips(src.height, src.width, block_rows):
            raw = src.read(band, window=win)
            values, counts, area = _histogram(raw, nd, row_area[win.row_off : win.row_off + win.height])
            for v, n, a in zip(values.tolist(), counts.tolist(), area.tolist()):
                slot = found.setdefault(v, [0, 0.0])
                slot[0] += n
                slot[1] += a
            if bar is not None:
                bar.update(win.height)
        if bar is not None:
            bar.close()
        total_pixels = src.width * src.height
        total_area = float(row_area.sum()) * src.width
        scheme, mapping = _decide_scheme(path, sorted(found), codes, nd)
        pixels = np.zeros(18, np.int64)
        areas = np.zeros(18, np.float64)
        for v, (n, a) in found.items():
            pixels[mapping[v]] += n
            areas[mapping[v]] += a
        pixels[NODATA] = total_pixels - pixels[1:].sum()
        areas[NODATA] = max(total_area - areas[1:].sum(), 0.0)
        if pixels[1:].sum() == 0:
            raise ZonesError(f"{path} holds no LCZ pixels (all no data): check --nodata and the input file")
        return LczRasterInfo(
            path=path,
            scheme=scheme,
            nodata=nd,
            raw_values=mapping,
            crs=src.crs,
            transform=src.transform,
            shape=(src.height, src.width),
            pixels=pixels,
            areas=areas,
            band=band,
        )


def pick_band(src: DatasetReader, path: str | os.PathLike, band: int | str | None) -> int:
    """The band (1-based) of ``src`` to read as the LCZ map: ``band`` by number (an int or a
    string of digits) or by description (case-insensitive); None: the ``lczFilter`` band of an LCZ
    Generator product (raw ``lcz``, filtered ``lczFilter``, ``classProbability``; said in the
    log), else band 1. :class:`ZonesError` naming the bands when there is no such band."""
    names = [d or "" for d in src.descriptions]
    listed = ", ".join(f"{i} ({n})" if n else str(i) for i, n in enumerate(names, 1))
    if band is None:
        if FILTERED_BAND in names and src.count > 1:
            index = names.index(FILTERED_BAND) + 1
            log.info(
                "%s is an LCZ Generator product: reading its band %d (%s, the filtered map); --band picks another (%s)",
                Path(path).name,
                index,
                FILTERED_BAND,
                listed,
            )
            return index
        return 1
    if isinstance(band, str) and band.strip().isdigit():
        band = int(band)
    if isinstance(band, int):
        if 1 <= band <= src.count:
            return band
        raise ZonesError(f"{path} has no band {band} (--band): it has {listed}")
    lowered = [n.lower() for n in names]
    if band.strip().lower() in lowered:
        return lowered.index(band.strip().lower()) + 1
    raise ZonesError(f"{path} has no band named {band!r} (--band): it has {listed}")


def _histogram(raw: np.ndarray, nodata: float | None, row_area: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Valid raw values of a strip (H, W), their pixel counts and areas (m2)."""
    keep = _valid_raw(raw, nodata)
    small_ints = raw.dtype.kind == "u" and raw.dtype.itemsize <= 2
    constant = row_area.size == 0 or np.all(row_area == row_area[0])
    if small_ints:
        counts = np.bincount(raw[keep])
        values = np.flatnonzero(counts)
        counts = counts[values]
        index = raw
    else:
        values, inverse = np.unique(raw[keep], return_inverse=True)
        counts = np.bincount(inverse, minlength=values.size)
        index = np.zeros(raw.shape, np.int64)
        index[keep] = inverse
    if constant:
        area = counts * (float(row_area[0]) if row_area.size else 0.0)
    else:  # geographic: pixel area changes from row to row
        lookup = np.zeros(int(index.max()) + 1 if index.size else 1, np.int64) - 1
        if small_ints:
            lookup[values] = np.arange(values.size)
        else:
            lookup[: values.size] = np.arange(values.size)
        area = np.zeros(values.size)
        for i in range(raw.shape[0]):
            slots = lookup[index[i][keep[i]]]
            area += np.bincount(slots, minlength=values.size) * row_area[i]
    return values, counts, area


def _valid_raw(raw: np.ndarray, nodata: float | None) -> np.ndarray:
    keep = raw != 0
    if raw.dtype.kind == "f":
        keep &= ~np.isnan(raw)
    if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
        keep &= raw != nodata
    return keep


def _decide_scheme(
    path: Path, values: list[float], codes: str, nodata: float | None
) -> tuple[Literal["1-17", "101-107"], dict[float, int]]:
    as_int = {v: int(v) for v in values if float(v).is_integer()}
    lcz_1_17 = {v for v, i in as_int.items() if 1 <= i <= 17}
    lcz_101 = {v for v, i in as_int.items() if 1 <= i <= 10 or 101 <= i <= 107}
    scheme: Literal["1-17", "101-107"]
    match codes:
        case "auto":
            scheme = "101-107" if any(101 <= i <= 107 for i in as_int.values()) else "1-17"
        case "1-17":
            scheme = "1-17"
        case "101-107":
            scheme = "101-107"
        case _:
            raise ZonesError(f"unknown LCZ coding {codes!r} (--codes): use {', '.join(CODE_SCHEMES)}")
    allowed = lcz_1_17 if scheme == "1-17" else lcz_101
    bad = [v for v in values if v not in allowed]
    if bad:
        shown = ", ".join(_fmt(v) for v in bad[:8]) + (" ..." if len(bad) > 8 else "")
        hint = (
            "values 11-17 and 101-107 are mixed; no product codes both"
            if lcz_1_17 and any(101 <= int(v) <= 107 for v in as_int)
            else f"set --nodata for the no-data value (now {_fmt(nodata)}) or pick --codes 1-17 / 101-107"
        )
        raise ZonesError(f"{path} holds values that are not LCZ codes under coding {scheme} ({shown}): {hint}")
    if scheme == "1-17":
        mapping = {v: as_int[v] for v in values}
    else:
        mapping = {v: (as_int[v] if as_int[v] <= 10 else as_int[v] - 90) for v in values}
    return scheme, mapping


def _fmt(v: float | None) -> str:
    if v is None:
        return "none"
    return str(int(v)) if float(v).is_integer() else str(v)


def read_codes(src: DatasetReader, info: LczRasterInfo, window: Window) -> np.ndarray:
    """Pixels of ``window`` (of band ``info.band``) as uint8 LCZ codes 1-17, 0 for no data."""
    raw = src.read(info.band, window=window)
    if info.is_native and raw.dtype == np.uint8:
        return raw  # already codes 1-17 and 0: inspect_lcz rejected every other value
    out = np.zeros(raw.shape, np.uint8)
    keep = _valid_raw(raw, info.nodata)
    for value, code in info.raw_values.items():
        out[keep & (raw == value)] = code
    return out


def confidence_reader(path: str | os.PathLike, info: LczRasterInfo) -> tuple[DatasetReader, Callable[[int, int], np.ndarray]]:
    """Open a confidence raster (one band) or probabilities (one band per class) on the LCZ
    map's grid: ``(dataset, read)``, where ``read(r0, r1)`` gives rows ``r0:r1`` as float32, the
    per-pixel maximum over the bands, NaN where unknown. The caller closes the dataset."""
    import rasterio
    from rasterio.windows import Window

    path = Path(path)
    if not path.exists():
        raise ZonesError(f"confidence raster {path} does not exist: give the confidence or probability GeoTIFF")
    src = rasterio.open(path)
    same = (
        (src.height, src.width) == info.shape
        and src.crs == info.crs
        and src.transform.almost_equals(info.transform, precision=1e-9 * max(abs(info.transform.a), 1e-12))
    )
    if not same:
        src.close()
        raise ZonesError(
            f"confidence raster {path} is not on the LCZ map's grid (size, CRS or transform differ): "
            "give the confidence/probability raster written with the map (--confidence)"
        )

    def read(r0: int, r1: int) -> np.ndarray:
        data = src.read(window=Window(0, r0, src.width, r1 - r0), masked=True)
        data = np.ma.filled(data.astype(np.float32), np.nan)
        return np.fmax.reduce(data, axis=0) if data.shape[0] > 1 else data[0]

    return src, read
