"""Vector LCZ zones and per-area summaries of an LCZ raster.

Two jobs, both reading any LCZ raster (lczmap's own, coded 1-17 with nodata 0, or another
product's, coded 1-10 and A-G as 101-107 with any nodata value):

:func:`zones`
    Removes patches below a minimum area (a sieve) and turns the map into polygons with the LCZ
    code, label, name, colour, area in m2 and, given a confidence raster, the mean confidence.
    The map is processed in strips of rows; the sieve reads each strip with a halo wide enough
    that the result equals the whole-map sieve exactly, and polygons cut by strip edges are
    stitched, so there are no seams. Memory depends on the strip size and the map width, not on
    the map height.
:func:`summarize`
    For each polygon of a districts layer (any CRS), the share of its area per LCZ class with
    exact coverage weighting of edge pixels (exactextract), the dominant class and the nodata
    share; without districts, a whole-map table of area and share per class.

Patches and polygons use 4-connectivity (pixels that share an edge); pixels touching only at a
corner are separate patches.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Literal

import numpy as np

from ._io import atomic_path, check_output
from .classes import LCZ_CLASSES, NODATA, colour_of, label_of, name_of
from .errors import MissingDependencyError, ZonesError

__all__ = [
    "ZonesError",
    "CodeScheme",
    "LczRasterInfo",
    "ZonesResult",
    "inspect_lcz",
    "zones",
    "summarize",
    "grid_districts",
    "zones_qml",
    "VECTOR_FORMATS",
    "SHARE_COLUMNS",
]

log = logging.getLogger(__name__)

Progress = Callable[..., object] | None
CodeScheme = Literal["auto", "1-17", "101-107"]

#: Output formats by file extension: (OGR driver, streamable by appending).
VECTOR_FORMATS: dict[str, str] = {
    ".gpkg": "GPKG",
    ".parquet": "Parquet",
    ".geoparquet": "Parquet",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "ESRI Shapefile",
    ".fgb": "FlatGeobuf",
}

#: Columns of :func:`summarize` holding the share of each class, in code order (``lcz_1`` ...
#: ``lcz_10``, ``lcz_A`` ... ``lcz_G``).
SHARE_COLUMNS: tuple[str, ...] = tuple(f"lcz_{c.label}" for c in LCZ_CLASSES)

#: Rows per strip unless told otherwise (measured: 256 rows beat 1024 in time and memory).
DEFAULT_BLOCK_ROWS = 256
#: Most sieve passes; each pass dissolves the small patches that touch a large one.
MAX_SIEVE_PASSES = 4
#: Authalic radius of the WGS84 ellipsoid (m), for pixel areas of geographic rasters.
_AUTHALIC_RADIUS = 6371007.181
_STYLE = Path(__file__).parent / "styles" / "lcz_zones.qml"
#: Zones written per append to the output layer.
_WRITE_BATCH = 20_000


# --------------------------------------------------------------------------------------------
# Reading LCZ rasters of any product


@dataclass(frozen=True)
class LczRasterInfo:
    """What :func:`inspect_lcz` learned about an LCZ raster.

    ``raw_values`` maps each raw pixel value found (nodata excluded) to its LCZ code 1-17;
    ``pixels``/``areas`` give per-code pixel counts and areas in m2 (index 0 = nodata).
    """

    path: Path
    scheme: Literal["1-17", "101-107"]
    nodata: float | None
    raw_values: dict[float, int]
    crs: object
    transform: object
    shape: tuple[int, int]
    pixels: np.ndarray = field(repr=False)
    areas: np.ndarray = field(repr=False)

    @property
    def is_native(self) -> bool:
        """True for lczmap's own coding: uint8 codes 1-17 with nodata 0 (read as is)."""
        return self.scheme == "1-17" and self.nodata in (None, 0)


def _row_areas(transform, crs, height: int) -> np.ndarray:
    """Area in m2 of one pixel in each row: planar for projected CRSs, on the authalic sphere for
    geographic ones (the area of a pixel then shrinks with latitude)."""
    if crs.is_geographic:
        lat_edges = transform.f + transform.e * np.arange(height + 1, dtype=np.float64)
        sin = np.sin(np.radians(np.clip(lat_edges, -90.0, 90.0)))
        dlon = math.radians(abs(transform.a))
        return _AUTHALIC_RADIUS**2 * dlon * np.abs(sin[:-1] - sin[1:])
    unit = _linear_unit(crs)
    return np.full(height, abs(transform.determinant) * unit * unit)


def _linear_unit(crs) -> float:
    """Metres per unit of a projected CRS."""
    try:
        return float(crs.linear_units_factor[1])
    except Exception:  # CRSs without a linear unit raise CRSError in rasterio
        return 1.0


def _check_grid(src, path) -> None:
    if src.crs is None:
        raise ZonesError(f"{path} has no CRS: assign one (e.g. gdal_edit -a_srs EPSG:32633 {path}) and rerun")
    if src.transform.b != 0 or src.transform.d != 0:
        raise ZonesError(f"{path} is rotated: warp it to a north-up grid first (gdalwarp {path} out.tif)")
    if src.transform.is_identity:
        raise ZonesError(f"{path} has no geotransform: georeference it (gdal_translate -a_ullr ...) and rerun")


