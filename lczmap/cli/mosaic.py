"""``lczmap mosaic``: many Sentinel-1 scenes onto ONE grid, fused into one LCZ map (a door over
lczmap.mosaic: the options become one :class:`~lczmap.mosaic.MosaicOptions`, which checks them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import click

from ..errors import ConfigError
from ..mosaic.options import DEFAULT_TILE_PIXELS, FUSIONS
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
    from ..mosaic.options import Fusion
    from ..predict.options import Layout


@click.command("mosaic", short_help="Fuse many Sentinel-1 scenes into one LCZ map.")
@click.argument("paths", nargs=-1, metavar="SCENE... OUT")
@click.option(
    "--model",
    "-m",
    type=click.Path(dir_okay=False),
    default=None,
    help="Checkpoint (default: $LCZMAP_MODEL, else the last one `lczmap train` wrote).",
)
@scene_options
@click.option(
    "--fusion",
    type=click.Choice(FUSIONS),
    default=FUSIONS[0],
    show_default=True,
    help="probability: each acquisition classified on its own, probabilities fused (complete windows "
    "first); composite: a temporal mean of sigma0 per relative orbit, classified once per orbit.",
)
@click.option(
    "--crs",
    default=None,
    metavar="EPSG:N",
    help="Output CRS (default: the scenes' own grid when they share one 10 m UTM grid, else the UTM zone "
    "of the area's centre); EPSG:4326 lays the pixels on the global LCZ map's grid.",
)
@click.option(
    "--resolution",
    type=float,
    default=None,
    help="Output pixel size in the CRS's units (default: 100 m; the global LCZ map's in EPSG:4326).",
)
@click.option(
    "--aoi",
    default=None,
    metavar="W,S,E,N|FILE",
    help="The area to map: west,south,east,north in degrees, or a vector file (default: the union of the footprints).",
)
@click.option(
    "--align",
    is_flag=True,
    default=False,
    help="Anchor the grid at the CRS origin so that runs over neighbouring areas line up pixel for pixel.",
)
@click.option(
    "--tiles",
    type=click.Path(file_okay=False),
    default=None,
    metavar="DIR",
    help="Write COG tiles + lcz.vrt (styled) + a STAC collection.json into DIR instead of OUT (every argument is then a scene).",
)
@click.option(
    "--tile-pixels",
    type=int,
    default=DEFAULT_TILE_PIXELS,
    show_default=True,
    help="Output pixels per side of a tile (one dask task; one COG of --tiles).",
)
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Workers of the local dask cluster when no --scheduler is given (default: 2; 0: this process).",
)
@click.option(
    "--skip-bad",
    is_flag=True,
    default=False,
    help="Leave out a scene that fails to open or read (listed in the footprints layer) instead of stopping.",
)
@click.option(
    "--probabilities",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the fused per-class probabilities (float32 GeoTIFF) here.",
)
@click.option(
    "--confidence",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the fused top-class probability (float32 GeoTIFF) here.",
)
@click.option(
    "--filter-sigma",
    type=float,
    default=DEFAULT_FILTER_SIGMA,
    show_default=True,
    help="Gaussian sigma of the lczFilter band of --layout lcz-generator, in output pixels.",
)
@run_options
@layout_options
@device_opt
@batch_size_opt
@overwrite_opt
@click.pass_context
def mosaic(
    ctx: click.Context,
    paths: tuple[str, ...],
    model: str | None,
    bands: tuple[str, ...] | None,
    units: Units | None,
    quantity: Backscatter | None,
    resample: str | None,
    dem: str | None,
    swaths: tuple[str, ...] | None,
    stride: int,
    tile_size: int,
    max_nodata: float,
    fusion: Fusion,
    crs: str | None,
    resolution: float | None,
    aoi: str | None,
    align: bool,
    tiles: str | None,
    tile_pixels: int,
    workers: int | None,
    skip_bad: bool,
    probabilities: str | None,
    confidence: str | None,
    filter_sigma: float,
    scheduler: str | None,
    connect_timeout: float,
    resume: bool,
    threads: int | None,
    read_threads: int | None,
    no_amp: bool,
    speckle_filter: str | None,
    layout: Layout,
    product: Layout | None,
    codes: str,
    device: str,
    batch_size: int | None,
    overwrite: bool,
) -> None:
    """Map every scene over an area onto one grid and fuse them: `lczmap mosaic SCENE... OUT -m MODEL`.

    Beside OUT go OUT.count.tif (acquisitions per pixel) and OUT.footprints.gpkg (one polygon per
    input: product id, date, pass, relative orbit, and why an input was left out).

    \b
    lczmap mosaic s1/*.tif city.tif -m model.safetensors
    lczmap mosaic scenes/ city.tif --fusion composite --aoi 13.0,52.3,13.8,52.7
    lczmap mosaic items.json region.tif --crs EPSG:4326
    lczmap mosaic s1/*.zip --tiles region/ --align --scheduler tcp://host:8786
    """
    from ..mosaic import MosaicOptions, predict_mosaic
    from ..predict import PredictOptions

    layout = cast("Layout", chosen_layout(ctx, layout, product))
    if tiles is None and len(paths) < 2:
        raise click.UsageError("give the scenes and an output: lczmap mosaic SCENE... OUT (or --tiles DIR)")
    if tiles is not None and not paths:
        raise click.UsageError("give the scenes to mosaic: lczmap mosaic SCENE... --tiles DIR")
    scenes, out = (paths[:-1], paths[-1]) if tiles is None else (paths, None)
    try:
        options = MosaicOptions(
            predict=PredictOptions(
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
                layout=layout,
                codes=codes,
                dem=dem,
                swaths=swaths,
            ),
            fusion=fusion,
            crs=crs,
            resolution=resolution,
            aoi=aoi,
            align=align,
            skip_bad=skip_bad,
            workers=workers,
            tile_pixels=tile_pixels,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    r = predict_mosaic(
        list(scenes),
        out,
        model,
        probabilities=probabilities,
        confidence=confidence,
        tiles=tiles,
        options=options,
        progress=progress_factory(ctx),
    )
    for source, why in r.skipped:
        click.echo(f"skipped {source}: {why}", err=True)
    where = ", ".join(str(p) for p in (r.out, r.vrt, r.stac) if p is not None)
    click.echo(
        f"{where}: {r.shape[0]} x {r.shape[1]} LCZ pixels in {r.crs} from {r.n_used} of {r.n_inputs} inputs "
        f"in {r.seconds:.1f} s; counts {r.count}, footprints {r.footprints}"
    )


commands = [mosaic]
