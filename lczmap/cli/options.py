"""Options shared by lczmap's commands (one registry, as in rasterio's ``rio/options.py``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:
    from tqdm.auto import tqdm

from .._device import DEVICES

_F = TypeVar("_F", bound=Callable[..., object])

overwrite_opt = click.option("--overwrite", is_flag=True, default=False, help="Replace outputs that already exist.")
device_opt = click.option(
    "--device",
    default=DEVICES[0],
    show_default=True,
    metavar="|".join((*DEVICES, "cuda:N")),
    help="Compute device; auto picks CUDA, then MPS, then the CPU.",
)
batch_size_opt = click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Patches per batch.")
seed_opt = click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
band_opt = click.option(
    "--band",
    default=None,
    metavar="N|NAME",
    help="Band of the LCZ map to read, by number or name [default: lczFilter of an LCZ Generator product, else 1].",
)
swaths_opt = click.option(
    "--swaths",
    default=None,
    metavar="IW1,IW2",
    callback=lambda ctx, param, value: swath_names(value),
    help="Sub-swaths of a Sentinel-1 IW SLC product to map (default: those it holds whole; a missing one is named).",
)


def quiet(ctx: click.Context | None = None) -> bool:
    """True when the user asked for ``-q``: commands then show no progress bars."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    return bool(root.obj and root.obj.get("verbosity", 0) < 0)


def progress_factory(ctx: click.Context | None = None) -> Callable[..., tqdm] | None:
    """A callable ``(total, desc) -> tqdm`` for library progress callbacks; None under ``-q`` and
    when stderr is not a terminal (a log file or a pipe: redrawn bars would fill it with lines)."""
    if quiet(ctx) or not on_terminal(sys.stderr):
        return None
    from tqdm.auto import tqdm

    def make(total: int | None = None, desc: str | None = None, unit: str = "it") -> tqdm:
        return tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True)

    return make


def on_terminal(stream: object) -> bool:
    """True when ``stream`` is a terminal (False for files, pipes, closed or missing streams)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):  # closed
        return False


def swath_names(value: str | None) -> tuple[str, ...] | None:
    """``--swaths IW1,IW2`` -> ("IW1", "IW2"), checked by :class:`~lczmap.predict.PredictOptions`."""
    return None if value is None else tuple(v.strip() for v in value.split(","))


def band_names(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    """``--bands VV,VH`` -> ("VV", "VH"): names of a scene's bands in file order."""
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise click.BadParameter("give band names separated by commas, e.g. VV,VH")
    return tuple(names)


def _stack(*decorators: Callable[[_F], _F]) -> Callable[[_F], _F]:
    """One decorator applying ``decorators`` so that the options show in the order given."""

    def apply(f: _F) -> _F:
        for d in reversed(decorators):
            f = d(f)
        return f

    return apply


def _scene_options() -> Callable[[_F], _F]:
    from ..predict.options import DEFAULT_MAX_NODATA, DEFAULT_STRIDE, DEFAULT_TILE
    from ..scene import BACKSCATTER, RESAMPLING, UNITS

    return _stack(
        click.option(
            "--bands",
            callback=band_names,
            default=None,
            help="Names of the scene's bands in order, e.g. VH,VV (default: band descriptions).",
        ),
        click.option(
            "--units",
            type=click.Choice(UNITS),
            default=None,
            help="Units of intensity bands (default: the product's naming or unit tag, else linear).",
        ),
        click.option(
            "--quantity",
            type=click.Choice(BACKSCATTER),
            default=None,
            help="What the intensities are normalised by; gamma0/beta0 become sigma0 with the incidence "
            "angle (default: what the product says, else sigma0).",
        ),
        click.option(
            "--resample",
            type=click.Choice(RESAMPLING),
            default=None,
            help="Resample scenes whose pixels are not 10 m (refused otherwise).",
        ),
        click.option(
            "--dem",
            type=str,
            default=None,
            metavar="DEM.tif",
            help="Terrain-correct a Sentinel-1 SAFE product with this DEM (sarsen range-Doppler; heights "
            "above the ellipsoid; must cover the scene or --aoi).",
        ),
        swaths_opt,
        click.option(
            "--stride",
            type=int,
            default=DEFAULT_STRIDE,
            show_default=True,
            help="Output pixel size in input pixels (10 = 100 m, the LCZ convention).",
        ),
        click.option(
            "--tile-size",
            type=int,
            default=DEFAULT_TILE,
            show_default=True,
            help="Output pixels per tile side (memory scales with it).",
        ),
        click.option(
            "--max-nodata",
            type=float,
            default=DEFAULT_MAX_NODATA,
            show_default=True,
            help="Largest nodata share of a window that is still classified.",
        ),
    )


