"""``lczmap assess``, ``ucp``, ``sample`` and ``render``: products for urban-climate work."""

from __future__ import annotations

import click

from ..products import DEFAULT_BUFFER, DEFAULT_DRAWS, UCP_VALUES
from ..products.render import DEFAULT_MAX_PIXELS
from ..zones.codes import CODE_SCHEMES
from .options import overwrite_opt, progress_factory, seed_opt
from .zones import codes_opt, nodata_opt, out_layer_opt


@click.command(short_help="Accuracy of an LCZ map against reference polygons/points, or another map.")
@click.argument("lcz", type=click.Path(exists=True, dir_okay=False))
@click.argument("reference", type=click.Path(exists=True), required=False)
@click.option("--against", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Another LCZ map to compare with instead of REFERENCE (resampled onto LCZ's grid, nearest neighbour).")
@click.option("--field", default=None, help="Field of REFERENCE holding the class [default: lcz, class, code, label or name].")
@click.option("--layer", default=None, help="Layer of a multi-layer REFERENCE file.")
@click.option("--ref-codes", type=click.Choice(CODE_SCHEMES), default="auto", show_default=True,
              help="Coding of the reference classes (A-G as 11-17 or 101-107; letters and 'LCZ x' always work).")
@click.option("--draws", type=click.IntRange(min=0), default=DEFAULT_DRAWS, show_default=True,
              help="Bootstrap draws over the reference units (0: no intervals).")
@seed_opt
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Write the assessment as JSON.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None, help="Write the scores as a CSV table.")
@click.option("--figure", "figure_path", type=click.Path(dir_okay=False), default=None,
              help="Write the confusion matrix as .png or .pdf.")
@click.option("--units", "units_path", type=click.Path(dir_okay=False), default=None,
              help="Write the reference units with their agreement (.gpkg, .geojson, .shp, .fgb, .parquet).")
@codes_opt
@nodata_opt
@out_layer_opt
@overwrite_opt
def assess(lcz, reference, against, field, layer, ref_codes, draws, seed, json_path, csv_path, figure_path, units_path,
           codes, nodata, out_layer, overwrite):
    """Assess the LCZ map LCZ against REFERENCE polygons or points (any CRS; class field in
    either coding), or against another map with --against. Prints OA, OAu, OAbu, OAw and kappa
    with bootstrap intervals; --json, --csv, --figure and --units write the details."""
    from ..products import assess_map

    result = assess_map(
        lcz, reference, against=against, field=field, layer=layer, ref_codes=ref_codes, codes=codes, nodata=nodata,
        draws=draws, seed=seed, json_path=json_path, csv_path=csv_path,
        figure_path=figure_path, units_path=units_path, out_layer=out_layer, overwrite=overwrite,
        progress=progress_factory(),
    )
    click.echo(result.summary())
    for kind, path in result.outputs.items():
        click.echo(f"Wrote {kind}: {path}")


@click.command(short_help="Urban canopy parameters per pixel (Stewart & Oke 2012) as a GeoTIFF.")
@click.argument("lcz", type=click.Path(exists=True, dir_okay=False))
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--value", type=click.Choice(UCP_VALUES), default="mid", show_default=True,
              help="Which figure of each published range to write.")
@click.option("--parameter", "parameters", multiple=True, help="Write only this parameter (repeatable) [default: all].")
@codes_opt
@nodata_opt
@overwrite_opt
def ucp(lcz, output, value, parameters, codes, nodata, overwrite):
    """Write the urban canopy parameters of each pixel of the LCZ map LCZ to OUTPUT (.tif):
    one float32 band per parameter, named, NaN for no data."""
    from ..products import map_ucp

    out = map_ucp(lcz, output, value=value, parameters=parameters or None, codes=codes, nodata=nodata,
                  overwrite=overwrite, progress=progress_factory())
    click.echo(f"Wrote {out} ({value} values)")


@click.command(short_help="LCZ at points and the class shares around them.")
@click.argument("lcz", type=click.Path(exists=True, dir_okay=False))
@click.argument("points", type=click.Path(exists=True))
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--buffer", type=click.FloatRange(min=0), default=DEFAULT_BUFFER, show_default=True,
              help="Radius in metres for the class shares (0: none).")
@click.option("--x", default=None, help="Column of POINTS (CSV) holding x or longitude [default: lon, longitude, x, easting ...].")
@click.option("--y", default=None, help="Column of POINTS (CSV) holding y or latitude [default: lat, latitude, y, northing ...].")
@click.option("--crs", default=None, help="CRS of the CSV coordinates [default: EPSG:4326 for lon/lat, the map's for x/y].")
@click.option("--layer", default=None, help="Layer of a multi-layer POINTS file.")
@codes_opt
@nodata_opt
@overwrite_opt
def sample(lcz, points, output, buffer, x, y, crs, layer, codes, nodata, overwrite):
    """For each point of POINTS (a CSV with lon/lat or x/y columns, or a point layer): the LCZ
    under it and, within --buffer metres, the share of each class (exact, area-weighted), the
    most common class and the no-data share; written to OUTPUT (.csv or a vector format)."""
    from ..products import sample_points

    table = sample_points(lcz, points, output, buffer=buffer, x=x, y=y, crs=crs,
                          layer=layer, codes=codes, nodata=nodata, overwrite=overwrite, progress=progress_factory())
    click.echo(f"Sampled {len(table)} points into {output}")


@click.command(short_help="Draw an LCZ map as PNG or PDF (palette, legend, scale bar).")
@click.argument("lcz", type=click.Path(exists=True, dir_okay=False))
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--title", default=None, help="Title [default: the file name].")
@click.option("--dpi", type=click.IntRange(min=10), default=150, show_default=True, help="Resolution of a PNG.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=DEFAULT_MAX_PIXELS, show_default=True,
              help="Reduce larger maps by block mode (most common class) to at most this many pixels.")
@codes_opt
@nodata_opt
@overwrite_opt
def render(lcz, output, title, dpi, max_pixels, codes, nodata, overwrite):
    """Draw the LCZ map LCZ to OUTPUT (.png or .pdf) with the WUDAPT colours, a legend of the
    classes present, a scale bar, the CRS and the model and date from the map's tags."""
    from ..products import render_map

    out = render_map(lcz, output, title=title, codes=codes, nodata=nodata, dpi=dpi,
                     max_pixels=max_pixels, overwrite=overwrite,
                     progress=progress_factory())
    click.echo(f"Wrote {out}")


commands = [assess, ucp, sample, render]
