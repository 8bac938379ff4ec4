"""LCZ mapping of whole scenes: tiles -> windows -> batches -> model -> LCZ raster.

Window convention: output pixel ``(i, j)`` at stride ``s`` is the class of the 32 x 32 window whose
rows are ``i*s + s//2 - 16 ... i*s + s//2 + 15`` (columns alike), i.e. centred on the centre of
the output pixel's ``s x s`` footprint (exactly for even ``s``, half a pixel up-left for odd
``s``). The output grid is ``ceil(H/s) x ceil(W/s)`` pixels with transform
``input_transform * Affine.scale(s)``, so it is aligned with the input grid and covers its extent.
Windows running off the scene edge are filled by mirroring the scene (numpy ``reflect``).

Nodata rule: a window whose centre pixel is nodata, or in which more than ``max_nodata`` of the
pixels are nodata, gets output nodata (0; NaN in float outputs) and is not sent to the model. Other
nodata pixels are filled with the model's training mean of the channel (a constant, so the
result never depends on the tiling).

Tiling: the output grid is cut into tiles of ``tile_size`` output pixels; each tile's input block
(with a halo of 16 pixels plus the stride offset) is read once, moved to the compute device, and
the windows are cut there as strided views (``Tensor.unfold``): only one batch of windows at a
time is ever copied. Reading the next tiles overlaps computing this one. A tiled prediction equals
the untiled one. Tiles can run on a dask.distributed cluster (``scheduler``); finished tiles are
recorded beside the output so that ``resume`` continues an interrupted run.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from affine import Affine
from rasterio.windows import Window

from . import __version__
from ._io import check_output
from .classes import NODATA, lcz
from .bands import BandSet, band_set as _band_set
from .errors import CheckpointError, ClusterError, ConfigError, OutputError, SceneError
from .scene import Scene, open_scene, read_mirrored

__all__ = [
    "Model",
    "load_model",
    "resolve_model_path",
    "predict_scene",
    "predict_scenes",
    "predict_dataarray",
    "PredictResult",
    "output_grid",
    "window_rows",
    "plan_tiles",
    "reader_settings",
    "DEFAULT_STRIDE",
    "DEFAULT_TILE",
]

log = logging.getLogger(__name__)

DEFAULT_STRIDE = 10
DEFAULT_TILE = 128
#: Local runs read tiles into reused host buffers (pinned on CUDA); False reads each tile into a
#: new array (pinned by a copy on CUDA). For benchmarks comparing the two in one run.
_REUSE_BUFFERS = True
PATCH = 32


# ---------------------------------------------------------------------------------------------
# The model

@dataclass
class Model:
    """What prediction needs of a model: ``network`` ((B, C, 32, 32) physical units -> logits
    (B, K)), ``codes`` (LCZ code of each output index), the SAR ``band_set``, a per-channel
    ``fill`` value (physical units) for nodata pixels inside valid windows, and a ``name``."""

    network: torch.nn.Module
    codes: tuple[int, ...]
    band_set: BandSet
    fill: tuple[float, ...] | None = None
    name: str = "model"
    patch_size: int = PATCH
    _on: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        self.codes = tuple(int(c) for c in self.codes)
        for c in self.codes:
            lcz(c)  # raises ConfigError for a non-LCZ code
        if self.fill is None:
            self.fill = (0.0,) * self.band_set.n_channels
        if len(self.fill) != self.band_set.n_channels:
            raise ConfigError(f"fill has {len(self.fill)} values for {self.band_set.n_channels} channels")
        self.network.eval()

    def on(self, device: torch.device) -> torch.nn.Module:
        """The network on ``device`` (moved once, cached)."""
        key = str(device)
        if key not in self._on:
            if device.type == "cpu":
                self._on[key] = self.network
            else:
                import copy

                self._on[key] = copy.deepcopy(self.network).to(device)
        return self._on[key]

    def lut(self, device: torch.device) -> torch.Tensor:
        """uint8 LCZ code of each output index, on ``device`` (made once, cached)."""
        key = f"lut:{device}"
        if key not in self._on:
            self._on[key] = torch.tensor(self.codes, dtype=torch.uint8).to(device)
        return self._on[key]

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_on"] = {}
        return state


def resolve_model_path(model: str | os.PathLike | None) -> Path:
    """The checkpoint to use: ``model``, else ``$LCZMAP_MODEL``, else the last one trained."""
    if model is not None:
        return Path(model)
    env = os.environ.get("LCZMAP_MODEL")
    if env:
        return Path(env)
    from .checkpoint import last_checkpoint

    last = last_checkpoint()
    if last is None:
        raise CheckpointError(
            "no model given and none trained yet: pass --model CHECKPOINT, set LCZMAP_MODEL, "
            "or train one with `lczmap train DATA --sar-bands lee-intensity`"
        )
    return last


def load_model(model: Any = None, codes: Sequence[int] | None = None, band_set: BandSet | str | None = None) -> Model:
    """Normalise ``model`` to a :class:`Model`.

    Accepts a :class:`Model`; a checkpoint path (None: ``$LCZMAP_MODEL``, else the last checkpoint
    ``lczmap train`` wrote); a loaded checkpoint (anything with ``sar_network()``); or a bare
    ``torch.nn.Module`` together with ``codes`` and ``band_set``.
    """
    if isinstance(model, Model):
        return model
    if isinstance(model, torch.nn.Module):
        if codes is None or band_set is None:
            raise ConfigError("a bare torch module needs codes=... and band_set=...: or pass a checkpoint path")
        bs = _band_set(band_set, "sar") if isinstance(band_set, str) else band_set
        return Model(model, tuple(codes), bs, name=type(model).__name__)
    if model is None or isinstance(model, (str, os.PathLike)):
        from .checkpoint import load_checkpoint

        path = resolve_model_path(model)
        if not path.is_file():
            raise CheckpointError(f"checkpoint {path} does not exist: check --model or train one with `lczmap train`")
        model = load_checkpoint(path)
    if hasattr(model, "sar_network"):
        meta = getattr(model, "meta", {}) or {}
        fill = meta.get("sar_mean")
        name = str(getattr(model, "path", "checkpoint"))
        return Model(model.sar_network(), tuple(model.codes), model.sar_bands,
                     tuple(float(v) for v in fill) if fill else None, name=name,
                     patch_size=int(getattr(model, "patch_size", PATCH)))
    raise ConfigError(f"cannot use {type(model).__name__} as a model: pass a checkpoint path or a lczmap Model")


def _device(device: str | torch.device | None) -> torch.device:
    """``device`` as a torch device: None or ``auto`` picks CUDA, then MPS, then the CPU."""
    if isinstance(device, torch.device):
        return device
    from ._device import resolve_device

    return resolve_device("auto" if device is None else str(device))


# ---------------------------------------------------------------------------------------------
# Geometry

def output_grid(height: int, width: int, stride: int) -> tuple[int, int]:
    """Output shape: ``(ceil(height / stride), ceil(width / stride))``."""
    return -(-height // stride), -(-width // stride)


def window_rows(i0: int, i1: int, stride: int, patch: int = PATCH) -> tuple[int, int]:
    """Input rows ``[a, b)`` holding the windows of output rows ``i0 .. i1-1`` (same for columns)."""
    a = i0 * stride + stride // 2 - patch // 2
    b = (i1 - 1) * stride + stride // 2 + patch // 2
    return a, b


def plan_tiles(out_h: int, out_w: int, tile: int) -> list[tuple[int, int, int, int]]:
    """Tiles ``(i0, i1, j0, j1)`` of the output grid, row-major, covering it exactly once."""
    if tile < 1:
        raise ConfigError(f"tile size must be at least 1, got {tile}")
    return [
        (i0, min(out_h, i0 + tile), j0, min(out_w, j0 + tile))
        for i0 in range(0, out_h, tile)
        for j0 in range(0, out_w, tile)
    ]


def _tile_block(t, stride: int, patch: int) -> tuple[int, int, int, int]:
    """Input rows ``a:b`` and columns ``c:d`` holding all windows of tile ``t``."""
    return (*window_rows(t[0], t[1], stride, patch), *window_rows(t[2], t[3], stride, patch))


def _read_tile(read: Callable, t, stride: int, patch: int) -> np.ndarray:
    return read(*_tile_block(t, stride, patch))


# ---------------------------------------------------------------------------------------------
# Compute one tile

@dataclass(frozen=True)
class _Params:
    stride: int
    max_nodata: float
    batch_size: int | None
    device: str
    probs: bool
    amp: bool = True


def _batch_forward(net, x: torch.Tensor, device: torch.device, amp: bool) -> torch.Tensor:
    if device.type == "cuda" and amp:
        from ._device import cuda_amp_dtype

        with torch.autocast("cuda", dtype=cuda_amp_dtype(device)):
            logits = net(x)
    else:
        logits = net(x)
    return torch.softmax(logits.float(), dim=1)


def _window_sums(mask: np.ndarray, p: int, s: int, th: int, tw: int) -> np.ndarray:
    """Count of true pixels in each p x p window at stride s (integral image, exact)."""
    cs = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int64)
    np.cumsum(np.cumsum(mask, axis=0, dtype=np.int64), axis=1, out=cs[1:, 1:])
    r = (np.arange(th) * s)[:, None]
    c = (np.arange(tw) * s)[None, :]
    return cs[r + p, c + p] - cs[r, c + p] - cs[r + p, c] + cs[r, c]


def _chunks(th: int, tw: int, batch: int):
    """Rectangles (r0, r1, c0, c1) of the tile's window grid holding at most ``batch`` windows."""
    if tw <= batch:
        nr = batch // tw
        return [(r0, min(th, r0 + nr), 0, tw) for r0 in range(0, th, nr)]
    return [(r, r + 1, c0, min(tw, c0 + batch)) for r in range(th) for c0 in range(0, tw, batch)]