def _windows(height: int, width: int, rows: int):
    from rasterio.windows import Window

    for r0 in range(0, height, rows):
        yield Window(0, r0, width, min(rows, height - r0))


def inspect_lcz(
    lcz_path: str | os.PathLike,
    codes: CodeScheme = "auto",
    nodata: float | None = None,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    progress: Progress = None,
) -> LczRasterInfo:
    """Scan an LCZ raster once (in strips), check its values and work out its coding.

    ``codes``: ``"1-17"`` (A-G = 11-17, the global LCZ map and lczmap), ``"101-107"`` (A-G =
    101-107, some LCZ Generator outputs) or ``"auto"`` (decided from the values found).
    ``nodata``: the no-data value; default the raster's own. The value 0 is never an LCZ code and
    always counts as no data. Raises :class:`ZonesError` for values that are not LCZ codes.
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
        _check_grid(src, path)
        if np.dtype(src.dtypes[0]).kind == "c":
            raise ZonesError(f"{path} is complex-valued, not an LCZ map: give the LCZ raster `lczmap predict` wrote")
        nd = src.nodata if nodata is None else nodata
        row_area = _row_areas(src.transform, src.crs, src.height)
        found: dict[float, list[float]] = {}
        bar = progress(total=src.height, desc="scan LCZ map") if progress else None
        for win in _windows(src.height, src.width, block_rows):
            raw = src.read(1, window=win)
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
        )


def _histogram(raw: np.ndarray, nodata, row_area: np.ndarray):
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


def _valid_raw(raw: np.ndarray, nodata) -> np.ndarray:
    keep = raw != 0
    if raw.dtype.kind == "f":
        keep &= ~np.isnan(raw)
    if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
        keep &= raw != nodata
    return keep


def _decide_scheme(path: Path, values: list, codes: str, nodata) -> tuple[str, dict]:
    as_int = {v: int(v) for v in values if float(v).is_integer()}
    lcz_1_17 = {v for v, i in as_int.items() if 1 <= i <= 17}
    lcz_101 = {v for v, i in as_int.items() if 1 <= i <= 10 or 101 <= i <= 107}
    if codes == "auto":
        has_101 = any(101 <= i <= 107 for i in as_int.values())
        scheme = "101-107" if has_101 else "1-17"
    elif codes in ("1-17", "101-107"):
        scheme = codes
    else:
        raise ZonesError(f"unknown LCZ coding {codes!r}: use auto, 1-17 or 101-107")
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


def _fmt(v) -> str:
    if v is None:
        return "none"
    return str(int(v)) if float(v).is_integer() else str(v)


def _read_codes(src, info: LczRasterInfo, window) -> np.ndarray:
    """Pixels of ``window`` as uint8 LCZ codes 1-17, 0 for no data."""
    raw = src.read(1, window=window)
    if info.is_native and raw.dtype == np.uint8:
        return raw  # already codes 1-17 and 0: inspect_lcz rejected every other value
    out = np.zeros(raw.shape, np.uint8)
    keep = _valid_raw(raw, info.nodata)
    for value, code in info.raw_values.items():
        out[keep & (raw == value)] = code
    return out


# --------------------------------------------------------------------------------------------
# The sieve: dissolve patches below a minimum size, exactly the same in strips as on the whole map


def _label_patches(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """4-connected patches of equal code: (labels int32, 0 = no data; code of each label)."""
    from scipy import ndimage

    four = ndimage.generate_binary_structure(2, 1)
    labels = np.zeros(codes.shape, np.int32)
    label_codes = [0]
    present = np.flatnonzero(np.bincount(codes.ravel(), minlength=18)[1:]) + 1
    scratch = np.empty(codes.shape, np.int32)
    for code in present:
        n = ndimage.label(codes == code, structure=four, output=scratch)
        hit = scratch > 0
        labels[hit] = scratch[hit] + (len(label_codes) - 1)
        label_codes.extend([int(code)] * n)
    return labels, np.asarray(label_codes, np.uint8)


def _sieve_pass(codes: np.ndarray, min_pixels: int) -> tuple[np.ndarray, bool]:
    """One pass: every patch below ``min_pixels`` that touches a large patch takes the code of the
    large patches it shares the longest border with (ties: the lowest code)."""
    labels, label_codes = _label_patches(codes)
    sizes = np.bincount(labels.ravel(), minlength=label_codes.size)
    small = sizes < min_pixels
    small[0] = False
    if not small.any():
        return codes, False
    large = ~small
    large[0] = False
    keys = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        for s, t in ((a, b), (b, a)):
            hit = small[s] & large[t]
            keys.append(s[hit].astype(np.int64) * 32 + label_codes[t[hit]])
    keys = np.concatenate(keys)
    if keys.size == 0:
        return codes, False
    uniq, counts = np.unique(keys, return_counts=True)
    lab, code = uniq // 32, uniq % 32
    order = np.lexsort((code, -counts, lab))
    lab, code = lab[order], code[order]
    first = np.r_[True, lab[1:] != lab[:-1]]
    target = label_codes.copy()
    target[lab[first]] = code[first]
    return target[labels], True


def _sieve_array(codes: np.ndarray, min_pixels: int) -> np.ndarray:
    """Sieve a whole array (uint8 codes, 0 = no data): up to :data:`MAX_SIEVE_PASSES` passes.

    Patches with no large neighbour after the last pass (e.g. islands in no data) stay.
    """
    if min_pixels <= 1:
        return codes
    for _ in range(MAX_SIEVE_PASSES):
        codes, changed = _sieve_pass(codes, min_pixels)
        if not changed:
            break
    return codes


def _sieve_halo(min_pixels: int) -> int:
    """Rows of context that make a strip's sieve equal the whole-map sieve.

    Per pass, a pixel's new code depends on its patch (if small: fewer than ``min_pixels``
    pixels, so within ``min_pixels - 1`` steps) and on whether the patches along its border are
    small (another ``min_pixels`` steps), so each pass reaches at most ``2 * min_pixels + 1``
    rows; passes add up.
    """
    if min_pixels <= 1:
        return 0
    return MAX_SIEVE_PASSES * (2 * min_pixels + 1) + 1


def _sieved_strips(src, info: LczRasterInfo, min_pixels: int, block_rows: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_row, codes)`` strips of the sieved map, each read with its halo."""
    from rasterio.windows import Window

    height, width = info.shape
    halo = _sieve_halo(min_pixels)
    for r0 in range(0, height, block_rows):
        r1 = min(r0 + block_rows, height)
        w0, w1 = max(0, r0 - halo), min(height, r1 + halo)
        codes = _read_codes(src, info, Window(0, w0, width, w1 - w0))
        codes = _sieve_array(codes, min_pixels)
        yield r0, np.ascontiguousarray(codes[r0 - w0 : r1 - w0])


