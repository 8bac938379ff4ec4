"""Running a mosaic: its output tiles are dask tasks (a LocalCluster by default, a
dask.distributed scheduler with ``--scheduler``, or this process with ``workers=0``). Each task
reads only the blocks of the scenes that reach its tile (the footprint index says which) and
fuses them (:mod:`lczmap.mosaic.fusion`); a tile no scene reaches is never a task. Finished
tiles go to a :class:`TileStore` beside the output, one file each, written whole or not at all,
so that a run killed at any moment (SIGKILL included) continues with ``--resume`` and writes the
same bytes."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._io import atomic_path
from ..errors import ConfigError, OutputError
from ..predict.grid import Tile
from ..predict.kernel import TileResult
from ..predict.model import Model
from ..predict.plan import TilePlan
from ..predict.runner import ProgressBar
from ..predict.store import resume_dir
from ..scene import Scene
from .fusion import TileFusion, block_of, classify, composite_block, failed, reach, read_on_grid
from .grid import MosaicGrid, Placement

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["RunSpec", "TileJob", "TileOutput", "TileStore", "compute_mosaic_tile", "run_tiles", "mosaic_client"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSpec:
    """What every tile of a run shares (sent to each worker once): the ``scenes``, their
    ``placements`` on the ``grid`` and ``plans``, their composite ``groups``, the ``fusion``,
    whether tiles keep their ``probabilities`` and whether a scene failing to read is skipped."""

    scenes: tuple[Scene, ...]
    placements: tuple[Placement, ...]
    plans: tuple[TilePlan, ...]
    groups: tuple[int, ...]
    grid: MosaicGrid
    fusion: str
    probabilities: bool
    skip_bad: bool


@dataclass(frozen=True)
class TileJob:
    """Output tile ``key`` (row, column of the tiling), its pixels ``tile`` and the ``scenes``
    (indices into :attr:`RunSpec.scenes`) that reach it."""

    key: tuple[int, int]
    tile: Tile
    scenes: tuple[int, ...]


@dataclass
class TileOutput:
    """A finished tile: the fused ``result``, ``count`` (acquisitions per pixel), the scenes
    ``used`` and those that ``failed`` to read (index, message)."""

    key: tuple[int, int]
    result: TileResult
    count: np.ndarray
    used: tuple[int, ...]
    failed: tuple[tuple[int, str], ...] = ()


def _set_threads(plan: TilePlan) -> None:
    if plan.device == "cpu":
        import torch

        if torch.get_num_threads() != plan.threads:
            torch.set_num_threads(plan.threads)


def compute_mosaic_tile(spec: RunSpec, model: Model, job: TileJob, exclude: frozenset[int] = frozenset()) -> TileOutput:
    """Fuse the scenes reaching ``job``'s tile (but those in ``exclude``); runs on a worker."""
    fusion = TileFusion(job.tile, model, spec.probabilities)
    used: list[int] = []
    failures: list[tuple[int, str]] = []

    def read(k: int, sub: Tile, plan: TilePlan) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            return read_on_grid(spec.scenes[k], spec.placements[k], spec.grid, *block_of(sub, plan))
        except Exception as exc:  # a scene failing halfway: rasterio, GDAL, a SAFE reader, a cut file
            err = failed(spec.scenes[k], exc)
            if not spec.skip_bad:
                raise err from None
            failures.append((k, str(err)))
            return None

    todo = [k for k in job.scenes if k not in exclude]
    if spec.fusion == "probability":
        for k in todo:
            sub = reach(spec.placements[k], job.tile)
            if sub is None:
                continue
            plan = spec.plans[k].here()
            _set_threads(plan)
            got = read(k, sub, plan)
            if got is not None:
                fusion.add(classify(*got, None, sub, model, plan))
                used.append(k)
    else:
        groups: dict[int, list[int]] = {}
        for k in todo:
            groups.setdefault(spec.groups[k], []).append(k)
        for members in groups.values():
            subs = [s for s in (reach(spec.placements[k], job.tile) for k in members) if s is not None]
            if not subs:
                continue
            sub = Tile(min(s.i0 for s in subs), max(s.i1 for s in subs), min(s.j0 for s in subs), max(s.j1 for s in subs))
            plan = spec.plans[members[0]].here()
            _set_threads(plan)
            blocks, ok = [], []
            for k in members:
                got = read(k, sub, plan)
                if got is not None:
                    blocks.append(got)
                    ok.append(k)
            if blocks:
                mean, inside, dates = composite_block(blocks)
                fusion.add(classify(mean, inside, dates, sub, model, plan))
                used.extend(ok)
    result, count = fusion.result()
    return TileOutput(job.key, result, count, tuple(used), tuple(failures))


