"""``lczmap train`` and ``lczmap evaluate``: thin doors over :mod:`lczmap.train` and
:mod:`lczmap.evaluate`."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import click

from ..bands import EO_BAND_SETS, SAR_BAND_SETS
from ..classes import CLASS_SETTINGS
from ..data.fewshot import parse_budget
from ..errors import ConfigError
from ..models import NORMS
from ..train.config import DEVICE_DATA, METHODS, TrainConfig
from .options import batch_size_opt, device_opt, overwrite_opt, progress_factory, seed_opt

F = TypeVar("F", bound=Callable[..., Any])

#: ``lczmap train``'s defaults: TrainConfig's (one home; the option help shows them).
_DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}


def _labels(ctx: click.Context, param: click.Parameter, value: str) -> int | str:
    try:
        budget = parse_budget(value)
    except ConfigError:
        raise click.BadParameter(f"{value!r} is not a budget: give a positive number (e.g. 32, 128, 1024) or 'all'") from None
    return "all" if budget is None else budget


def _option(*decls: str, field: str | None = None, **kw: Any) -> Callable[[F], F]:
    """A click option whose default is TrainConfig's field of the same name (or ``field``)."""
    name = field or decls[-1].split("/")[0].lstrip("-").replace("-", "_")
    return click.option(*decls, default=_DEFAULTS[name], show_default=True, **kw)


