"""The dask cluster a study runs on: a local cluster (one worker per core, or ``cells_per_gpu``
workers per GPU, each seeing only its GPU) or a running scheduler; and how a worker is set up for
training (:func:`tune_worker`: torch threads sized so the workers of a machine share its cores,
and glibc's allocator told to keep freed memory). Imported only when cells run, so reading a spec
or a results table loads no dask."""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dask
from distributed.diagnostics.plugin import WorkerPlugin

from ..errors import ConfigError, MissingDependencyError
from ..predict.cluster import DEFAULT_CONNECT_TIMEOUT, connect_scheduler

if TYPE_CHECKING:
    from distributed import Worker

    from .spec import StudySpec

__all__ = ["GpuPerWorker", "Cluster", "connect", "default_cells_per_gpu", "tune_worker", "worker_threads"]

#: glibc ``mallopt`` parameters and the values :func:`tune_worker` sets: the ceilings that glibc's
#: own dynamic thresholds reach on 64-bit Linux (32 MiB mmap threshold, twice that to trim).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 << 20
#: Share of a GPU's memory the default ``cells_per_gpu`` fills with cells.
GPU_MEMORY_SHARE = 0.8

log = logging.getLogger(__name__)


class GpuPerWorker(WorkerPlugin):
    """dask worker plugin: worker ``i`` of a local cluster sees only GPU ``gpus[i % len(gpus)]``
    (``CUDA_VISIBLE_DEVICES``, set before the worker's first CUDA call)."""

    name = "lczmap-gpu-per-worker"

    def __init__(self, gpus: Iterable[str]):
        self.gpus = [str(g) for g in gpus]

    def setup(self, worker: Worker) -> None:
        try:
            index = int(worker.name)
        except (TypeError, ValueError):
            index = int(hashlib.sha1(str(worker.name).encode()).hexdigest(), 16)
        os.environ["CUDA_VISIBLE_DEVICES"] = self.gpus[index % len(self.gpus)]


def _visible_gpus(device: str) -> list[str]:
    if device == "cpu" or device == "mps":
        return []
    try:
        import torch

        n = torch.cuda.device_count()
    except Exception:  # pragma: no cover
        return []
    if not n:
        return []
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [g.strip() for g in env.split(",") if g.strip()] if env else []
    return ids[:n] if len(ids) >= n else [str(i) for i in range(n)]


def check_cells_per_gpu(value: int | None) -> int | None:
    """``value`` when it is None (choose) or a positive integer; :class:`ConfigError` otherwise."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"--cells-per-gpu {value!r} (cells_per_gpu={value!r}) must be at least 1")
    return value


def default_cells_per_gpu(gpu_bytes: int, cell_bytes: int, cores: int, gpus: int) -> int:
    """Cells to place on one GPU: as many as fit in :data:`GPU_MEMORY_SHARE` of its ``gpu_bytes``
    at ``cell_bytes`` each (:func:`lczmap.train.data.run_device_bytes`), and no more than the
    machine's ``cores`` shared over its ``gpus`` (each cell drives its GPU from one core); at least 1."""
    by_memory = int(GPU_MEMORY_SHARE * gpu_bytes // max(1, cell_bytes))
    by_cores = max(1, cores // max(1, gpus))
    return max(1, min(by_memory, by_cores))


def worker_threads(cores: int, workers: int) -> int:
    """torch threads for each of ``workers`` worker processes on a machine of ``cores`` cores."""
    return max(1, cores // max(1, workers))


_TUNED = False


def tune_worker(threads: int) -> None:
    """Set up this worker process for training: ``threads`` torch threads, and glibc's allocator
    told to keep freed memory (dask starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which
    turns off glibc's adaptive thresholds, so every activation buffer of every training step is
    mapped, page-faulted and unmapped again: a million page faults and about 1.4x the CPU time
    per cell on the CPU). Values only change where the memory comes from, never a number."""
    global _TUNED
    import torch

    torch.set_num_threads(max(1, int(threads)))
    if _TUNED:
        return
    _TUNED = True
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = getattr(libc, "mallopt", None)
    except OSError:  # pragma: no cover - no C library to load
        mallopt = None
    if mallopt is None:  # not glibc (macOS, Windows, musl): nothing to tune
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, 2 * _MMAP_THRESHOLD)


@dataclass
class Cluster:
    """What a study runs on: the ``client``, the local ``cluster`` it started (None for a
    scheduler), whether cells ask for a ``GPU`` resource, and the torch ``threads`` of each
    worker (an int, or by host name for a scheduler's workers)."""

    client: Any
    cluster: Any
    gpu: bool
    threads: int | dict[str, int]
    workers: int

    def close(self, own_client: bool) -> None:
        if self.cluster is not None or own_client:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def connect(
    scheduler: Any,
    spec: StudySpec,
    n_todo: int,
    workers: int | None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    cells_per_gpu: int | None = None,
    cell_bytes: int | None = None,
) -> Cluster:
    """The :class:`Cluster` for the run. A scheduler that does not answer within
    ``connect_timeout`` seconds is a :class:`~lczmap.errors.ClusterError`. On a machine with
    GPUs the local cluster has ``cells_per_gpu`` workers per GPU (default
    :func:`default_cells_per_gpu` from ``cell_bytes``); each worker runs one cell at a time with
    :func:`worker_threads` torch threads."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise MissingDependencyError("lczmap study needs dask.distributed: pip install distributed") from None
    check_cells_per_gpu(cells_per_gpu)
    if scheduler is not None:
        client = connect_scheduler(scheduler, connect_timeout)
        info = client.scheduler_info().get("workers", {})
        gpu = bool(info) and all("GPU" in (w.get("resources") or {}) for w in info.values())
        per_host: dict[str, int] = {}
        for w in info.values():
            host = str(w.get("host") or "")
            per_host[host] = per_host.get(host, 0) + 1
        return Cluster(client, None, gpu, per_host, len(info))
    gpus = _visible_gpus(spec.device)
    cores = os.cpu_count() or 1
    if gpus:
        per_gpu = cells_per_gpu or default_cells_per_gpu(_gpu_bytes(), cell_bytes or 1, cores, len(gpus))
        default = len(gpus) * per_gpu
    else:
        per_gpu, default = 0, cores
    n = workers or spec.workers or default
    n = max(1, min(n, n_todo))
    kwargs: dict = {}
    if gpus:
        kwargs["resources"] = {"GPU": 1}
    # no scheduler-side queue: dask would queue the EO stages (a group of tasks without
    # dependencies) behind the cells that need none, whatever their priority; without the queue
    # every task goes to a worker at once and each worker runs its tasks by priority
    with dask.config.set({"distributed.scheduler.worker-saturation": float("inf")}):
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR, **kwargs
        )
    client = Client(cluster, set_as_default=False)
    if gpus:
        client.register_plugin(GpuPerWorker(gpus), name=GpuPerWorker.name)
    threads = worker_threads(cores, n)
    log.info(
        "local dask cluster: %d worker processes, %d torch thread(s) each%s",
        n,
        threads,
        f", {per_gpu} per GPU ({', '.join(gpus)})" if gpus else "",
    )
    return Cluster(client, cluster, bool(gpus), threads, n)


def _gpu_bytes() -> int:
    """Memory of the smallest visible GPU (0 when none)."""
    import torch

    sizes = [torch.cuda.get_device_properties(i).total_memory for i in range(torch.cuda.device_count())]
    return min(sizes) if sizes else 0
