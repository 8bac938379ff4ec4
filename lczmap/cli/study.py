"""``lczmap study``: the paper's experiment grid (a thin door over :mod:`lczmap.study`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import click

from ..errors import ConfigError
from ..predict.cluster import DEFAULT_CONNECT_TIMEOUT, check_connect_timeout, check_scheduler
from ..study.results import TABLE_FORMATS
from ..study.spec import AXES, SPEC_SUFFIXES, AxisValue, parse_axis
from .options import device_opt, progress_factory


def _choices(axis: str) -> str:
    """The values of a study axis as the command line writes them (``off, on`` for SupCon)."""
    return ", ".join(("on" if v else "off") if isinstance(v, bool) else str(v) for v in AXES[axis])


def _axis(axis: str) -> Callable[[click.Context, click.Parameter, str | None], list[AxisValue] | None]:
    """The callback of an axis option: its comma-separated values parsed by the library."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> list[AxisValue] | None:
        if value is None:
            return None
        items = [v.strip() for v in value.split(",") if v.strip()] if axis != "seeds" else [value.strip()]
        if not items:
            raise click.BadParameter("give one or more values separated by commas")
        try:
            return parse_axis(axis, items)
        except ConfigError as exc:
            raise click.BadParameter(str(exc).removeprefix("command line: ")) from None

    return callback


