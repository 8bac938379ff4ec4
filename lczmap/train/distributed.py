"""Data-parallel training under ``torchrun``: the process group, and the gradient average that
DistributedDataParallel would do (done explicitly because one step runs the EO and SAR encoders in
separate forward passes)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch

__all__ = ["DistInfo", "setup_distributed", "teardown_distributed", "all_reduce_grads", "all_true", "barrier"]

log = logging.getLogger(__name__)


@dataclass
class DistInfo:
    """This process's place in the run: ``rank`` of ``world`` processes, its ``local_rank`` on
    the machine, and whether it initialised the process group (``owned``)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owned: bool = False

    @property
    def main(self) -> bool:
        """True in the process that validates and writes the outputs (rank 0)."""
        return self.rank == 0


def setup_distributed(device_name: str) -> DistInfo:
    """Join the process group when ``WORLD_SIZE`` > 1 (gloo on CPU, nccl when CUDA is used)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
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
    return DistInfo(rank, world, local, owned)


def teardown_distributed(dist_info: DistInfo) -> None:
    """Leave the process group if :func:`setup_distributed` created it."""
    if dist_info.owned:
        import torch.distributed as dist

        dist.destroy_process_group()


def all_reduce_grads(params: list[torch.nn.Parameter], dist_info: DistInfo) -> None:
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


def all_true(flag: bool, dist_info: DistInfo, device: torch.device) -> bool:
    """True when ``flag`` is true in every process (``flag`` itself in a single-process run)."""
    if dist_info.world <= 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1 if flag else 0], device=device if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def barrier(dist_info: DistInfo) -> None:
    """Wait for every process (no-op in a single-process run)."""
    if dist_info.world > 1:
        import torch.distributed as dist

        dist.barrier()
