"""``tiles=``: a mosaic too big for one file, as a folder of COG tiles on the fixed tiling of its
grid (``lcz_<row>_<col>.tif``, ``count_<row>_<col>.tif``, and the asked extras), a VRT over each
layer (``lcz.vrt`` opens styled in QGIS: ``lcz.qml`` beside it) and a STAC Collection
(``collection.json``) with one Item per tile. Tiles no scene reaches are not written."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from odc.geo.geobox import GeoBox
from rasterio.crs import CRS

from .. import raster
from .._io import atomic_path
from ..classes import lcz
from ..predict.smooth import product_strips
from .grid import MosaicGrid, extent_in
from .run import TileOutput

__all__ = ["TileSet", "write_tiles", "vrt_xml"]

_COG = "image/tiff; application=geotiff; profile=cloud-optimized"


@dataclass
class TileSet:
    """What :func:`write_tiles` wrote: the ``folder``, the LCZ ``vrt``, the STAC ``collection``
    and the tile files by key."""

    folder: Path
    vrt: Path
    collection: Path
    files: dict[tuple[int, int], dict[str, Path]]


def vrt_xml(
    grid: MosaicGrid,
    parts: Sequence[tuple[str, tuple[int, int, int, int]]],
    bands: int,
    dtype: str,
    descriptions: Sequence[str],
    nodata: str,
    colours: Mapping[int, tuple[int, int, int, int]] | None,
) -> str:
    """A GDAL VRT of the grid made of the files ``parts`` ((name relative to the VRT, (i0, i1, j0,
    j1))), ``bands`` bands of ``dtype``; ``colours``: a palette for the first bands."""
    h, w = grid.shape
    a = grid.affine
    wkt = escape(CRS.from_user_input(grid.crs).to_wkt())
    lines = [
        f'<VRTDataset rasterXSize="{w}" rasterYSize="{h}">',
        f'  <SRS dataAxisToSRSAxisMapping="{"2,1" if CRS.from_user_input(grid.crs).is_geographic else "1,2"}">{wkt}</SRS>',
        f"  <GeoTransform>{a.c!r}, {a.a!r}, {a.b!r}, {a.f!r}, {a.d!r}, {a.e!r}</GeoTransform>",
    ]
    for b in range(1, bands + 1):
        lines.append(f'  <VRTRasterBand dataType="{dtype}" band="{b}">')
        lines.append(f"    <Description>{escape(descriptions[b - 1])}</Description>")
        lines.append(f"    <NoDataValue>{nodata}</NoDataValue>")
        if colours is not None and b <= 2:
            lines.append("    <ColorInterp>Palette</ColorInterp>")
            lines.append("    <ColorTable>")
            for v in range(max(colours) + 1):
                r, g, bl, al = colours.get(v, (0, 0, 0, 0))
                lines.append(f'      <Entry c1="{r}" c2="{g}" c3="{bl}" c4="{al}"/>')
            lines.append("    </ColorTable>")
        for name, (i0, i1, j0, j1) in parts:
            lines += [
                "    <SimpleSource>",
                f'      <SourceFilename relativeToVRT="1">{escape(name)}</SourceFilename>',
                f"      <SourceBand>{b}</SourceBand>",
                f'      <SrcRect xOff="0" yOff="0" xSize="{j1 - j0}" ySize="{i1 - i0}"/>',
                f'      <DstRect xOff="{j0}" yOff="{i0}" xSize="{j1 - j0}" ySize="{i1 - i0}"/>',
                "    </SimpleSource>",
            ]
        lines.append("  </VRTRasterBand>")
    lines.append("</VRTDataset>")
    return "\n".join(lines) + "\n"


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(text)


def write_tiles(
    folder: Path,
    grid: MosaicGrid,
    keys: Sequence[tuple[int, int]],
    tile_of: Callable[[int, int], tuple[int, int, int, int]],
    get: Callable[[tuple[int, int]], TileOutput],
    model_codes: Sequence[int],
    layout: str,
    coding: str,
    filter_sigma: float,
    tags: Mapping[str, object],
    extras: Sequence[str],
    dates: Sequence[str],
    overwrite: bool,
) -> TileSet:
    """Write each tile of ``keys`` (its pixels ``tile_of(row, col)``, its data ``get(key)``), the
    VRTs with the LCZ style beside and the STAC Collection into ``folder``."""
    import pystac

    folder.mkdir(parents=True, exist_ok=True)
    files: dict[tuple[int, int], dict[str, Path]] = {}
    parts: dict[str, list[tuple[str, tuple[int, int, int, int]]]] = {}
    for key in keys:
        out = get(key)
        i0, i1, j0, j1 = tile_of(*key)
        sub: GeoBox = grid.geobox[i0:i1, j0:j1]
        name = f"{key[0]:04d}_{key[1]:04d}"
        res = out.result
        written: dict[str, Path] = {}
        path = folder / f"lcz_{name}.tif"
        if layout == "lcz-generator":
            assert res.probabilities is not None
            strips = product_strips(res.probabilities, res.codes, res.confidence, model_codes, filter_sigma)
            raster.write_lcz_product(
                path, strips, res.codes.shape, sub.affine, grid.crs, {**tags, "filter_sigma": filter_sigma}, overwrite, coding
            )
        else:
            raster.write_lcz(path, res.codes, sub.affine, grid.crs, tags, overwrite, coding)
        written["lcz"] = path
        written["count"] = raster.write_float(
            folder / f"count_{name}.tif", out.count.astype(np.float32), sub.affine, grid.crs, ["acquisitions"], tags, overwrite
        )
        if "confidence" in extras:
            written["confidence"] = raster.write_float(
                folder / f"confidence_{name}.tif", res.confidence, sub.affine, grid.crs, ["confidence"], tags, overwrite
            )
        if "probabilities" in extras:
            assert res.probabilities is not None
            written["probabilities"] = raster.write_float(
                folder / f"probabilities_{name}.tif",
                res.probabilities,
                sub.affine,
                grid.crs,
                [lcz(c).title for c in model_codes],
                tags,
                overwrite,
            )
        for kind, p in written.items():
            parts.setdefault(kind, []).append((p.name, (i0, i1, j0, j1)))
        files[key] = written
    generator = layout == "lcz-generator"
    bands = len(raster.LCZ_GENERATOR_BANDS) if generator else 1
    desc = list(raster.LCZ_GENERATOR_BANDS) if generator else ["LCZ"]
    vrt = folder / "lcz.vrt"
    _write_text(vrt, vrt_xml(grid, parts.get("lcz", []), bands, "Byte", desc, "0", raster.lcz_colormap(coding)))
    _write_text(folder / "lcz.qml", raster.lcz_qml(coding, 2 if generator else 1))
    _write_text(folder / "count.vrt", vrt_xml(grid, parts.get("count", []), 1, "Float32", ["acquisitions"], "nan", None))
    for kind, k in (("confidence", 1), ("probabilities", len(model_codes))):
        if kind in extras:
            desc = ["confidence"] if k == 1 else [lcz(c).title for c in model_codes]
            _write_text(folder / f"{kind}.vrt", vrt_xml(grid, parts.get(kind, []), k, "Float32", desc, "nan", None))

    when = sorted(d for d in dates if d) or [str(tags.get("date", "1970-01-01T00:00:00Z"))]
    start, end = (_parse(when[0]), _parse(when[-1]))
    epsg = CRS.from_user_input(grid.crs).to_epsg()
    items = []
    for key, written in files.items():
        i0, i1, j0, j1 = tile_of(*key)
        sub = grid.geobox[i0:i1, j0:j1]
        geom = extent_in(sub, "EPSG:4326")
        name = f"{key[0]:04d}_{key[1]:04d}"
        item = pystac.Item(
            id=f"lcz_{name}",
            geometry=geom.json,
            bbox=list(geom.boundingbox),
            datetime=None,
            properties={
                "start_datetime": start.isoformat().replace("+00:00", "Z"),
                "end_datetime": end.isoformat().replace("+00:00", "Z"),
                "proj:code": f"EPSG:{epsg}" if epsg else None,
                "proj:shape": [i1 - i0, j1 - j0],
                "proj:transform": list(sub.affine)[:6],
                "lczmap:tile": list(key),
            },
            stac_extensions=["https://stac-extensions.github.io/projection/v2.0.0/schema.json"],
        )
        for kind, p in written.items():
            roles = ["data"] if kind == "lcz" else ["metadata"] if kind == "count" else ["data"]
            item.add_asset(kind, pystac.Asset(href=str(p.resolve()), media_type=_COG, roles=roles, title=kind))
        items.append(item)
    everything = extent_in(grid.geobox, "EPSG:4326").boundingbox
    collection = pystac.Collection(
        id="lczmap-mosaic",
        description="LCZ map fused from Sentinel-1 acquisitions by lczmap mosaic",
        extent=pystac.Extent(pystac.SpatialExtent([list(everything)]), pystac.TemporalExtent([[start, end]])),
        license="other",
        stac_extensions=["https://stac-extensions.github.io/projection/v2.0.0/schema.json"],
    )
    collection.add_items(items)
    collection.normalize_hrefs(str(folder.resolve()))
    collection.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return TileSet(folder, vrt, folder / "collection.json", files)


def _parse(text: str) -> dt.datetime:
    text = text.replace("Z", "+00:00")
    when = dt.datetime.fromisoformat(text) if "T" in text else dt.datetime.fromisoformat(text + "T00:00:00+00:00")
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
