"""``lczmap zones`` and ``lczmap summarize``: vector LCZ zones and per-area summaries."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..canopy import UCP_VALUES
from ..zones.lczraster import CODE_SCHEMES, DEFAULT_BLOCK_ROWS
from .options import band_opt, overwrite_opt, progress_factory

if TYPE_CHECKING:
    from ..canopy import UcpValue
    from ..zones.lczraster import CodeScheme

codes_opt = click.option(
    "--codes",
    type=click.Choice(CODE_SCHEMES),
    default="auto",
    show_default=True,
    help="How the raster codes LCZ A-G: 11-17 (global LCZ map, lczmap) or 101-107 (some LCZ "
    "Generator outputs); auto decides from the values.",
)
nodata_opt = click.option(
    "--nodata", type=float, default=None, help="No-data value of the LCZ raster [default: the raster's own; 0 always]."
)
block_rows_opt = click.option(
    "--block-rows",
    type=click.IntRange(min=16),
    default=None,
    help="Rows per strip: less uses less memory; the result is the same "
    f"[default: {DEFAULT_BLOCK_ROWS}, more when --min-area needs a wider sieve halo].",
)

out_layer_opt = click.option(
    "--out-layer",
    default=None,
    help="Name of the output layer [default: OUTPUT's name without extension]. In an existing "
    "GeoPackage, --overwrite replaces only this layer and keeps the others.",
)


@click.command(short_help="Polygons of an LCZ raster (GeoPackage, GeoParquet, GeoJSON, Shapefile).")
@click.argument("lcz", type=click.Path(exists=True, dir_okay=False))
@click.argument("output", type=click.Path())
@click.option(
    "--min-area",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Dissolve patches smaller than this many m2 into their largest-border neighbour (0: keep all).",
)
@click.option(
    "--confidence",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Confidence raster (or per-class probabilities) on the map's grid: adds each zone's mean.",
)
@codes_opt
@nodata_opt
@click.option("--style/--no-style", default=True, show_default=True, help="Write a QGIS style (.qml) beside OUTPUT.")
@block_rows_opt
@out_layer_opt
@overwrite_opt
def zones(
    lcz: str,
    output: str,
    min_area: float,
    confidence: str | None,
    codes: CodeScheme,
    nodata: float | None,
    style: bool,
    block_rows: int | None,
    out_layer: str | None,
    overwrite: bool,
) -> None:
    """Turn the LCZ raster LCZ into zone polygons in OUTPUT (format from its extension:
    .gpkg, .parquet, .geojson, .shp, .fgb), with the LCZ code, label, name, colour, area in m2
    and, with --confidence, the mean confidence of each zone."""
    from .._io import check_utf8
    from ..zones import vectorize_zones

    check_utf8(output, "output")  # before any work: GDAL cannot take the name
    result = vectorize_zones(
        lcz,
        output,
        min_area=min_area,
        confidence=confidence,
        codes=codes,
        nodata=nodata,
        style=style,
        overwrite=overwrite,
        block_rows=block_rows,
        progress=progress_factory(),
        out_layer=out_layer,
    )
    sieve = f", patches under {result.min_pixels} pixels dissolved" if result.min_pixels > 1 else ""
    click.echo(f"Wrote {result.zones} zones to {result.path} (codes {result.scheme}{sieve})")


@click.command(short_help="Share of each LCZ class per district, or for the whole map.")
@click.argument("lcz", type=click.Path(exists=True, dir_okay=False))
@click.argument("output", type=click.Path(), required=False)
@click.option(
    "--by",
    type=click.Path(exists=True),
    default=None,
    help="Polygon layer of districts (any CRS): one row per district. Without it: one row per class.",
)
@click.option("--layer", default=None, help="Layer of a multi-layer --by file (e.g. a GeoPackage).")
@click.option("--csv", "csv_path", type=click.Path(), default=None, help="Also write the table as CSV.")
@codes_opt
@nodata_opt
@band_opt
@block_rows_opt
@click.option(
    "--ucp",
    type=click.Choice(UCP_VALUES),
    default=None,
    help="Add each district's area-weighted urban canopy parameters (Stewart & Oke 2012), "
    "taking each range's low, mid or high value (needs --by).",
)
@out_layer_opt
@overwrite_opt
def summarize(
    lcz: str,
    output: str | None,
    by: str | None,
    layer: str | None,
    csv_path: str | None,
    codes: CodeScheme,
    nodata: float | None,
    band: str | None,
    block_rows: int | None,
    ucp: UcpValue | None,
    out_layer: str | None,
    overwrite: bool,
) -> None:
    """Summarise the LCZ raster LCZ. With --by: for each district its area, the share of each
    class (edge pixels weighted by the part inside), the dominant class and the no-data share,
    written to OUTPUT (.gpkg, .parquet, .geojson, .shp, .fgb or .csv). Without --by: area and
    share of each class over the whole map, written to OUTPUT (.csv) or shown."""
    from ..zones import summarize as make_summary

    if by is not None and output is None and csv_path is None:
        raise click.UsageError("give an OUTPUT path (or --csv) for the district summary")
    table = make_summary(
        lcz,
        output,
        by=by,
        layer=layer,
        codes=codes,
        nodata=nodata,
        csv_path=csv_path,
        overwrite=overwrite,
        progress=progress_factory(),
        block_rows=block_rows,
        out_layer=out_layer,
        ucp=ucp,
        band=band,
    )
    written = [p for p in (output, csv_path) if p]
    if by is not None:
        repaired = table.attrs.get("repaired", [])
        note = f"; {len(repaired)} invalid geometries repaired" if repaired else ""
        click.echo(f"Summarised {len(table)} districts into {', '.join(written)}{note}")
    elif written:
        click.echo(f"Wrote the whole-map summary to {', '.join(written)}")
    else:
        shown = table.assign(share=table["share"].round(4), map_share=table["map_share"].round(4))
        shown = shown.assign(area_km2=(table["area_m2"] / 1e6).round(3)).drop(columns=["colour", "area_m2"])
        click.echo(shown.to_string(index=False))


commands = [zones, summarize]
