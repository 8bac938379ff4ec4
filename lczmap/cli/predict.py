"""``lczmap predict``: map whole Sentinel-1 scenes to LCZ rasters (a door over lczmap.predict: the
options become one :class:`~lczmap.predict.PredictOptions`, which checks them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import click

from ..errors import ConfigError
from ..predict.options import DEFAULT_FILTER_SIGMA
from .options import (
    batch_size_opt,
    chosen_layout,
    device_opt,
    layout_options,
    overwrite_opt,
    progress_factory,
    run_options,
    scene_options,
)

if TYPE_CHECKING:
    from ..bands import Backscatter, Units
    from ..predict import PredictResult
    from ..predict.options import Layout


@click.command("predict", short_help="Map Sentinel-1 scenes to LCZ rasters.")
@click.argument("paths", nargs=-1, metavar="SCENE OUT")
@click.option(
    "--model",
    "-m",
    type=click.Path(dir_okay=False),
    default=None,
    help="Checkpoint (default: $LCZMAP_MODEL, else the last one `lczmap train` wrote).",
)
@click.option("--vv", type=str, default=None, help="File holding VV (one file per polarisation).")
@click.option("--vh", type=str, default=None, help="File holding VH (one file per polarisation).")
@scene_options
@click.option(
    "--probabilities",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write per-class probabilities (float32 GeoTIFF) here.",
)
@click.option(
    "--confidence",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the top-class probability (float32 GeoTIFF) here.",
)
@click.option(
    "--filtered",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write an LCZ map from spatially smoothed probabilities here.",
)
@click.option(
    "--filter-sigma",
    type=float,
    default=DEFAULT_FILTER_SIGMA,
    show_default=True,
    help="Gaussian sigma of --filtered, in output pixels.",
)
@click.option(
    "--out-dir", type=click.Path(file_okay=False), default=None, help="Map every SCENE given into this folder as <name>_lcz.tif."
)
@click.option(
    "--with-extras",
    is_flag=True,
    default=False,
    help="With --out-dir: also write <name>_probabilities/_confidence/_filtered.tif.",
)
@run_options
@click.option(
    "--aoi",
    default=None,
    metavar="W,S,E,N|FILE",
    help="Map only this area: west,south,east,north in degrees, or a vector file (its features' bounds).",
)
@layout_options
@device_opt
@batch_size_opt
@overwrite_opt
@click.pass_context
def predict(
    ctx: click.Context,
    paths: tuple[str, ...],
    model: str | None,
    vv: str | None,
    vh: str | None,
    bands: tuple[str, ...] | None,
    units: Units | None,
    quantity: Backscatter | None,
    resample: str | None,
    dem: str | None,
    swaths: tuple[str, ...] | None,
    stride: int,
    tile_size: int,
    max_nodata: float,
    probabilities: str | None,
    confidence: str | None,
    filtered: str | None,
    filter_sigma: float,
    out_dir: str | None,
    with_extras: bool,
    scheduler: str | None,
    connect_timeout: float,
    resume: bool,
    threads: int | None,
    read_threads: int | None,
    no_amp: bool,
    speckle_filter: str | None,
    aoi: str | None,
    layout: Layout,
    product: Layout | None,
    codes: str,
    device: str,
    batch_size: int | None,
    overwrite: bool,
) -> None:
    """Map a Sentinel-1 scene to an LCZ raster: `lczmap predict SCENE OUT`.

    \b
    lczmap predict scene.tif lcz.tif
    lczmap predict --vv vv.tif --vh vh.tif --units db lcz.tif
    lczmap predict S1A_IW_..._RTC30_G_gpuned_ABCD_VV.tif lcz.tif --resample average
    lczmap predict item.json lcz.tif
    lczmap predict a.tif b.tif c.tif --out-dir maps/
    lczmap predict scene.tif berlin.tif --aoi 13.3,52.4,13.5,52.6
    lczmap predict scene.tif lcz_generator.tif --layout lcz-generator --codes 101-107
    lczmap predict S1A_IW_GRDH_1SDV_..._ABCD.zip lcz.tif --dem srtm.tif
    """
    from ..predict import PredictOptions, predict_scene, predict_scenes

    layout = cast("Layout", chosen_layout(ctx, layout, product))
    try:  # the library checks the values; a bad one is a usage error here
        options = PredictOptions(
            bands=bands,
            units=units,
            quantity=quantity,
            resample=resample,
            stride=stride,
            max_nodata=max_nodata,
            filter_sigma=filter_sigma,
            device=device,
            batch_size=batch_size,
            tile_size=tile_size,
            amp=not no_amp,
            threads=threads,
            read_threads=read_threads,
            scheduler=scheduler,
            connect_timeout=connect_timeout,
            resume=resume,
            overwrite=overwrite,
            speckle_filter=speckle_filter,
            aoi=aoi,
            layout=layout,
            codes=codes,
            dem=dem,
            swaths=swaths,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    progress = progress_factory(ctx)
    results: list[PredictResult]
    if out_dir is not None:
        if vv or vh:
            raise click.UsageError("--out-dir maps multi-band scene files; --vv/--vh name one scene: drop one of them")
        if not paths:
            raise click.UsageError("give the scenes to map: lczmap predict SCENE... --out-dir DIR")
        if probabilities or confidence or filtered:
            raise click.UsageError("--probabilities/--confidence/--filtered name one file: with --out-dir use --with-extras")
        results = predict_scenes(
            paths,
            out_dir,
            model,
            with_probabilities=with_extras,
            with_confidence=with_extras,
            with_filtered=with_extras,
            options=options,
            progress=progress,
        )
    else:
        if vv or vh:
            if len(paths) != 1:
                raise click.UsageError("with --vv/--vh give exactly one argument, the output: lczmap predict --vv VV --vh VH OUT")
            scene, out = None, paths[0]
        else:
            if len(paths) != 2:
                raise click.UsageError("give a scene and an output: lczmap predict SCENE OUT (or several SCENEs with --out-dir)")
            scene, out = paths
        results = [
            predict_scene(
                scene,
                out,
                model,
                vv=vv,
                vh=vh,
                probabilities=probabilities,
                confidence=confidence,
                filtered=filtered,
                options=options,
                progress=progress,
            )
        ]
    for r in results:
        extra = [str(p) for p in (r.probabilities, r.confidence, r.filtered) if p is not None]
        click.echo(
            f"{r.out}: {r.shape[0]} x {r.shape[1]} LCZ pixels, {r.n_windows} windows "
            f"in {r.seconds:.1f} s ({r.windows_per_s:.0f}/s)" + (f"; also {', '.join(extra)}" if extra else "")
        )


commands = [predict]
