"""Per-area summaries of an LCZ raster: :func:`summarize` and :func:`grid_districts`.

For each polygon of a districts layer (any CRS): the share of its area per LCZ class with exact
coverage weighting of edge pixels (exactextract), the dominant class and the nodata share;
without districts, a whole-map table of area and share per class.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._io import check_not_inputs, check_outputs, output_fileset, write_error, writing
from ..canopy import SHARE_COLUMNS, UCP_VALUES, UcpValue, district_ucp
from ..classes import LCZ_CLASSES, NODATA, label_of, name_of
from ..errors import MissingDependencyError, OutputError, ZonesError
from .lczraster import (
    DEFAULT_BLOCK_ROWS,
    CodeScheme,
    LczRasterInfo,
    Progress,
    check_block_rows,
    check_grid,
    inspect_lcz,
    linear_unit,
    read_codes,
    strips,
)
from .vector import check_space_for_layer, geopackage_layers, read_vector, vector_driver, vector_outputs, vector_sink

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd
    from rasterio.crs import CRS
    from shapely.geometry.base import BaseGeometry

__all__ = ["SHARE_COLUMNS", "grid_districts", "summarize"]

log = logging.getLogger(__name__)


def _read_districts(by: str | os.PathLike | gpd.GeoDataFrame, layer: str | None) -> tuple[gpd.GeoDataFrame, str]:
    districts, name = read_vector(by, layer, "districts layer", "a polygon layer (.gpkg, .shp, .geojson ...) GDAL can read")
    if len(districts) == 0:
        raise ZonesError(f"{name} has no features: give a layer with district polygons")
    return districts, name


def _repair(districts: gpd.GeoDataFrame, name: str) -> tuple[gpd.GeoDataFrame, list]:
    """Make invalid geometries valid (keeping their polygonal parts); log which were repaired."""
    import shapely

    geoms = districts.geometry.values
    missing = districts.geometry.isna() | districts.geometry.is_empty
    if missing.any():
        raise ZonesError(f"{name} has {int(missing.sum())} features without geometry (rows {_rows(missing)}): remove them")
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
            name,
            len(repaired),
            _rows(invalid),
        )
    return districts, repaired


def _rows(mask: pd.Series) -> str:
    rows = list(mask[mask].index)
    return ", ".join(map(str, rows[:10])) + (" ..." if len(rows) > 10 else "")


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    import shapely
    from shapely.geometry import MultiPolygon, Polygon

    if isinstance(geom, (Polygon, MultiPolygon)):
        return geom
    parts = [g for g in shapely.get_parts(geom) if isinstance(g, (Polygon, MultiPolygon))]
    return shapely.union_all(parts) if parts else Polygon()


def _area_m2(geoms: gpd.GeoSeries, crs: CRS) -> np.ndarray:
    """Areas in m2: planar in a projected CRS, in Equal Earth (EPSG:8857) for a geographic one."""
    if crs.is_geographic:
        return geoms.to_crs("EPSG:8857").area.to_numpy()
    unit = linear_unit(crs)
    return geoms.area.to_numpy() * unit * unit


def _native_raster(info: LczRasterInfo, workdir: Path, block_rows: int) -> Path:
    """The LCZ map as uint8 codes 1-17 with nodata 0 declared: the file itself if it already is,
    else a normalised copy in ``workdir`` (written strip by strip)."""
    import rasterio

    with rasterio.open(info.path) as src:
        if src.count == 1 and src.dtypes[0] == "uint8" and info.scheme == "1-17" and src.nodata == 0 and info.nodata == 0:
            return info.path
        copy = workdir / "lcz-codes.tif"
        profile = dict(
            driver="GTiff",
            width=src.width,
            height=src.height,
            count=1,
            dtype="uint8",
            nodata=0,
            crs=src.crs,
            transform=src.transform,
            tiled=True,
            blockxsize=512,
            blockysize=512,
        )
        # a full disk, as GDAL reports it (rasterio's errors, or GDAL's own through rasterio):
        # one line naming the output folder
        with writing(workdir, tmp=copy):
            with rasterio.open(copy, "w", **profile) as dst:
                for win in strips(src.height, src.width, block_rows):
                    dst.write(read_codes(src, info, win), 1, window=win)
            with rasterio.open(copy) as back:  # GDAL does not always report a failed write
                last = list(strips(back.height, back.width, block_rows))[-1]
                if not np.array_equal(back.read(1, window=last), read_codes(src, info, last)):
                    raise OSError(f"{copy} did not read back whole")
    return copy


def _map_table(info: LczRasterInfo) -> pd.DataFrame:
    import pandas as pd

    classified = info.areas[1:].sum()
    total = info.areas.sum()
    rows = []
    for c in LCZ_CLASSES:
        rows.append(
            (
                c.code,
                c.label,
                c.name,
                c.colour,
                info.pixels[c.code],
                info.areas[c.code],
                info.areas[c.code] / classified,
                info.areas[c.code] / total,
            )
        )
    rows.append((NODATA, "", "No data", "", info.pixels[NODATA], info.areas[NODATA], np.nan, info.areas[NODATA] / total))
    return pd.DataFrame(rows, columns=["lcz", "label", "name", "colour", "pixels", "area_m2", "share", "map_share"])


def _district_shares(
    raster: Path, info: LczRasterInfo, districts: gpd.GeoDataFrame, progress: Progress
) -> tuple[np.ndarray, np.ndarray]:
    """Per district: valid (classified) area in m2 and the area of each class in m2."""
    from exactextract import exact_extract

    geographic = info.crs.is_geographic
    weight = "(coverage_weight=area_spherical_m2)" if geographic else ""
    ops = ["unique", f"frac{weight}", f"valid=count{weight}"]
    bar = progress(total=100, desc="summarize") if progress else None
    state = {"done": 0}

    def tick(fraction: float, _message: str | None = None) -> None:
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
    unit = 1.0 if geographic else linear_unit(info.crs)
    valid = result["valid"].to_numpy(float) * (1.0 if geographic else pixel * unit * unit)
    class_area = np.zeros((len(frame), 18))
    for i, (values, fracs) in enumerate(zip(result["unique"], result["frac"])):
        if values is None or len(values) == 0:
            continue
        class_area[i, np.asarray(values, dtype=np.int64)] += np.asarray(fracs, dtype=float) * valid[i]
    return valid, class_area


def _csv_writer(frame: pd.DataFrame) -> Callable[[Path], None]:
    """Write ``frame`` as CSV (no geometry, no index) to a path and read it back."""

    def write(tmp: Path) -> None:
        import pandas as pd

        table = frame.drop(columns=frame.geometry.name) if hasattr(frame, "geometry") else frame
        table.to_csv(tmp, index=False)
        back = pd.read_csv(tmp)
        if len(back) != len(table) or len(back.columns) != len(table.columns):
            raise OSError(f"{len(back)} of {len(table)} rows read back")

    return write


def _check_summary_outputs(
    lcz_path: str | os.PathLike,
    out: Path | None,
    driver: str | None,
    by: str | os.PathLike | gpd.GeoDataFrame | None,
    layer: str | None,
    out_layer: str | None,
    csv_path: str | os.PathLike | None,
    overwrite: bool,
) -> None:
    """Before any work: outputs are not inputs, may be written; a layer written into the
    districts' own GeoPackage must not be the districts layer."""
    import geopandas as gpd

    by_path = None if by is None or isinstance(by, gpd.GeoDataFrame) else Path(by)
    outputs = vector_outputs(out, driver) if out is not None and driver is not None else []
    outputs += [Path(csv_path)] if csv_path is not None else []
    inputs = [lcz_path, by_path]
    if out is not None and driver == "GPKG" and by_path is not None and by_path.exists():
        try:
            check_not_inputs([out], [by_path])
        except OutputError:  # the same GeoPackage: another layer of it is fine
            layers = geopackage_layers(by_path)
            read = layer if layer is not None else next(iter(layers or {}), None)
            target = out_layer or out.stem
            if layers is None or read == target:
                raise OutputError(
                    f"the summary layer {target!r} would replace the districts layer {read!r} of {by_path} "
                    "(--by, --layer): choose another OUTPUT or --out-layer (out_layer=...)"
                ) from None
            inputs = [lcz_path]  # the districts are read whole before the layer goes into a copy of the file
    check_outputs(outputs, inputs, overwrite)
    if out is not None and driver is not None:
        check_space_for_layer(out, driver, overwrite)


