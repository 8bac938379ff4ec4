"""Training: the stages and methods of EO-to-SAR few-shot transfer.

Methods (``TrainConfig.method``):

``sar-only``
    SAR encoder + classifier trained from scratch on the labelled SAR patches (cross-entropy).
``finetune``
    EO stage (EO encoder + classifier on all labelled EO training patches of the class setting),
    then the SAR encoder is initialised from the EO encoder (all layers whose shapes agree: all but
    the first convolution when the channel counts differ) and the SAR encoder + classifier are
    fine-tuned on the labelled SAR patches.
``swd``
    EO stage as above, same SAR initialisation, then the joint objective of Rostami et al. (2019):
    ``CE(EO) + CE(labelled SAR) + lambda * SWD(EO, all SAR) + eta * mean_j SWD(EO_j, labelled SAR_j)``.
    The EO encoder keeps training in stage 2 unless ``freeze_eo``.

``supcon`` adds Khosla et al.'s supervised contrastive loss (on the projection head, over two
augmented views of each EO patch) to the EO stage.

Data: EO and SAR come from the same So2Sat training split (paired patches). The labelled SAR set
is ``labels`` patches drawn by :func:`lczmap.data.draw_budget` (seeded, stratified); the rest of
the SAR patches of the class setting form the unlabelled pool, used only by position (their
labels are never read for SAR). Patches are loaded into memory once, as float32.

Schedules: an EO epoch is one pass over the EO patches; a SAR-stage epoch is
``ceil(n_sar / batch)`` steps, ``n_sar`` the SAR pool (labelled + unlabelled), for every method,
so that the methods get the same number of updates. Each step draws a labelled SAR batch
(uniform, with replacement), and for ``swd`` an EO batch and an unlabelled SAR batch too.

Reproducibility: the model is initialised from ``seed``; every epoch draws its batches,
augmentations and projections from a generator seeded by (seed, stage, epoch, rank), so a run
resumed at an epoch boundary (``resume=True``) continues exactly as an uninterrupted one.

Distributed: under ``torchrun`` (``WORLD_SIZE`` > 1) each process trains on its own share of
every batch and gradients are averaged with an all-reduce (gloo on CPU, nccl on CUDA) before
each optimiser step, as DistributedDataParallel does; rank 0 writes the outputs.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F

from . import __version__
from ._io import atomic_path, check_output
from ._device import check_device, cuda_amp_dtype, resolve_device
from .checkpoint import record_last_checkpoint, save_checkpoint
from .classes import class_codes
from .data import band_set, channel_stats, draw_budget, open_patches, parse_budget, select_classes
from .errors import ConfigError, DataError, OutputExistsError
from .evaluate import predict_logits
from .losses import random_projections, supcon_loss, swd_class_conditional, sliced_wasserstein
from .models import Architecture, YNet, check_norm

__all__ = ["Method", "METHODS", "TrainConfig", "TrainResult", "train", "output_paths"]

log = logging.getLogger(__name__)

Method = Literal["sar-only", "finetune", "swd"]
METHODS: tuple[str, ...] = get_args(Method)

#: Read patches from disk in chunks of this many.
_READ_CHUNK = 4096


@dataclass
class TrainConfig:
    """Everything that defines a training run. Defaults are lczmap's choices (see docs/training.md)."""

    data: str | None
    method: str = "swd"
    classes: str = "lowrise"
    labels: int | str = 128
    seed: int = 0
    eo_bands: str = "rgb"
    sar_bands: str = "vv-complex"
    norm: str = "instance"
    supcon: bool = False
    supcon_weight: float = 1.0
    temperature: float = 0.1
    swd_lambda: float = 1.0
    swd_eta: float = 1.0
    projections: int = 50
    eo_epochs: int = 10
    sar_epochs: int = 10
    eo_lr: float = 1e-3
    sar_lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    freeze_eo: bool = False
    stratified: bool = True
    augment: bool = True
    width: int = 16
    depth: int = 3
    blocks: int = 2
    embedding: int = 64
    projection: int = 64
    val_split: str | None = "validation"
    val_max: int = 2000
    cache: str | None = None
    device: str = "auto"
    amp: bool = True

    #: fields that do not change the result; a resumed run may differ in these
    _RUNTIME = ("device", "amp", "data", "cache")

    def check(self) -> "TrainConfig":
        """Validate values; raise :class:`ConfigError` naming the option and the fix."""
        if isinstance(self.val_split, str) and self.val_split.strip().lower() in ("", "none"):
            self.val_split = None
        if self.method not in METHODS:
            raise ConfigError(f"unknown method {self.method!r}: choose one of {', '.join(METHODS)}")
        check_norm(self.norm)
        class_codes(self.classes)
        band_set(self.eo_bands, "eo")
        band_set(self.sar_bands, "sar")
        parse_budget(self.labels)
        for name in ("eo_epochs", "sar_epochs"):
            if int(getattr(self, name)) < 0:
                raise ConfigError(f"{name.replace('_', '-')} must be 0 or more, got {getattr(self, name)}")
        if self.sar_epochs < 1:
            raise ConfigError("--sar-epochs must be at least 1: the SAR stage makes the model")
        for name in ("eo_lr", "sar_lr", "temperature", "batch_size", "projections", "val_max"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        for name in ("swd_lambda", "swd_eta", "supcon_weight", "weight_decay"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if self.supcon and self.method == "sar-only":
            raise ConfigError("--supcon applies to the EO stage, which sar-only does not have: drop --supcon")
        check_device(self.device)
        self.architecture  # validates
        return self

    @property
    def architecture(self) -> Architecture:
        return Architecture(self.width, self.depth, self.blocks, self.embedding, self.projection)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["data"] = None if self.data is None else str(self.data)
        data["cache"] = None if self.cache is None else str(self.cache)
        return data

    def fingerprint(self) -> dict:
        """The fields that determine the result (for checking a resume)."""
        return {k: v for k, v in self.to_dict().items() if k not in self._RUNTIME}


@dataclass
class TrainResult:
    checkpoint: Path
    metrics: dict
    history: list = field(default_factory=list)
    csv: Path | None = None
    curve: Path | None = None


def output_paths(out: str | os.PathLike) -> dict[str, Path]:
    """The files a run writes next to the checkpoint ``out``."""
    out = Path(out)
    stem = out.stem
    return {
        "checkpoint": out,
        "csv": out.with_name(f"{stem}.metrics.csv"),
        "curve": out.with_name(f"{stem}.curve.png"),
        "resume": out.with_name(f"{stem}.resume.pt"),
        "tensorboard": out.with_name(f"{stem}.tb"),
    }


# --- distributed ------------------------------------------------------------------------------


@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owned: bool = False  # we initialised the process group

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device_name: str) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    owned = False
    if not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
        backend = "nccl" if use_cuda else "gloo"
        if use_cuda:
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
        owned = True
        log.info("distributed training: rank %d of %d (%s)", rank, world, backend)
    return _Dist(rank, world, local, owned)


def _all_reduce_grads(params: list[torch.nn.Parameter], dist_info: _Dist) -> None:
    """Average gradients over processes (one flat all-reduce)."""
    if dist_info.world <= 1:
        return
    import torch.distributed as dist

    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist_info.world
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


# --- data ---------------------------------------------------------------------------------------


def _read(src, positions: np.ndarray, progress: Callable | None, desc: str) -> torch.Tensor:
    """Read ``src[positions]`` (sorted positions) in chunks into one float32 tensor."""
    positions = np.asarray(positions, dtype=np.int64)
    out = np.empty((len(positions), src.band_set.n_channels, 32, 32), dtype=np.float32)
    bar = progress(total=len(positions), desc=desc) if progress else None
    for start in range(0, len(positions), _READ_CHUNK):
        chunk = positions[start : start + _READ_CHUNK]
        out[start : start + len(chunk)] = src[chunk]
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    if not np.isfinite(out).all():
        raise DataError(f"{src!r} holds NaN or infinite values: clean the data or choose another band set")
    return torch.from_numpy(out)


def _stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and population std of (N, C, H, W), in float64 (streamed in blocks)."""
    mean, std = channel_stats(x.numpy())
    return mean.tolist(), std.tolist()


@dataclass
class _Data:
    codes: tuple[int, ...]
    x_sar_lab: torch.Tensor
    y_sar_lab: torch.Tensor
    x_sar_unl: torch.Tensor
    x_eo: torch.Tensor | None
    y_eo: torch.Tensor | None
    sar_stats: tuple[list, list]
    eo_stats: tuple[list, list] | None
    x_val: torch.Tensor | None
    y_val: torch.Tensor | None
    x_val_eo: torch.Tensor | None
    n_sar: int
    n_unlabelled: int


def _load(cfg: TrainConfig, progress: Callable | None) -> _Data:
    codes = class_codes(cfg.classes)
    sar_src = open_patches(cfg.data, "training", cfg.sar_bands, cfg.cache)
    positions, y = select_classes(sar_src.labels, cfg.classes, "training")
    lab, unl = draw_budget(y, cfg.labels, seed=cfg.seed, stratified=cfg.stratified)
    # SAR: labels only of the labelled draw; the pool is read by position only.
    x_sar_all = _read(sar_src, positions, progress, f"reading SAR {cfg.sar_bands}")
    sar_stats = _stats(x_sar_all)
    x_sar_lab = x_sar_all[torch.from_numpy(lab)]
    y_sar_lab = torch.from_numpy(y[lab])
    x_sar_unl = x_sar_all[torch.from_numpy(unl)] if len(unl) else x_sar_lab
    del x_sar_all
    x_eo = y_eo = eo_stats = None
    if cfg.method != "sar-only":
        eo_src = open_patches(cfg.data, "training", cfg.eo_bands, cfg.cache)
        x_eo = _read(eo_src, positions, progress, f"reading EO {cfg.eo_bands}")
        y_eo = torch.from_numpy(y)
        eo_stats = _stats(x_eo)
    x_val = y_val = x_val_eo = None
    if cfg.val_split:
        try:
            val_src = open_patches(cfg.data, cfg.val_split, cfg.sar_bands, cfg.cache)
        except DataError as exc:
            if cfg.val_split != "validation":  # asked for by name: a wrong name is an error
                raise
            log.info("no validation during training: %s", exc)  # e.g. So2Sat v3 has none
            val_src = None
        try:
            vpos, vy = select_classes(val_src.labels, cfg.classes, cfg.val_split) if val_src else (None, None)
        except DataError as exc:
            log.warning("no validation during training: %s", exc)
            vpos = None
        if vpos is not None:
            if len(vpos) > cfg.val_max:
                keep = np.sort(np.random.default_rng(cfg.seed).choice(len(vpos), cfg.val_max, replace=False))
                vpos, vy = vpos[keep], vy[keep]
            x_val = _read(val_src, vpos, progress, f"reading {cfg.val_split} SAR")
            y_val = torch.from_numpy(vy)
            if x_eo is not None:
                eo_val = open_patches(cfg.data, cfg.val_split, cfg.eo_bands, cfg.cache)
                x_val_eo = _read(eo_val, vpos, progress, f"reading {cfg.val_split} EO")
    log.info(
        "%s, %s: %d SAR patches (%d labelled, %d unlabelled)%s",
        cfg.method, cfg.classes, len(positions), len(lab), len(unl),
        f", {len(positions)} EO patches" if x_eo is not None else "",
    )
    return _Data(codes, x_sar_lab, y_sar_lab, x_sar_unl, x_eo, y_eo, sar_stats, eo_stats, x_val, y_val, x_val_eo, len(positions), len(unl))


# --- augmentation -------------------------------------------------------------------------------


def augment(x: torch.Tensor, generator: torch.Generator, shift: int = 2) -> torch.Tensor:
    """Random 90-degree rotation, horizontal flip and translation of up to ``shift`` pixels
    (reflect padding) of each patch in (B, C, H, W)."""
    b, _, h, w = x.shape
    k = torch.randint(0, 4, (b,), generator=generator).tolist()
    flip = torch.randint(0, 2, (b,), generator=generator).tolist()
    dy = torch.randint(-shift, shift + 1, (b,), generator=generator).tolist()
    dx = torch.randint(-shift, shift + 1, (b,), generator=generator).tolist()
    padded = F.pad(x, (shift, shift, shift, shift), mode="reflect") if shift else x
    out = torch.empty_like(x)
    for i in range(b):
        p = padded[i, :, shift + dy[i] : shift + dy[i] + h, shift + dx[i] : shift + dx[i] + w]
        if flip[i]:
            p = torch.flip(p, dims=(-1,))
        out[i] = torch.rot90(p, k[i], dims=(-2, -1))
    return out


# --- the loop -----------------------------------------------------------------------------------


def _epoch_generator(seed: int, stage: int, epoch: int, rank: int = 0) -> torch.Generator:
    state = np.random.SeedSequence([seed, stage, epoch, rank]).generate_state(2)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


class _Tally:
    """Mean of each loss term over an epoch's steps, and the epoch's progress bar."""

    def __init__(self, progress: Callable | None, steps: int, desc: str):
        self.steps = steps
        self.sums: dict[str, float] = {}
        self.bar = progress(total=steps, desc=desc) if progress else None

    def add(self, loss: torch.Tensor, parts: dict) -> None:
        for k, v in {"loss": loss, **parts}.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v.detach())
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{float(loss.detach()):.3f}", refresh=False)

    def close(self) -> dict:
        if self.bar is not None:
            self.bar.close()
        return {k: v / self.steps for k, v in self.sums.items()}


class _Runner:
    def __init__(self, cfg: TrainConfig, data: _Data, dist_info: _Dist, device: torch.device, progress):
        self.cfg = cfg
        self.data = data
        self.dist = dist_info
        self.device = device
        self.progress = progress if dist_info.main else None
        self.amp_dtype = None
        if device.type == "cuda" and cfg.amp:
            self.amp_dtype = cuda_amp_dtype(device)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None

    def autocast(self):
        if self.amp_dtype is None:
            return torch.autocast("cpu", enabled=False)
        return torch.autocast("cuda", dtype=self.amp_dtype)

    def to(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device, non_blocking=True)

    def step(self, loss: torch.Tensor, optimizer, params) -> None:
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(optimizer)
        else:
            loss.backward()
        _all_reduce_grads(params, self.dist)
        if self.scaler is not None:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()

    def eo_epoch(self, net: YNet, optimizer, params, epoch: int) -> dict:
        cfg, data = self.cfg, self.data
        gen = _epoch_generator(cfg.seed, 1, epoch)  # same permutation on every rank
        n = len(data.x_eo)
        perm = torch.randperm(n, generator=gen)
        aug_gen = _epoch_generator(cfg.seed, 11, epoch, self.dist.rank)
        global_batch = cfg.batch_size * self.dist.world
        steps = math.ceil(n / global_batch)
        net.train()
        tally = _Tally(self.progress, steps, f"EO stage epoch {epoch + 1}/{cfg.eo_epochs}")
        for s in range(steps):
            chunk = perm[s * global_batch : (s + 1) * global_batch]
            mine = chunk[self.dist.rank :: self.dist.world] if len(chunk) >= self.dist.world else chunk
            xb, yb = data.x_eo[mine], data.y_eo[mine]
            with self.autocast():
                if cfg.supcon:
                    v1 = augment(xb, aug_gen) if cfg.augment else xb
                    v2 = augment(xb, aug_gen)
                    x2 = self.to(torch.cat([v1, v2]))
                    y2 = self.to(torch.cat([yb, yb]))
                    z = net.eo_encoder(x2)
                    ce = F.cross_entropy(net.classifier(z).float(), y2)
                    sc = supcon_loss(net.projector(z).float(), y2, cfg.temperature)
                    loss = ce + cfg.supcon_weight * sc
                    parts = {"ce_eo": ce, "supcon": sc}
                else:
                    xa = augment(xb, aug_gen) if cfg.augment else xb
                    z = net.eo_encoder(self.to(xa))
                    ce = F.cross_entropy(net.classifier(z).float(), self.to(yb))
                    loss = ce
                    parts = {"ce_eo": ce}
            self.step(loss, optimizer, params)
            tally.add(loss, parts)
        out = tally.close()
        out["samples"] = n
        return out

    def sar_epoch(self, net: YNet, optimizer, params, epoch: int) -> dict:
        cfg, data = self.cfg, self.data
        gen = _epoch_generator(cfg.seed, 2, epoch, self.dist.rank)
        b = cfg.batch_size
        steps = math.ceil(data.n_sar / (b * self.dist.world))
        n_lab, n_unl = len(data.x_sar_lab), len(data.x_sar_unl)
        swd = cfg.method == "swd"
        samples = 0
        net.train()
        if swd and cfg.freeze_eo:
            net.eo_encoder.eval()
        tally = _Tally(self.progress, steps, f"SAR stage epoch {epoch + 1}/{cfg.sar_epochs}")
        for _ in range(steps):
            li = torch.randint(0, n_lab, (b,), generator=gen)
            xl = data.x_sar_lab[li]
            if cfg.augment:
                xl = augment(xl, gen)
            xl, yl = self.to(xl), self.to(data.y_sar_lab[li])
            with self.autocast():
                if not swd:
                    ce = F.cross_entropy(net.classifier(net.sar_encoder(xl)).float(), yl)
                    loss, parts = ce, {"ce_sar": ce}
                    samples += b
                else:
                    ei = torch.randint(0, len(data.x_eo), (b,), generator=gen)
                    ui = torch.randint(0, n_unl, (b,), generator=gen)
                    xe = data.x_eo[ei]
                    if cfg.augment:
                        xe = augment(xe, gen)
                    xe, ye = self.to(xe), self.to(data.y_eo[ei])
                    xu = self.to(data.x_sar_unl[ui])
                    theta = random_projections(cfg.embedding, cfg.projections, gen).to(self.device)
                    z_e = net.eo_encoder(xe)
                    z_s = net.sar_encoder(torch.cat([xl, xu]))
                    z_l = z_s[:b]  # the unlabelled rest of z_s enters only the marginal SWD term
                    ce_eo = F.cross_entropy(net.classifier(z_e).float(), ye)
                    ce_sar = F.cross_entropy(net.classifier(z_l).float(), yl)
                    z_e32, z_s32 = z_e.float(), z_s.float()
                    marg = sliced_wasserstein(z_e32, z_s32, theta)
                    cc = swd_class_conditional(z_e32, ye, z_l.float(), yl, theta)
                    loss = ce_eo + ce_sar + cfg.swd_lambda * marg + cfg.swd_eta * cc
                    parts = {"ce_eo": ce_eo, "ce_sar": ce_sar, "swd_marginal": marg, "swd_class": cc}
                    samples += 3 * b
            self.step(loss, optimizer, params)
            tally.add(loss, parts)
        out = tally.close()
        out["samples"] = samples * self.dist.world
        return out

    def val_accuracy(self, network, stage: str) -> float | None:
        x = self.data.x_val_eo if stage == "eo" else self.data.x_val
        if x is None:
            return None
        logits = predict_logits(network, x, batch_size=256, device=self.device)
        return float((logits.argmax(1) == self.data.y_val).double().mean())


def _plot_curve(history: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure  # no pyplot: the caller's backend stays as it is

    fig = Figure(figsize=(8, 3.5), constrained_layout=True)
    ax_loss, ax_acc = fig.subplots(1, 2)
    x = np.arange(1, len(history) + 1)
    for stage, colour in (("eo", "tab:green"), ("sar", "tab:blue")):
        rows = [(i, h) for i, h in zip(x, history) if h["stage"] == stage]
        if not rows:
            continue
        xs = [i for i, _ in rows]
        ax_loss.plot(xs, [h["loss"] for _, h in rows], "o-", color=colour, label=f"{stage.upper()} stage loss")
        acc = [(i, h["val_accuracy"]) for i, h in rows if h.get("val_accuracy") not in (None, "")]
        if acc:
            ax_acc.plot([a for a, _ in acc], [b for _, b in acc], "o-", color=colour, label=f"{stage.upper()} stage")
    ax_loss.set_xlabel("epoch (both stages)")
    ax_loss.set_ylabel("training loss")
    ax_loss.legend()
    ax_acc.set_xlabel("epoch (both stages)")
    ax_acc.set_ylabel("validation accuracy")
    ax_acc.set_ylim(0, 1)
    if ax_acc.lines:
        ax_acc.legend()
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


_CSV_FIELDS = [
    "stage", "epoch", "loss", "ce_eo", "ce_sar", "supcon", "swd_marginal", "swd_class",
    "val_accuracy", "seconds", "samples", "samples_per_s",
]


def _write_csv(history: list[dict], path: Path) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in _CSV_FIELDS})
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(buf.getvalue())


def _tensorboard(path: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard is optional
        log.debug("tensorboard not installed: per-epoch metrics go to the CSV only")
        return None
    return SummaryWriter(log_dir=str(path))


def _save_state(path: Path, cfg: TrainConfig, stage: str, epoch: int, net: YNet, optimizer, history, elapsed) -> None:
    state = {
        "format": "lczmap-resume",
        "lczmap_version": __version__,
        "config": json.dumps(cfg.fingerprint(), sort_keys=True),
        "stage": stage,
        "epoch": epoch,
        "model": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "history": json.dumps(history),
        "elapsed": float(elapsed),
    }
    with atomic_path(path, overwrite=True) as tmp:
        torch.save(state, tmp)


def _load_state(path: Path, cfg: TrainConfig) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(
            f"cannot read the resume state {path} ({type(exc).__name__}): delete it and rerun without --resume"
        ) from None
    if not isinstance(state, dict) or state.get("format") != "lczmap-resume":
        raise ConfigError(f"{path} is not an lczmap resume state: delete it and rerun without --resume")
    saved = json.loads(state["config"])
    now = cfg.fingerprint()
    diff = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
    if diff:
        raise ConfigError(
            f"the interrupted run at {path} used other options ({', '.join(diff)} differ): "
            "rerun with the same options, or drop --resume and pass --overwrite to start afresh"
        )
    return state


def _optimizer(params, lr: float, weight_decay: float):
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


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
    (the study turns this off for its cells). Returns a :class:`TrainResult`.
    """
    cfg = replace(config).check()
    paths = output_paths(out)
    dist_info = _setup_distributed(cfg.device)
    try:
        return _train(cfg, paths, overwrite, resume, progress, dist_info, record_last)
    finally:
        if dist_info.owned:
            import torch.distributed as dist

            dist.destroy_process_group()


def _train(
    cfg: TrainConfig, paths: dict, overwrite: bool, resume: bool, progress, dist_info: _Dist, record_last: bool
) -> TrainResult:
    if paths["checkpoint"].suffix != ".safetensors":
        raise ConfigError(f"checkpoint {paths['checkpoint']} must end in .safetensors: rename the output")
    state = None
    if paths["resume"].exists():
        if resume:
            state = _load_state(paths["resume"], cfg)
        elif not overwrite:
            raise OutputExistsError(
                f"an interrupted run left {paths['resume']}: pass --resume to continue it or --overwrite to start afresh"
            )
    elif resume:
        log.info("no interrupted run at %s: starting from the beginning", paths["resume"])
    # the CSV and curve of an interrupted run are ours to continue
    for key in ("checkpoint",) if state is not None else ("checkpoint", "csv", "curve"):
        check_output(paths[key], overwrite)

    if dist_info.world > 1 and cfg.device in ("auto", "cuda") and torch.cuda.is_available():
        device = torch.device("cuda", dist_info.local_rank)
    else:
        device = resolve_device(cfg.device)
    data = _load(cfg, progress if dist_info.main else None)

    torch.manual_seed(cfg.seed)
    arch = cfg.architecture
    eo_set, sar_set = band_set(cfg.eo_bands, "eo"), band_set(cfg.sar_bands, "sar")
    net = YNet(eo_set.n_channels, sar_set.n_channels, len(data.codes), cfg.norm, arch)
    net.sar_encoder.standardize.set_stats(*data.sar_stats)
    if data.eo_stats is not None:
        net.eo_encoder.standardize.set_stats(*data.eo_stats)
    net.to(device)
    runner = _Runner(cfg, data, dist_info, device, progress)

    history: list[dict] = []
    elapsed0 = 0.0
    start_stage, start_epoch = "eo", 0
    if state is not None:
        net.load_state_dict(state["model"])
        history = json.loads(state["history"])
        elapsed0 = state["elapsed"]
        start_stage, start_epoch = state["stage"], state["epoch"] + 1
        log.info("resuming after %s stage epoch %d", start_stage.upper(), state["epoch"] + 1)
    tb = _tensorboard(paths["tensorboard"]) if dist_info.main else None
    t0 = time.perf_counter()

    def record(stage: str, epoch: int, stats: dict, seconds: float, network, optimizer) -> None:
        row = {"stage": stage, "epoch": epoch + 1, **stats, "seconds": round(seconds, 3)}
        row["samples_per_s"] = round(stats["samples"] / seconds, 1) if seconds > 0 else None
        row["val_accuracy"] = runner.val_accuracy(network, stage) if dist_info.main else None
        for k, v in list(row.items()):
            if isinstance(v, float):
                row[k] = round(v, 6)
        history.append(row)
        if dist_info.main:
            _write_csv(history, paths["csv"])
            if tb is not None:
                step = len(history)
                for k, v in row.items():
                    if isinstance(v, (int, float)) and k not in ("epoch",):
                        tb.add_scalar(f"{stage}/{k}", v, step)
            _save_state(paths["resume"], cfg, stage, epoch, net, optimizer, history, elapsed0 + time.perf_counter() - t0)
            log.info(
                "%s epoch %d: loss %.4f%s",
                stage.upper(), epoch + 1, row["loss"],
                "" if row["val_accuracy"] is None else f", validation accuracy {row['val_accuracy']:.3f}",
            )
        if dist_info.world > 1:
            import torch.distributed as dist

            dist.barrier()

    # Stage 1: EO
    has_eo = cfg.method != "sar-only" and cfg.eo_epochs > 0
    if has_eo and start_stage == "eo":
        eo_params = list(net.eo_encoder.parameters()) + list(net.classifier.parameters())
        if cfg.supcon:
            eo_params += list(net.projector.parameters())
        opt = _optimizer(eo_params, cfg.eo_lr, cfg.weight_decay)
        if state is not None and state["stage"] == "eo":
            opt.load_state_dict(state["optimizer"])
        for epoch in range(start_epoch, cfg.eo_epochs):
            t = time.perf_counter()
            stats = runner.eo_epoch(net, opt, eo_params, epoch)
            record("eo", epoch, stats, time.perf_counter() - t, net.eo_network(), opt)
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
    opt = _optimizer(sar_params, cfg.sar_lr, cfg.weight_decay)
    if sar_state is not None:
        opt.load_state_dict(sar_state["optimizer"])
    for epoch in range(start_epoch if sar_state is not None else 0, cfg.sar_epochs):
        t = time.perf_counter()
        stats = runner.sar_epoch(net, opt, sar_params, epoch)
        record("sar", epoch, stats, time.perf_counter() - t, net.sar_network(), opt)
    net.requires_grad_(True)

    elapsed = elapsed0 + time.perf_counter() - t0
    metrics = _summary(history, elapsed)
    metrics["n_sar_labelled"] = len(data.x_sar_lab)
    per_class = torch.bincount(data.y_sar_lab, minlength=len(data.codes)).tolist()
    metrics["n_sar_labelled_per_lcz"] = {str(c): int(n) for c, n in zip(data.codes, per_class)}
    metrics["n_sar_unlabelled"] = data.n_unlabelled
    metrics["n_eo"] = 0 if data.x_eo is None else len(data.x_eo)
    metrics["world_size"] = dist_info.world
    metrics["device"] = str(device)
    if tb is not None:
        tb.close()
    if not dist_info.main:
        return TrainResult(paths["checkpoint"], metrics, history)
    meta = {
        "method": cfg.method,
        "norm": cfg.norm,
        "eo_bands": eo_set.to_dict(),
        "sar_bands": sar_set.to_dict(),
        "eo_mean": data.eo_stats[0] if data.eo_stats else None,
        "eo_std": data.eo_stats[1] if data.eo_stats else None,
        "sar_mean": data.sar_stats[0],
        "sar_std": data.sar_stats[1],
        "classes": cfg.classes,
        "codes": list(data.codes),
        "patch_size": 32,
        "architecture": arch.to_dict(),
        "seed": cfg.seed,
        "labels": cfg.labels,
        "config": cfg.to_dict(),
        "metrics": metrics,
    }
    net.cpu().eval()
    save_checkpoint(paths["checkpoint"], net, meta, overwrite=overwrite)
    _plot_curve(history, paths["curve"])
    paths["resume"].unlink(missing_ok=True)
    if record_last:
        record_last_checkpoint(paths["checkpoint"])
    log.info("wrote %s", paths["checkpoint"])
    return TrainResult(paths["checkpoint"], metrics, history, paths["csv"], paths["curve"])


def _summary(history: list[dict], elapsed: float) -> dict:
    out: dict = {"seconds": round(elapsed, 2)}
    for stage in ("eo", "sar"):
        rows = [h for h in history if h["stage"] == stage]
        if not rows:
            continue
        secs = sum(h["seconds"] for h in rows)
        out[f"{stage}_epochs"] = len(rows)
        out[f"{stage}_samples_per_s"] = round(sum(h["samples"] for h in rows) / secs, 1) if secs else None
        out[f"{stage}_final_loss"] = rows[-1]["loss"]
        if rows[-1].get("val_accuracy") is not None:
            out[f"{stage}_val_accuracy"] = rows[-1]["val_accuracy"]
    return out
