"""The patches a run trains on: loading the band sets of the class setting into memory, their
input statistics, and the augmentation of training patches."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..classes import class_codes
from ..data import channel_stats, check_finite, draw_budget, open_patches, select_classes
from ..errors import DataError
from .config import TrainConfig

__all__ = ["TrainData", "load_training_data", "read_patches", "patch_stats", "augment"]

log = logging.getLogger(__name__)

#: Read patches from disk in chunks of this many.
READ_CHUNK = 4096


def read_patches(src, positions: np.ndarray, progress: Callable | None, desc: str) -> torch.Tensor:
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
    ``codes``. EO and validation parts are None where the run has none."""

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


def load_training_data(cfg: TrainConfig, progress: Callable | None) -> TrainData:
    """Read the run's patches: the labelled SAR draw, the unlabelled SAR pool, the EO patches
    (not for sar-only) and up to ``val_max`` validation patches."""
    codes = class_codes(cfg.classes)
    sar_src = open_patches(cfg.data, "training", cfg.sar_bands, cfg.cache)
    positions, y = select_classes(sar_src.labels, cfg.classes, "training")
    lab, unl = draw_budget(y, cfg.labels, seed=cfg.seed, stratified=cfg.stratified)
    # SAR: labels only of the labelled draw; the pool is read by position only.
    x_sar_all = read_patches(sar_src, positions, progress, f"reading SAR {cfg.sar_bands}")
    sar_stats = patch_stats(x_sar_all)
    x_sar_lab = x_sar_all[torch.from_numpy(lab)]
    y_sar_lab = torch.from_numpy(y[lab])
    x_sar_unl = x_sar_all[torch.from_numpy(unl)] if len(unl) else x_sar_lab
    del x_sar_all
    x_eo = y_eo = eo_stats = None
    if cfg.method != "sar-only":
        eo_src = open_patches(cfg.data, "training", cfg.eo_bands, cfg.cache)
        x_eo = read_patches(eo_src, positions, progress, f"reading EO {cfg.eo_bands}")
        y_eo = torch.from_numpy(y)
        eo_stats = patch_stats(x_eo)
    x_val = y_val = x_val_eo = None
    if cfg.val_split:
        try:
            val_src = open_patches(cfg.data, cfg.val_split, cfg.sar_bands, cfg.cache)
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
            x_val = read_patches(val_src, vpos, progress, f"reading {cfg.val_split} SAR")
            y_val = torch.from_numpy(vy)
            if x_eo is not None:
                eo_val = open_patches(cfg.data, cfg.val_split, cfg.eo_bands, cfg.cache)
                x_val_eo = read_patches(eo_val, vpos, progress, f"reading {cfg.val_split} EO")
    log.info(
        "%s, %s: %d SAR patches (%d labelled, %d unlabelled)%s",
        cfg.method, cfg.classes, len(positions), len(lab), len(unl),
        f", {len(positions)} EO patches" if x_eo is not None else "",
    )
    return TrainData(codes, x_sar_lab, y_sar_lab, x_sar_unl, x_eo, y_eo, sar_stats, eo_stats, x_val, y_val, x_val_eo,
                     len(positions), len(unl))


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