#: A batch of windows whose valid share is at least this is run whole (invalid ones masked
#: afterwards, one copy); sparser batches gather the valid windows only.
_DENSE = 0.75


@dataclass
class _Prepared:
    """A tile's block after the host-side work: nodata filled, window validity known."""

    block: torch.Tensor  # (C, hb, wb) float32 on the host (pinned for CUDA)
    valid: np.ndarray  # (th, tw) bool
    any_invalid: bool
    pool: "_BufferPool | None" = None
    buffer: torch.Tensor | None = None

    def release(self, event=None) -> None:
        """Give the block's buffer back to its pool (once); with a CUDA ``event``, it is reused
        only after the event (the copy to the device) has completed."""
        if self.pool is not None and self.buffer is not None:
            self.pool.release(self.buffer, event)
            self.buffer = None


class _PoolClosed(Exception):
    pass


class _BufferPool:
    """Host buffers for tile blocks, made on demand up to ``n`` and reused: tiles are read straight
    into them, so there is no allocation per tile and, on CUDA (pinned buffers), no pinning copy
    and an asynchronous copy to the device. A buffer released with a CUDA event is waited for by
    the reader that takes it next, never by the compute thread."""

    def __init__(self, n: int, numel: int, pinned: bool):
        import threading

        self._n, self._numel, self._pinned = n, numel, pinned
        self._free: deque = deque()
        self._made = 0
        self._closed = False
        self._cond = threading.Condition()

    def acquire(self) -> torch.Tensor:
        with self._cond:
            while True:
                if self._closed:
                    raise _PoolClosed
                if self._free:
                    buf, event = self._free.popleft()
                    break
                if self._made < self._n:
                    self._made += 1
                    buf, event = None, None
                    break
                self._cond.wait()
        if buf is None:
            buf = torch.empty(self._numel, dtype=torch.float32, pin_memory=self._pinned)
        if event is not None:
            event.synchronize()
        return buf

    def release(self, buf: torch.Tensor, event=None) -> None:
        with self._cond:
            self._free.append((buf, event))
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def prepare_block(block: np.ndarray, model: Model, params: _Params, pin: bool = False,
                  tensor: torch.Tensor | None = None) -> _Prepared:
    """Host-side part of a tile (runs in the reader threads): the nodata rule and the fill.
    ``tensor``: a (C, hb, wb) tensor whose memory ``block`` was read into (a pool buffer)."""
    s, p = params.stride, model.patch_size
    th = (block.shape[1] - p) // s + 1
    tw = (block.shape[2] - p) // s + 1
    block = np.ascontiguousarray(block, dtype=np.float32)
    missing = np.isnan(block).any(0)
    if missing.any():
        centre = missing[p // 2 :: s, p // 2 :: s][:th, :tw]
        share = _window_sums(missing, p, s, th, tw) / float(p * p)
        valid = ~centre & (share <= params.max_nodata)
        block = block.copy() if not block.flags.writeable else block
        for ch, value in enumerate(model.fill):
            block[ch][missing] = value
    else:
        valid = np.ones((th, tw), dtype=bool)
    if tensor is not None:
        if block.ctypes.data != tensor.data_ptr():
            tensor.numpy()[...] = block
        return _Prepared(tensor, valid, not bool(valid.all()))
    t = torch.from_numpy(block)
    if pin:
        t = t.pin_memory()
    return _Prepared(t, valid, not bool(valid.all()))


@dataclass
class _Launched:
    codes: torch.Tensor
    confidence: torch.Tensor
    probabilities: torch.Tensor | None
    n_valid: int
    event: Any = None
    start: Any = None
    copied: Any = None  # CUDA event: the block's copy to the device is done


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


def launch_tile(prep: _Prepared, model: Model, params: _Params, state: dict | None = None) -> _Launched:
    """Queue a tile's device work (windows cut as strided views, one copy per batch, model,
    softmax, argmax) and the copies of its results to the host; returns without waiting on CUDA
    (nothing in here synchronises the device, so it runs ahead by a tile: tests/test_gpu.py)."""
    device = _device(params.device)
    s, p = params.stride, model.patch_size
    state = state if state is not None else {}
    batch = state.get("batch") or params.batch_size or (4096 if device.type == "cuda" else 512)
    net = model.on(device)
    k = len(model.codes)
    valid_np = prep.valid
    th, tw = valid_np.shape
    cuda = device.type == "cuda"
    start = None
    if cuda:  # marks when the device reaches this tile (timings: device_span)
        start = torch.cuda.Event(enable_timing=True)
        start.record()
    copied = None
    with torch.inference_mode():
        x = prep.block.to(device, non_blocking=True)
        if cuda:
            copied = torch.cuda.Event()
            copied.record()
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
                    if nv >= _DENSE * v.size:
                        xb = rect.reshape(-1, c, p, p)  # the one copy
                        pb = _batch_forward(net, xb, device, params.amp)
                        probs[:, r0:r1, c0:c1] = pb.T.reshape(k, r1 - r0, c1 - c0)
                    else:
                        # the valid windows' positions, found on the host: a boolean mask on the
                        # device would make CUDA wait for its result (nonzero) before going on
                        ri, ci = _host_to(device, np.stack(np.nonzero(v)))
                        xb = rect[ri, ci]  # gathers the valid windows only: (nv, C, p, p)
                        pb = _batch_forward(net, xb, device, params.amp)
                        probs[:, r0:r1, c0:c1][:, ri, ci] = pb.T
                break
            except RuntimeError as exc:  # torch.cuda.OutOfMemoryError is one
                if not _out_of_memory(exc) or batch == 1:
                    raise
                batch = max(1, batch // 2)
                state["batch"] = batch
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
        outs = [codes, conf, probs if params.probs else None]
        event = None
        if cuda:
            host = []
            for t in outs:
                if t is None:
                    host.append(None)
                    continue
                h = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
                h.copy_(t, non_blocking=True)
                host.append(h)
            outs = host
            event = torch.cuda.Event(enable_timing=True)
            event.record()
    return _Launched(outs[0], outs[1], outs[2], int(valid_np.sum()), event, start, copied)


def finish_tile(launched: _Launched) -> dict:
    """Wait for a launched tile and return its results as numpy arrays."""
    span = None
    if launched.event is not None:
        launched.event.synchronize()
        if launched.start is not None:
            span = launched.start.elapsed_time(launched.event) / 1000.0
    return {
        "device_span": span,
        "codes": launched.codes.numpy(),
        "confidence": launched.confidence.numpy(),
        "probabilities": None if launched.probabilities is None else launched.probabilities.numpy(),
        "n_valid": launched.n_valid,
    }


def compute_tile(block: np.ndarray, model: Model, params: _Params, state: dict | None = None) -> dict:
    """Classify all windows of one input block (C, hb, wb) -> codes (th, tw) uint8, confidence
    (th, tw) float32 (NaN nodata), probabilities (K, th, tw) float32 or None, n_valid."""
    prep = prepare_block(block, model, params, pin=_device(params.device).type == "cuda")
    return finish_tile(launch_tile(prep, model, params, state))


def _remote_tile(scene: Scene, model: Model, tile, params: _Params) -> dict:
    """A tile computed on a dask worker (reads its own block)."""
    block = _read_tile(scene.read, tile, params.stride, model.patch_size)
    return compute_tile(block, model, params)


# ---------------------------------------------------------------------------------------------
# Running tiles

def _read_prepared(read: Callable, t, model: Model, params: _Params, pin: bool,
                   pool: _BufferPool | None = None) -> _Prepared:
    s, p = params.stride, model.patch_size
    if pool is None:
        return prepare_block(_read_tile(read, t, s, p), model, params, pin)
    buf = pool.acquire()
    try:
        a, b, c, d = _tile_block(t, s, p)
        shape = (model.band_set.n_channels, b - a, d - c)
        view = buf[: math.prod(shape)].view(shape)
        block = read(a, b, c, d, out=view.numpy())
        prep = prepare_block(block, model, params, tensor=view)
    except BaseException:
        pool.release(buf)
        raise
    prep.pool, prep.buffer = pool, buf
    return prep


def _block_numel(tiles, model: Model, params: _Params) -> int:
    """Elements of the largest input block among ``tiles``."""
    blocks = [_tile_block(t, params.stride, model.patch_size) for t in tiles]
    return model.band_set.n_channels * max(b - a for a, b, _, _ in blocks) * max(d - c for _, _, c, d in blocks)


def reader_settings(device: str | torch.device, read_threads: int | None = None) -> int:
    """Reader threads of a local run on ``device`` (``read_threads`` overrides).

    On the CPU the model is the bound (reading takes ~1 % of the time): 2-4 readers, leaving the
    cores to torch. On an accelerator the host must keep up with the device: half the cores
    (2-8), so that compressed scenes (GDAL decodes them ~7x slower than raw ones) or slow storage
    still feed it. GDAL's own decode threads (``GDAL_NUM_THREADS``) are left to the user's
    environment: with as many readers as cores they gave nothing, and they slowed raw scenes."""
    dev = _device(device) if device in (None, "auto") else torch.device(device)
    cpus = os.cpu_count() or 2
    readers = min(4, max(2, cpus // 4)) if dev.type == "cpu" else min(8, max(2, cpus // 2))
    if read_threads is not None:
        if read_threads < 1:
            raise ConfigError(f"read_threads must be at least 1, got {read_threads}")
        readers = int(read_threads)
    return readers


def prepared_tiles(read: Callable, tiles, model: Model, params: _Params, readers: int, pin: bool = False,
                   timings: dict | None = None, buffers: str | None = "cpu"):
    """Yield ``(tile, _Prepared)`` in the order of ``tiles``: ``readers`` threads read and prepare
    (nodata rule, fill, pinning) up to ``readers + 1`` tiles ahead, so host memory stays bounded by
    the tile size. Time spent waiting for a tile is added to ``timings['read_wait']``.

    ``buffers``: "cpu" or "cuda" reads tiles into ``readers + 4`` reused host buffers (pinned for
    "cuda"); ``read`` must then take ``out=``. A yielded block's buffer is given back when the
    consumer moves on, unless it called ``prep.release(event)`` itself (CUDA: after queuing the
    copy to the device). None: a new array per tile (``pin`` pins it)."""
    tiles = list(tiles)
    store = None
    if buffers in ("cpu", "cuda") and tiles:
        store = _BufferPool(readers + 4, _block_numel(tiles, model, params), pinned=buffers == "cuda")

    def work(t):
        return _read_prepared(read, t, model, params, pin, store)

    timings = timings if timings is not None else {}
    timings.setdefault("read_wait", 0.0)
    with ThreadPoolExecutor(max_workers=max(1, readers), thread_name_prefix="lczmap-read") as pool:
        pending: deque = deque()
        it = iter(tiles)
        try:
            for t in it:
                pending.append((t, pool.submit(work, t)))
                if len(pending) > readers:
                    break
            while pending:
                t, fut = pending.popleft()
                t0 = time.perf_counter()
                prep = fut.result()
                timings["read_wait"] += time.perf_counter() - t0
                nxt = next(it, None)
                if nxt is not None:
                    pending.append((nxt, pool.submit(work, nxt)))
                yield t, prep
                prep.release()
                del prep
        finally:
            for _, fut in pending:
                fut.cancel()
            if store is not None:
                store.close()  # readers waiting for a buffer stop instead of blocking the shutdown


def _run_local(read: Callable, tiles, model: Model, params: _Params, put: Callable, bar, read_threads: int | None = None,
               threads: int | None = None, timings: dict | None = None) -> None:
    """Reader threads read and prepare the next tiles while this thread queues the device work
    of one tile and collects the results of the one before (so CUDA never waits on the host).

    On the CPU, torch runs on ``threads`` intra-op threads during the call (default: all cores
    but one, which is left to the reader threads; torch's setting is restored afterwards).
    ``timings`` (a dict) receives the seconds this thread waited for reads (``read_wait``), ran or
    waited for the model (``compute``) and stored results (``store``)."""
    dev = _device(params.device)
    if dev.type != "cpu":
        return _run_local_on(read, tiles, model, params, put, bar, read_threads, timings)
    n = threads or max(1, (os.cpu_count() or 1) - 1)
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        return _run_local_on(read, tiles, model, params, put, bar, read_threads, timings)
    finally:
        torch.set_num_threads(before)


def _run_local_on(read: Callable, tiles, model: Model, params: _Params, put: Callable, bar, read_threads,
                  timings: dict | None) -> None:
    state: dict = {}
    kind = _device(params.device).type
    readers = reader_settings(params.device, read_threads)
    timings = timings if timings is not None else {}
    for key in ("compute", "store"):
        timings.setdefault(key, 0.0)

    def collect(t, launched):
        t0 = time.perf_counter()
        res = finish_tile(launched)
        t1 = time.perf_counter()
        put(t, res)
        timings["compute"] += t1 - t0
        if res["device_span"] is not None:
            timings["device_span"] = timings.get("device_span", 0.0) + res["device_span"]
        timings["store"] += time.perf_counter() - t1
        if bar is not None:
            bar.update(1)

    previous = None
    for t, prep in prepared_tiles(read, tiles, model, params, readers, kind == "cuda", timings,
                                  buffers=kind if kind in ("cpu", "cuda") and _REUSE_BUFFERS else None):
        t0 = time.perf_counter()
        launched = launch_tile(prep, model, params, state)
        timings["compute"] += time.perf_counter() - t0
        prep.release(launched.copied)  # CPU: done with the block; CUDA: once copied to the device
        del prep
        if previous is not None:
            collect(*previous)
        previous = (t, launched)
    if previous is not None:
        collect(*previous)


def _run_distributed(scheduler, scene: Scene, tiles, model: Model, params: _Params, put: Callable, bar) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError:  # pragma: no cover - distributed is a dependency
        from .errors import MissingDependencyError

        raise MissingDependencyError("--scheduler needs dask.distributed: pip install distributed") from None
    own = not hasattr(scheduler, "submit")
    try:
        client = Client(scheduler, set_as_default=False) if own else scheduler
    except OSError as exc:
        raise ClusterError(f"cannot reach the dask scheduler at {scheduler} ({exc}): check the address") from None
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        model_f = client.scatter(model, broadcast=True)
        scene_f = client.scatter(scene, broadcast=True)
        todo = deque(tiles)
        keys = {}

        def submit():
            t = todo.popleft()
            f = client.submit(_remote_tile, scene_f, model_f, t, params, pure=False)
            keys[f.key] = t
            return f

        if not todo:
            return
        running = as_completed([submit() for _ in range(min(len(todo), 3 * n_workers))], loop=client.loop)
        for fut in running:
            t = keys.pop(fut.key)
            put(t, fut.result())
            fut.release()
            if todo:
                running.add(submit())
            if bar is not None:
                bar.update(1)
    finally:
        if own:
            client.close()


class _MemoryStore:
    def __init__(self, shape, k, probs: bool):
        self.codes = np.zeros(shape, np.uint8)
        self.confidence = np.full(shape, np.nan, np.float32)
        self.probabilities = np.full((k, *shape), np.nan, np.float32) if probs else None
        self.n_valid = 0

    def put(self, t, res):
        i0, i1, j0, j1 = t
        self.codes[i0:i1, j0:j1] = res["codes"]
        self.confidence[i0:i1, j0:j1] = res["confidence"]
        if self.probabilities is not None:
            self.probabilities[:, i0:i1, j0:j1] = res["probabilities"]
        self.n_valid += res["n_valid"]


class _PartialRun(_MemoryStore):
    """Tile results in memory-mapped arrays beside the output, with a log of finished tiles."""

    def __init__(self, out: Path, fingerprint: dict, shape, k, probs: bool, resume: bool):
        self.dir = out.parent / f".{out.name}.partial"
        fp = json.dumps(fingerprint, sort_keys=True)
        state_file = self.dir / "state.json"
        self.done = set()
        if self.dir.exists():
            old = None
            try:
                old = json.loads(state_file.read_text())
            except (OSError, ValueError):
                pass
            if resume and old is not None and old.get("fingerprint") == fp:
                self.state = old
                try:
                    lines = (self.dir / "done.txt").read_text().split("\n")
                    self.done = {int(x) for x in lines[:-1] if x.strip().isdigit()}
                except OSError:
                    self.done = set()
                self._open("r+", shape, k, probs)
                by_tile = old.get("n_valid_by_tile", {})
                self._nv = {str(i): by_tile.get(str(i), 0) for i in self.done}
                self.n_valid = int(sum(self._nv.values()))
                log.info("resuming: %d tiles already done", len(self.done))
                return
            if resume and old is not None:
                raise ConfigError(
                    f"the interrupted run in {self.dir} used other inputs or options: rerun without --resume to start over"
                )
            shutil.rmtree(self.dir)
        elif resume:
            log.warning("nothing to resume for %s: starting from the beginning", out)
        self.dir.mkdir()
        self.state = {"fingerprint": fp, "date": _now()}
        state_file.write_text(json.dumps(self.state))
        self._open("w+", shape, k, probs)
        self.n_valid = 0
        self._nv = {}

    def _open(self, mode, shape, k, probs):
        from numpy.lib.format import open_memmap

        def mm(name, dtype, shp, fill):
            path = self.dir / name
            if mode == "w+":
                arr = open_memmap(path, mode="w+", dtype=dtype, shape=shp)
                arr[...] = fill
                return arr
            return open_memmap(path, mode="r+")

        self.codes = mm("codes.npy", np.uint8, shape, 0)
        self.confidence = mm("confidence.npy", np.float32, shape, np.nan)
        self.probabilities = mm("probabilities.npy", np.float32, (k, *shape), np.nan) if probs else None

    def put_indexed(self, index: int, t, res):
        # The arrays are shared file mappings: what is written here reaches the files even if the
        # process is killed right after, so the tile is logged as done without a (slow) msync.
        super().put(t, res)
        self._nv[str(index)] = res["n_valid"]
        with open(self.dir / "done.txt", "a") as f:
            f.write(f"{index}\n")
        if len(self._nv) % 64 == 0:
            self._save_state()

    def _save_state(self):
        for arr in (self.codes, self.confidence, self.probabilities):
            if arr is not None:
                arr.flush()
        self.state["n_valid_by_tile"] = self._nv
        tmp = self.dir / "state.json.tmp"
        tmp.write_text(json.dumps(self.state))
        os.replace(tmp, self.dir / "state.json")

    def close(self):
        self._save_state()

    def remove(self):
        self.codes = self.confidence = self.probabilities = None
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Public API

@dataclass
class PredictResult:
    """What :func:`predict_scene` wrote and how fast."""

    out: Path
    probabilities: Path | None
    confidence: Path | None
    filtered: Path | None
    shape: tuple[int, int]
    n_windows: int
    seconds: float
    timings: dict = field(default_factory=dict)
    """Where the seconds went: ``setup``, ``tiles`` (of which the main thread spent ``read_wait``
    waiting for reads, ``compute`` running or waiting for the model, ``store`` storing results;
    local runs only) and ``write`` (the output files). On CUDA, ``device_span`` sums, per tile,
    the device time from reaching the tile to finishing it: ``tiles - device_span`` is the time
    the GPU sat waiting for the host."""

    @property
    def windows_per_s(self) -> float:
        return self.n_windows / self.seconds if self.seconds > 0 else float("nan")


def _fingerprint(scene: Scene, model: Model, params: _Params, tile: int, extra: dict) -> dict:
    files = []
    for src in scene.sources:
        try:
            st = os.stat(src)
            files.append([src, st.st_size, int(st.st_mtime)])
        except OSError:
            files.append([src])
    h = hashlib.sha256()
    for v in model.network.state_dict().values():
        h.update(v.detach().cpu().numpy().tobytes())
    return {
        "files": files,
        "scene": [scene.crs, list(scene.transform), scene.height, scene.width, scene.units,
                  [[b.path, b.band, b.part] for b in scene.bands]],
        "model": h.hexdigest(),
        "codes": list(model.codes),
        "stride": params.stride,
        "max_nodata": params.max_nodata,
        "tile": tile,
        "probs": params.probs,
        **extra,
    }


def predict_scene(
    scene: str | os.PathLike | Scene | None,
    out: str | os.PathLike,
    model: Any = None,
    *,
    vv: str | os.PathLike | None = None,
    vh: str | os.PathLike | None = None,
    bands: Sequence[str] | None = None,
    units: str | None = None,
    resample: str | None = None,
    stride: int = DEFAULT_STRIDE,
    batch_size: int | None = None,
    device: str = "auto",
    tile_size: int = DEFAULT_TILE,
    max_nodata: float = 0.5,
    probabilities: str | os.PathLike | None = None,
    confidence: str | os.PathLike | None = None,
    filtered: str | os.PathLike | None = None,
    filter_sigma: float = 1.0,
    scheduler: Any = None,
    resume: bool = False,
    overwrite: bool = False,
    amp: bool = True,
    threads: int | None = None,
    read_threads: int | None = None,
    progress: Callable | None = None,
) -> PredictResult:
    """Map one scene to an LCZ raster (uint8 COG, codes 1-17, nodata 0) at ``out``.

    ``scene``: a raster path/URL or an opened :class:`~lczmap.scene.Scene`; or None with
    ``vv``/``vh`` files. ``model``: checkpoint path, loaded checkpoint or :class:`Model`; None uses
    ``$LCZMAP_MODEL`` or the last checkpoint ``lczmap train`` wrote. ``stride``: output pixel size
    in input pixels (10 = 100 m). ``probabilities``/``confidence``/``filtered``: optional extra
    outputs (float32 per-class probabilities; float32 top probability; LCZ map from probabilities
    smoothed by a Gaussian of ``filter_sigma`` output pixels). ``scheduler``: a dask.distributed
    address or Client to run tiles on. ``resume``: continue an interrupted run. ``threads``: torch
    threads on the CPU (default: all cores but one, left to the reader threads). ``read_threads``:
    threads reading tiles (default: see :func:`reader_settings`). ``progress``:
    ``progress(total=..., desc=...)`` -> tqdm-like, or None. ``PredictResult.timings`` says where
    the time went (logged at INFO, ``lczmap -v predict``).
    """
    t_start = time.perf_counter()
    out = Path(out)
    extras = {"probabilities": probabilities, "confidence": confidence, "filtered": filtered}
    paths = [out] + [Path(p) for p in extras.values() if p is not None]
    if len({p.resolve() for p in paths}) != len(paths):
        raise ConfigError("output files must differ: give distinct paths for the LCZ map and extra outputs")
    for p in paths:
        check_output(p, overwrite)
    if stride < 1:
        raise ConfigError(f"stride must be at least 1, got {stride}")
    if not 0 <= max_nodata <= 1:
        raise ConfigError(f"max_nodata must lie in 0..1, got {max_nodata}")
    if read_threads is not None and read_threads < 1:
        raise ConfigError(f"read_threads must be at least 1, got {read_threads}")

    m = load_model(model)
    if not isinstance(scene, Scene):
        scene = open_scene(scene, m.band_set, vv=vv, vh=vh, bands=bands, units=units, resample=resample)
    elif [b.channel for b in scene.bands] != list(m.band_set.channels):
        raise SceneError(f"the scene was opened for band set {scene.band_set} but the model needs {m.band_set.name}: reopen it")
    p = m.patch_size
    if scene.height < p or scene.width < p:
        raise SceneError(
            f"scene is {scene.height} x {scene.width} pixels, smaller than one {p} x {p} window: give a larger scene"
        )
    params = _Params(stride, float(max_nodata), batch_size, str(_device(device)) if scheduler is None else str(device),
                     probs=probabilities is not None or filtered is not None, amp=amp)
    shape = output_grid(scene.height, scene.width, stride)
    tiles = plan_tiles(*shape, tile_size)
    fp = _fingerprint(scene, m, params, tile_size, {"sigma": filter_sigma, "outputs": sorted(k for k, v in extras.items() if v)})
    run = _PartialRun(out, fp, shape, len(m.codes), params.probs, resume)
    todo = [t for k, t in enumerate(tiles) if k not in run.done]
    index = {t: k for k, t in enumerate(tiles)}
    log.info("%s: %d x %d pixels -> %d x %d LCZ pixels, %d tiles (%d to do)",
             scene.name, scene.height, scene.width, *shape, len(tiles), len(todo))
    bar = progress(total=len(tiles), desc=scene.name) if progress else None
    if bar is not None and run.done:
        bar.update(len(run.done))

    def put(t, res):
        run.put_indexed(index[t], t, res)

    timings: dict = {"setup": time.perf_counter() - t_start}
    t_tiles = time.perf_counter()
    try:
        if scheduler is None:
            _run_local(scene.read, todo, m, params, put, bar, read_threads=read_threads, threads=threads,
                       timings=timings)
        else:
            _run_distributed(scheduler, scene, todo, m, params, put, bar)
    finally:
        if bar is not None:
            bar.close()
        run.close()
    timings["tiles"] = time.perf_counter() - t_tiles
    t_write = time.perf_counter()

    if run.n_valid == 0 and not (run.codes != 0).any():
        run.remove()
        raise SceneError(f"{scene.name} holds no data (every window is nodata): check the input and its nodata value")

    transform = scene.affine @ Affine.scale(stride)
    tags = {
        "model": m.name,
        "lczmap_version": __version__,
        "input": ", ".join(scene.sources),
        "date": run.state["date"],
        "stride": stride,
        "band_set": m.band_set.name,
        "codes": ",".join(str(c) for c in m.codes),
    }
    from . import raster

    written: dict[str, Path | None] = {k: None for k in extras}
    if confidence is not None:
        written["confidence"] = raster.write_float(confidence, run.confidence, transform, scene.crs,
                                                   ["confidence"], tags, overwrite)
    if probabilities is not None:
        desc = [lcz(c).title for c in m.codes]
        written["probabilities"] = raster.write_float(probabilities, run.probabilities, transform, scene.crs,
                                                      desc, tags, overwrite)
    if filtered is not None:
        stage = run.dir / "filtered.tif"
        with raster.create_lcz(stage, *shape, transform, scene.crs, {**tags, "filter_sigma": filter_sigma}) as ds:
            for r0, r1, codes in _filtered_strips(run.probabilities, run.codes, m.codes, filter_sigma):
                ds.write(codes, 1, window=Window(0, r0, shape[1], r1 - r0))
        written["filtered"] = raster.publish_cog(stage, filtered, overwrite=overwrite, kind="lcz")
    raster.write_lcz(out, run.codes, transform, scene.crs, tags, overwrite)
    n_valid = run.n_valid
    run.remove()
    seconds = time.perf_counter() - t_start
    timings["write"] = time.perf_counter() - t_write
    log.info("%s: %d windows in %.1f s (%.0f windows/s) -> %s", scene.name, n_valid, seconds,
             n_valid / max(seconds, 1e-9), out)
    _log_timings(scene.name, timings)
    return PredictResult(out, written["probabilities"], written["confidence"], written["filtered"], shape, n_valid,
                         seconds, timings)


def _log_timings(name: str, timings: dict) -> None:
    """One INFO line on where the time went, and a hint when reading was the bound."""
    parts = [f"setup {timings['setup']:.1f} s", f"tiles {timings['tiles']:.1f} s"]
    if "read_wait" in timings:
        parts[-1] += (f" (waiting for reads {timings['read_wait']:.1f} s, model {timings['compute']:.1f} s, "
                      f"storing {timings['store']:.1f} s)")
    if "device_span" in timings:
        parts.append(f"device busy {timings['device_span']:.1f} s of the tiles' time")
    parts.append(f"writing {timings['write']:.1f} s")
    log.info("%s: %s", name, ", ".join(parts))
    if timings.get("read_wait", 0.0) > 0.25 * max(timings["tiles"], 1e-9) and timings["tiles"] > 1.0:
        log.info("%s: reading was the bound: try more --read-threads, or a local copy of a remote scene", name)


def _now() -> str:
    """UTC time for the ``date`` tag; ``$SOURCE_DATE_EPOCH`` pins it for reproducible outputs."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (_dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc) if epoch and epoch.isdigit()
            else _dt.datetime.now(_dt.timezone.utc))
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _smooth(p: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of (K, h, w) probabilities over valid pixels only (normalised convolution)."""
    from scipy import ndimage

    r = max(1, int(math.ceil(3 * sigma)))
    kern = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2).astype(np.float32)
    w = valid.astype(np.float32)
    num = np.where(valid[None], p, 0).astype(np.float32)
    for axis in (-1, -2):  # zeros beyond the edge
        num = ndimage.correlate1d(num, kern, axis=axis, mode="constant")
        w = ndimage.correlate1d(w, kern, axis=axis, mode="constant")
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / w


def _filtered_strips(probs, codes, model_codes, sigma, rows: int = 512):
    """Yield (r0, r1, filtered codes) strips; each strip reads a halo so strips join seamlessly."""
    h = codes.shape[0]
    r = max(1, int(math.ceil(3 * sigma)))
    lut = np.asarray(model_codes, dtype=np.uint8)
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        a, b = max(0, r0 - r), min(h, r1 + r)
        valid = np.asarray(codes[a:b]) != 0
        sm = _smooth(np.nan_to_num(np.asarray(probs[:, a:b])), valid, sigma)[:, r0 - a : r0 - a + (r1 - r0)]
        v = valid[r0 - a : r0 - a + (r1 - r0)]
        out = np.where(v, lut[np.nan_to_num(sm, nan=-1).argmax(0)], 0).astype(np.uint8)
        yield r0, r1, out


def predict_scenes(
    scenes: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    model: Any = None,
    *,
    with_probabilities: bool = False,
    with_confidence: bool = False,
    with_filtered: bool = False,
    progress: Callable | None = None,
    **kwargs,
) -> list[PredictResult]:
    """Map several scenes into ``out_dir``: ``<stem>_lcz.tif`` (and ``<stem>_probabilities.tif``,
    ``<stem>_confidence.tif``, ``<stem>_filtered.tif`` when asked). The model is loaded once;
    other keyword arguments go to :func:`predict_scene`."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise OutputError(f"output folder {out_dir} does not exist: create it first")
    m = load_model(model)
    scenes = [str(s) for s in scenes]
    stems = [Path(s).stem for s in scenes]
    if len(set(stems)) != len(stems):
        raise ConfigError("two scenes share a file name, so their outputs would collide: rename one")
    results = []
    for src, stem in zip(scenes, stems):
        results.append(
            predict_scene(
                src,
                out_dir / f"{stem}_lcz.tif",
                m,
                probabilities=out_dir / f"{stem}_probabilities.tif" if with_probabilities else None,
                confidence=out_dir / f"{stem}_confidence.tif" if with_confidence else None,
                filtered=out_dir / f"{stem}_filtered.tif" if with_filtered else None,
                progress=progress,
                **kwargs,
            )
        )
    return results


def predict_dataarray(
    da,
    model: Any = None,
    *,
    stride: int = DEFAULT_STRIDE,
    batch_size: int | None = None,
    device: str = "auto",
    tile_size: int = DEFAULT_TILE,
    max_nodata: float = 0.5,
    probabilities: bool = False,
    threads: int | None = None,
    read_threads: int | None = None,
    progress: Callable | None = None,
):
    """LCZ map of an ``xarray.DataArray`` (band, y, x) in the model's physical units (NaN = nodata).

    Bands are matched by the ``band`` coordinate ('VV', 'VH intensity', ...) when it holds names,
    else taken in order. Returns a uint8 DataArray ``lcz`` (y, x) with coordinates at the output
    pixel centres (or, with ``probabilities=True``, a Dataset with ``lcz``, ``confidence`` and
    ``probabilities``). dask-backed inputs are read tile by tile.
    """
    import xarray as xr

    m = load_model(model)
    if da.ndim == 2:
        da = da.expand_dims("band")
    if set(("y", "x")) - set(da.dims) or da.ndim != 3:
        raise SceneError(f"expected a DataArray with dims (band, y, x), got {da.dims}: transpose or rename it")
    other = [d for d in da.dims if d not in ("y", "x")][0]
    da = da.transpose(other, "y", "x")
    da = _order_bands(da, other, m.band_set)
    _, h, w = da.shape
    if h < m.patch_size or w < m.patch_size:
        raise SceneError(f"array is {h} x {w} pixels, smaller than one {m.patch_size} x {m.patch_size} window: give a larger one")
    data = da.data

    def read_window(rlo, rhi, clo, chi, out=None):
        values = np.asarray(data[:, rlo:rhi, clo:chi])
        if out is None:
            return np.array(values, dtype=np.float32)  # a copy: nodata is filled in place
        np.copyto(out, values, casting="unsafe")
        return out

    def read(r0, r1, c0, c1, out=None):
        return read_mirrored(read_window, h, w, r0, r1, c0, c1, out=out)

    params = _Params(stride, float(max_nodata), batch_size, str(_device(device)), probs=probabilities)
    shape = output_grid(h, w, stride)
    tiles = plan_tiles(*shape, tile_size)
    store = _MemoryStore(shape, len(m.codes), probabilities)
    bar = progress(total=len(tiles), desc="lcz") if progress else None
    try:
        _run_local(read, tiles, m, params, store.put, bar, read_threads=read_threads, threads=threads)
    finally:
        if bar is not None:
            bar.close()
    coords = {}
    for dim, n_out in (("y", shape[0]), ("x", shape[1])):
        if dim in da.coords and da.sizes[dim] > 1:
            v = np.asarray(da[dim].values, dtype=np.float64)
            step = v[1] - v[0]
            edge = v[0] - step / 2
            coords[dim] = edge + (np.arange(n_out) * stride + stride / 2) * step
    attrs = {k: v for k, v in da.attrs.items() if k in ("crs", "spatial_ref")}
    if "transform" in da.attrs:
        attrs["transform"] = tuple((Affine(*da.attrs["transform"][:6]) @ Affine.scale(stride))[:6])
    attrs.update(nodata=NODATA, codes=list(m.codes), stride=stride, model=m.name)
    lczda = xr.DataArray(store.codes, dims=("y", "x"), coords=coords, name="lcz", attrs=attrs)
    if not probabilities:
        return lczda
    return xr.Dataset(
        {
            "lcz": lczda,
            "confidence": xr.DataArray(store.confidence, dims=("y", "x"), coords=coords),
            "probabilities": xr.DataArray(store.probabilities, dims=("code", "y", "x"),
                                          coords={**coords, "code": list(m.codes)}),
        },
        attrs=attrs,
    )


def _order_bands(da, dim: str, bs: BandSet):
    if da.sizes[dim] != bs.n_channels:
        raise SceneError(
            f"the array has {da.sizes[dim]} bands but the model needs {bs.n_channels} "
            f"({', '.join(c.name for c in bs.channels)}): select those bands"
        )
    if dim not in da.coords or da[dim].dtype.kind not in "UO":
        return da
    names = [str(v).strip().upper() for v in da[dim].values]
    order = []
    for ch in bs.channels:
        cands = [i for i, n in enumerate(names) if n == ch.name.upper()]
        if not cands and ch.quantity == "intensity":
            cands = [i for i, n in enumerate(names) if n == ch.band]
        if not cands:
            raise SceneError(f"the array's bands {names} do not include {ch.name}: name the band coordinate values like {ch.name!r}")
        order.append(cands[0])
    return da.isel({dim: order})
