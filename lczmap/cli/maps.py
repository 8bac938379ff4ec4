"""``lczmap assess``, ``ucp``, ``sample`` and ``render``: what one does with an LCZ map (accuracy, canopy
parameters, station samples, a readable figure)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..maps import DEFAULT_BUFFER, DEFAULT_DRAWS, UCP_VALUES
from ..maps.design import ALLOCATIONS, DEFAULT_MIN_PER_CLASS, DEFAULT_SAMPLE_SIZE
from ..maps.render import DEFAULT_MAX_PIXELS
from ..zones.lczraster import CODE_SCHEMES
from .options import band_opt, overwrite_opt, progress_factory, seed_opt
from .zones import codes_opt, nodata_opt, out_layer_opt

if TYPE_CHECKING:
    from ..canopy import UcpValue
    from ..maps.design import Allocation
    from ..zones.lczraster import CodeScheme


@click.command(short_help="Accuracy of an LCZ map against reference polygons/points, or another map.")
@click.argument("lcz", type=click.Path(exists=True, dir_okay=False))
@click.argument("reference", type=click.Path(exists=True), required=False)
@click.option(
    "--against",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Another LCZ map to compare with instead of REFERENCE (resampled onto LCZ's grid, nearest neighbour).",
)
@click.option(
    "--field",
    default=None,
    help="Field of REFERENCE holding the class [default: the KML folders (layers) "
    "named by class, else lcz, class, code, label or name].",
)
@click.option("--layer", default=None, help="Read only this layer of a multi-layer REFERENCE file [default: every layer].")
@click.option(
    "--ref-codes",
    type=click.Choice(CODE_SCHEMES),
    default="auto",
    show_default=True,
    help="Coding of the reference classes (A-G as 11-17 or 101-107; letters and 'LCZ x' always work).",
)
@click.option(
    "--draws",
    type=click.IntRange(min=0),
    default=DEFAULT_DRAWS,
    show_default=True,
    help="Bootstrap draws over the reference units (0: no intervals).",
)
@seed_opt
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Write the assessment as JSON.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None, help="Write the scores as a CSV table.")
@click.option(
    "--figure", "figure_path", type=click.Path(dir_okay=False), default=None, help="Write the confusion matrix as .png or .pdf."
)
@click.option(
    "--agreement-layer",
    "agreement_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the reference units with their agreement (.gpkg, .geojson, .shp, .fgb, .parquet).",
)
@click.option(
    "--units",
    "units",
    type=click.Path(dir_okay=False),
    default=None,
    hidden=True,
    help="The old spelling of --agreement-layer (kept for one release).",
)
@click.option(
    "--design",
    "design_sample",
    is_flag=True,
    default=False,
    help="REFERENCE is a sample `lczmap design` drew from LCZ, labelled: area-adjusted accuracy and class areas "
    "with 95 %% intervals (Olofsson et al. 2014; --field defaults to 'reference').",
)
@codes_opt
@nodata_opt
@click.option(
    "--probabilities",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="A probability layer of LCZ (what predict writes with its probabilities or confidence options, or an "
    "LCZ Generator layout map): report the expected calibration error of its probabilities at the reference pixels.",
)
@click.option(
    "--reliability",
    "reliability_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the reliability diagram of --probabilities as .png or .pdf.",
)
@out_layer_opt
@overwrite_opt
def assess(
    lcz: str,
    reference: str | None,
    against: str | None,
    field: str | None,
    layer: str | None,
    ref_codes: CodeScheme,
    draws: int,
    seed: int,
    json_path: str | None,
    csv_path: str | None,
    figure_path: str | None,
    agreement_path: str | None,
    units: str | None,
    design_sample: bool,
    codes: CodeScheme,
    nodata: float | None,
    probabilities: str | None,
    reliability_path: str | None,
    out_layer: str | None,
    overwrite: bool,
) -> None:
    """Assess the LCZ map LCZ against REFERENCE polygons or points (any CRS; class field in
    either coding, or the LCZ Generator template's class folders, its ROI the assessed area), or
    against another map with --against. Prints OA, OAu, OAbu, OAw and kappa with bootstrap
    intervals; --json, --csv, --figure and --agreement-layer write the details."""
    from ..maps import assess_map

    if design_sample:
        from ..maps.olofsson import assess_sample

        if reference is None or against is not None or agreement_path is not None or units is not None or probabilities:
            raise click.UsageError(
                "--design reads LCZ and its labelled SAMPLE (as REFERENCE): no --against, --agreement-layer or --probabilities"
            )
        found = assess_sample(
            lcz,
            reference,
            field=field,
            layer=layer,
            ref_codes=ref_codes,
            codes=codes,
            nodata=nodata,
            json_path=json_path,
            csv_path=csv_path,
            figure_path=figure_path,
            overwrite=overwrite,
            progress=progress_factory(),
        )
        click.echo(found.summary())
        for kind, path in found.outputs.items():
            click.echo(f"Wrote {kind}: {path}")
        return
    if units is not None:
        if agreement_path is not None:
            raise click.UsageError("--units is the old spelling of --agreement-layer: give only --agreement-layer")
        click.echo("Note: --units is now --agreement-layer; the old spelling goes in the next release.", err=True)
        agreement_path = units

    result = assess_map(
        lcz,
        reference,
        against=against,
        field=field,
        layer=layer,
        ref_codes=ref_codes,
        codes=codes,
        nodata=nodata,
        draws=draws,
        seed=seed,
        json_path=json_path,
        csv_path=csv_path,
        figure_path=figure_path,
        agreement_path=agreement_path,
        out_layer=out_layer,
        overwrite=overwrite,
        progress=progress_factory(),
        probabilities=probabilities,
        reliability_path=reliability_path,
    )
    click.echo(result.summary())
    for kind, path in result.outputs.items():
        click.echo(f"Wrote {kind}: {path}")


@click.command(short_help="Urban canopy parameters per pixel (Stewart & Oke 2012) as a GeoTIFF.")
@click.argument("lcz", type=click.Path(exists=True, dir_okay=False))
@click.argument("output", type=click.Path(dir_okay=False))
@click.option(
    "--value",
    type=click.Choice(UCP_VALUES),
    default="mid",
    show_default=True,
    help="Which figure of each published range to write.",
)
@click.option("--parameter", "parameters", multiple=True, help="Write only this parameter (repeatable) [default: all].")
@codes_opt
@nodata_opt
@overwrite_opt
def ucp(
    lcz: str,
    output: str,
    value: UcpValue,
    parameters: tuple[str, ...],
    codes: CodeScheme,
    nodata: float | None,
    overwrite: bool,
) -> None:
    """Write the urban canopy parameters of each pixel of the LCZ map LCZ to OUTPUT (.tif):
    one float32 band per parameter, named, NaN for no data."""
    from ..maps import map_ucp

    out = map_ucp(
        lcz,
        output,
        value=value,
        parameters=parameters or None,
        codes=codes,
        nodata=nodata,
        overwrite=overwrite,
        progress=progress_factory(),
    )
    click.echo(f"Wrote {out} ({value} values)")


@click.command(short_help="LCZ at points and the class shares around them.")
@click.argument("lcz", type=click.Path(exists=True, dir_okay=False))
@click.argument("points", type=click.Path(exists=True))
@click.argument("output", type=click.Path(dir_okay=False))
@click.option(
    "--buffer",
    type=click.FloatRange(min=0),
    default=DEFAULT_BUFFER,
    show_default=True,
    help="Radius in metres for the class shares (0: none).",
)
@click.option(
    "--x", default=None, help="Column of POINTS (CSV) holding x or longitude [default: lon, longitude, x, easting ...]."
)
@click.option("--y", default=None, help="Column of POINTS (CSV) holding y or latitude [default: lat, latitude, y, northing ...].")
@click.option("--crs", default=None, help="CRS of the CSV coordinates [default: EPSG:4326 for lon/lat, the map's for x/y].")
@click.option("--layer", default=None, help="Layer of a multi-layer POINTS file.")
@codes_opt
@nodata_opt
@overwrite_opt
def sample(
    lcz: str,
    points: str,
    output: str,
    buffer: float,
    x: str | None,
    y: str | None,
    crs: str | None,
    layer: str | None,
    codes: CodeScheme,
    nodata: float | None,
    overwrite: bool,
) -> None:
    """For each point of POINTS (a CSV with lon/lat or x/y columns, or a point layer): the LCZ
    under it and, within --buffer metres, the share of each class (exact, area-weighted), the
    most common class and the no-data share; written to OUTPUT (.csv or a vector format)."""
    from ..maps import sample_points

    table = sample_points(
        lcz,
        points,
        output,
        buffer=buffer,
        x=x,
        y=y,
        crs=crs,
        layer=layer,
        codes=codes,
        nodata=nodata,
        overwrite=overwrite,
        progress=progress_factory(),
    )
    click.echo(f"Sampled {len(table)} points into {output}")


@click.command(short_help="Draw an LCZ map as PNG or PDF (palette, legend, scale bar).")
@click.argument("lcz", type=click.Path(exists=True, dir_okay=False))
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--title", default=None, help="Title [default: the file name].")
@click.option("--dpi", type=click.IntRange(min=10), default=150, show_default=True, help="Resolution of a PNG.")
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_PIXELS,
    show_default=True,
    help="Reduce larger maps by block mode (most common class) to at most this many pixels.",
)
@codes_opt
@nodata_opt
@band_opt
@overwrite_opt
def render(
    lcz: str,
    output: str,
    title: str | None,
    dpi: int,
    max_pixels: int,
    codes: CodeScheme,
    nodata: float | None,
    band: str | None,
    overwrite: bool,
) -> None:
    """Draw the LCZ map LCZ to OUTPUT (.png or .pdf) with the WUDAPT colours, a legend of the
    classes present, a scale bar, the CRS and the model and date from the map's tags."""
    from ..maps import render_map

    out = render_map(
        lcz,
        output,
        title=title,
        codes=codes,
        nodata=nodata,
        dpi=dpi,
        max_pixels=max_pixels,
        overwrite=overwrite,
        progress=progress_factory(),
        band=band,
    )
    click.echo(f"Wrote {out}")


@click.command(short_help="A stratified random sample of an LCZ map's classes to label (Olofsson et al. 2014).")
@click.argument("lcz", type=click.Path(exists=True, dir_okay=False))
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--n", "n", type=click.IntRange(min=1), default=DEFAULT_SAMPLE_SIZE, show_default=True, help="Points in all.")
@click.option(
    "--allocation",
    type=click.Choice(ALLOCATIONS),
    default="proportional",
    show_default=True,
    help="Points per class: by area, equal, or Neyman (by area times the spread of the anticipated user's accuracy).",
)
@click.option(
    "--min-per-class",
    type=click.IntRange(min=0),
    default=DEFAULT_MIN_PER_CLASS,
    show_default=True,
    help="Points in each class at least (all its pixels when it has fewer).",
)
@click.option(
    "--anticipated-ua",
    "anticipated",
    multiple=True,
    metavar="[CLASS=]UA",
    help="User's accuracy the Neyman allocation assumes: one value for all, or CLASS=VALUE (repeatable) "
    "[default: 0.7 for LCZ 1-10, 0.85 for A-F, 0.95 for G].",
)
@seed_opt
@codes_opt
@nodata_opt
@overwrite_opt
def design(
    lcz: str,
    output: str,
    n: int,
    allocation: Allocation,
    min_per_class: int,
    anticipated: tuple[str, ...],
    seed: int,
    codes: CodeScheme,
    nodata: float | None,
    overwrite: bool,
) -> None:
    """Draw a stratified random sample of points from the classes of the LCZ map LCZ (strata: its
    classes; each point a random place in a random pixel of its class) and write it to OUTPUT
    (.gpkg) and as KML beside it, with an empty 'reference' field to fill in QGIS or Google Earth.
    Then: lczmap assess LCZ OUTPUT --design."""
    from ..maps.design import design_sample, parse_anticipated

    drawn = design_sample(
        lcz,
        output,
        n=n,
        allocation=allocation,
        min_per_class=min_per_class,
        anticipated=parse_anticipated(anticipated),
        seed=seed,
        codes=codes,
        nodata=nodata,
        overwrite=overwrite,
        progress=progress_factory(),
    )
    click.echo(drawn.summary())
    for kind, path in drawn.outputs.items():
        click.echo(f"Wrote {kind}: {path}")


commands = [assess, ucp, sample, render, design]
