"""Running tiles: reader threads read and prepare the next tiles into reused host buffers while
the calling thread launches one tile on the device and collects the one before; or the tiles run
on a dask.distributed cluster. Both take a resolved :class:`~lczmap.predict.plan.TilePlan` (threads,
readers, device, batch size). Where the time went is a :class:`Timings`."""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

from .grid import Tile, tile_block
from .kernel import LaunchedTile, PreparedBlock, TileResult, compute_tile, finish_tile, launch_tile, prepare_block
from .model import Model
from .plan import TilePlan

if TYPE_CHECKING:
    from distributed import Client, Future as DaskFuture

__all__ = [
    "Timings",
    "BufferPool",
    "Shifted",
    "Source",
    "ReadBlock",
    "ProgressBar",
    "Progress",
    "prepared_tiles",
    "run_local",
    "run_distributed",
]

#: ``put(tile, result)``: where a runner hands each finished tile.
Put = Callable[[Tile, TileResult], None]


class ReadBlock(Protocol):
    """``read(r0, r1, c0, c1, out=None)``: input rows ``r0:r1`` and columns ``c0:c1`` (C, h, w)
    float32, into ``out`` when given (a :class:`~lczmap.scene.Scene`'s ``read``)."""

    def __call__(self, r0: int, r1: int, c0: int, c1: int, out: np.ndarray | None = None) -> np.ndarray: ...


class Source(Protocol):
    """Anything with a :class:`ReadBlock` ``read`` (a :class:`~lczmap.scene.Scene`, :class:`Shifted`)."""

    def read(self, r0: int, r1: int, c0: int, c1: int, out: np.ndarray | None = None) -> np.ndarray: ...


class ProgressBar(Protocol):
    """The part of a tqdm bar the runners use."""

    def update(self, n: int = 1) -> object: ...

    def close(self) -> None: ...


#: ``progress(total=..., desc=...)`` -> a tqdm-like bar: how the verbs report progress.
Progress = Callable[..., ProgressBar]


@dataclass
class Timings:
    """Where the seconds of a run went: ``setup``, ``tiles`` (of which the calling thread spent
    ``read_wait`` waiting for reads, ``compute`` running or waiting for the model, ``store``
    storing results; local runs only, else None) and ``write`` (the output files). On the CPU,
    ``filter`` is the part of ``compute`` the speckle filter took (None when it did not run, and
    on CUDA, whose filter runs asynchronously). On CUDA,
    ``device_span`` sums, per tile, the device time from reaching the tile to finishing it:
    ``tiles - device_span`` is the time the GPU sat waiting for the host."""

    setup: float = 0.0
    tiles: float = 0.0
    write: float = 0.0
    read_wait: float | None = None
    compute: float | None = None
    store: float | None = None
    filter: float | None = None
    device_span: float | None = None

    def as_dict(self) -> dict[str, float]:
        """The timings that were measured, by name (those of a kind of run that has none are left out)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def add(self, name: str, seconds: float) -> None:
        """Add ``seconds`` to timing ``name`` (starting it at 0 when not measured yet)."""
        setattr(self, name, (getattr(self, name) or 0.0) + seconds)


@dataclass(frozen=True)
class Shifted:
    """``source`` (anything with ``read(r0, r1, c0, c1, out=None)``, e.g. a Scene) read ``rows``
    and ``cols`` further on: the tiles of a sub-grid (an area of interest) read from the whole
    scene. Picklable, for dask workers."""

    source: Source
    rows: int
    cols: int

    def read(self, r0: int, r1: int, c0: int, c1: int, out: np.ndarray | None = None) -> np.ndarray:
        return self.source.read(r0 + self.rows, r1 + self.rows, c0 + self.cols, c1 + self.cols, out=out)


class _PoolClosed(Exception):
    pass


class BufferPool:
    """Host buffers for tile blocks, made on demand up to ``n`` and reused: tiles are read straight
    into them, so there is no allocation per tile and, on CUDA (pinned buffers), no pinning copy
    and an asynchronous copy to the device. A buffer released with a CUDA event is waited for by
    the reader that takes it next, never by the compute thread."""

    def __init__(self, n: int, numel: int, pinned: bool) -> None:
        self._n, self._numel, self._pinned = n, numel, pinned
        self._free: deque[tuple[torch.Tensor, torch.cuda.Event | None]] = deque()
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
                    return torch.empty(self._numel, dtype=torch.float32, pin_memory=self._pinned)
                self._cond.wait()
        if event is not None:
            event.synchronize()
        return buf

    def release(self, buf: torch.Tensor, event: torch.cuda.Event | None = None) -> None:
        with self._cond:
            self._free.append((buf, event))
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _read_prepared(read: ReadBlock, t: Tile, model: Model, plan: TilePlan, pool: BufferPool) -> PreparedBlock:
    """Read tile ``t``'s block into a buffer of ``pool`` and prepare it (runs in a reader thread)."""
    buf = pool.acquire()
    try:
        a, b, c, d = tile_block(t, plan.stride, plan.patch, plan.halo)
        shape = (model.band_set.n_channels, b - a, d - c)
        view = buf[: math.prod(shape)].view(shape)
        block = read(a, b, c, d, out=view.numpy())
        prep = prepare_block(block, plan, tensor=view)
    except BaseException:
        pool.release(buf)
        raise
    prep.pool, prep.buffer = pool, buf
    return prep


