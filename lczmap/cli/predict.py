"""``lczmap predict``: map whole Sentinel-1 scenes to LCZ rasters (a door over lczmap.predict: the
options become one :class:`~lczmap.predict.PredictOptions`, which checks them)."""

from __future__ import annotations

import click

from ..classes import CODINGS
from ..errors import ConfigError
from ..predict.options import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_FILTER_SIGMA,
    DEFAULT_MAX_NODATA,
    DEFAULT_STRIDE,
    DEFAULT_TILE,
    PRODUCTS,
)
from ..scene import BACKSCATTER, RESAMPLING, UNITS
from ..speckle import SPECKLE_FILTERS
from .options import band_names, batch_size_opt, device_opt, overwrite_opt, progress_factory


@click.command("predict", short_help="Map Sentinel-1 scenes to LCZ rasters.")
@click.argument("paths", nargs=-1, metavar="SCENE OUT")
@click.option("--model", "-m", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint (default: $LCZMAP_MODEL, else the last one `lczmap train` wrote).")
@click.option("--vv", type=str, default=None, help="File holding VV (one file per polarisation).")
@click.option("--vh", type=str, default=None, help="File holding VH (one file per polarisation).")
@click.option("--bands", callback=band_names, default=None,
              help="Names of the scene's bands in order, e.g. VH,VV (default: band descriptions).")
@click.option("--units", type=click.Choice(UNITS), default=None,
              help="Units of intensity bands (default: the product's naming or unit tag, else linear).")
@click.option("--quantity", type=click.Choice(BACKSCATTER), default=None,
              help="What the intensities are normalised by; gamma0/beta0 become sigma0 with the incidence "
                   "angle (default: what the product says, else sigma0).")
@click.option("--resample", type=click.Choice(RESAMPLING), default=None,
              help="Resample scenes whose pixels are not 10 m (refused otherwise).")
@click.option("--dem", type=str, default=None, metavar="DEM.tif",
              help="Terrain-correct a Sentinel-1 SAFE product with this DEM (sarsen range-Doppler; heights above "
                   "the ellipsoid; must cover the scene or --aoi).")
@click.option("--stride", type=int, default=DEFAULT_STRIDE, show_default=True,
              help="Output pixel size in input pixels (10 = 100 m, the LCZ convention).")
@click.option("--tile-size", type=int, default=DEFAULT_TILE, show_default=True,
              help="Output pixels per tile side (memory scales with it).")
@click.option("--max-nodata", type=float, default=DEFAULT_MAX_NODATA, show_default=True,
              help="Largest nodata share of a window that is still classified.")
@click.option("--probabilities", type=click.Path(dir_okay=False), default=None,
              help="Also write per-class probabilities (float32 GeoTIFF) here.")
@click.option("--confidence", type=click.Path(dir_okay=False), default=None,
              help="Also write the top-class probability (float32 GeoTIFF) here.")
@click.option("--filtered", type=click.Path(dir_okay=False), default=None,
              help="Also write an LCZ map from spatially smoothed probabilities here.")
@click.option("--filter-sigma", type=float, default=DEFAULT_FILTER_SIGMA, show_default=True,
              help="Gaussian sigma of --filtered, in output pixels.")
@click.option("--out-dir", type=click.Path(file_okay=False), default=None,
              help="Map every SCENE given into this folder as <name>_lcz.tif.")
@click.option("--with-extras", is_flag=True, default=False,
              help="With --out-dir: also write <name>_probabilities/_confidence/_filtered.tif.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run tiles on this dask.distributed scheduler (e.g. tcp://host:8786).")
@click.option("--connect-timeout", type=float, default=DEFAULT_CONNECT_TIMEOUT, show_default=True, metavar="SECONDS",
              help="Give up on --scheduler when it does not answer within this time.")
@click.option("--resume", is_flag=True, default=False, help="Continue an interrupted run of the same command.")
@click.option("--threads", type=int, default=None,
              help="torch threads on the CPU (default: all cores but one, left to reading).")
@click.option("--read-threads", type=int, default=None,
              help="Threads reading tiles (default: 2-4 on the CPU, half the cores up to 8 with a GPU).")
@click.option("--no-amp", is_flag=True, default=False, help="Full precision on CUDA (default: mixed precision).")
@click.option("--speckle-filter", type=click.Choice(SPECKLE_FILTERS), default=None,
              help="Speckle filter on linear intensity before the model (default: what the model's band set "
                   "expects: refined-lee, So2Sat's Refined Lee 7x7, for Lee channels; none for complex ones).")
@click.option("--aoi", default=None, metavar="W,S,E,N|FILE",
              help="Map only this area: west,south,east,north in degrees, or a vector file (its features' bounds).")
@click.option("--product", type=click.Choice(PRODUCTS), default="lcz", show_default=True,
              help="What OUT holds: lcz (one band of LCZ codes) or lcz-generator (the WUDAPT LCZ Generator's bands "
                   "lcz, lczFilter and classProbability in percent, as w2w and LCZ4r read them).")
@click.option("--codes", type=click.Choice(CODINGS), default="1-17", show_default=True,
              help="How every LCZ output codes LCZ A-G: 11-17 (as the global LCZ map) or 101-107 (as the LCZ "
                   "Generator's training areas, GeoClimate and UMEP).")
@device_opt
@batch_size_opt
@overwrite_opt
@click.pass_context
def predict(ctx, paths, model, vv, vh, bands, units, quantity, resample, dem, stride, tile_size, max_nodata, probabilities,
            confidence, filtered, filter_sigma, out_dir, with_extras, scheduler, connect_timeout, resume, threads, read_threads, no_amp,
            speckle_filter, aoi, product, codes, device, batch_size, overwrite):
    """Map a Sentinel-1 scene to an LCZ raster: `lczmap predict SCENE OUT`.

    \b
    lczmap predict scene.tif lcz.tif
    lczmap predict --vv vv.tif --vh vh.tif --units db lcz.tif
    lczmap predict S1A_IW_..._RTC30_G_gpuned_ABCD_VV.tif lcz.tif --resample average
    lczmap predict item.json lcz.tif
    lczmap predict a.tif b.tif c.tif --out-dir maps/
    lczmap predict scene.tif berlin.tif --aoi 13.3,52.4,13.5,52.6
    lczmap predict scene.tif lcz_generator.tif --product lcz-generator --codes 101-107
    lczmap predict S1A_IW_GRDH_1SDV_..._ABCD.zip lcz.tif --dem srtm.tif
    """
    from ..predict import PredictOptions, predict_scene, predict_scenes

    try:  # the library checks the values; a bad one is a usage error here
        options = PredictOptions(
            bands=bands, units=units, quantity=quantity, resample=resample, stride=stride, max_nodata=max_nodata,
            filter_sigma=filter_sigma, device=device, batch_size=batch_size, tile_size=tile_size, amp=not no_amp,
            threads=threads, read_threads=read_threads, scheduler=scheduler, connect_timeout=connect_timeout,
            resume=resume, overwrite=overwrite, speckle_filter=speckle_filter, aoi=aoi, product=product, codes=codes,
            dem=dem,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    progress = progress_factory(ctx)
    if out_dir is not None:
        if vv or vh:
            raise click.UsageError("--out-dir maps multi-band scene files; --vv/--vh name one scene: drop one of them")
        if not paths:
            raise click.UsageError("give the scenes to map: lczmap predict SCENE... --out-dir DIR")
        if probabilities or confidence or filtered:
            raise click.UsageError(
                "--probabilities/--confidence/--filtered name one file: with --out-dir use --with-extras"
            )
        results = predict_scenes(paths, out_dir, model, with_probabilities=with_extras, with_confidence=with_extras,
                                 with_filtered=with_extras, options=options, progress=progress)
    else:
        if vv or vh:
            if len(paths) != 1:
                raise click.UsageError("with --vv/--vh give exactly one argument, the output: lczmap predict --vv VV --vh VH OUT")
            scene, out = None, paths[0]
        else:
            if len(paths) != 2:
                raise click.UsageError("give a scene and an output: lczmap predict SCENE OUT (or several SCENEs with --out-dir)")
            scene, out = paths
        results = [predict_scene(scene, out, model, vv=vv, vh=vh, probabilities=probabilities, confidence=confidence,
                                 filtered=filtered, options=options, progress=progress)]
    for r in results:
        extra = [str(p) for p in (r.probabilities, r.confidence, r.filtered) if p is not None]
        click.echo(f"{r.out}: {r.shape[0]} x {r.shape[1]} LCZ pixels, {r.n_windows} windows "
                   f"in {r.seconds:.1f} s ({r.windows_per_s:.0f}/s)" + (f"; also {', '.join(extra)}" if extra else ""))


commands = [predict]
