"""``lczmap check-wrf`` and ``lczmap recode``: lczmap's maps into WRF (w2w), UMEP and LCZ4r."""

from __future__ import annotations

import click

from ..classes import CODINGS
from ..zones.lczraster import CODE_SCHEMES
from .options import band_opt, overwrite_opt


@click.command("check-wrf", short_help="Will an LCZ map go into a WRF domain through w2w? Check before running it.")
@click.argument("lcz", type=click.Path(exists=True, dir_okay=False))
@click.argument("geo_em", type=click.Path(exists=True, dir_okay=False))
@band_opt
@click.option(
    "--wrf-version",
    default=None,
    metavar="X.Y.Z",
    help="The WRF version the domain is for: 4.4.2 and later read urban LCZ as LU_INDEX 51-61 "
    "[default: as w2w 0.6.0 writes them, 31-41].",
)
@click.option(
    "--frc-threshold",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.2,
    show_default=True,
    help="w2w's --frc-threshold: the urban fraction a WRF cell must exceed to become urban.",
)
@click.option(
    "--npix-area",
    type=click.IntRange(min=1),
    default=None,
    help="w2w's --npix-area: cells it samples natural land from [default: 2025, w2w's npix-nlc of 45 squared].",
)
def check_wrf_cmd(
    lcz: str,
    geo_em: str,
    band: str | None,
    wrf_version: str | None,
    frc_threshold: float,
    npix_area: int | None,
) -> None:
    """Check the LCZ map LCZ against the WRF domain GEO_EM (geo_em.dXX.nc) before running w2w:
    the map must cover the domain on every side, the largest urban LCZ class in the domain must
    be above 3 (else WRF with use_wudapt_lcz=1 stops), and the LU_INDEX coding must suit the
    WRF version. Prints what w2w will make of it; exit status 1 when something stops w2w or WRF.

    \b
    lczmap check-wrf lcz_generator.tif geo_em.d04.nc
    lczmap check-wrf lcz.tif geo_em.d02.nc --wrf-version 4.5.1
    """
    from ..downstream import check_wrf
    from ..errors import ZonesError

    result = check_wrf(lcz, geo_em, band=band, frc_threshold=frc_threshold, wrf_version=wrf_version, npix_area=npix_area)
    for line in result.lines():
        click.echo(line)
    if not result.ok:
        raise ZonesError(result.problems[0])


@click.command("recode", short_help="Write an LCZ map in codes 1-17 (LCZ4r) or 101-107 (UMEP), one band.")
@click.argument("lcz", type=click.Path(exists=True, dir_okay=False))
@click.argument("output", type=click.Path())
@click.option(
    "--to",
    "coding",
    type=click.Choice(CODINGS),
    default="101-107",
    show_default=True,
    help="The coding of OUTPUT: 101-107 (LCZ A-G as UMEP's LCZ converter reads them) or 1-17 (LCZ4r, lcz4py).",
)
@band_opt
@click.option(
    "--codes",
    type=click.Choice(CODE_SCHEMES),
    default="auto",
    show_default=True,
    help="How LCZ codes A-G: 11-17 or 101-107; auto decides from the values.",
)
@click.option("--nodata", type=float, default=None, help="No-data value of LCZ [default: the raster's own; 0 always].")
@overwrite_opt
def recode_cmd(lcz: str, output: str, coding: str, band: str | None, codes: str, nodata: float | None, overwrite: bool) -> None:
    """Write one band of the LCZ map LCZ to OUTPUT (.tif) as an LCZ COG in the coding --to, nodata 0.

    \b
    lczmap recode lcz.tif lcz_umep.tif
    lczmap recode lcz_generator.tif lcz_filter.tif --to 1-17 --band lczFilter
    """
    from ..downstream import recode_lcz

    out = recode_lcz(lcz, output, coding=coding, band=band, codes=codes, nodata=nodata, overwrite=overwrite)  # type: ignore[arg-type]
    click.echo(str(out))


commands = [check_wrf_cmd, recode_cmd]
