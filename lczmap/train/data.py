"""The patches a run trains on: loading the band sets of the class setting into memory, their
input statistics, whether they fit on the device (:func:`device_data_fits`), and the augmentation
of training patches (drawn on the CPU by :func:`augment_draws`, applied on any device by
:func:`apply_augment`, one gather for the whole batch)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..classes import class_codes
from ..data import PatchSource, channel_stats, check_finite, draw_budget, open_patches, select_classes
from ..errors import DataError
from .config import TrainConfig

__all__ = [
    "DEVICE_DATA_SHARE",
    "TrainData",
    "load_training_data",
    "read_patches",
    "patch_stats",
    "augment",
    "augment_draws",
    "apply_augment",
    "device_data_fits",
    "run_device_bytes",
]

log = logging.getLogger(__name__)

#: Read patches from disk in chunks of this many.
READ_CHUNK = 4096
#: ``device_data="auto"`` keeps the patches on the device when they take at most this share of
#: its free memory (host memory on the CPU), leaving the rest to the model and its activations.
DEVICE_DATA_SHARE = 0.5


def read_patches(src: PatchSource, positions: np.ndarray, progress: Callable | None, desc: str) -> torch.Tensor:
    """Read ``src[positions]`` (sorted positions) in chunks into one float32 tensor (N, C, 32, 32)."""
    positions = np.asarray(positions, dtype=np.int64)
    out = np.empty((len(positions), src.band_set.n_channels, 32, 32), dtype=np.float32)
    bar = progress(total=len(positions), desc=desc) if progress else None
    for start in range(0, len(positions), READ_CHUNK):
        chunk = positions[start : start + READ_CHUNK]
        out[start : start + len(chunk)] = src[chunk]
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    check_finite(out, src)
    return torch.from_numpy(out)


def patch_stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and population std of (N, C, H, W), in float64 (streamed in blocks)."""
    mean, std = channel_stats(x.numpy())
    return mean.tolist(), std.tolist()


@dataclass
class TrainData:
    """The patches of one run, in memory as float32 (N, C, 32, 32), labels as int64 indices into
    ``codes``. EO and validation parts are None where the run has none; an EO-only load (the EO
    stage alone) has empty SAR tensors and no SAR statistics."""

    codes: tuple[int, ...]
    x_sar_lab: torch.Tensor
    y_sar_lab: torch.Tensor
    x_sar_unl: torch.Tensor
    x_eo: torch.Tensor | None
    y_eo: torch.Tensor | None
    sar_stats: tuple[list, list] | None
    eo_stats: tuple[list, list] | None
    x_val: torch.Tensor | None
    y_val: torch.Tensor | None
    x_val_eo: torch.Tensor | None
    n_sar: int
    n_unlabelled: int

    def training_tensors(self) -> dict[str, torch.Tensor]:
        """The tensors the training steps draw batches from, by name."""
        named = {
            "x_sar_lab": self.x_sar_lab,
            "y_sar_lab": self.y_sar_lab,
            "x_sar_unl": self.x_sar_unl,
            "x_eo": self.x_eo,
            "y_eo": self.y_eo,
        }
        return {k: v for k, v in named.items() if v is not None}

    def training_bytes(self) -> int:
        """Bytes of :meth:`training_tensors` (the unlabelled pool once when it is the labelled set)."""
        seen: set[int] = set()
        total = 0
        for t in self.training_tensors().values():
            if id(t) not in seen:
                seen.add(id(t))
                total += t.numel() * t.element_size()
        return total


