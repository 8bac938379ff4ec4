"""``lczmap adapt``: adapt a trained model to a scene from LCZ training areas (a door over
:func:`lczmap.adapt.adapt_model`: the options become one :class:`~lczmap.adapt.AdaptOptions`,
which checks them)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import click

from ..adapt.options import ADAPT_METHODS, AdaptOptions
from ..errors import ConfigError
from ..scene import BACKSCATTER, RESAMPLING, UNITS
from ..speckle import SPECKLE_FILTERS
from ..zones.codes import CODE_SCHEMES
from .options import band_names, batch_size_opt, device_opt, overwrite_opt, progress_factory, seed_opt

#: ``lczmap adapt``'s defaults: AdaptOptions' (one home; the option help shows them).
_DEFAULTS = {f.name: f.default for f in fields(AdaptOptions)}


def _option(*decls, field: str | None = None, **kw):
    """A click option whose default is AdaptOptions' field of the same name (or ``field``)."""
    name = field or decls[-1].split("/")[0].lstrip("-").replace("-", "_")
    return click.option(*decls, default=_DEFAULTS[name], show_default=True, **kw)



@click.command("adapt", short_help="Adapt a model to a scene from LCZ training areas.")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("scene", type=str)
@click.argument("training_areas", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Adapted checkpoint to write (.safetensors).")
@_option("--method", type=click.Choice(ADAPT_METHODS),
         help="finetune: cross-entropy on the labelled patches; swd: SWD transfer to the base model's embedding.")
@_option("--sar-epochs", type=int, help="SAR-stage epochs.")
@_option("--sar-lr", type=float, help="Learning rate of the SAR encoder.")
@_option("--lambda", "swd_lambda", field="swd_lambda", type=float, help="swd: weight of the marginal SWD term.")
@_option("--eta", "swd_eta", field="swd_eta", type=float, help="swd: weight of the class-conditional SWD term.")
@_option("--projections", type=int, help="swd: random projections per step.")
@_option("--unlabelled", type=float, help="Unlabelled scene patches drawn per labelled one.")
@_option("--augment/--no-augment", help="Rotate, flip and shift the labelled patches.")
@click.option("--field", default=None, help="Field of TRAINING_AREAS holding the class [default: the KML folders, "
              "else lcz, class, code, label or name].")
@click.option("--layer", default=None, help="Layer of a multi-layer TRAINING_AREAS file.")
@_option("--ref-codes", type=click.Choice(CODE_SCHEMES),
         help="Coding of the classes (A-G as 11-17 or 101-107; letters and 'LCZ x' always work).")
@_option("--holdout", type=float, help="Share of each class's polygons held out to score base and adapted model (0: none).")
@_option("--bootstrap", type=click.IntRange(min=0), help="Bootstrap draws over the held-out polygons.")
@click.option("--holdout-layer", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the held-out polygons here (.gpkg, .geojson ...), for `lczmap assess`.")
@click.option("--bands", callback=band_names, default=None,
              help="Names of the scene's bands in order, e.g. VH,VV (default: band descriptions).")
@click.option("--units", type=click.Choice(UNITS), default=None,
              help="Units of intensity bands (default: the file's unit tag, else linear).")
@click.option("--quantity", type=click.Choice(BACKSCATTER), default=None,
              help="What the intensities are normalised by, as lczmap predict (default: what the product says, "
                   "else sigma0).")
@click.option("--resample", type=click.Choice(RESAMPLING), default=None,
              help="Resample scenes whose pixels are not 10 m (refused otherwise).")
@click.option("--speckle-filter", type=click.Choice(SPECKLE_FILTERS), default=None,
              help="Speckle filter, as lczmap predict applies it [default: the one the model's band set expects].")
@_option("--stride", type=int, help="Output pixel size in input pixels, as lczmap predict (10 = 100 m).")
@_option("--max-nodata", type=float, help="Largest nodata share of a window that is still used, as lczmap predict.")
@click.option("--no-amp", is_flag=True, default=False, help="Full precision on CUDA (default: mixed precision).")
@seed_opt
@device_opt
@batch_size_opt
@overwrite_opt
@click.pass_context
def adapt(ctx, model, scene, training_areas, out, method, sar_epochs, sar_lr, swd_lambda, swd_eta, projections,
          unlabelled, augment, field, layer, ref_codes, holdout, bootstrap, holdout_layer, bands, units, quantity,
          resample, speckle_filter, stride, max_nodata, no_amp, seed, device, batch_size, overwrite):
    """Adapt the model MODEL to the Sentinel-1 scene SCENE with the LCZ polygons TRAINING_AREAS
    (the LCZ Generator's KML template, or polygons with a class field; any CRS) and write -o OUT.

    \b
    lczmap adapt model.safetensors city.tif areas.kml -o city.safetensors --holdout 0.3
    lczmap predict city.tif city_lcz.tif -m city.safetensors
    lczmap assess city_lcz.tif areas.kml
    """
    from ..adapt import adapt_model

    try:  # the library checks the values; a bad one is a usage error here
        options = AdaptOptions(
            method=method, sar_epochs=sar_epochs, sar_lr=sar_lr, batch_size=batch_size or _DEFAULTS["batch_size"],
            swd_lambda=swd_lambda, swd_eta=swd_eta, projections=projections, augment=augment, unlabelled=unlabelled,
            seed=seed, device=device, amp=not no_amp, field=field, layer=layer, ref_codes=ref_codes, holdout=holdout,
            bootstrap=bootstrap, bands=bands, units=units, quantity=quantity, resample=resample, stride=stride, max_nodata=max_nodata,
            speckle_filter=speckle_filter, overwrite=overwrite,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    result = adapt_model(model, scene, training_areas, out, options=options, holdout_layer=holdout_layer,
                         progress=progress_factory(ctx))
    click.echo(result.table())
    click.echo(result.summary())
    if result.holdout_layer is not None:
        click.echo(f"Wrote the held-out polygons: {result.holdout_layer}")


commands = [adapt]
