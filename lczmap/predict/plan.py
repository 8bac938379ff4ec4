"""What a run will do: :class:`TilePlan`, resolved once from what the user asked
(:class:`~lczmap.predict.PredictOptions`), the model and the scene, by
:meth:`PredictOptions.resolve <lczmap.predict.PredictOptions.resolve>`. The grid, the kernel and
the runners take only the plan: none of them re-derives the device, the speckle filter, the halo
or the batch size.

Imports nothing heavy at module level (torch comes with :func:`~lczmap._device.resolve_device`
when a plan is made).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..speckle import HALO, SpeckleFilter, resolve_speckle_filter

if TYPE_CHECKING:
    from ..scene import Scene
    from .model import Model
    from .options import PredictOptions

__all__ = ["TilePlan", "resolve_plan", "default_batch_size", "reader_settings"]

#: Windows per batch on CUDA when none is asked for, and elsewhere.
CUDA_BATCH, OTHER_BATCH = 4096, 512


@dataclass(frozen=True)
class TilePlan:
    """How the tiles of a run are computed, resolved once (see :func:`resolve_plan`).

    ``stride`` (output pixel size in input pixels), ``patch`` (window side, the model's),
    ``halo`` (input pixels a tile's block carries on each side beyond its windows: the speckle
    filter's, else 0), ``speckle_filter`` (``refined-lee`` or ``none``, what is applied: with the
    scene's ``prefiltered`` taken into account), ``max_nodata`` (largest nodata share of a
    classified window), ``tile_size`` (output pixels per tile side), ``amp`` (mixed precision,
    CUDA only), ``threads`` (torch threads of a local run on the CPU), ``readers`` (reader threads
    of a local run).

    ``device`` (a torch device name: ``cpu``, ``cuda``, ``cuda:N``, ``mps``) and ``batch_size``
    (windows per batch on it) are resolved on the machine that makes the plan. A cluster run's
    plan (``on_workers``) holds them as asked (``auto``; None: the device's default): each dask
    worker resolves them for itself with :meth:`here`, since the client cannot know its devices.
    """

    stride: int
    patch: int
    halo: int
    speckle_filter: SpeckleFilter
    max_nodata: float
    tile_size: int
    amp: bool
    threads: int
    readers: int
    device: str
    batch_size: int | None
    on_workers: bool = False

    @property
    def filtering(self) -> bool:
        """Whether the refined Lee filter runs on each tile's block."""
        return self.speckle_filter == "refined-lee"

    @property
    def cuda(self) -> bool:
        """Whether the windows run on a CUDA device."""
        return self.device.startswith("cuda")

    @property
    def batch(self) -> int:
        """Windows per batch (a resolved plan's ``batch_size``)."""
        if self.batch_size is None or self.on_workers:
            raise ConfigError("a cluster run's plan is resolved on each worker: use TilePlan.here() there")
        return self.batch_size

    def here(self) -> TilePlan:
        """This plan on the machine that runs it: a cluster run's plan with its device and batch
        size resolved here (once per task on a dask worker); a resolved plan as it is."""
        if not self.on_workers:
            return self
        device = _resolve_device(self.device)
        return dataclasses.replace(
            self, device=device, batch_size=self.batch_size or default_batch_size(device), on_workers=False
        )


def _resolve_device(asked: str) -> str:
    from .._device import resolve_device

    return str(resolve_device(asked))


def default_batch_size(device: str) -> int:
    """Windows per batch when none is asked for: 4096 on CUDA, else 512."""
    return CUDA_BATCH if device.startswith("cuda") else OTHER_BATCH


def reader_settings(device: str, read_threads: int | None = None) -> int:
    """Reader threads of a local run on ``device`` (a torch device name; ``auto`` is resolved
    here; ``read_threads`` overrides).

    On the CPU the model is the bound (reading takes ~1 % of the time): 2-4 readers, leaving the
    cores to torch. On an accelerator the host must keep up with the device: half the cores
    (2-8), so that compressed scenes (GDAL decodes them ~7x slower than raw ones) or slow storage
    still feed it. GDAL's own decode threads (``GDAL_NUM_THREADS``) are left to the user's
    environment: with as many readers as cores they gave nothing, and they slowed raw scenes."""
    if read_threads is not None:
        if read_threads < 1:
            raise ConfigError(f"read_threads must be at least 1 (--read-threads), got {read_threads}")
        return int(read_threads)
    kind = (_resolve_device(device) if device == "auto" else device).split(":")[0]
    cpus = os.cpu_count() or 2
    return min(4, max(2, cpus // 4)) if kind == "cpu" else min(8, max(2, cpus // 2))


def resolve_plan(options: PredictOptions, model: Model, scene: Scene | None) -> TilePlan:
    """The :class:`TilePlan` of mapping ``scene`` (None: an array in the model's units, which
    nothing filtered) with ``model`` as ``options`` ask: the speckle filter resolved against the
    model's band set and the scene's ``prefiltered`` (:func:`lczmap.speckle.resolve_speckle_filter`),
    its halo, the device (here, or on each worker when ``options.scheduler`` is set), the batch
    size, the threads. What :meth:`PredictOptions.resolve <lczmap.predict.PredictOptions.resolve>` returns."""
    prefiltered = scene.prefiltered if scene is not None else False
    speckle = resolve_speckle_filter(options.speckle_filter, model.band_set, prefiltered)
    on_workers = options.scheduler is not None
    device = options.device if on_workers else _resolve_device(options.device)
    batch = options.batch_size if on_workers else options.batch_size or default_batch_size(device)
    return TilePlan(
        stride=options.stride,
        patch=model.patch_size,
        halo=HALO if speckle == "refined-lee" else 0,
        speckle_filter=speckle,
        max_nodata=options.max_nodata,
        tile_size=options.tile_size,
        amp=options.amp,
        threads=options.threads or max(1, (os.cpu_count() or 1) - 1),
        readers=reader_settings("cpu" if on_workers else device, options.read_threads),
        device=device,
        batch_size=batch,
        on_workers=on_workers,
    )
