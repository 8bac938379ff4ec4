"""``lczmap change``: temporally consistent LCZ maps and what changed, from a time series of
class-probability rasters (a door over :func:`lczmap.change.detect_change`; the options become
one :class:`~lczmap.change.ChangeOptions`, which checks them)."""

from __future__ import annotations

import click

from ..change.options import DEFAULT_BLOCK, DEFAULT_BUILT_TO_NATURAL, DEFAULT_FLOOR, DEFAULT_STAY
from ..errors import ConfigError
from .options import overwrite_opt, progress_factory


@click.command("change", short_help="Consistent yearly LCZ maps and their change from probability rasters.")
@click.argument("probabilities", nargs=-1, metavar="PROB_1 PROB_2 ...")
@click.option(
    "--out-dir", "-o", required=True, type=click.Path(file_okay=False), help="Folder for the outputs (created if missing)."
)
@click.option(
    "--dates",
    default=None,
    metavar="LABEL,...",
    help="Labels of the dates, in order (e.g. 2019,2020,2021): output names and the table (default: the file names).",
)
@click.option(
    "--stay",
    type=float,
    default=DEFAULT_STAY,
    show_default=True,
    help="Probability that a pixel keeps its class from one date to the next (the transition prior).",
)
@click.option(
    "--built-to-natural",
    type=float,
    default=DEFAULT_BUILT_TO_NATURAL,
    show_default=True,
    help="Weight of a built class (LCZ 1-10) turning natural (A-G) against any other change.",
)
@click.option("--floor", type=float, default=DEFAULT_FLOOR, show_default=True, help="Lowest probability a date gives a class.")
@click.option("--block", type=int, default=DEFAULT_BLOCK, show_default=True, help="Pixels per side of a window (memory).")
@overwrite_opt
@click.pass_context
def change(
    ctx: click.Context,
    probabilities: tuple[str, ...],
    out_dir: str,
    dates: str | None,
    stay: float,
    built_to_natural: float,
    floor: float,
    block: int,
    overwrite: bool,
) -> None:
    """Smooth a time series of class probabilities (one raster per date, in time order, on one grid)
    with a hidden Markov model per pixel: `lczmap change PROB_1 PROB_2 ... -o OUT_DIR`.

    Writes lcz_<date>.tif (consistent LCZ maps: the Viterbi sequence), change.tif (bands
    transition, from, to, date, changes; styled by change.qml), change_probability.tif (the
    probability that any change happened: forward-backward) and transitions.csv (areas).

    \b
    lczmap mosaic s1/2019/*.tif lcz_2019.tif --probabilities p2019.tif --aoi W,S,E,N --align   (each year)
    lczmap change p2019.tif p2020.tif p2021.tif -o change/ --dates 2019,2020,2021
    lczmap change p2019.tif p2020.tif p2021.tif -o change/ --stay 0.15 --overwrite   (a weak model)
    """
    from ..change import ChangeOptions, detect_change

    try:
        options = ChangeOptions(stay=stay, built_to_natural=built_to_natural, floor=floor, block=block, overwrite=overwrite)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    labels = [d for d in dates.split(",")] if dates is not None else None
    r = detect_change(list(probabilities), out_dir, dates=labels, options=options, progress=progress_factory(ctx))
    share = r.changed / r.pixels if r.pixels else 0.0
    click.echo(
        f"{r.change.parent}: {len(r.maps)} consistent maps ({r.shape[0]} x {r.shape[1]} pixels); "
        f"{r.changed} of {r.pixels} pixels changed ({share:.1%}), {r.area_m2 / 1e6:.2f} km2 mapped, in {r.seconds:.1f} s; "
        f"table {r.table.name}"
    )


commands = [change]
