"""The run: :func:`train` checks the outputs, loads the data, builds the Y-network, runs the EO
stage (or loads it from ``eo_checkpoint``) and the SAR stage epoch by epoch (saving the resume
state and its metrics after each), and writes the checkpoint, then the CSV and the learning curve:
a run's outputs replace the old ones only once it has finished, the checkpoint first.
:func:`train_eo_stage` trains the EO stage alone and writes it for runs to share."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import torch

from .._device import resolve_device
from .._io import check_output, remove_stale_parts
from ..bands import band_set
from ..checkpoint import record_last_checkpoint, save_checkpoint
from ..errors import ConfigError, OutputExistsError, TrainingError
from ..evaluate import calibrate_network
from ..models.networks import SarNetwork, YNet
from .config import TrainConfig, TrainResult, output_paths
from .data import TrainData, load_training_data
from .distributed import DistInfo, barrier, setup_distributed, teardown_distributed
from .eostage import EoStage, load_eo_stage, save_eo_stage
from .records import TIMING_METRICS, open_tensorboard, plot_curve, summarize_history, write_csv
from .reference import training_reference
from .resume import load_state, save_state, saved_position
from .stages import StageRunner, make_optimizer

__all__ = ["train", "train_model", "train_eo_stage", "TrainingInterrupted"]

log = logging.getLogger(__name__)


class TrainingInterrupted(KeyboardInterrupt):
    """A run stopped (Ctrl-C, SIGINT) after at least one finished epoch: ``resume`` holds the state
    after ``stage`` epoch ``epoch`` of ``epochs`` (1-based); ``train(..., resume=True)`` with the
    same options continues it. The old checkpoint and metrics, if any, are as they were."""

    def __init__(self, resume: Path, stage: str, epoch: int, epochs: int) -> None:
        super().__init__(resume, stage, epoch, epochs)
        self.resume, self.stage, self.epoch, self.epochs = resume, stage, epoch, epochs

    def __str__(self) -> str:
        return f"interrupted after {self.stage.upper()} stage epoch {self.epoch}/{self.epochs}: {self.resume} keeps its state"


def train(
    config: TrainConfig,
    out: str | os.PathLike,
    overwrite: bool = False,
    resume: bool = False,
    progress: Callable | None = None,
    record_last: bool = True,
) -> TrainResult:
    """Train ``config.method`` and write the checkpoint ``out`` (a ``.safetensors`` file), plus
    ``<stem>.metrics.csv`` (per-epoch metrics), ``<stem>.curve.png`` (learning curves) and, when
    tensorboard is installed, ``<stem>.tb/``. While running, ``<stem>.resume.pt`` holds the state
    at the last finished epoch; ``resume=True`` continues from it.

    ``progress``: ``(total=, desc=) -> tqdm-like`` or None. ``record_last``: record ``out`` as the
    last trained checkpoint, the model ``lczmap predict`` and ``evaluate`` use when none is named
    (the study turns this off for its cells). With ``config.eo_checkpoint`` (a file from
    :func:`train_eo_stage`, trained with the same EO options) the run starts its SAR stage from it
    and writes the checkpoint it would have written training the EO stage itself. Returns a
    :class:`TrainResult`.
    """
    cfg = config.check()
    paths = output_paths(out)
    dist_info = setup_distributed(cfg.device)
    existed = {key: paths[key].exists() for key in ("csv", "curve", "tensorboard", "resume_csv")}
    resumable = paths["resume"].exists()
    before, checkpoint_before = _stat(paths["resume"]), _stat(paths["checkpoint"])
    if dist_info.main and (resume or overwrite):  # the rerun of a killed run: its temporaries go
        for key in ("checkpoint", "csv", "curve", "resume", "resume_csv"):
            remove_stale_parts(paths[key])
    try:
        return _train(cfg, paths, overwrite, resume, progress, dist_info, record_last)
    except BaseException as exc:
        # a failure before the first finished epoch leaves nothing to resume: remove what this
        # call began (an interrupted or diverged run keeps its metrics beside its resume state;
        # one stopped after its checkpoint and resume state are written and removed has finished)
        left = paths["resume"].exists()
        if dist_info.main and not left and _stat(paths["checkpoint"]) in (None, checkpoint_before):
            _remove_new(paths, existed)
        ours = left and ((resume and resumable) or _stat(paths["resume"]) != before)
        if isinstance(exc, TrainingError):
            raise TrainingError(_diverged_note(str(exc), paths["resume"], resume and resumable, ours)) from None
        # the position is read from the resume state itself: a stop that lands between its rename
        # and the bookkeeping after it, or before a resumed run's first new epoch, still names it
        position = saved_position(paths["resume"]) if isinstance(exc, KeyboardInterrupt) and ours else None
        if dist_info.main and position is not None:
            stage, epoch = position
            epochs = cfg.eo_epochs if stage == "eo" else cfg.sar_epochs
            raise TrainingInterrupted(paths["resume"], stage, epoch + 1, epochs) from None
        raise
    finally:
        teardown_distributed(dist_info)


def _remove_new(paths: dict, existed: dict) -> None:
    for key, was in existed.items():
        path = paths[key]
        if was or not path.exists():
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def _diverged_note(message: str, resume_path: Path, resumed: bool, ours: bool) -> str:
    """``message`` with what was kept and how to go on (one line). ``ours``: the resume state at
    ``resume_path`` belongs to this run (it resumed from it or wrote it)."""
    if resumed:
        message = message.replace("training diverged", f"training diverged again after resuming from {resume_path.name}", 1)
        return message + " (the same options diverge the same way: start afresh with --overwrite)"
    if ours:
        return (
            message + f", then rerun with --overwrite ({resume_path.name} keeps the last finite state; no checkpoint was written)"
        )
    return message + (" and rerun with --overwrite" if resume_path.exists() else " and rerun") + " (no checkpoint was written)"


#: The verb-noun name of :func:`train` (the same function), as the package root exports it.
train_model = train


def _train(
    cfg: TrainConfig,
    paths: dict,
    overwrite: bool,
    resume: bool,
    progress: Callable | None,
    dist_info: DistInfo,
    record_last: bool,
) -> TrainResult:
    """The run of :func:`train`."""
    if paths["checkpoint"].suffix != ".safetensors":
        raise ConfigError(f"checkpoint {paths['checkpoint']} must end in .safetensors: rename the output")
    state = None
    if paths["resume"].exists():
        if resume:
            state = load_state(paths["resume"], cfg)
        elif not overwrite:
            raise OutputExistsError(
                f"an interrupted run left {paths['resume']}: pass --resume to continue it or --overwrite to start afresh"
            )
    elif resume:
        log.info("no interrupted run at %s: starting from the beginning", paths["resume"])
    # a run stopped between writing its checkpoint and removing its resume state wrote that checkpoint
    # (and maybe the CSV and curve); before that, the outputs are the old ones, replaced at the end
    finished = state is not None and state["stage"] == "sar" and state["epoch"] + 1 >= cfg.sar_epochs
    for key in ("checkpoint", "csv", "curve"):
        check_output(paths[key], overwrite or finished)

    eo_stage = load_eo_stage(cfg.eo_checkpoint, cfg) if cfg.eo_checkpoint is not None else None
    if eo_stage is not None and state is not None and state["stage"] == "eo":
        log.info("the EO stage comes from %s: the interrupted EO epochs are not needed", cfg.eo_checkpoint)
        state = None
    if dist_info.world > 1 and cfg.device in ("auto", "cuda") and torch.cuda.is_available():
        device = torch.device("cuda", dist_info.local_rank)
    else:
        device = resolve_device(cfg.device)
    # finetune with a trained EO stage never reads an EO patch; swd draws EO batches in its SAR stage
    read_eo = cfg.method == "swd" or (cfg.method == "finetune" and eo_stage is None)
    data = load_training_data(cfg, progress if dist_info.main else None, eo=read_eo)
    if eo_stage is not None:
        _check_eo_data(eo_stage, data)
    eo_stats = data.eo_stats if eo_stage is None else eo_stage.eo_stats

    arch = cfg.architecture
    eo_set, sar_set = band_set(cfg.eo_bands, "eo"), band_set(cfg.sar_bands, "sar")
    net = _build_net(cfg, data, eo_stats, device)
    runner = StageRunner(cfg, data, dist_info, device, progress)

    history: list[dict] = []
    elapsed0 = 0.0
    start_stage, start_epoch = "eo", 0
    if state is not None:
        net.load_state_dict(state["model"])
        history = json.loads(state["history"])
        elapsed0 = state["elapsed"]
        start_stage, start_epoch = state["stage"], state["epoch"] + 1
        log.info("resuming after %s stage epoch %d", start_stage.upper(), state["epoch"] + 1)
    elif eo_stage is not None:
        eo_stage.load_into(net)
        history = [dict(row) for row in eo_stage.history]
        log.info("EO stage from %s (%d epochs)", eo_stage.path, len(history))
    tb = open_tensorboard(paths["tensorboard"]) if dist_info.main else None
    t0 = time.perf_counter()

    def record(
        stage: str, epoch: int, stats: dict, seconds: float, network: SarNetwork, optimizer: torch.optim.Optimizer
    ) -> None:
        row = _history_row(runner, stage, epoch, stats, seconds, network, dist_info.main)
        history.append(row)
        if dist_info.main:
            # the resume state first: its CSV is rewritten from it on resume; the old CSV stays
            # as it is until the checkpoint is written
            save_state(paths["resume"], cfg, stage, epoch, net, optimizer, history, elapsed0 + time.perf_counter() - t0)
            write_csv(history, paths["resume_csv"])
            if tb is not None:
                step = len(history)
                for k, v in row.items():
                    if isinstance(v, (int, float)) and k not in ("epoch",):
                        tb.add_scalar(f"{stage}/{k}", v, step)
            log.info(
                "%s epoch %d: loss %.4f%s",
                stage.upper(),
                epoch + 1,
                row["loss"],
                "" if row["val_accuracy"] is None else f", validation accuracy {row['val_accuracy']:.3f}",
            )
        barrier(dist_info)

    # Stage 1: EO
    if cfg.has_eo_stage and eo_stage is None and start_stage == "eo":
        _eo_stage(cfg, net, runner, state, start_epoch, record)
        start_epoch = 0

    # Stage 2: SAR
    sar_state = state if state is not None and state["stage"] == "sar" else None
    if sar_state is None and cfg.method != "sar-only":
        copied = net.copy_eo_to_sar()
        log.debug("SAR encoder initialised from the EO encoder: %d tensors", len(copied))
    sar_params = list(net.sar_encoder.parameters()) + list(net.classifier.parameters())
    if cfg.method == "swd":
        if cfg.freeze_eo:
            net.eo_encoder.requires_grad_(False)
        else:
            sar_params += list(net.eo_encoder.parameters())
    opt = make_optimizer(sar_params, cfg.sar_lr, cfg.weight_decay)
    if sar_state is not None:
        opt.load_state_dict(sar_state["optimizer"])
    runner.begin_stage()
    for epoch in range(start_epoch if sar_state is not None else 0, cfg.sar_epochs):
        t = time.perf_counter()
        stats = runner.sar_epoch(net, opt, sar_params, epoch)
        record("sar", epoch, stats, time.perf_counter() - t, net.sar_network(), opt)
    net.requires_grad_(True)

    elapsed = elapsed0 + time.perf_counter() - t0
    metrics = summarize_history(history, elapsed)
    metrics["n_sar_labelled"] = len(data.x_sar_lab)
    per_class = torch.bincount(data.y_sar_lab, minlength=len(data.codes)).tolist()
    metrics["n_sar_labelled_per_lcz"] = {str(c): int(n) for c, n in zip(data.codes, per_class)}
    metrics["n_sar_unlabelled"] = data.n_unlabelled
    metrics["n_eo"] = eo_stage.n_eo if eo_stage is not None else 0 if data.x_eo is None else len(data.x_eo)
    metrics["world_size"] = dist_info.world
    metrics["device"] = str(device)
    if tb is not None:
        tb.close()
    if not dist_info.main:
        return TrainResult(paths["checkpoint"], metrics, history)
    sar_stats = _sar_stats(data)
    meta = {
        "method": cfg.method,
        "norm": cfg.norm,
        "eo_bands": eo_set.to_dict(),
        "sar_bands": sar_set.to_dict(),
        "eo_mean": eo_stats[0] if eo_stats else None,
        "eo_std": eo_stats[1] if eo_stats else None,
        "sar_mean": sar_stats[0],
        "sar_std": sar_stats[1],
        "classes": cfg.classes,
        "codes": list(data.codes),
        "patch_size": 32,
        "architecture": arch.to_dict(),
        "seed": cfg.seed,
        "labels": cfg.labels,
        "config": cfg.recorded(),
        # timings go to the CSV and the result only: the same seed and options give the same file
        "metrics": {k: v for k, v in metrics.items() if k not in TIMING_METRICS},
    }
    net.cpu().eval()
    # the temperature of the SAR probabilities, fitted on the validation split (lczmap.calibration)
    meta["calibration"] = calibrate_network(net.sar_network(), data.x_val, data.y_val, f"the {cfg.val_split} split")
    # the EO reference unlabelled adaptation aligns to (lczmap.train.reference), beside the weights
    eo_ref = None if cfg.method == "sar-only" else training_reference(net, data, cfg.data, cfg.eo_bands, cfg.classes, cfg.seed)
    # the checkpoint, then its metrics and curve, then the resume state: a run stopped in between
    # resumes to the end (its state is finished) and never pairs a checkpoint with another run's CSV
    save_checkpoint(
        paths["checkpoint"], net, meta, overwrite=overwrite or finished, extra=eo_ref.tensors() if eo_ref is not None else None
    )
    write_csv(history, paths["csv"])
    plot_curve(history, paths["curve"])
    paths["resume_csv"].unlink(missing_ok=True)
    paths["resume"].unlink(missing_ok=True)
    if record_last:
        record_last_checkpoint(paths["checkpoint"])
    log.info("wrote %s", paths["checkpoint"])
    return TrainResult(paths["checkpoint"], metrics, history, paths["csv"], paths["curve"])


def _sar_stats(data: TrainData) -> tuple[list, list]:
    if data.sar_stats is None:
        raise TrainingError("the SAR stage has no SAR statistics: this is a bug in lczmap")
    return data.sar_stats


def _build_net(cfg: TrainConfig, data: TrainData, eo_stats: tuple[list, list] | None, device: torch.device) -> YNet:
    """The Y-network of ``cfg`` as initialised from its seed (the same with or without the SAR
    data: the SAR statistics are buffers, set when there are some), with its input statistics."""
    torch.manual_seed(cfg.seed)
    eo_set, sar_set = band_set(cfg.eo_bands, "eo"), band_set(cfg.sar_bands, "sar")
    net = YNet(eo_set.n_channels, sar_set.n_channels, len(data.codes), cfg.norm, cfg.architecture)
    if data.sar_stats is not None:
        net.sar_encoder.standardize.set_stats(*data.sar_stats)
    if eo_stats is not None:
        net.eo_encoder.standardize.set_stats(*eo_stats)
    return net.to(device)


def _history_row(
    runner: StageRunner, stage: str, epoch: int, stats: dict, seconds: float, network: SarNetwork, main: bool
) -> dict:
    """One row of the history: the epoch's losses, timing and validation accuracy (6 decimals)."""
    row = {"stage": stage, "epoch": epoch + 1, **stats, "seconds": round(seconds, 3)}
    row["samples_per_s"] = round(stats["samples"] / seconds, 1) if seconds > 0 else None
    row["val_accuracy"] = runner.val_accuracy(network, stage) if main else None
    for k, v in list(row.items()):
        if isinstance(v, float):
            row[k] = round(v, 6)
    return row


