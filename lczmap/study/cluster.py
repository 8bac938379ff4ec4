"""The dask cluster a study runs on: a local cluster (one worker per core, or one per GPU, each
seeing only its own GPU) or a running scheduler. Imported only when cells run, so reading a spec
or a results table loads no dask."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from distributed.diagnostics.plugin import WorkerPlugin

from ..errors import MissingDependencyError
from ..predict.cluster import DEFAULT_CONNECT_TIMEOUT, connect_scheduler

if TYPE_CHECKING:
    from .spec import StudySpec

__all__ = ["GpuPerWorker", "connect"]

log = logging.getLogger(__name__)


class GpuPerWorker(WorkerPlugin):
    """dask worker plugin: worker ``i`` of a local cluster sees only GPU ``gpus[i % len(gpus)]``
    (``CUDA_VISIBLE_DEVICES``, set before the worker's first CUDA call)."""

    name = "lczmap-gpu-per-worker"

    def __init__(self, gpus: Iterable[str]):
        self.gpus = [str(g) for g in gpus]

    def setup(self, worker) -> None:
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


def connect(scheduler: Any, spec: StudySpec, n_todo: int, workers: int | None,
            connect_timeout: float = DEFAULT_CONNECT_TIMEOUT):
    """(client, cluster or None, gpu resources?) for the run. A scheduler that does not answer
    within ``connect_timeout`` seconds is a :class:`~lczmap.errors.ClusterError`."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise MissingDependencyError("lczmap study needs dask.distributed: pip install distributed") from None
    if scheduler is not None:
        client = connect_scheduler(scheduler, connect_timeout)
        info = client.scheduler_info().get("workers", {})
        gpu = bool(info) and all("GPU" in (w.get("resources") or {}) for w in info.values())
        return client, None, gpu
    gpus = _visible_gpus(spec.device)
    cores = os.cpu_count() or 1
    n = workers or spec.workers or (len(gpus) if gpus else cores)
    n = max(1, min(n, n_todo))
    kwargs: dict = {}
    if gpus:
        kwargs["resources"] = {"GPU": 1}
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR, **kwargs)
    client = Client(cluster, set_as_default=False)
    if gpus:
        client.register_plugin(GpuPerWorker(gpus), name=GpuPerWorker.name)
    log.info("local dask cluster: %d worker processes%s", n, f", one GPU each ({', '.join(gpus)})" if gpus else "")
    return client, cluster, bool(gpus)