def summarize(
    lcz_path: str | os.PathLike,
    out_path: str | os.PathLike | None = None,
    by: str | os.PathLike | gpd.GeoDataFrame | None = None,
    layer: str | None = None,
    codes: CodeScheme = "auto",
    nodata: float | None = None,
    csv_path: str | os.PathLike | None = None,
    overwrite: bool = False,
    block_rows: int | None = None,
    progress: Progress = None,
    out_layer: str | None = None,
    ucp: UcpValue | None = None,
    band: int | str | None = None,
) -> pd.DataFrame:
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
    out_layer: the output layer's name (default: the file's stem). In an existing GeoPackage
    (with ``overwrite``) only this layer is replaced and the file's other layers are kept, so the
    summary can go into the districts' own GeoPackage as a new layer.

    ucp: ``low``, ``mid`` or ``high`` adds, per district, the area-weighted urban canopy
    parameters of its classes (Stewart & Oke 2012; :func:`lczmap.canopy.district_ucp`): one
    ``ucp_<parameter>`` column each, weighted over the classified area. Needs ``by``.

    band: the band of ``lcz_path`` to summarise, by number or description (default: the
    ``lczFilter`` band of an LCZ Generator product, else band 1; see
    :func:`~lczmap.zones.lczraster.pick_band`).

    Before any work the outputs are checked (none may be an input, each folder writable); after
    it, every file is reopened and checked, and all replace the old files together.
    """
    check_block_rows(block_rows)
    block_rows = block_rows or DEFAULT_BLOCK_ROWS
    if layer is not None and by is None:
        raise ZonesError(f"layer {layer!r} (--layer) picks a layer of the districts file: give --by too (by=...)")
    if ucp is not None and ucp not in UCP_VALUES:
        raise ZonesError(f"unknown ucp value {ucp!r} (--ucp): choose {', '.join(UCP_VALUES)}")
    if ucp is not None and by is None:
        raise ZonesError("canopy parameters (--ucp) are given per district: give --by too (by=...)")
    out = Path(out_path) if out_path is not None else None
    by_path = by if isinstance(by, (str, os.PathLike)) else None
    check_not_inputs([out], [lcz_path])  # before the formats: never suggest overwriting an input
    check_not_inputs([csv_path], [lcz_path, by_path])
    driver = vector_driver(out, table_ok=True) if out is not None else None
    if csv_path is not None and Path(csv_path).suffix.lower() != ".csv":
        raise ZonesError(f"the CSV copy {csv_path} (--csv, csv_path) must end with .csv")
    if by is None and driver not in (None, "CSV"):
        raise ZonesError(
            f"a whole-map summary is a table without geometry: write it to a .csv (OUTPUT), not {out}, or give districts (--by)"
        )
    _check_summary_outputs(lcz_path, out, driver, by, layer, out_layer, csv_path, overwrite)
    outputs = [Path(p) for p in (out_path, csv_path) if p is not None]
    if by is None:
        info = inspect_lcz(lcz_path, codes=codes, nodata=nodata, block_rows=block_rows, progress=progress, band=band)
        table = _map_table(info)
        _write_tables(table, outputs, overwrite)
        return table

    try:
        import exactextract  # noqa: F401
    except ImportError:
        raise MissingDependencyError("district summaries need exactextract: pip install exactextract") from None
    import geopandas as gpd
    from shapely.geometry import box

    districts, name = _read_districts(by, layer)
    districts, repaired = _repair(districts, name)
    info = inspect_lcz(lcz_path, codes=codes, nodata=nodata, block_rows=block_rows, progress=progress, band=band)
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
    if ucp is not None:
        result = district_ucp(result, value=ucp)
    result.attrs["repaired"] = repaired
    if out is not None and driver is not None:
        extras = [(Path(csv_path), _csv_writer(result))] if csv_path is not None else []
        with vector_sink(out, driver, overwrite, out_layer, extras) as sink:
            sink.write(result)
    elif csv_path is not None:
        _write_tables(result, [Path(csv_path)], overwrite)
    return result


def _write_tables(frame: pd.DataFrame, paths: list[Path], overwrite: bool) -> None:
    """``frame`` as CSV to each of ``paths``, read back, replacing the old files together."""
    if not paths:
        return
    write = _csv_writer(frame)
    with output_fileset(paths[0], overwrite) as fileset:
        try:
            write(fileset.main)
        except OSError as exc:
            raise write_error(exc, paths[0], [fileset.main]) from None
        for other in paths[1:]:
            fileset.extra(other, write)


def grid_districts(lcz_path: str | os.PathLike, cell_size_m: float) -> gpd.GeoDataFrame:
    """A regular grid of square districts (``district`` ids ``r000c000`` ...) over an LCZ map.

    In the map's CRS for projected maps; in Equal Earth (EPSG:8857) for geographic ones.
    """
    import geopandas as gpd
    import rasterio
    from shapely.geometry import box

    if not cell_size_m > 0:
        raise ZonesError(f"cell size must be > 0 m, got {cell_size_m}")
    with rasterio.open(lcz_path) as src:
        check_grid(src, lcz_path)
        crs, bounds = src.crs, src.bounds
    if crs.is_geographic:
        from rasterio.warp import transform_bounds

        bounds = transform_bounds(crs, "EPSG:8857", *bounds)
        crs = rasterio.crs.CRS.from_epsg(8857)
        step = cell_size_m
    else:
        step = cell_size_m / linear_unit(crs)
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