@click.command()
@click.argument("data", type=click.Path(path_type=Path), required=False)
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Checkpoint to write (.safetensors). Default: METHOD_CLASSES_LABELS_sSEED.safetensors.",
)
@_option(
    "--method",
    type=click.Choice(METHODS),
    help="sar-only: labelled SAR only; finetune: EO then labelled SAR; swd: EO then SWD-transfer.",
)
@_option(
    "--classes",
    type=click.Choice(list(CLASS_SETTINGS)),
    help="Class setting: lowrise = LCZ 3, 6, 7, 8; urban = LCZ 1-10; all = 17 classes.",
)
@click.option(
    "--labels",
    callback=_labels,
    default=str(_DEFAULTS["labels"]),
    show_default=True,
    help="Labelled SAR patches (stratified draw), or 'all'.",
)
@seed_opt
@_option("--eo-bands", type=click.Choice(sorted(EO_BAND_SETS)), help="EO (Sentinel-2) band set.")
@_option(
    "--sar-bands", type=click.Choice(sorted(SAR_BAND_SETS)), help="SAR (Sentinel-1) band set; lee-intensity suits GRD scenes."
)
@_option("--norm", type=click.Choice(NORMS), help="Normalisation layers of both encoders.")
@_option("--supcon/--no-supcon", help="Add SupCon to the EO stage.")
@_option("--temperature", type=float, help="SupCon temperature (positive).")
@_option("--supcon-weight", type=float, help="Weight of SupCon against cross-entropy in the EO stage.")
@_option("--lambda", "swd_lambda", field="swd_lambda", type=float, help="Weight of the marginal SWD term (EO vs all SAR).")
@_option("--eta", "swd_eta", field="swd_eta", type=float, help="Weight of the class-conditional SWD term.")
@_option("--projections", type=int, help="Random projections per SWD step.")
@_option("--eo-epochs", type=int, help="EO stage epochs (0: none).")
@_option("--sar-epochs", type=int, help="SAR stage epochs (1 or more).")
@_option("--eo-lr", type=float, help="EO stage learning rate (AdamW).")
@_option("--sar-lr", type=float, help="SAR stage learning rate (AdamW).")
@batch_size_opt
@click.option("--freeze-eo", is_flag=True, default=False, help="swd: keep the EO encoder fixed in the SAR stage.")
@click.option(
    "--random-budget",
    is_flag=True,
    default=False,
    help="Draw the labelled SAR patches plainly at random instead of stratified over classes.",
)
@click.option("--no-augment", is_flag=True, default=False, help="No rotations, flips or shifts of training patches.")
@_option("--width", type=int, help="Channels of the first conv stage.")
@_option("--depth", type=int, help="Conv stages (1-5).")
@_option("--embedding", type=int, help="Embedding size.")
@_option("--val-split", help="Split for per-epoch validation accuracy ('none' to skip).")
@click.option(
    "--cache",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Cache from `lczmap prepare` (used when it holds the band sets).",
)
@click.option(
    "--eo-checkpoint",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Start the SAR stage from this trained EO stage (a study's eo/ file) instead of training "
    "the EO stage; its EO options must be this run's. Same checkpoint as training it here.",
)
@device_opt
@_option("--amp/--no-amp", help="Mixed precision on CUDA.")
@_option(
    "--device-data",
    type=click.Choice(DEVICE_DATA),
    help="Keep the training patches on the device (auto: when they fit in half its free memory).",
)
@click.option("--resume", is_flag=True, default=False, help="Continue an interrupted run with the same options.")
@overwrite_opt
@click.pass_context
def train(
    ctx: click.Context,
    data: Path | None,
    out: Path | None,
    batch_size: int | None,
    cache: Path | None,
    resume: bool,
    overwrite: bool,
    eo_checkpoint: Path | None,
    **options: Any,
) -> None:
    """Train a SAR land-use model on So2Sat DATA (folder or .h5) and write a checkpoint.

    Also writes OUT's .metrics.csv (per epoch), .curve.png (learning curves) and, with
    tensorboard installed, .tb/. Under `torchrun --nproc_per_node N -m lczmap train ...` it
    trains data-parallel over N processes.
    """
    from ..train import TrainingInterrupted, train_model

    if data is None and cache is None:
        raise click.UsageError("give the So2Sat DATA folder or .h5 file, or --cache from `lczmap prepare`")
    options["augment"] = not options.pop("no_augment")
    options["stratified"] = not options.pop("random_budget")
    if batch_size is not None:
        options["batch_size"] = batch_size
    try:  # TrainConfig is the one validator; its messages name the options
        config = TrainConfig(
            data=None if data is None else str(data),
            cache=None if cache is None else str(cache),
            eo_checkpoint=None if eo_checkpoint is None else str(eo_checkpoint),
            **options,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if out is None:
        out = Path(f"{config.method}_{config.classes}_{config.labels}_s{config.seed}.safetensors")
    before = _mtime(out)
    try:
        result = train_model(config, out, overwrite=overwrite, resume=resume, progress=progress_factory(ctx))
    except TrainingInterrupted as stop:
        click.echo(
            f"Interrupted after {stop.stage.upper()} stage epoch {stop.epoch}/{stop.epochs}: {stop.resume} keeps "
            f"the run (any earlier checkpoint and metrics are as they were); continue it with: "
            f"{resume_command(ctx)}",
            err=True,
        )
        ctx.exit(130)
    except KeyboardInterrupt:
        if _mtime(out) != before:  # after the last write
            click.echo(f"Interrupted after the run had written {out}: its outputs are complete", err=True)
            ctx.exit(130)
        click.echo(
            "Interrupted before the first epoch finished: no resume state was left (any earlier checkpoint "
            "and metrics are as they were)",
            err=True,
        )
        ctx.exit(130)
    if result.csv is None:  # not the writing process of a distributed run
        return
    m = result.metrics
    click.echo(f"checkpoint: {result.checkpoint}")
    click.echo(f"metrics: {result.csv}")
    click.echo(f"learning curve: {result.curve}")
    if "sar_val_accuracy" in m:
        click.echo(f"validation accuracy (SAR): {m['sar_val_accuracy']:.4f}")


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def resume_command(ctx: click.Context) -> str:
    """``lczmap train`` with the arguments and options given on the command line, and ``--resume``."""
    words = ["lczmap", ctx.info_name or "train"]
    for param in ctx.command.params:
        name = param.name
        if name is None or name == "resume" or ctx.get_parameter_source(name) is not click.ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[name]
        if isinstance(param, click.Argument):
            words.append(str(value))
        elif isinstance(param, click.Option) and param.is_flag:
            words.append(param.opts[0] if value or not param.secondary_opts else param.secondary_opts[0])
        else:
            words += [param.opts[-1], str(value)]
    return shlex.join([*words, "--resume"])


@click.command()
@click.argument("checkpoint", type=click.Path(path_type=Path), required=False)
@click.argument("data", type=click.Path(path_type=Path), required=False)
@click.option("--split", default=None, help="Split to evaluate on. Default: testing if present, else validation.")
@click.option(
    "--cache",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Cache from `lczmap prepare` (used when it holds the split).",
)
@click.option(
    "-o",
    "--out-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder for report.json, confusion.csv, confusion.png and reliability.png. Default: CHECKPOINT_STEM.eval-SPLIT.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@batch_size_opt
@device_opt
@overwrite_opt
@click.pass_context
def evaluate(
    ctx: click.Context,
    checkpoint: Path | None,
    data: Path | None,
    split: str | None,
    cache: Path | None,
    out_dir: Path | None,
    as_json: bool,
    batch_size: int | None,
    device: str,
    overwrite: bool,
) -> None:
    """Evaluate CHECKPOINT on the SAR patches of So2Sat DATA: accuracy, kappa, per-class
    precision/recall/F1, confusion matrix (CSV and PNG), all in a JSON report.

    Without CHECKPOINT (`lczmap evaluate DATA`), the last checkpoint `lczmap train` wrote.
    """
    from ..checkpoint import is_checkpoint, last_checkpoint, load_checkpoint
    from ..data.so2sat import open_so2sat
    from ..evaluate import evaluate_model

    if (
        data is None
        and checkpoint is not None
        and not is_checkpoint(checkpoint)
        and (checkpoint.is_dir() or checkpoint.suffix.lower() in (".h5", ".hdf5"))
    ):
        checkpoint, data = None, checkpoint  # `lczmap evaluate DATA`: the last checkpoint on DATA
    if checkpoint is None:
        checkpoint = last_checkpoint()
        if checkpoint is None:
            raise click.UsageError("no CHECKPOINT given and no earlier `lczmap train` run recorded: give a checkpoint")
    if data is None and cache is None:
        raise click.UsageError("give the So2Sat DATA folder or .h5 file (or --cache with --split)")
    ckpt = load_checkpoint(checkpoint)
    if split is None and data is not None:
        split = open_so2sat(data).test_split
    if out_dir is None:
        out_dir = checkpoint.with_name(f"{checkpoint.stem}.eval-{(split or 'split').replace('/', '-')}")
    report = evaluate_model(
        ckpt,
        data,
        split=split,
        cache=cache,
        out_dir=out_dir,
        batch_size=batch_size or 256,
        device=device,
        overwrite=overwrite,
        progress=progress_factory(ctx),
    )
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(
        f"{report['split']}: {report['n']} patches, overall accuracy {report['overall_accuracy']:.4f}, "
        f"kappa {report['kappa']:.4f}, macro F1 {report['macro_f1']:.4f}"
    )
    for row in report["per_class"]:
        click.echo(
            f"  LCZ {row['label']:>2} {row['name']:<22} n={row['support']:<5} precision {row['precision']:.3f} "
            f"recall {row['recall']:.3f} F1 {row['f1']:.3f}"
        )
    cal = report["calibration"]
    how = f"with T = {cal['temperature']:.3f} (fitted on {cal['fitted_on']})" if cal["calibrated"] else "(no temperature stored)"
    click.echo(
        f"calibration ECE (top label, 15 bins): {cal['ece_uncalibrated']:.4f} uncalibrated, {cal['ece_calibrated']:.4f} {how}"
    )
    click.echo(f"report: {out_dir / 'report.json'}")


commands = [train, evaluate]