def _block_numel(tiles: Sequence[Tile], model: Model, plan: TilePlan) -> int:
    """Elements of the largest input block among ``tiles``."""
    blocks = [tile_block(t, plan.stride, plan.patch, plan.halo) for t in tiles]
    return model.band_set.n_channels * max(b - a for a, b, _, _ in blocks) * max(d - c for _, _, c, d in blocks)


def prepared_tiles(
    read: ReadBlock, tiles: Sequence[Tile], model: Model, plan: TilePlan, timings: Timings | None = None
) -> Iterator[tuple[Tile, PreparedBlock]]:
    """Yield ``(tile, PreparedBlock)`` in the order of ``tiles``: ``plan.readers`` threads read
    and prepare (nodata rule, fill) up to ``readers + 1`` tiles ahead into ``readers + 4`` reused
    host buffers (pinned on CUDA), so host memory stays bounded by the tile size. ``read(a, b, c,
    d, out=...)`` reads input rows ``a:b`` and columns ``c:d`` into ``out``. A yielded block's
    buffer is given back when the consumer moves on, unless it called ``prep.release(event)``
    itself (CUDA: after queuing the copy to the device). Time spent waiting for a tile is added to
    ``timings.read_wait``."""
    tiles = list(tiles)
    timings = timings if timings is not None else Timings()
    timings.add("read_wait", 0.0)
    if not tiles:
        return
    readers = plan.readers
    pool = BufferPool(readers + 4, _block_numel(tiles, model, plan), pinned=plan.cuda)

    def work(t: Tile) -> PreparedBlock:
        return _read_prepared(read, t, model, plan, pool)

    with ThreadPoolExecutor(max_workers=max(1, readers), thread_name_prefix="lczmap-read") as executor:
        pending: deque[tuple[Tile, Future[PreparedBlock]]] = deque()
        it = iter(tiles)
        try:
            for t in it:
                pending.append((t, executor.submit(work, t)))
                if len(pending) > readers:
                    break
            while pending:
                t, fut = pending.popleft()
                t0 = time.perf_counter()
                prep = fut.result()
                timings.add("read_wait", time.perf_counter() - t0)
                nxt = next(it, None)
                if nxt is not None:
                    pending.append((nxt, executor.submit(work, nxt)))
                yield t, prep
                prep.release()
                del prep
        finally:
            for _, fut in pending:
                fut.cancel()
            pool.close()  # readers waiting for a buffer stop instead of blocking the shutdown