def _eo_stage(cfg: TrainConfig, net: YNet, runner: StageRunner, state: dict | None, start_epoch: int, record: Callable) -> None:
    """The epochs of the EO stage from ``start_epoch``, each recorded by ``record``."""
    eo_params = list(net.eo_encoder.parameters()) + list(net.classifier.parameters())
    if cfg.supcon:
        eo_params += list(net.projector.parameters())
    opt = make_optimizer(eo_params, cfg.eo_lr, cfg.weight_decay)
    if state is not None and state["stage"] == "eo":
        opt.load_state_dict(state["optimizer"])
    runner.begin_stage()
    for epoch in range(start_epoch, cfg.eo_epochs):
        t = time.perf_counter()
        stats = runner.eo_epoch(net, opt, eo_params, epoch)
        record("eo", epoch, stats, time.perf_counter() - t, net.eo_network(), opt)


def _check_eo_data(stage: EoStage, data: TrainData) -> None:
    """:class:`ConfigError` when the EO stage was trained on other patches than the run's."""
    n = data.n_sar if data.x_eo is None else len(data.x_eo)  # the EO and SAR patches are paired
    same = stage.n_eo == n and stage.codes == tuple(data.codes)
    if same and data.eo_stats is not None:
        same = [list(v) for v in data.eo_stats] == [list(v) for v in stage.eo_stats]
    if not same:
        raise ConfigError(
            f"--eo-checkpoint {stage.path} was trained on other data ({stage.n_eo} EO patches there, "
            f"{n} here, or other values): train the EO stage on this run's data or drop --eo-checkpoint"
        )