def _run_options() -> Callable[[_F], _F]:
    from ..predict.options import DEFAULT_CONNECT_TIMEOUT
    from ..speckle import SPECKLE_FILTERS

    return _stack(
        click.option(
            "--scheduler",
            default=None,
            metavar="ADDRESS",
            help="Run tiles on this dask.distributed scheduler (e.g. tcp://host:8786).",
        ),
        click.option(
            "--connect-timeout",
            type=float,
            default=DEFAULT_CONNECT_TIMEOUT,
            show_default=True,
            metavar="SECONDS",
            help="Give up on --scheduler when it does not answer within this time.",
        ),
        click.option("--resume", is_flag=True, default=False, help="Continue an interrupted run of the same command."),
        click.option(
            "--threads", type=int, default=None, help="torch threads on the CPU (default: all cores but one, left to reading)."
        ),
        click.option(
            "--read-threads",
            type=int,
            default=None,
            help="Threads reading tiles (default: 2-4 on the CPU, half the cores up to 8 with a GPU).",
        ),
        click.option("--no-amp", is_flag=True, default=False, help="Full precision on CUDA (default: mixed precision)."),
        click.option(
            "--speckle-filter",
            type=click.Choice(SPECKLE_FILTERS),
            default=None,
            help="Speckle filter on linear intensity before the model (default: what the model's band set "
            "expects: refined-lee, So2Sat's Refined Lee 7x7, for Lee channels; none for complex ones).",
        ),
    )


def _layout_options() -> Callable[[_F], _F]:
    from ..classes import CODINGS
    from ..predict.options import LAYOUTS

    return _stack(
        click.option(
            "--layout",
            type=click.Choice(LAYOUTS),
            default=LAYOUTS[0],
            show_default=True,
            help="How OUT is laid out: lcz (one band of LCZ codes) or lcz-generator (the WUDAPT LCZ "
            "Generator's bands lcz, lczFilter and classProbability in percent, as w2w and LCZ4r read "
            "them).",
        ),
        click.option(
            "--product",
            "product",
            type=click.Choice(LAYOUTS),
            default=None,
            hidden=True,
            help="The old spelling of --layout (kept for one release).",
        ),
        click.option(
            "--codes",
            type=click.Choice(CODINGS),
            default="1-17",
            show_default=True,
            help="How every LCZ output codes LCZ A-G: 11-17 (as the global LCZ map) or 101-107 (as the LCZ "
            "Generator's training areas, GeoClimate and UMEP).",
        ),
    )


def chosen_layout(ctx: click.Context, layout: str, product: str | None) -> str:
    """The layout asked for, by --layout or its old spelling --product (a note on stderr; both at
    once is a usage error), for the commands that take :data:`layout_options`."""
    from click.core import ParameterSource

    if product is None:
        return layout
    if ctx.get_parameter_source("layout") is ParameterSource.COMMANDLINE:
        raise click.UsageError("--product is the old spelling of --layout: give only --layout")
    click.echo("Note: --product is now --layout; the old spelling goes in the next release.", err=True)
    return product


#: How a scene is opened and cut into windows (``lczmap predict`` and ``lczmap mosaic``): --bands,
#: --units, --quantity, --resample, --dem, --swaths, --stride, --tile-size, --max-nodata.
scene_options = _scene_options()
#: Where and how tiles run: --scheduler, --connect-timeout, --resume, --threads, --read-threads,
#: --no-amp, --speckle-filter.
run_options = _run_options()
#: How the LCZ output is laid out: --layout (and its old spelling --product), --codes.
layout_options = _layout_options()