class TileStore:
    """Finished tiles of a run in ``.<out>.mosaic.partial`` beside the output: ``state.json``
    (the run's fingerprint and date) and one ``.npz`` per tile, each written to a temporary name
    and renamed (a killed run leaves whole tiles or none). ``done``: the keys finished."""

    def __init__(self, out: Path, fingerprint: dict[str, Any], resume: bool) -> None:
        self.dir = resume_dir(out.with_name(out.name + ".mosaic"))
        fp = json.dumps(fingerprint, sort_keys=True)
        self.done: set[tuple[int, int]] = set()
        if self.dir.exists():
            if resume and self._resume(fp):
                return
            shutil.rmtree(self.dir, ignore_errors=True)
        elif resume:
            log.warning("nothing to resume for %s: starting from the beginning", out)
        try:
            (self.dir / "tiles").mkdir(parents=True)
        except OSError as exc:
            raise OutputError(f"cannot write the resume folder {self.dir} ({exc.strerror})") from None
        self.state = {"fingerprint": fp, "date": _now()}
        with atomic_path(self.dir / "state.json", overwrite=True) as tmp:
            tmp.write_text(json.dumps(self.state))

    def _resume(self, fp: str) -> bool:
        try:
            state = json.loads((self.dir / "state.json").read_text())
        except FileNotFoundError:
            return False
        except (OSError, ValueError):
            raise OutputError(f"the resume state in {self.dir} cannot be read: delete it or rerun without --resume") from None
        if not isinstance(state, dict) or state.get("fingerprint") != fp:
            raise ConfigError(
                f"the interrupted run in {self.dir} used other inputs or options: rerun without --resume to start over"
            )
        self.state = state
        for f in (self.dir / "tiles").glob("*.npz"):
            ty, _, tx = f.stem.partition("_")
            if ty.isdigit() and tx.isdigit():
                self.done.add((int(ty), int(tx)))
        log.info("resuming: %d tiles already done", len(self.done))
        return True

    def _path(self, key: tuple[int, int]) -> Path:
        return self.dir / "tiles" / f"{key[0]}_{key[1]}.npz"

    def put(self, out: TileOutput) -> None:
        arrays = {
            "codes": out.result.codes,
            "confidence": out.result.confidence,
            "count": out.count,
            "used": np.asarray(out.used, np.int64),
            "n_valid": np.asarray(out.result.n_valid),
        }
        if out.result.probabilities is not None:
            arrays["probabilities"] = out.result.probabilities
        path = self._path(out.key)
        with atomic_path(path, overwrite=True) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, allow_pickle=False, **arrays)
        self.done.add(out.key)

    def get(self, key: tuple[int, int]) -> TileOutput:
        with np.load(self._path(key)) as z:
            probs = z["probabilities"] if "probabilities" in z.files else None
            res = TileResult(z["codes"], z["confidence"], probs, int(z["n_valid"]))
            return TileOutput(key, res, z["count"], tuple(int(v) for v in z["used"]))

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _now() -> str:
    import datetime as dt

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch and epoch.isdigit() else dt.datetime.now(dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def model_digest(model: Model) -> str:
    """A hash of the model's weights (what a resumed run must share)."""
    h = hashlib.sha256()
    for v in model.network.state_dict().values():
        h.update(v.detach().cpu().numpy().tobytes())
    return h.hexdigest()


@contextmanager
def mosaic_client(scheduler: Any, workers: int | None, connect_timeout: float) -> Iterator[Client | None]:
    """The dask client tiles run on: ``scheduler`` (a Client, or an address connected to), else
    a LocalCluster of ``workers`` single-threaded processes (default 2), or None for ``workers=0``."""
    if scheduler is not None:
        if hasattr(scheduler, "submit"):
            yield scheduler
            return
        from ..predict.cluster import connect_scheduler

        client = connect_scheduler(scheduler, connect_timeout)
        try:
            yield client
        finally:
            client.close()
        return
    if workers == 0:
        yield None
        return
    from distributed import Client, LocalCluster

    from .options import DEFAULT_WORKERS

    with (
        LocalCluster(
            n_workers=workers or DEFAULT_WORKERS, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


def run_tiles(
    client: Client | None,
    spec: RunSpec,
    model: Model,
    jobs: Sequence[TileJob],
    put: Callable[[TileOutput], None],
    bar: ProgressBar | None = None,
    exclude: frozenset[int] = frozenset(),
) -> None:
    """Compute ``jobs`` here (``client`` None) or on the cluster, at most three tiles in flight
    per worker, handing each finished tile to ``put``."""
    if client is None:
        for job in jobs:
            put(compute_mosaic_tile(spec, model, job, exclude))
            if bar is not None:
                bar.update(1)
        return
    from distributed import as_completed

    if not jobs:
        return
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    spec_f = client.scatter(spec, broadcast=True)
    model_f = client.scatter(model, broadcast=True)
    todo = deque(jobs)

    def submit() -> Any:
        return client.submit(compute_mosaic_tile, spec_f, model_f, todo.popleft(), exclude, pure=False)

    running = as_completed([submit() for _ in range(min(len(todo), 3 * n_workers))], loop=client.loop)
    for fut in running:
        put(fut.result())
        fut.release()
        if todo:
            running.add(submit())
        if bar is not None:
            bar.update(1)


@dataclass
class RunReport:
    """What a run did: the tiles written and the scenes that failed (index -> message)."""

    tiles: list[tuple[int, int]] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