def _train_options(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE: e.g. --train eo_epochs=5")
        out[key.strip()] = value.strip()
    return out


@click.command("study", short_help="Run the paper's experiment grid and draw its figures.")
@click.argument("spec_or_data", metavar="[SPEC | DATA]", type=click.Path(path_type=Path), required=False)
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Study folder: results table, summary, figures and one folder per cell. A rerun continues it.",
)
@click.option(
    "--data", type=click.Path(path_type=Path), default=None, help="So2Sat folder or .h5 file (overrides the spec's data)."
)
@click.option(
    "--cache",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Cache from `lczmap prepare` (used where it holds the band sets).",
)
@click.option("--split", default=None, help="Test split. Default: testing if present, else validation.")
@click.option(
    "--method", callback=_axis("method"), default=None, metavar="LIST", help=f"Methods, comma-separated: {_choices('method')}."
)
@click.option(
    "--classes", callback=_axis("classes"), default=None, metavar="LIST", help=f"Class settings: {_choices('classes')}."
)
@click.option(
    "--labels",
    callback=_axis("labels"),
    default=None,
    metavar="LIST",
    help=f"Labelled SAR budgets, e.g. {_choices('labels').replace(', ', ',')}.",
)
@click.option("--norm", callback=_axis("norm"), default=None, metavar="LIST", help=f"Normalisation: {_choices('norm')}.")
@click.option("--supcon", callback=_axis("supcon"), default=None, metavar="LIST", help=f"SupCon: {_choices('supcon')}.")
@click.option("--seeds", callback=_axis("seeds"), default=None, metavar="N", help="Seeds 0..N-1.")
@click.option("--seed", callback=_axis("seed"), default=None, metavar="LIST", help="Seeds, e.g. 0,1,2 (instead of --seeds).")
@click.option(
    "--train",
    "train_options",
    multiple=True,
    callback=_train_options,
    metavar="KEY=VALUE",
    help="Fixed training option for every cell (TrainConfig field), e.g. --train eo_epochs=5. Repeatable.",
)
@click.option(
    "--quick",
    is_flag=True,
    default=False,
    help="The quick preset: without DATA, on a small twin written into OUT; ~15 min on 2 cores.",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Run cells on this dask.distributed scheduler (e.g. tcp://host:8786). Default: a local cluster.",
)
@click.option(
    "--connect-timeout",
    type=float,
    default=DEFAULT_CONNECT_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help="Give up on --scheduler when it does not answer within this time.",
)
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Worker processes of the local cluster (torch threads: cores / workers each). "
    "Default: one per core, or --cells-per-gpu per GPU.",
)
@click.option(
    "--cells-per-gpu",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Cells sharing one GPU of the local cluster. Default: as many as fit in its memory, "
    "at most its share of the CPU cores. Ignored without GPUs.",
)
@device_opt
@click.option(
    "--format",
    "table_format",
    type=click.Choice(TABLE_FORMATS),
    default=TABLE_FORMATS[0],
    show_default=True,
    help="Results table format (results.csv is always written; parquet adds results.parquet).",
)
@click.option(
    "--retry-failed/--keep-failed",
    default=True,
    show_default=True,
    help="Run cells that failed in an earlier run again, or keep their error rows.",
)
@click.option(
    "--dry-run", is_flag=True, default=False, help="List the cells and their state, and the EO stages they share; run nothing."
)
@click.pass_context
def study(
    ctx: click.Context,
    spec_or_data: Path | None,
    out: Path,
    data: Path | None,
    cache: Path | None,
    split: str | None,
    method: list[AxisValue] | None,
    classes: list[AxisValue] | None,
    labels: list[AxisValue] | None,
    norm: list[AxisValue] | None,
    supcon: list[AxisValue] | None,
    seeds: list[AxisValue] | None,
    seed: list[AxisValue] | None,
    train_options: dict[str, str],
    quick: bool,
    scheduler: str | None,
    connect_timeout: float,
    workers: int | None,
    cells_per_gpu: int | None,
    device: str,
    table_format: str,
    retry_failed: bool,
    dry_run: bool,
) -> None:
    """Run the paper's grid: methods x class settings x labelled SAR x norm x SupCon x seeds.

    Each cell trains once and is tested once; results go to OUT/results.csv, the mean and standard
    error per configuration to OUT/summary.md, the figures to OUT/*.png. A rerun skips finished cells.

    \b
    lczmap study spec.toml --out study/
    lczmap study so2sat/ --out study/ --classes lowrise --labels 32,128 --seeds 3
    lczmap study --quick --out quick-study/
    """
    from .. import study as lib

    spec_path = None
    if spec_or_data is not None:
        if spec_or_data.suffix.lower() in SPEC_SUFFIXES:
            spec_path = spec_or_data
        elif data is not None:
            raise click.UsageError(f"{spec_or_data} is not a spec (.toml/.yaml/.json) and --data is given: drop one")
        else:
            data = spec_or_data
    if seeds is not None and seed is not None:
        raise click.UsageError("give --seeds N or --seed LIST, not both")
    if quick and spec_path is not None:
        raise click.UsageError("--quick is a spec of its own: drop SPEC or --quick")
    check_scheduler(scheduler)  # the library's checks, before --quick writes its twin
    check_connect_timeout(connect_timeout)
    if quick and dry_run and data is None:
        spec = lib.parse_spec(lib.QUICK_SPEC)
    elif quick:
        spec = lib.quick_spec(out, data=data, cache=cache, progress=progress_factory(ctx))
        data = cache = None  # quick_spec already holds them
    elif spec_path is not None:
        spec = lib.load_spec(spec_path)
    else:
        spec = lib.StudySpec()
    spec = replace(
        spec,
        data=str(data) if data is not None else spec.data,
        cache=str(cache) if cache is not None else spec.cache,
        split=split or spec.split,
        device=device if device != "auto" else spec.device,
    )
    axes = {
        k: v
        for k, v in dict(
            method=method, classes=classes, labels=labels, norm=norm, supcon=supcon, seed=seeds if seeds is not None else seed
        ).items()
        if v is not None
    }
    if axes:
        spec = spec.with_axes(axes)
    if train_options:
        spec = spec.with_train(train_options)
    spec = spec.check()

    if dry_run:
        cells = lib.plan(spec, out)
        for c, state in cells:
            click.echo(f"{c.cell_id}  {state:<6}  {lib.describe_cell(c)}")
        counts = {s: sum(1 for _, st in cells if st == s) for s in ("done", "failed", "todo")}
        to_run = counts["todo"] + (counts["failed"] if retry_failed else 0)
        click.echo(f"{len(cells)} cells: {counts['done']} done, {counts['failed']} failed, {to_run} to run")
        stages = lib.plan_eo_stages(spec, out, retry_failed=retry_failed)
        if stages:
            click.echo(f"EO stages the cells share (each trained once, in {out / lib.EO_FOLDER}):")
            for sid, state, users in stages:
                click.echo(
                    f"{sid}  {state:<6}  {lib.describe_eo_stage(users[0])}: {len(users)} cells "
                    f"({', '.join(c.cell_id for c in users)})"
                )
            n = {s: sum(1 for _, st, _ in stages if st == s) for s in ("done", "todo", "unused")}
            sharing = sum(len(u) for _, _, u in stages)
            click.echo(
                f"{len(stages)} EO stages for {sharing} cells: {n['done']} done, {n['todo']} to train"
                + (f", {n['unused']} not needed" if n["unused"] else "")
            )
        return
    result = lib.run_study(
        spec,
        out,
        scheduler=scheduler,
        workers=workers,
        retry_failed=retry_failed,
        table_format=table_format,
        progress=progress_factory(ctx),
        connect_timeout=connect_timeout,
        cells_per_gpu=cells_per_gpu,
    )
    click.echo(
        f"{result.cells} cells: {result.ran} run, {result.skipped} finished earlier, "
        f"{result.failed} failed ({result.seconds:.0f} s)"
    )
    click.echo(f"results: {result.table}")
    click.echo(f"summary: {result.summary}")
    for fig in result.figures:
        click.echo(f"figure: {fig}")
    if result.failed:
        click.echo(
            f"{result.failed} cells failed: see the error column of {out / 'results.csv'}; "
            "rerun the same command (without --keep-failed) to try them again",
            err=True,
        )


commands = [study]