# --------------------------------------------------------------------------------------------
# Polygons, stitched across strips


@dataclass
class _Zone:
    code: int
    parts: list
    pixels: int
    area: float
    conf_sum: float
    conf_n: int

    def absorb(self, other: "_Zone") -> None:
        self.parts.extend(other.parts)
        self.pixels += other.pixels
        self.area += other.area
        self.conf_sum += other.conf_sum
        self.conf_n += other.conf_n


class _UnionFind:
    def __init__(self):
        self.parent: dict = {}

    def find(self, x):
        parent = self.parent
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a, b) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def _strip_zones(codes: np.ndarray, r0: int, row_area: np.ndarray, conf: np.ndarray | None):
    """Polygons (pixel coordinates, rows offset by ``r0``) and statistics of one strip's patches."""
    import shapely
    from affine import Affine
    from rasterio.features import shapes
    from shapely.geometry import shape

    labels, label_codes = _label_patches(codes)
    n = label_codes.size
    geoms = np.empty(n, dtype=object)
    for geojson, value in shapes(labels, mask=labels > 0, connectivity=4, transform=Affine.identity()):
        geoms[int(value)] = shape(geojson)
    if n > 1:
        geoms[1:] = shapely.transform(geoms[1:].astype(object), lambda xy: xy + np.array([0.0, r0]))
    flat = labels.ravel()
    pixels = np.bincount(flat, minlength=n)
    area = np.zeros(n)
    for i in range(0, labels.shape[0], 64):
        rows = labels[i : i + 64]
        area += np.bincount(rows.ravel(), weights=np.repeat(row_area[r0 + i : r0 + i + rows.shape[0]], rows.shape[1]), minlength=n)
    if conf is not None:
        ok = np.isfinite(conf).ravel()
        conf_sum = np.bincount(flat[ok], weights=conf.ravel()[ok], minlength=n)
        conf_n = np.bincount(flat[ok], minlength=n)
    else:
        conf_sum = np.zeros(n)
        conf_n = np.zeros(n, np.int64)
    return labels, label_codes, geoms, pixels, area, conf_sum, conf_n


