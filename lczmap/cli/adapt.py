"""``lczmap adapt``: adapt a trained model to a scene, from LCZ training areas or without labels (a door over
:func:`lczmap.adapt.adapt_model`: the options become one :class:`~lczmap.adapt.AdaptOptions`,
which checks them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..adapt.options import ADAPT_METHODS, SCENE_FIELDS, AdaptOptions
from ..errors import ConfigError
from ..predict.options import PredictOptions
from ..scene import BACKSCATTER, RESAMPLING, UNITS
from ..speckle import SPECKLE_FILTERS
from ..zones.lczraster import CODE_SCHEMES
from .options import band_names, batch_size_opt, device_opt, overwrite_opt, progress_factory, seed_opt, swaths_opt

if TYPE_CHECKING:
    from ..bands import Backscatter, Units

#: ``lczmap adapt``'s defaults: AdaptOptions' and, for the scene, PredictOptions' (one home; the
#: option help shows them).
_DEFAULTS: dict[str, Any] = {
    **{f.name: f.default for f in fields(AdaptOptions) if f.name != "predict"},
    **{f.name: f.default for f in fields(PredictOptions) if f.name in SCENE_FIELDS},
}

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _option(*decls: str, field: str | None = None, **kw: Any) -> Decorator:
    """A click option whose default is the field of the same name (or ``field``) in
    :data:`_DEFAULTS`."""
    name = field or decls[-1].split("/")[0].lstrip("-").replace("-", "_")
    return click.option(*decls, default=_DEFAULTS[name], show_default=True, **kw)


@click.command("adapt", short_help="Adapt a model to a scene, from LCZ training areas or without labels.")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("scene", type=str)
@click.argument("training_areas", required=False, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Adapted checkpoint to write (.safetensors).",
)
@_option(
    "--method",
    type=click.Choice(ADAPT_METHODS),
    help="finetune: cross-entropy on the labelled patches; swd: SWD transfer to the base model's embedding; "
    "swd-eo: SWD to the checkpoint's EO reference on the scene's unlabelled patches (the method without "
    "TRAINING_AREAS; with them, plus the labelled cross-entropy).",
)
@_option("--sar-epochs", type=int, help="SAR-stage epochs.")
@_option("--sar-lr", type=float, help="Learning rate of the SAR encoder.")
@_option("--lambda", "swd_lambda", field="swd_lambda", type=float, help="swd: weight of the marginal SWD term.")
@_option("--eta", "swd_eta", field="swd_eta", type=float, help="swd: weight of the class-conditional SWD term.")
@_option("--projections", type=int, help="swd: random projections per step.")
@_option("--unlabelled", type=float, help="Unlabelled scene patches drawn per labelled one.")
@_option("--augment/--no-augment", help="Rotate, flip and shift the labelled patches.")
@_option("--scene-patches", type=click.IntRange(min=1), help="swd-eo without TRAINING_AREAS: unlabelled scene patches drawn.")
@_option("--confidence", type=float, help="swd-eo: least softmax confidence of a pseudo-label.")
@_option("--pseudo-share", type=float, help="swd-eo: share of each predicted class's most confident patches pseudo-labelled.")
@_option("--patience", type=click.IntRange(min=1), help="swd-eo: epochs without a better label-free score before stopping.")
@click.option(
    "--eo-data",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="swd-eo: the So2Sat release MODEL was trained on, to make the EO reference of a checkpoint without one.",
)
@click.option(
    "--field",
    default=None,
    help="Field of TRAINING_AREAS holding the class [default: the KML folders, else lcz, class, code, label or name].",
)
@click.option(
    "--layer",
    default=None,
    help="Read only this layer of a multi-layer TRAINING_AREAS file [default: every layer, e.g. every folder of a KML].",
)
@_option(
    "--ref-codes",
    type=click.Choice(CODE_SCHEMES),
    help="Coding of the classes (A-G as 11-17 or 101-107; letters and 'LCZ x' always work).",
)
@_option("--holdout", type=float, help="Share of each class's polygons held out to score base and adapted model (0: none).")
@_option("--bootstrap", type=click.IntRange(min=0), help="Bootstrap draws over the held-out polygons.")
@click.option(
    "--holdout-layer",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the held-out polygons here (.gpkg, .geojson ...), for `lczmap assess`.",
)
@click.option(
    "--bands",
    callback=band_names,
    default=None,
    help="Names of the scene's bands in order, e.g. VH,VV (default: band descriptions).",
)
@click.option(
    "--units",
    type=click.Choice(UNITS),
    default=None,
    help="Units of intensity bands (default: the file's unit tag, else linear).",
)
@click.option(
    "--quantity",
    type=click.Choice(BACKSCATTER),
    default=None,
    help="What the intensities are normalised by, as lczmap predict (default: what the product says, else sigma0).",
)
@click.option(
    "--resample",
    type=click.Choice(RESAMPLING),
    default=None,
    help="Resample scenes whose pixels are not 10 m (refused otherwise).",
)
@swaths_opt
@click.option(
    "--aoi",
    default=None,
    metavar="W,S,E,N|FILE",
    help="Draw the unlabelled patches in this area only: west,south,east,north in degrees, or a vector "
    "file [default: the ROI of TRAINING_AREAS (the LCZ Generator template's), else the whole scene].",
)
@click.option(
    "--speckle-filter",
    type=click.Choice(SPECKLE_FILTERS),
    default=None,
    help="Speckle filter, as lczmap predict applies it [default: the one the model's band set expects].",
)
@_option("--stride", type=int, help="Output pixel size in input pixels, as lczmap predict (10 = 100 m).")
@_option("--max-nodata", type=float, help="Largest nodata share of a window that is still used, as lczmap predict.")
@click.option("--no-amp", is_flag=True, default=False, help="Full precision on CUDA (default: mixed precision).")
@seed_opt
@device_opt
@batch_size_opt
@overwrite_opt
@click.pass_context
def adapt(
    ctx: click.Context,
    model: Path,
    scene: str,
    training_areas: Path | None,
    out: Path,
    method: str,
    sar_epochs: int,
    sar_lr: float,
    swd_lambda: float,
    swd_eta: float,
    projections: int,
    unlabelled: float,
    augment: bool,
    scene_patches: int,
    confidence: float,
    pseudo_share: float,
    patience: int,
    eo_data: Path | None,
    field: str | None,
    layer: str | None,
    ref_codes: str,
    holdout: float,
    bootstrap: int,
    holdout_layer: Path | None,
    bands: tuple[str, ...] | None,
    units: Units | None,
    quantity: Backscatter | None,
    resample: str | None,
    swaths: tuple[str, ...] | None,
    aoi: str | None,
    speckle_filter: str | None,
    stride: int,
    max_nodata: float,
    no_amp: bool,
    seed: int,
    device: str,
    batch_size: int | None,
    overwrite: bool,
) -> None:
    """Adapt the model MODEL to the Sentinel-1 scene SCENE with the LCZ polygons TRAINING_AREAS
    (the LCZ Generator's KML/KMZ template: class folders and the ROI, the area mapped; or polygons
    with a class field; any CRS) and write -o OUT. Without TRAINING_AREAS, adapt without labels:
    the scene's patches are aligned to the EO reference the checkpoint carries (swd-eo; --eo-data
    for a checkpoint without one) and a label-free stopping rule keeps the best epoch.

    \b
    lczmap adapt model.safetensors city.tif -o city_unsup.safetensors
    lczmap adapt model.safetensors city.tif areas.kml -o city.safetensors --holdout 0.3
    lczmap predict city.tif city_lcz.tif -m city.safetensors
    lczmap assess city_lcz.tif areas.kml
    """
    from ..adapt import adapt_model

    if training_areas is None and ctx.get_parameter_source("method") is not click.core.ParameterSource.DEFAULT:
        if method != "swd-eo":
            raise click.UsageError(f"--method {method} adapts from TRAINING_AREAS: give them, or drop --method (swd-eo)")
    if training_areas is None:
        method = "swd-eo"
    try:  # the library checks the values; a bad one is a usage error here
        read = PredictOptions(
            bands=bands,
            units=units,
            quantity=quantity,
            resample=resample,
            stride=stride,
            max_nodata=max_nodata,
            speckle_filter=speckle_filter,
            aoi=aoi,
            swaths=swaths,
        )
        options = AdaptOptions(
            method=method,
            sar_epochs=sar_epochs,
            sar_lr=sar_lr,
            batch_size=batch_size or _DEFAULTS["batch_size"],
            swd_lambda=swd_lambda,
            swd_eta=swd_eta,
            projections=projections,
            augment=augment,
            unlabelled=unlabelled,
            scene_patches=scene_patches,
            confidence=confidence,
            pseudo_share=pseudo_share,
            patience=patience,
            eo_data=None if eo_data is None else str(eo_data),
            seed=seed,
            device=device,
            amp=not no_amp,
            field=field,
            layer=layer,
            ref_codes=ref_codes,
            holdout=holdout,
            bootstrap=bootstrap,
            predict=read,
            overwrite=overwrite,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    result = adapt_model(
        model, scene, training_areas, out, options=options, holdout_layer=holdout_layer, progress=progress_factory(ctx)
    )
    if training_areas is not None:
        click.echo(result.table())
    click.echo(result.summary())
    if result.holdout_layer is not None:
        click.echo(f"Wrote the held-out polygons: {result.holdout_layer}")


commands = [adapt]
