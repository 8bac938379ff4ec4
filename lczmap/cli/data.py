"""Data commands: ``info``, ``prepare``, ``demo-data`` and ``demo``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..bands import EO_BAND_SETS, SAR_BAND_SETS
from ..data import PREPARE_EO_BANDS, PREPARE_SAR_BANDS
from ..twin import MIN_PATCHES, SCENE_KINDS, SCENE_SIZE, SCENE_UNITS, TWIN_PATCHES, SceneKind, SceneUnits
from .options import band_opt, overwrite_opt, progress_factory, seed_opt


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option(
    "-m",
    "--model",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="For a scene: the checkpoint whose bands it is read for [default: lee-intensity, else vv-complex].",
)
@band_opt
def info(path: Path, as_json: bool, model: Path | None, band: str | None) -> None:
    """Describe PATH: a So2Sat folder or .h5 file, an lczmap cache, a checkpoint, an LCZ map (coding,
    classes, area per class, layers) or a scene (product kind, bands, units, quantity, and the
    conversions `lczmap predict` would apply, reading no pixels: a dry run)."""
    from ..info import describe, format_description

    result = describe(path, model=model, band=band)
    click.echo(json.dumps(result, indent=2) if as_json else format_description(result))


@click.command()
@click.argument("so2sat_dir", type=click.Path(path_type=Path))
@click.argument("cache_dir", type=click.Path(path_type=Path))
@click.option(
    "--eo-bands",
    multiple=True,
    type=click.Choice(sorted(EO_BAND_SETS)),
    default=PREPARE_EO_BANDS,
    show_default=True,
    help="EO band sets to cache (repeatable).",
)
@click.option(
    "--sar-bands",
    multiple=True,
    type=click.Choice(sorted(SAR_BAND_SETS)),
    default=PREPARE_SAR_BANDS,
    show_default=True,
    help="SAR band sets to cache (repeatable).",
)
@click.option("--split", "splits", multiple=True, help="Splits to cache (repeatable; default: all).")
@click.pass_context
def prepare(
    ctx: click.Context,
    so2sat_dir: Path,
    cache_dir: Path,
    eo_bands: tuple[str, ...],
    sar_bands: tuple[str, ...],
    splits: tuple[str, ...],
) -> None:
    """Cache the chosen band sets of So2Sat for fast training epochs (resumable)."""
    from ..data import prepare as run

    out = run(so2sat_dir, cache_dir, band_sets=[*eo_bands, *sar_bands], splits=splits or None, progress=progress_factory(ctx))
    click.echo(f"cache ready: {out}")


@click.command("demo-data")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option(
    "--n-train", type=int, default=TWIN_PATCHES[0], show_default=True, help=f"Training patches (at least {MIN_PATCHES})."
)
@click.option(
    "--n-val", type=int, default=TWIN_PATCHES[1], show_default=True, help=f"Validation patches (at least {MIN_PATCHES})."
)
@click.option("--n-test", type=int, default=TWIN_PATCHES[2], show_default=True, help=f"Testing patches (at least {MIN_PATCHES}).")
@click.option(
    "--scene-size",
    type=(int, int),
    default=SCENE_SIZE,
    show_default=True,
    metavar="ROWS COLS",
    help="Size of the Sentinel-1-like scene in 10 m pixels.",
)
@click.option(
    "--scene-kind",
    type=click.Choice(SCENE_KINDS),
    default="grd",
    show_default=True,
    help="grd: unfiltered multi-looked sigma0 VV/VH (~4.4 looks), as delivered; gamma0: with an angle "
    "band; hyp3 / planetary: an ASF HyP3 / Planetary Computer RTC pair (gamma0); lee: pre-filtered "
    "as So2Sat; slc: complex VV/VH; safe: the grd scene as an IW GRD SAFE product (DN, LUTs).",
)
@click.option(
    "--units",
    type=click.Choice(SCENE_UNITS),
    default=None,
    help="Units of intensity scenes (default: linear); SLC and planetary scenes are always linear.",
)
@click.option(
    "--acquisitions",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Also write this many acquisitions of the scene's city to OUT_DIR/acquisitions (dates, ascending "
    "and descending passes, offset footprints; --scene-size each, --scene-kind grd or gamma0) and "
    "the truth map of the area they cover, for `lczmap mosaic`.",
)
@seed_opt
@overwrite_opt
@click.pass_context
def demo_data(
    ctx: click.Context,
    out_dir: Path,
    n_train: int,
    n_val: int,
    n_test: int,
    scene_size: tuple[int, int],
    scene_kind: SceneKind,
    units: SceneUnits | None,
    acquisitions: int,
    seed: int,
    overwrite: bool,
) -> None:
    """Write a seeded So2Sat twin and a Sentinel-1-like scene with its ground truth to OUT_DIR (with
    --acquisitions N, also N dates and passes of its city and one truth map, for a mosaic)."""
    from ..demo import write_demo_data
    from ..twin import check_acquisition_options, write_acquisitions

    if acquisitions:  # refused before the twin is written
        check_acquisition_options(acquisitions, scene_size, scene_kind, units or "linear", folder=out_dir / "acquisitions")
    paths = write_demo_data(
        out_dir,
        n_train=n_train,
        n_val=n_val,
        n_test=n_test,
        scene_size=scene_size,
        scene_kind=scene_kind,
        units=units,
        seed=seed,
        overwrite=overwrite,
        progress=progress_factory(ctx),
    )
    if acquisitions:
        written = write_acquisitions(
            out_dir / "acquisitions",
            acquisitions,
            size=scene_size,
            seed=seed,
            kind="gamma0" if scene_kind == "gamma0" else "grd",
            units=units or "linear",
            overwrite=overwrite,
            progress=progress_factory(ctx),
        )
        paths = {**paths, "acquisitions": out_dir / "acquisitions", "acquisitions_truth": written.truth}
    for key, value in paths.items():
        click.echo(f"{key}: {value}")


@click.command()
@click.argument("out_dir", type=click.Path(path_type=Path), default="lczmap-demo", required=False)
@seed_opt
@overwrite_opt
@click.pass_context
def demo(ctx: click.Context, out_dir: Path, seed: int, overwrite: bool) -> None:
    """Run the main job end to end on the built-in twin: data, cache, train, evaluate, predict, zones."""
    from ..demo import run_demo
    from .options import quiet

    report = run_demo(
        out_dir,
        seed=seed,
        overwrite=overwrite,
        progress=progress_factory(ctx),
        log=None if quiet(ctx) else (lambda msg: click.echo(msg, err=True)),
    )
    click.echo(report.summary())


commands = [info, prepare, demo_data, demo]