def device_data_fits(nbytes: int, device: torch.device, share: float = DEVICE_DATA_SHARE) -> bool:
    """Whether ``nbytes`` of patches fit in ``share`` of the free memory of ``device`` (CUDA: the
    device's free memory; otherwise the host's available memory)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
    else:
        free = host_available_bytes()
    return nbytes <= share * free


#: Device memory a CUDA process takes before any tensor (context, kernels, allocator slack).
CUDA_CONTEXT_BYTES = 1 << 30


def run_device_bytes(cfg: TrainConfig, n_patches: int, device_data: bool = True) -> int:
    """Estimated peak device memory of a run of ``cfg`` on ``n_patches`` training patches of its
    class setting: CUDA context, the patches (when ``device_data``), model and optimiser, and the
    activations of one step (kept for the backward pass; swd runs three batches, SupCon two views).
    An estimate from shapes, for sizing how many runs share a GPU."""
    from ..bands import band_set
    from ..models.networks import YNet

    eo_ch, sar_ch = band_set(cfg.eo_bands, "eo").n_channels, band_set(cfg.sar_bands, "sar").n_channels
    patch = 32 * 32 * 4
    data = n_patches * (sar_ch + (eo_ch if cfg.method != "sar-only" else 0)) * patch if device_data else 0
    params = sum(p.numel() for p in YNet(eo_ch, sar_ch, 17, cfg.norm, cfg.architecture).parameters())
    model = params * 4 * 4  # weights, gradients, two AdamW moments
    arch = cfg.architecture
    # per patch: each block keeps its convolution, norm and ReLU outputs (x2 for their gradients)
    per_patch = sum(arch.width * 2**s * (32 // 2**s) ** 2 * arch.blocks * 3 * 2 * 4 for s in range(arch.depth))
    batches = 3 if cfg.method == "swd" else 2 if cfg.supcon else 1
    return CUDA_CONTEXT_BYTES + data + model + per_patch * cfg.batch_size * batches


def host_available_bytes() -> int:
    """Available host memory in bytes (``MemAvailable`` of /proc/meminfo, else free pages)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - no sysconf (Windows)
        return 0


def load_training_data(cfg: TrainConfig, progress: Callable | None, eo: bool | None = None, sar: bool = True) -> TrainData:
    """Read the run's patches: the labelled SAR draw, the unlabelled SAR pool, the EO patches
    and up to ``val_max`` validation patches.

    ``eo``: read the EO patches (default: unless sar-only); ``sar=False`` reads the EO part only
    (the EO stage alone: no labelled draw, so no budget can fail it)."""
    eo = cfg.method != "sar-only" if eo is None else eo
    codes = class_codes(cfg.classes)
    sar_src = open_patches(cfg.data, "training", cfg.sar_bands if sar else cfg.eo_bands, cfg.cache)
    positions, y = select_classes(sar_src.labels, cfg.classes, "training")
    sar_stats = None
    if sar:
        lab, unl = draw_budget(y, cfg.labels, seed=cfg.seed, stratified=cfg.stratified)
        # SAR: labels only of the labelled draw; the pool is read by position only.
        x_sar_all = read_patches(sar_src, positions, progress, f"reading SAR {cfg.sar_bands}")
        sar_stats = patch_stats(x_sar_all)
        x_sar_lab = x_sar_all[torch.from_numpy(lab)]
        y_sar_lab = torch.from_numpy(y[lab])
        x_sar_unl = x_sar_all[torch.from_numpy(unl)] if len(unl) else x_sar_lab
        del x_sar_all
    else:
        lab, unl = np.empty(0, np.int64), np.empty(0, np.int64)
        x_sar_lab = x_sar_unl = torch.empty(0, 0, 32, 32)
        y_sar_lab = torch.empty(0, dtype=torch.int64)
    x_eo = y_eo = eo_stats = None
    if eo:
        eo_src = open_patches(cfg.data, "training", cfg.eo_bands, cfg.cache)
        x_eo = read_patches(eo_src, positions, progress, f"reading EO {cfg.eo_bands}")
        y_eo = torch.from_numpy(y)
        eo_stats = patch_stats(x_eo)
    x_val = y_val = x_val_eo = None
    if cfg.val_split:
        try:
            val_src = open_patches(cfg.data, cfg.val_split, cfg.sar_bands if sar else cfg.eo_bands, cfg.cache)
        except DataError as exc:
            if cfg.val_split != "validation":  # asked for by name: a wrong name is an error
                raise
            log.info("no validation during training: %s", exc)  # e.g. So2Sat v3 has none
            val_src = None
        vpos = vy = None
        if val_src is not None:
            try:
                vpos, vy = select_classes(val_src.labels, cfg.classes, cfg.val_split)
            except DataError as exc:
                log.warning("no validation during training: %s", exc)
                vpos = vy = None
        if val_src is not None and vpos is not None and vy is not None:
            if len(vpos) > cfg.val_max:
                keep = np.sort(np.random.default_rng(cfg.seed).choice(len(vpos), cfg.val_max, replace=False))
                vpos, vy = vpos[keep], vy[keep]
            if sar:
                x_val = read_patches(val_src, vpos, progress, f"reading {cfg.val_split} SAR")
            y_val = torch.from_numpy(vy)
            if x_eo is not None:
                eo_val = open_patches(cfg.data, cfg.val_split, cfg.eo_bands, cfg.cache)
                x_val_eo = read_patches(eo_val, vpos, progress, f"reading {cfg.val_split} EO")
    log.info(
        "%s, %s: %d SAR patches (%d labelled, %d unlabelled)%s",
        cfg.method,
        cfg.classes,
        len(positions),
        len(lab),
        len(unl),
        f", {len(positions)} EO patches" if x_eo is not None else "",
    )
    return TrainData(
        codes, x_sar_lab, y_sar_lab, x_sar_unl, x_eo, y_eo, sar_stats, eo_stats, x_val, y_val, x_val_eo, len(positions), len(unl)
    )


