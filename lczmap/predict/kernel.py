"""One tile on the compute device: prepare its input block on the host (nodata rule, fill),
launch its windows through the model without waiting, and finish it into a :class:`TileResult`.

Everything a tile needs to know of the run comes resolved in a :class:`~lczmap.predict.plan.TilePlan`
(device, speckle filter, halo, batch size, AMP); nothing here re-derives it.

Speckle filter: when it runs (``plan.speckle_filter``, by default what the model's band set
expects), a tile's block carries ``plan.halo`` (:data:`lczmap.speckle.HALO`) more pixels on each side, and the
refined Lee filter runs on the device first (NaN never spreads; the halo is cropped), so a tiled
map equals an untiled one.

Nodata rule: a window whose centre pixel is nodata, or in which more than ``max_nodata`` of the
pixels are nodata, gets output nodata (0; NaN in float outputs) and is not sent to the model. Other
nodata pixels are filled with the model's training mean of the channel (a constant, so the result
never depends on the tiling), on the device after the filter (which must see nodata as nodata).
Filling a window's nodata from the pixel mirrored through its centre instead was measured and
kept the swath border worse (docs/benchmarks.md, "Border windows"). The windows are cut on the
device as strided views (``Tensor.unfold``): only one batch of windows at a time is ever copied.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..speckle import GRD_LOOKS, filter_channels
from .model import Model
from .plan import TilePlan

if TYPE_CHECKING:
    from .runner import BufferPool

__all__ = [
    "PreparedBlock",
    "LaunchedTile",
    "TileResult",
    "prepare_block",
    "launch_tile",
    "finish_tile",
    "compute_tile",
    "forward_batch",
    "filter_block",
    "window_sums",
]

log = logging.getLogger(__name__)

#: On CUDA a batch of windows whose valid share is at least this is run whole (invalid ones
#: masked afterwards, one copy); sparser batches, and on the CPU any with an invalid window, gather
#: the valid windows only.
_DENSE = 0.75


def forward_batch(
    net: torch.nn.Module, x: torch.Tensor, device: torch.device, amp: bool, temperature: float = 1.0
) -> torch.Tensor:
    """Class probabilities (B, K) of windows ``x`` (B, C, p, p) already on ``device``: the softmax
    of the logits divided by ``temperature`` (the model's calibration, :mod:`lczmap.calibration`;
    a positive scalar keeps the order of the classes); mixed precision on CUDA when ``amp``."""
    if device.type == "cuda" and amp:
        from .._device import cuda_amp_dtype

        with torch.autocast("cuda", dtype=cuda_amp_dtype(device)):
            logits = net(x)
    else:
        logits = net(x)
    logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    return torch.softmax(logits, dim=1)


def filter_block(x: torch.Tensor, model: Model, plan: TilePlan) -> torch.Tensor:
    """A tile's block (C, hb, wb) as the model sees it before nodata is filled: refined-Lee
    filtered with the looks of delivered data (:data:`lczmap.speckle.GRD_LOOKS`) and the plan's
    halo cropped when the plan filters (NaN kept where it was), else ``x``."""
    if not plan.filtering:
        return x
    return filter_channels(x, model.band_set, looks=GRD_LOOKS)


def window_sums(mask: np.ndarray, p: int, s: int, th: int, tw: int) -> np.ndarray:
    """Count of true pixels in each p x p window at stride s (integral image, exact)."""
    cs = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int64)
    np.cumsum(np.cumsum(mask, axis=0, dtype=np.int64), axis=1, out=cs[1:, 1:])
    r = (np.arange(th) * s)[:, None]
    c = (np.arange(tw) * s)[None, :]
    return cs[r + p, c + p] - cs[r, c + p] - cs[r + p, c] + cs[r, c]


def _chunks(th: int, tw: int, batch: int) -> list[tuple[int, int, int, int]]:
    """Rectangles (r0, r1, c0, c1) of the tile's window grid holding at most ``batch`` windows."""
    if tw <= batch:
        nr = batch // tw
        return [(r0, min(th, r0 + nr), 0, tw) for r0 in range(0, th, nr)]
    return [(r, r + 1, c0, min(tw, c0 + batch)) for r in range(th) for c0 in range(0, tw, batch)]