def _polygon_zones(
    src,
    info: LczRasterInfo,
    min_pixels: int,
    block_rows: int,
    conf_reader: Callable[[int, int], np.ndarray] | None = None,
    progress: Progress = None,
) -> Iterator[list[_Zone]]:
    """Yield batches of finished zones (pixel-space polygons), strip by strip.

    Patches cut by a strip edge stay open until the next strip shows whether they continue: a
    pixel of the previous strip's last row and the pixel below it with the same code join their
    patches (4-connectivity), exactly as on the whole map.
    """
    height, _ = info.shape
    row_area = _row_areas(info.transform, info.crs, height)
    open_zones: dict[int, _Zone] = {}
    prev_last: np.ndarray | None = None  # keys of open zones along the previous strip's last row
    prev_codes: np.ndarray | None = None
    bar = progress(total=height, desc="zones") if progress else None
    for r0, codes in _sieved_strips(src, info, min_pixels, block_rows):
        r1 = r0 + codes.shape[0]
        conf = conf_reader(r0, r1) if conf_reader else None
        labels, label_codes, geoms, pixels, area, conf_sum, conf_n = _strip_zones(codes, r0, row_area, conf)
        current = {
            i: _Zone(int(label_codes[i]), [geoms[i]], int(pixels[i]), float(area[i]), float(conf_sum[i]), int(conf_n[i]))
            for i in range(1, label_codes.size)
        }
        finished: list[_Zone] = []
        alias: dict[int, int] = {}  # current label -> the label of the zone it was merged into
        if prev_last is not None:
            first = labels[0]
            join = (prev_last > 0) & (first > 0) & (prev_codes == codes[0])
            uf = _UnionFind()
            for old, new in set(zip(prev_last[join].tolist(), first[join].tolist())):
                uf.union(("old", old), ("new", new))
            groups: dict = {}
            for node in list(uf.parent):
                groups.setdefault(uf.find(node), []).append(node)
            joined_old = set()
            for members in groups.values():
                news = sorted(key for kind, key in members if kind == "new")
                head = current[news[0]]
                for key in news[1:]:
                    head.absorb(current.pop(key))
                    alias[key] = news[0]
                for kind, key in members:
                    if kind == "old":
                        head.absorb(open_zones[key])
                        joined_old.add(key)
            finished.extend(z for k, z in open_zones.items() if k not in joined_old)
        last = labels[-1]
        if alias:
            lookup = np.arange(label_codes.size, dtype=np.int64)
            for k, v in alias.items():
                lookup[k] = v
            last = lookup[last]
        open_keys = set(np.unique(last[last > 0]).tolist()) if r1 < height else set()
        open_zones = {k: current[k] for k in open_keys}
        finished.extend(z for k, z in current.items() if k not in open_keys)
        prev_last, prev_codes = last, codes[-1].copy()
        if bar is not None:
            bar.update(codes.shape[0])
        if finished:
            yield finished
    if bar is not None:
        bar.close()


# --------------------------------------------------------------------------------------------
# Writing vector outputs (atomically, appending batch by batch where the format allows)


def _vector_driver(path: Path, table_ok: bool = False) -> str:
    ext = path.suffix.lower()
    if table_ok and ext == ".csv":
        return "CSV"
    if ext not in VECTOR_FORMATS:
        kinds = ", ".join(sorted(set(VECTOR_FORMATS) | ({".csv"} if table_ok else set())))
        raise ZonesError(f"cannot tell the output format of {path}: end its name with one of {kinds}")
    return VECTOR_FORMATS[ext]


class _VectorSink:
    """Write GeoDataFrames to ``path`` in batches; the file appears under its name only on
    :meth:`commit` (GeoParquet is written once at the end; the other formats are appended to)."""

    def __init__(self, path: Path, driver: str, overwrite: bool):
        self.path = check_output(path, overwrite)
        self.driver = driver
        self.overwrite = overwrite
        self.tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=self.path.parent))
        self.tmp = self.tmpdir / self.path.name
        self.frames: list = []
        self.count = 0

    def write(self, frame) -> None:
        if self.driver == "Parquet":
            self.frames.append(frame)
        elif self.driver == "CSV":
            frame.drop(columns=frame.geometry.name, errors="ignore").to_csv(
                self.tmp, mode="a", header=self.count == 0, index=False
            )
        else:
            import pyogrio

            pyogrio.write_dataframe(
                frame, self.tmp, driver=self.driver, append=self.count > 0, layer=self.path.stem,
                promote_to_multi=False,
            )
        self.count += len(frame)

    def commit(self) -> Path:
        if self.driver == "Parquet":
            import pandas as pd

            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise MissingDependencyError("GeoParquet output needs pyarrow: pip install pyarrow") from None
            frame = pd.concat(self.frames, ignore_index=True) if len(self.frames) > 1 else self.frames[0]
            frame.to_parquet(self.tmp, index=False)
        if not self.overwrite and self.path.exists():
            raise ZonesError(f"{self.path} appeared while writing: pass --overwrite to replace it")
        moved = [p for p in self.tmpdir.iterdir() if p.name.startswith(self.path.stem + ".")]
        # the main file last, so that a crash never leaves it without its sidecars (.shx, .dbf)
        for part in sorted(moved, key=lambda p: p.name == self.path.name):
            os.replace(part, self.path.parent / part.name)
        return self.path

    def close(self) -> None:
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _write_style(out: Path, overwrite: bool) -> Path:
    qml = out.with_suffix(".qml")
    with atomic_path(qml, overwrite=overwrite) as tmp:
        tmp.write_text(zones_qml(), encoding="utf-8")
    return qml


# --------------------------------------------------------------------------------------------
# zones()


@dataclass(frozen=True)
class ZonesResult:
    """What :func:`zones` wrote: the zone layer, its QGIS style (or None), zone count, the
    sieve threshold in pixels and the LCZ coding read."""

    path: Path
    style: Path | None
    zones: int
    min_pixels: int
    scheme: str