def augment(x: torch.Tensor, generator: torch.Generator, shift: int = 2) -> torch.Tensor:
    """Random 90-degree rotation, horizontal flip and translation of up to ``shift`` pixels
    (reflect padding) of each patch in (B, C, H, W), H == W: :func:`augment_draws` from
    ``generator`` (a CPU generator), then :func:`apply_augment` on ``x``'s device."""
    return apply_augment(x, augment_draws(len(x), generator, shift), shift)


def augment_draws(b: int, generator: torch.Generator, shift: int = 2) -> torch.Tensor:
    """The random draws of augmenting ``b`` patches, (4, b) int64 on the CPU: quarter turns k,
    flip, row shift dy and column shift dx, in the order :func:`augment` has always drawn them."""
    k = torch.randint(0, 4, (b,), generator=generator)
    flip = torch.randint(0, 2, (b,), generator=generator)
    dy = torch.randint(-shift, shift + 1, (b,), generator=generator)
    dx = torch.randint(-shift, shift + 1, (b,), generator=generator)
    return torch.stack([k, flip, dy, dx])


def apply_augment(x: torch.Tensor, draws: torch.Tensor, shift: int = 2) -> torch.Tensor:
    """Augment (B, C, H, W) patches with ``draws`` from :func:`augment_draws`: crop the
    reflect-padded patch at (dy, dx), flip it left-right when ``flip``, then turn it ``k``
    quarter turns (``torch.rot90``'s direction). One gather on ``x``'s device; the values are
    exactly those of cropping, flipping and turning each patch in turn (a gather copies values)."""
    b, c, h, w = x.shape
    if h != w:
        raise ValueError(f"augment needs square patches, got {h} x {w}")
    if b == 0:
        return x.clone()
    d = draws.to(x.device)
    k, flip, dy, dx = (d[i].view(b, 1, 1) for i in range(4))
    r = torch.arange(h, device=x.device).view(1, h, 1)
    col = torch.arange(w, device=x.device).view(1, 1, w)
    # the pixel of the flipped crop that rot90 by k puts at (r, col): rot90(p)[r, c] = p[c, w-1-r]
    src_r = torch.where(k == 0, r, torch.where(k == 1, col, torch.where(k == 2, h - 1 - r, w - 1 - col)))
    src_c = torch.where(k == 0, col, torch.where(k == 1, w - 1 - r, torch.where(k == 2, w - 1 - col, r)))
    src_c = torch.where(flip == 1, w - 1 - src_c, src_c)
    padded = F.pad(x, (shift, shift, shift, shift), mode="reflect") if shift else x
    rows = (src_r + shift + dy).expand(b, h, w)
    cols = (src_c + shift + dx).expand(b, h, w)
    width = w + 2 * shift
    flat = (rows * width + cols).reshape(b, 1, h * w).expand(b, c, h * w)
    return torch.gather(padded.reshape(b, c, -1), 2, flat).reshape(b, c, h, w)