def train_eo_stage(
    config: TrainConfig, out: str | os.PathLike, overwrite: bool = False, progress: Callable | None = None
) -> Path:
    """Train the EO stage of ``config`` alone and write it to ``out`` (safetensors, with its EO
    options, history rows and statistics), for runs with the same EO options to start from
    (``TrainConfig(eo_checkpoint=out)``): a study trains each of its distinct EO stages once so.
    Reads the EO patches only. Single process (no ``torchrun``). Returns ``out``."""
    cfg = config.check()
    if not cfg.has_eo_stage:
        raise ConfigError(f"{cfg.method} with --eo-epochs {cfg.eo_epochs} has no EO stage to train")
    cfg = cfg.eo_config()
    out = check_output(out, overwrite)
    device = resolve_device(cfg.device)
    data = load_training_data(cfg, progress, eo=True, sar=False)
    if data.x_eo is None or data.eo_stats is None:
        raise TrainingError("the EO stage read no EO patches: this is a bug in lczmap")
    net = _build_net(cfg, data, data.eo_stats, device)
    dist_info = DistInfo()
    runner = StageRunner(cfg, data, dist_info, device, progress)
    history: list[dict] = []

    def record(
        stage: str, epoch: int, stats: dict, seconds: float, network: SarNetwork, optimizer: torch.optim.Optimizer
    ) -> None:
        history.append(_history_row(runner, stage, epoch, stats, seconds, network, True))
        log.info("EO stage epoch %d: loss %.4f", epoch + 1, history[-1]["loss"])

    _eo_stage(cfg, net, runner, None, 0, record)
    net.cpu()
    return save_eo_stage(out, cfg, net, history, data.eo_stats, len(data.x_eo), data.codes, overwrite=overwrite)