@dataclass
class PreparedBlock:
    """A tile's block after the host-side work: nodata filled, window validity known."""

    block: torch.Tensor  # (C, hb, wb) float32 on the host (pinned for CUDA), halo included
    valid: np.ndarray  # (th, tw) bool
    any_invalid: bool
    pool: BufferPool | None = None
    buffer: torch.Tensor | None = None
    missing: bool = False  # the block holds nodata (NaN), filled on the device

    def release(self, event: torch.cuda.Event | None = None) -> None:
        """Give the block's buffer back to its pool (once); with a CUDA ``event``, it is reused
        only after the event (the copy to the device) has completed."""
        if self.pool is not None and self.buffer is not None:
            self.pool.release(self.buffer, event)
            self.buffer = None


@dataclass
class LaunchedTile:
    """A tile whose device work is queued: its results (on the host once ``event`` completes)."""

    codes: torch.Tensor
    confidence: torch.Tensor
    probabilities: torch.Tensor | None
    n_valid: int
    batch_size: int  # windows per batch it ended with (halved on out-of-memory): the next tile's
    event: torch.cuda.Event | None = None
    start: torch.cuda.Event | None = None
    copied: torch.cuda.Event | None = None  # CUDA event: the block's copy to the device is done
    filter_seconds: float | None = None  # the speckle filter's seconds (CPU: timed; CUDA: asynchronous, None)


@dataclass
class TileResult:
    """A finished tile: ``codes`` (th, tw) uint8 (0 = nodata), ``confidence`` (th, tw) float32
    (NaN = nodata), ``probabilities`` (K, th, tw) float32 or None, ``n_valid`` windows classified,
    and on CUDA ``device_span``, the seconds from the device reaching the tile to finishing it."""

    codes: np.ndarray
    confidence: np.ndarray
    probabilities: np.ndarray | None
    n_valid: int
    device_span: float | None = None


