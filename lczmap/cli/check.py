"""``lczmap check-areas``: flag suspicious training areas, each polygon scored by models that did not see
it (a door over :func:`lczmap.adapt.check_areas`: the options become one
:class:`~lczmap.adapt.CheckOptions`, which checks them)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..adapt.check import (
    DEFAULT_CHECK_EPOCHS,
    DEFAULT_FOLDS,
    DEFAULT_MIN_PIXELS,
    DEFAULT_MIXED,
    DEFAULT_RATIO,
    SCORERS,
    CheckOptions,
)
from ..adapt.options import ADAPT_METHODS, AdaptOptions
from ..errors import ConfigError
from ..predict.options import DEFAULT_MAX_NODATA, DEFAULT_STRIDE, PredictOptions
from ..scene import BACKSCATTER, RESAMPLING, UNITS
from ..speckle import SPECKLE_FILTERS
from ..zones.lczraster import CODE_SCHEMES
from .options import band_names, batch_size_opt, device_opt, overwrite_opt, progress_factory, seed_opt, swaths_opt

if TYPE_CHECKING:
    from ..bands import Backscatter, Units


@click.command("check-areas", short_help="Flag suspicious LCZ training areas (cross-validation by polygon).")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("scene", type=str)
@click.argument("training_areas", type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Layer to write: every polygon with its own fields and flag, reason, detail, predicted class and "
    "probabilities (.gpkg for QGIS; .geojson, .shp, .fgb ...).",
)
@click.option(
    "--scorer",
    type=click.Choice(SCORERS),
    default=SCORERS[0],
    show_default=True,
    help="head: logistic regression per fold on the model's SAR embedding and logits (seconds); adapt: "
    "adapt's SAR stage per fold (minutes).",
)
@click.option("--folds", type=int, default=DEFAULT_FOLDS, show_default=True, help="Folds of the cross-validation by polygon.")
@click.option(
    "--ratio",
    type=float,
    default=DEFAULT_RATIO,
    show_default=True,
    help="Flag 'another class' when a class is this many times as likely as the label.",
)
@click.option(
    "--mixed",
    type=float,
    default=DEFAULT_MIXED,
    show_default=True,
    help="Flag 'mixed classes' when the second class wins this share of a polygon's windows.",
)
@click.option(
    "--min-pixels",
    type=int,
    default=DEFAULT_MIN_PIXELS,
    show_default=True,
    help="Flag 'too small' below this many output pixels (centres inside the polygon).",
)
@click.option(
    "--method",
    type=click.Choice(ADAPT_METHODS[:2]),
    default=ADAPT_METHODS[0],
    show_default=True,
    help="--scorer adapt: the SAR stage run per fold.",
)
@click.option("--sar-epochs", type=int, default=DEFAULT_CHECK_EPOCHS, show_default=True, help="--scorer adapt: SAR-stage epochs.")
@click.option(
    "--field",
    default=None,
    help="Field of TRAINING_AREAS holding the class [default: the KML folders, else lcz, class, code, label or name].",
)
@click.option("--layer", default=None, help="Read only this layer of a multi-layer TRAINING_AREAS file [default: every layer].")
@click.option(
    "--ref-codes",
    type=click.Choice(CODE_SCHEMES),
    default="auto",
    show_default=True,
    help="Coding of the classes (A-G as 11-17 or 101-107; letters and 'LCZ x' always work).",
)
@click.option("--bands", callback=band_names, default=None, help="Names of the scene's bands in order, e.g. VH,VV.")
@click.option("--units", type=click.Choice(UNITS), default=None, help="Units of intensity bands (default: the file's unit tag).")
@click.option("--quantity", type=click.Choice(BACKSCATTER), default=None, help="What the intensities are normalised by.")
@click.option("--resample", type=click.Choice(RESAMPLING), default=None, help="Resample scenes whose pixels are not 10 m.")
@swaths_opt
@click.option(
    "--speckle-filter",
    type=click.Choice(SPECKLE_FILTERS),
    default=None,
    help="Speckle filter, as lczmap predict applies it [default: the one the model's band set expects].",
)
@click.option(
    "--stride", type=int, default=DEFAULT_STRIDE, show_default=True, help="Output pixel size in input pixels (10 = 100 m)."
)
@click.option(
    "--max-nodata",
    type=float,
    default=DEFAULT_MAX_NODATA,
    show_default=True,
    help="Largest nodata share of a window that is still used, as lczmap predict.",
)
@seed_opt
@device_opt
@batch_size_opt
@overwrite_opt
@click.pass_context
def check_areas_cmd(
    ctx: click.Context,
    model: Path,
    scene: str,
    training_areas: Path,
    out: Path,
    scorer: str,
    folds: int,
    ratio: float,
    mixed: float,
    min_pixels: int,
    method: str,
    sar_epochs: int,
    field: str | None,
    layer: str | None,
    ref_codes: str,
    bands: tuple[str, ...] | None,
    units: Units | None,
    quantity: Backscatter | None,
    resample: str | None,
    swaths: tuple[str, ...] | None,
    speckle_filter: str | None,
    stride: int,
    max_nodata: float,
    seed: int,
    device: str,
    batch_size: int | None,
    overwrite: bool,
) -> None:
    """Flag suspicious polygons of the LCZ training areas TRAINING_AREAS (the LCZ Generator's KML/KMZ
    template or polygons with a class field; any CRS) on the Sentinel-1 scene SCENE, with MODEL's
    SAR network, and write them all to -o OUT with the reason. Each polygon is scored by a scorer
    fitted on the other polygons (5-fold cross-validation by polygon, stratified by class); flags:
    'another class' (another class --ratio times as likely as the label), 'mixed classes', 'off
    the scene' (or over nodata), 'too small'. Check before `lczmap adapt`; open OUT in QGIS next
    to the areas.

    \b
    lczmap check-areas model.safetensors city.tif areas.kml -o areas_checked.gpkg
    lczmap adapt model.safetensors city.tif areas_fixed.kml -o city.safetensors
    """
    from ..adapt import check_areas

    try:  # the library checks the values; a bad one is a usage error here
        read = PredictOptions(
            bands=bands,
            units=units,
            quantity=quantity,
            resample=resample,
            stride=stride,
            max_nodata=max_nodata,
            speckle_filter=speckle_filter,
            swaths=swaths,
        )
        adapt = AdaptOptions(
            method=method,
            sar_epochs=sar_epochs,
            unlabelled=1.0,
            batch_size=batch_size or AdaptOptions.batch_size,
            seed=seed,
            device=device,
            field=field,
            layer=layer,
            ref_codes=ref_codes,
            predict=read,
        )
        options = CheckOptions(
            folds=folds, scorer=scorer, ratio=ratio, mixed=mixed, min_pixels=min_pixels, adapt=adapt, overwrite=overwrite
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    result = check_areas(model, scene, training_areas, out, options=options, progress=progress_factory(ctx))
    click.echo(result.table())
    click.echo(result.summary())


commands = [check_areas_cmd]