def run_local(
    read: ReadBlock,
    tiles: Sequence[Tile],
    model: Model,
    plan: TilePlan,
    put: Put,
    bar: ProgressBar | None = None,
    *,
    probabilities: bool = False,
    timings: Timings | None = None,
) -> None:
    """Reader threads read and prepare the next tiles while this thread queues the device work
    of one tile and collects the results of the one before (so CUDA never waits on the host).

    On the CPU, torch runs on ``plan.threads`` intra-op threads during the call (torch's setting
    is restored afterwards). ``timings`` receives the seconds this thread waited for reads
    (``read_wait``), ran or waited for the model (``compute``) and stored results (``store``);
    ``bar``: a tqdm-like progress bar."""
    if plan.device != "cpu":
        return _run_local_on(read, tiles, model, plan, put, bar, probabilities, timings)
    before = torch.get_num_threads()
    torch.set_num_threads(plan.threads)
    try:
        return _run_local_on(read, tiles, model, plan, put, bar, probabilities, timings)
    finally:
        torch.set_num_threads(before)


def _run_local_on(
    read: ReadBlock,
    tiles: Sequence[Tile],
    model: Model,
    plan: TilePlan,
    put: Put,
    bar: ProgressBar | None,
    probabilities: bool,
    timings: Timings | None,
) -> None:
    batch = plan.batch
    timings = timings if timings is not None else Timings()
    timings.add("compute", 0.0)
    timings.add("store", 0.0)

    def collect(t: Tile, launched: LaunchedTile) -> None:
        t0 = time.perf_counter()
        res = finish_tile(launched)
        t1 = time.perf_counter()
        put(t, res)
        timings.add("compute", t1 - t0)
        if res.device_span is not None:
            timings.add("device_span", res.device_span)
        timings.add("store", time.perf_counter() - t1)
        if bar is not None:
            bar.update(1)

    previous: tuple[Tile, LaunchedTile] | None = None
    for t, prep in prepared_tiles(read, tiles, model, plan, timings=timings):
        t0 = time.perf_counter()
        launched = launch_tile(prep, model, plan, batch, probabilities=probabilities)
        batch = launched.batch_size  # halved for the next tiles once out of memory
        timings.add("compute", time.perf_counter() - t0)
        if launched.filter_seconds is not None:
            timings.add("filter", launched.filter_seconds)
        prep.release(launched.copied)  # CUDA: once copied to the device; elsewhere: done with the block
        del prep
        if previous is not None:
            collect(*previous)
        previous = (t, launched)
    if previous is not None:
        collect(*previous)


def _remote_tile(source: Source, model: Model, tile: Tile, plan: TilePlan, probabilities: bool) -> TileResult:
    """A tile computed on a dask worker (reads its own block; the device resolved there)."""
    plan = plan.here()
    block = source.read(*tile_block(tile, plan.stride, plan.patch, plan.halo))
    return compute_tile(block, model, plan, probabilities=probabilities)


def run_distributed(
    client: Client,
    source: Source,
    tiles: Sequence[Tile],
    model: Model,
    plan: TilePlan,
    put: Put,
    bar: ProgressBar | None = None,
    *,
    probabilities: bool = False,
) -> None:
    """Compute ``tiles`` on the dask.distributed cluster of ``client``, at most three tiles in
    flight per worker; each worker reads its own blocks and resolves the plan's device for
    itself (:meth:`TilePlan.here`)."""
    from distributed import as_completed

    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    model_f = client.scatter(model, broadcast=True)
    source_f = client.scatter(source, broadcast=True)
    todo = deque(tiles)
    keys: dict[object, Tile] = {}

    def submit() -> DaskFuture:
        t = todo.popleft()
        f = client.submit(_remote_tile, source_f, model_f, t, plan, probabilities, pure=False)
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