def prepare_block(block: np.ndarray, plan: TilePlan, pin: bool = False, tensor: torch.Tensor | None = None) -> PreparedBlock:
    """Host-side part of a tile (runs in the reader threads): the nodata rule and the fill.
    ``block``: the tile's input block with ``plan.halo`` pixels on each side;
    ``tensor``: a (C, hb, wb) tensor whose memory ``block`` was read into (a pool buffer)."""
    s, p, h = plan.stride, plan.patch, plan.halo
    th = (block.shape[1] - 2 * h - p) // s + 1
    tw = (block.shape[2] - 2 * h - p) // s + 1
    block = np.ascontiguousarray(block, dtype=np.float32)
    missing = np.isnan(block[:, h : block.shape[1] - h, h : block.shape[2] - h]).any(0)
    any_missing = bool(missing.any())
    if any_missing:
        centre = missing[p // 2 :: s, p // 2 :: s][:th, :tw]
        share = window_sums(missing, p, s, th, tw) / float(p * p)
        valid = ~centre & (share <= plan.max_nodata)
    else:
        valid = np.ones((th, tw), dtype=bool)
    if tensor is not None:
        if block.ctypes.data != tensor.data_ptr():
            tensor.numpy()[...] = block
        return PreparedBlock(tensor, valid, not bool(valid.all()), missing=any_missing)
    t = torch.from_numpy(block)
    if pin:
        t = t.pin_memory()
    return PreparedBlock(t, valid, not bool(valid.all()), missing=any_missing)


def _out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says the device ran out of memory (torch's own error, or cuDNN/cuBLAS
    failing to allocate, which arrive as plain RuntimeErrors)."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc)
    return any(m in text for m in ("out of memory", "NOT_ENOUGH_MEMORY", "ALLOC_FAILED"))


def _host_to(device: torch.device, a: np.ndarray) -> torch.Tensor:
    """A small host array on ``device``; on CUDA through pinned memory and asynchronous, so that
    the host does not wait for the work already queued (a plain copy would)."""
    t = torch.from_numpy(np.ascontiguousarray(a))
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def _pinned_copy(t: torch.Tensor) -> torch.Tensor:
    """A pinned host copy of device tensor ``t``, queued without waiting."""
    h = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
    h.copy_(t, non_blocking=True)
    return h


def launch_tile(
    prep: PreparedBlock, model: Model, plan: TilePlan, batch_size: int | None = None, *, probabilities: bool = False
) -> LaunchedTile:
    """Queue a tile's device work (windows cut as strided views, one copy per batch, model,
    softmax, argmax) and the copies of its results to the host; returns without waiting on CUDA
    (nothing in here synchronises the device, so it runs ahead by a tile: tests/predict/test_gpu.py).
    ``batch_size``: windows per batch (default: the plan's), the previous tile's
    ``LaunchedTile.batch_size`` once out-of-memory has halved it; ``probabilities``: also return
    the per-class probabilities."""
    device = torch.device(plan.device)
    s, p = plan.stride, plan.patch
    batch = batch_size or plan.batch
    net = model.on(device)
    k = len(model.codes)
    temperature = model.temperature
    valid_np = prep.valid
    th, tw = valid_np.shape
    cuda = device.type == "cuda"
    start = None
    if cuda:  # marks when the device reaches this tile (timings: device_span)
        start = torch.cuda.Event(enable_timing=True)
        start.record()
    copied = None
    with torch.inference_mode():
        # asynchronous only from CUDA's pinned buffers: elsewhere the block's buffer is reused as
        # soon as this returns
        x = prep.block.to(device, non_blocking=cuda)
        if cuda:
            copied = torch.cuda.Event()
            copied.record()
        t_filter = time.perf_counter()
        x = filter_block(x, model, plan)
        filter_seconds = None if cuda or not plan.filtering else time.perf_counter() - t_filter
        if prep.missing:
            fill = _host_to(device, np.asarray(model.fill, dtype=np.float32)).view(-1, 1, 1)
            x = torch.where(torch.isnan(x), fill, x)
        c = x.shape[0]
        windows = x.unfold(1, p, s).unfold(2, p, s)  # (C, th', tw', p, p): a view, nothing copied
        probs = torch.full((k, th, tw), float("nan"), dtype=torch.float32, device=device)
        while True:
            try:
                for r0, r1, c0, c1 in _chunks(th, tw, batch):
                    v = valid_np[r0:r1, c0:c1]
                    nv = int(v.sum())
                    if nv == 0:
                        continue
                    rect = windows[:, r0:r1, c0:c1].permute(1, 2, 0, 3, 4)  # (nr, nc, C, p, p) view
                    # on the CPU the model is the bound: windows the nodata rule drops never reach it
                    if nv == v.size or (cuda and nv >= _DENSE * v.size):
                        xb = rect.reshape(-1, c, p, p)  # the one copy
                        pb = forward_batch(net, xb, device, plan.amp, temperature)
                        probs[:, r0:r1, c0:c1] = pb.T.reshape(k, r1 - r0, c1 - c0)
                    else:
                        # the valid windows' positions, found on the host: a boolean mask on the
                        # device would make CUDA wait for its result (nonzero) before going on
                        ri, ci = _host_to(device, np.stack(np.nonzero(v)))
                        xb = rect[ri, ci]  # gathers the valid windows only: (nv, C, p, p)
                        pb = forward_batch(net, xb, device, plan.amp, temperature)
                        probs[:, r0:r1, c0:c1][:, ri, ci] = pb.T
                break
            except RuntimeError as exc:  # torch.cuda.OutOfMemoryError is one
                if not _out_of_memory(exc) or batch == 1:
                    raise
                batch = max(1, batch // 2)
                torch.cuda.empty_cache()
                log.warning("CUDA out of memory: batch size halved to %d", batch)
        nan = torch.full((), float("nan"), device=device)
        if prep.any_invalid:
            valid = _host_to(device, valid_np)
            probs = torch.where(valid[None], probs, nan)
        conf, arg = probs.max(0)
        codes = model.lut(device)[arg.clamp(min=0)]
        if prep.any_invalid:
            codes = torch.where(valid, codes, torch.zeros((), dtype=torch.uint8, device=device))
            conf = torch.where(valid, conf, nan)
        out_probs = probs if probabilities else None
        event = None
        if cuda:
            codes, conf = _pinned_copy(codes), _pinned_copy(conf)
            out_probs = None if out_probs is None else _pinned_copy(out_probs)
            event = torch.cuda.Event(enable_timing=True)
            event.record()
    return LaunchedTile(codes, conf, out_probs, int(valid_np.sum()), batch, event, start, copied, filter_seconds)


def finish_tile(launched: LaunchedTile) -> TileResult:
    """Wait for a launched tile and return its results as numpy arrays."""
    span = None
    if launched.event is not None:
        launched.event.synchronize()
        if launched.start is not None:
            span = launched.start.elapsed_time(launched.event) / 1000.0
    return TileResult(
        codes=launched.codes.numpy(),
        confidence=launched.confidence.numpy(),
        probabilities=None if launched.probabilities is None else launched.probabilities.numpy(),
        n_valid=launched.n_valid,
        device_span=span,
    )


def compute_tile(block: np.ndarray, model: Model, plan: TilePlan, *, probabilities: bool = False) -> TileResult:
    """Classify all windows of one input block (C, hb, wb): prepare, launch and finish it."""
    prep = prepare_block(block, plan, pin=plan.cuda)
    return finish_tile(launch_tile(prep, model, plan, probabilities=probabilities))