def _min_pixels(info: LczRasterInfo, min_area: float) -> int:
    """Pixels a patch needs to reach ``min_area`` m2 (at the map's middle row for geographic CRSs)."""
    if min_area <= 0:
        return 0
    row_area = _row_areas(info.transform, info.crs, info.shape[0])
    pixel = float(row_area[info.shape[0] // 2])
    return max(int(math.ceil(min_area / pixel - 1e-9)), 1)


def _confidence_reader(path: str | os.PathLike, info: LczRasterInfo):
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
            "give the confidence/probability raster written with the map"
        )

    def read(r0: int, r1: int) -> np.ndarray:
        data = src.read(window=Window(0, r0, src.width, r1 - r0), masked=True)
        data = np.ma.filled(data.astype(np.float32), np.nan)
        return np.fmax.reduce(data, axis=0) if data.shape[0] > 1 else data[0]

    return src, read


def _zones_frame(batch: list[_Zone], info: LczRasterInfo, first_id: int, confidence: bool):
    import geopandas as gpd
    import shapely

    t = info.transform
    # zones stitched across strips: union, then drop the vertices left along the strip edges
    geoms = np.array(
        [z.parts[0] if len(z.parts) == 1 else shapely.simplify(shapely.union_all(z.parts), 0.0) for z in batch],
        dtype=object,
    )
    geoms = shapely.transform(geoms, lambda xy: xy * np.array([t.a, t.e]) + np.array([t.c, t.f]))
    codes = [z.code for z in batch]
    columns = {
        "zone_id": np.arange(first_id, first_id + len(batch), dtype=np.int64),
        "lcz": np.asarray(codes, np.int32),
        "label": [label_of(c) for c in codes],
        "name": [name_of(c) for c in codes],
        "colour": [colour_of(c) for c in codes],
        "pixels": np.asarray([z.pixels for z in batch], np.int64),
        "area_m2": np.asarray([z.area for z in batch], np.float64),
    }
    if confidence:
        with np.errstate(invalid="ignore", divide="ignore"):
            columns["confidence"] = np.asarray([z.conf_sum / z.conf_n if z.conf_n else np.nan for z in batch])
    return gpd.GeoDataFrame(columns, geometry=geoms, crs=info.crs)


def zones(
    lcz_path: str | os.PathLike,
    out_path: str | os.PathLike,
    min_area: float = 0.0,
    confidence: str | os.PathLike | None = None,
    codes: CodeScheme = "auto",
    nodata: float | None = None,
    style: bool = True,
    overwrite: bool = False,
    block_rows: int | None = None,
    progress: Progress = None,
) -> ZonesResult:
    """Polygons of an LCZ raster, after removing patches smaller than ``min_area`` m2.

    lcz_path: LCZ GeoTIFF (codes 1-17 or A-G as 101-107, see :func:`inspect_lcz`).
    out_path: zone layer; format from the extension: .gpkg, .parquet (GeoParquet), .geojson,
        .shp, .fgb. Attributes: ``zone_id``, ``lcz`` (code 1-17), ``label`` (1-10, A-G),
        ``name``, ``colour``, ``pixels``, ``area_m2`` and, with ``confidence``, the zone's mean
        ``confidence``. Geometries are polygons in the raster's CRS.
    min_area: patches (4-connected) below this area are dissolved into the large neighbour they
        share the longest border with; 0 keeps every pixel. For geographic rasters the pixel area
        at the map's middle row sets the threshold in pixels.
    confidence: a raster on the same grid: one band (confidence) or one band per class
        (probabilities; the per-pixel maximum is used).
    style: also write a QGIS style beside the output (``zones.qml`` for ``zones.gpkg``).
    block_rows: rows per strip; smaller strips use less memory, the result is the same. Default:
        256, or twice the sieve's halo if that is more (the halo grows with ``min_area``).
    """
    import rasterio

    out = Path(out_path)
    driver = _vector_driver(out)
    check_output(out, overwrite)
    if style:
        check_output(out.with_suffix(".qml"), overwrite)
    if not min_area >= 0:
        raise ZonesError(f"min_area must be >= 0 m2, got {min_area}: give 0 to keep every pixel")
    if block_rows is not None and block_rows < 1:
        raise ZonesError(f"block_rows must be >= 1, got {block_rows}")
    info = inspect_lcz(lcz_path, codes=codes, nodata=nodata, block_rows=block_rows or DEFAULT_BLOCK_ROWS, progress=progress)
    min_pixels = _min_pixels(info, min_area)
    if block_rows is None:
        block_rows = max(DEFAULT_BLOCK_ROWS, 2 * _sieve_halo(min_pixels))
    log.info("sieve: patches below %d pixels (%.0f m2) are dissolved, 4-connectivity", min_pixels, min_area)
    conf_src, conf_read = _confidence_reader(confidence, info) if confidence is not None else (None, None)
    try:
        with rasterio.open(info.path) as src, _VectorSink(out, driver, overwrite) as sink:
            count, pending = 0, []
            for batch in _polygon_zones(src, info, min_pixels, block_rows, conf_read, progress):
                pending.extend(batch)
                if len(pending) >= _WRITE_BATCH:
                    sink.write(_zones_frame(pending, info, count + 1, confidence is not None))
                    count, pending = count + len(pending), []
            if pending or count == 0:
                sink.write(_zones_frame(pending, info, count + 1, confidence is not None))
                count += len(pending)
            sink.commit()
    finally:
        if conf_src is not None:
            conf_src.close()
    qml = _write_style(out, overwrite) if style else None
    log.info("wrote %d zones to %s", count, out)
    return ZonesResult(path=out, style=qml, zones=count, min_pixels=min_pixels, scheme=info.scheme)


# --------------------------------------------------------------------------------------------
# summarize()


def _read_districts(by, layer: str | None):
    import geopandas as gpd

    if isinstance(by, gpd.GeoDataFrame):
        districts = by.copy()
        name = "the districts layer"
    else:
        path = Path(by)
        name = str(path)
        if not path.exists():
            raise ZonesError(f"districts layer {path} does not exist: give a polygon layer (.gpkg, .shp, .geojson ...)")
        try:
            if path.suffix.lower() in (".parquet", ".geoparquet"):
                districts = gpd.read_parquet(path)
            else:
                districts = gpd.read_file(path, layer=layer)
        except Exception as exc:  # pyogrio/GDAL errors have no common base class
            raise ZonesError(f"cannot read districts layer {path} ({exc}): give a polygon layer GDAL can read") from None
    if districts.crs is None:
        raise ZonesError(f"{name} has no CRS: assign one (e.g. ogr2ogr -a_srs EPSG:4326 out.gpkg in.gpkg)")
    if len(districts) == 0:
        raise ZonesError(f"{name} has no features: give a layer with district polygons")
    return districts, name


def _repair(districts, name: str):
    """Make invalid geometries valid (keeping their polygonal parts); log which were repaired."""
    import shapely

    geoms = districts.geometry.values
    missing = districts.geometry.isna() | districts.geometry.is_empty
    if missing.any():
        raise ZonesError(
            f"{name} has {int(missing.sum())} features without geometry (rows {_rows(missing)}): remove them"
        )
    kinds = set(shapely.get_type_id(np.asarray(geoms)).tolist())
    if not kinds <= {3, 6}:  # Polygon, MultiPolygon
        raise ZonesError(f"{name} holds non-polygon geometries: give district polygons")
    invalid = ~districts.geometry.is_valid
    repaired: list = []
    if invalid.any():
        fixed = shapely.make_valid(np.asarray(geoms[invalid.values]))
        fixed = [_polygonal(g) for g in fixed]
        districts = districts.copy()
        districts.loc[invalid, districts.geometry.name] = fixed
        repaired = list(districts.index[invalid])
        log.warning(
            "%s: repaired %d invalid geometries (rows %s); check them if the shares look odd",
            name, len(repaired), _rows(invalid),
        )
    return districts, repaired


def _rows(mask) -> str:
    rows = list(mask[mask].index)
    return ", ".join(map(str, rows[:10])) + (" ..." if len(rows) > 10 else "")


def _polygonal(geom):
    import shapely
    from shapely.geometry import MultiPolygon, Polygon

    if isinstance(geom, (Polygon, MultiPolygon)):
        return geom
    parts = [g for g in shapely.get_parts(geom) if isinstance(g, (Polygon, MultiPolygon))]
    return shapely.union_all(parts) if parts else Polygon()


def _area_m2(geoms, crs) -> np.ndarray:
    """Areas in m2: planar in a projected CRS, in Equal Earth (EPSG:8857) for a geographic one."""
    if crs.is_geographic:
        return geoms.to_crs("EPSG:8857").area.to_numpy()
    unit = _linear_unit(crs)
    return geoms.area.to_numpy() * unit * unit



def _native_raster(info: LczRasterInfo, workdir: Path, block_rows: int) -> Path:
    """The LCZ map as uint8 codes 1-17 with nodata 0 declared: the file itself if it already is,
    else a normalised copy in ``workdir`` (written strip by strip)."""
    import rasterio

    with rasterio.open(info.path) as src:
        if src.dtypes[0] == "uint8" and info.scheme == "1-17" and src.nodata == 0 and info.nodata == 0:
            return info.path
        copy = workdir / "lcz-codes.tif"
        profile = dict(
            driver="GTiff", width=src.width, height=src.height, count=1, dtype="uint8", nodata=0,
            crs=src.crs, transform=src.transform, tiled=True, blockxsize=512, blockysize=512,
        )
        with rasterio.open(copy, "w", **profile) as dst:
            for win in _windows(src.height, src.width, block_rows):
                dst.write(_read_codes(src, info, win), 1, window=win)
    return copy


def _map_table(info: LczRasterInfo):
    import pandas as pd

    classified = info.areas[1:].sum()
    total = info.areas.sum()
    rows = []
    for c in LCZ_CLASSES:
        rows.append((c.code, c.label, c.name, c.colour, info.pixels[c.code], info.areas[c.code],
                     info.areas[c.code] / classified, info.areas[c.code] / total))
    rows.append((NODATA, "", "No data", "", info.pixels[NODATA], info.areas[NODATA], np.nan, info.areas[NODATA] / total))
    return pd.DataFrame(rows, columns=["lcz", "label", "name", "colour", "pixels", "area_m2", "share", "map_share"])


def _district_shares(raster: Path, info: LczRasterInfo, districts, progress: Progress):
    """Per district: valid (classified) area in m2 and the area of each class in m2."""
    from exactextract import exact_extract

    geographic = info.crs.is_geographic
    weight = "(coverage_weight=area_spherical_m2)" if geographic else ""
    ops = ["unique", f"frac{weight}", f"valid=count{weight}"]
    bar = progress(total=100, desc="summarize") if progress else None
    state = {"done": 0}

    def tick(fraction, _message=None):
        if bar is not None:
            step = int(fraction * 100) - state["done"]
            if step > 0:
                bar.update(step)
                state["done"] += step

    frame = districts[[districts.geometry.name]].reset_index(drop=True)
    result = exact_extract(str(raster), frame, ops, output="pandas", progress=tick if bar else False)
    if bar is not None:
        bar.close()
    pixel = float(abs(info.transform.determinant))
    unit = 1.0 if geographic else _linear_unit(info.crs)
    valid = result["valid"].to_numpy(float) * (1.0 if geographic else pixel * unit * unit)
    class_area = np.zeros((len(frame), 18))
    for i, (values, fracs) in enumerate(zip(result["unique"], result["frac"])):
        if values is None or len(values) == 0:
            continue
        class_area[i, np.asarray(values, dtype=np.int64)] += np.asarray(fracs, dtype=float) * valid[i]
    return valid, class_area


def summarize(
    lcz_path: str | os.PathLike,
    out_path: str | os.PathLike | None = None,
    by=None,
    layer: str | None = None,
    codes: CodeScheme = "auto",
    nodata: float | None = None,
    csv_path: str | os.PathLike | None = None,
    overwrite: bool = False,
    block_rows: int | None = None,
    progress: Progress = None,
):
    """Area shares of the LCZ classes per district, or for the whole map.

    With ``by`` (a polygon layer path or GeoDataFrame, any CRS; ``layer`` picks a layer of a
    multi-layer file): a GeoDataFrame of the districts (their own columns and geometry, CRS
    unchanged) plus ``area_m2`` (district area), one share column per class
    (:data:`SHARE_COLUMNS`: ``lcz_1`` ... ``lcz_G``, fractions of the district's area, edge pixels
    weighted by the fraction of the pixel inside), ``nodata`` (share of the district not covered
    by classified pixels, including any part outside the map), ``dominant`` (code of the largest
    class, 0 when none), ``dom_label`` and ``dom_name``. Shares and ``nodata`` add up to 1.
    Invalid district geometries are repaired (make_valid) and reported in the log.

    Without ``by``: a table with one row per class (and one for no data): ``lcz``, ``label``,
    ``name``, ``colour``, ``pixels``, ``area_m2``, ``share`` (of the classified area),
    ``map_share`` (of the whole raster).

    out_path: written when given: a vector format (.gpkg, .parquet, .geojson, .shp, .fgb) or
    .csv for districts; .csv for the whole-map table. csv_path: an extra CSV copy (no geometry).
    """
    block_rows = block_rows or DEFAULT_BLOCK_ROWS
    outputs = [Path(p) for p in (out_path, csv_path) if p is not None]
    out = Path(out_path) if out_path is not None else None
    driver = _vector_driver(out, table_ok=True) if out is not None else None
    if csv_path is not None and Path(csv_path).suffix.lower() != ".csv":
        raise ZonesError(f"csv_path {csv_path} must end with .csv")
    if by is None and driver not in (None, "CSV"):
        raise ZonesError(f"a whole-map summary is a table without geometry: write it to a .csv, not {out}")
    for path in outputs:
        check_output(path, overwrite)
    if by is None:
        info = inspect_lcz(lcz_path, codes=codes, nodata=nodata, block_rows=block_rows, progress=progress)
        table = _map_table(info)
        for path in outputs:
            with atomic_path(path, overwrite=overwrite) as tmp:
                table.to_csv(tmp, index=False)
        return table

    try:
        import exactextract  # noqa: F401
    except ImportError:
        raise MissingDependencyError("district summaries need exactextract: pip install exactextract") from None
    import geopandas as gpd
    from shapely.geometry import box

    districts, name = _read_districts(by, layer)
    districts, repaired = _repair(districts, name)
    info = inspect_lcz(lcz_path, codes=codes, nodata=nodata, block_rows=block_rows, progress=progress)
    local = gpd.GeoSeries(districts.geometry.values, crs=districts.crs).to_crs(info.crs)
    height, width = info.shape
    t = info.transform
    extent = box(t.c, t.f + t.e * height, t.c + t.a * width, t.f)
    if not local.intersects(extent).any():
        lb = ", ".join(f"{v:.6g}" for v in local.total_bounds)
        raise ZonesError(
            f"{name} does not overlap {info.path} (districts span {lb}, the map {', '.join(f'{v:.6g}' for v in extent.bounds)} "
            f"in {info.crs.to_string()}): give districts of the mapped area"
        )
    area = _area_m2(local, info.crs)
    workdir = Path(tempfile.mkdtemp(prefix=".lczmap-summarize.", dir=outputs[0].parent if outputs else None))
    try:
        raster = _native_raster(info, workdir, block_rows)
        valid, class_area = _district_shares(raster, info, gpd.GeoDataFrame(geometry=local), progress)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(area > 0, 1.0 / np.maximum(area, valid), 0.0)  # valid can exceed area by rounding
    shares = class_area[:, 1:] * scale[:, None]
    result = districts.copy()
    result["area_m2"] = area
    for j, column in enumerate(SHARE_COLUMNS):
        result[column] = shares[:, j]
    result["nodata"] = np.clip(1.0 - shares.sum(axis=1), 0.0, 1.0)
    dominant = np.where(shares.max(axis=1) > 0, shares.argmax(axis=1) + 1, NODATA)
    result["dominant"] = dominant.astype(np.int32)
    result["dom_label"] = [label_of(c) if c else "" for c in dominant]
    result["dom_name"] = [name_of(c) if c else "No data" for c in dominant]
    result.attrs["repaired"] = repaired
    if out is not None:
        with _VectorSink(out, driver, overwrite) as sink:
            sink.write(result)
            sink.commit()
    if csv_path is not None:
        with atomic_path(csv_path, overwrite=overwrite) as tmp:
            result.drop(columns=result.geometry.name).to_csv(tmp, index=False)
    return result


# --------------------------------------------------------------------------------------------
# Districts for demos, and the QGIS style


def grid_districts(lcz_path: str | os.PathLike, cell_size_m: float):
    """A regular grid of square districts (``district`` ids ``r000c000`` ...) over an LCZ map.

    In the map's CRS for projected maps; in Equal Earth (EPSG:8857) for geographic ones.
    """
    import geopandas as gpd
    import rasterio
    from shapely.geometry import box

    if not cell_size_m > 0:
        raise ZonesError(f"cell size must be > 0 m, got {cell_size_m}")
    with rasterio.open(lcz_path) as src:
        _check_grid(src, lcz_path)
        crs, bounds = src.crs, src.bounds
    if crs.is_geographic:
        from rasterio.warp import transform_bounds

        bounds = transform_bounds(crs, "EPSG:8857", *bounds)
        crs = rasterio.crs.CRS.from_epsg(8857)
        step = cell_size_m
    else:
        step = cell_size_m / _linear_unit(crs)
    left, bottom, right, top = bounds
    cols = max(int(math.ceil((right - left) / step - 1e-9)), 1)
    rows = max(int(math.ceil((top - bottom) / step - 1e-9)), 1)
    if rows * cols > 1_000_000:
        raise ZonesError(f"a {cell_size_m} m grid makes {rows * cols} districts: choose a larger cell size")
    ids, cells = [], []
    for i in range(rows):
        for j in range(cols):
            x0, y1 = left + j * step, top - i * step
            cells.append(box(x0, y1 - step, x0 + step, y1))
            ids.append(f"r{i:03d}c{j:03d}")
    return gpd.GeoDataFrame({"district": ids}, geometry=cells, crs=crs)


def zones_qml(field: str = "lcz") -> str:
    """QGIS style (.qml) for a zone layer: categories on ``field`` with the WUDAPT colours and
    the labels '1 Compact high-rise' ... 'G Water'. lczmap/styles/lcz_zones.qml holds this text."""
    from xml.sax.saxutils import quoteattr

    categories, symbols = [], []
    for i, c in enumerate(LCZ_CLASSES):
        r, g, b = c.rgb
        categories.append(
            f'      <category symbol="{i}" value="{c.code}" label={quoteattr(f"{c.label} {c.name}")} render="true"/>'
        )
        symbols.append(
            f'      <symbol type="fill" name="{i}" alpha="1" clip_to_extent="1" force_rhr="0">\n'
            f'        <layer class="SimpleFill" enabled="1" locked="0" pass="0">\n'
            f'          <Option type="Map">\n'
            f'            <Option name="color" type="QString" value="{r},{g},{b},255"/>\n'
            f'            <Option name="outline_color" type="QString" value="50,50,50,255"/>\n'
            f'            <Option name="outline_style" type="QString" value="solid"/>\n'
            f'            <Option name="outline_width" type="QString" value="0.1"/>\n'
            f'            <Option name="outline_width_unit" type="QString" value="MM"/>\n'
            f'            <Option name="style" type="QString" value="solid"/>\n'
            f'          </Option>\n'
            f'          <prop k="color" v="{r},{g},{b},255"/>\n'
            f'          <prop k="outline_color" v="50,50,50,255"/>\n'
            f'          <prop k="outline_style" v="solid"/>\n'
            f'          <prop k="outline_width" v="0.1"/>\n'
            f'          <prop k="outline_width_unit" v="MM"/>\n'
            f'          <prop k="style" v="solid"/>\n'
            f'        </layer>\n'
            f'      </symbol>'
        )
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        '<qgis version="3.28.0" styleCategories="Symbology">\n'
        f'  <renderer-v2 type="categorizedSymbol" attr={quoteattr(field)} symbollevels="0" enableorderby="0" forceraster="0">\n'
        "    <categories>\n" + "\n".join(categories) + "\n    </categories>\n"
        "    <symbols>\n" + "\n".join(symbols) + "\n    </symbols>\n"
        "  </renderer-v2>\n"
        "  <layerGeometryType>2</layerGeometryType>\n"
        "</qgis>\n"
    )
