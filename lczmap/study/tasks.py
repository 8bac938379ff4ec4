"""The tasks of a study, as dask runs them on its workers: :func:`run_cell` (train and test one
cell, never raising), the task of a shared EO stage and the task of a cell (which sets up its
worker first: torch threads, allocator)."""

from __future__ import annotations

import datetime as _dt
import logging
import os
import socket
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import TypeAlias

from .._io import atomic_path
from ..errors import LczmapError
from .spec import Cell

#: A path as a string or a path object.
PathLike: TypeAlias = str | os.PathLike

__all__ = ["cell_task", "eo_task", "failed_row", "first_line", "run_cell"]

log = logging.getLogger(__name__)


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message``, the reason a results row records."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


def run_cell(
    cell: Cell,
    data: PathLike | None,
    cache: PathLike | None,
    cell_dir: str | os.PathLike,
    split: str,
    device: str = "auto",
    threads: int = 1,
    eo_checkpoint: str | os.PathLike | None = None,
) -> dict:
    """Train and test one cell; never raises. Returns its results row (``status`` ``ok`` or ``failed``).

    Writes ``cell_dir/model.safetensors`` (+ training curves) and ``cell_dir/eval/``; a checkpoint
    left by an earlier run is tested without training again, an interrupted training resumes.
    ``eo_checkpoint``: the cell's EO stage, trained already (the same checkpoint as without it).
    ``threads``: torch threads of the cell (recorded in the row).
    """
    import torch

    from ..checkpoint import load_checkpoint
    from ..evaluate import evaluate
    from ..train import train

    t0 = time.perf_counter()
    cell_dir = Path(cell_dir)
    row: dict = {"cell_id": cell.cell_id, **cell.axes(), "split": split, "worker": socket.gethostname()}
    error_file = cell_dir / "error.txt"
    try:
        torch.set_num_threads(max(1, int(threads)))
        cell_dir.mkdir(parents=True, exist_ok=True)
        error_file.unlink(missing_ok=True)
        config = cell.config(data, cache, device)
        if eo_checkpoint is not None:
            config = replace(config, eo_checkpoint=str(eo_checkpoint))
        row["threads"] = torch.get_num_threads()
        checkpoint = cell_dir / "model.safetensors"
        ckpt = None
        if checkpoint.is_file():
            try:
                ckpt = load_checkpoint(checkpoint)
            except LczmapError as exc:
                log.warning("retraining cell %s: %s", cell.cell_id, exc)
        if ckpt is None:
            # the cell folder is the study's own: a stale partial output is replaced, an
            # interrupted training (model.resume.pt) continues
            result = train(config, checkpoint, overwrite=True, resume=True, record_last=False)
            ckpt = load_checkpoint(result.checkpoint)
        train_seconds = float(ckpt.meta.get("metrics", {}).get("seconds", time.perf_counter() - t0))
        t1 = time.perf_counter()
        rep = evaluate(
            ckpt,
            data,
            split=split,
            cache=cache,
            out_dir=cell_dir / "eval",
            device="cpu" if device == "auto" and not torch.cuda.is_available() else device,
            overwrite=True,
        )
        eval_seconds = time.perf_counter() - t1
        row.update(
            status="ok",
            error="",
            accuracy=rep["overall_accuracy"],
            kappa=rep["kappa"],
            macro_f1=rep["macro_f1"],
            n_test=rep["n"],
            train_seconds=round(train_seconds, 2),
            eval_seconds=round(eval_seconds, 2),
            seconds=round(train_seconds + eval_seconds, 2),
            checkpoint=str(checkpoint),
            report=str(cell_dir / "eval" / "report.json"),
        )
    except Exception as exc:  # a failed cell is recorded, never fatal to the study
        row.update(status="failed", error=first_line(exc), seconds=round(time.perf_counter() - t0, 2))
        try:
            with atomic_path(error_file, overwrite=True) as tmp:
                tmp.write_text(traceback.format_exc())
        except OSError:
            pass
    row["finished"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    return row


def _threads(threads: int | dict[str, int]) -> int:
    """This worker's torch threads: ``threads``, or from the number of workers on its host."""
    if isinstance(threads, int):
        return threads
    from .cluster import worker_threads

    try:
        from distributed import get_worker

        host = get_worker().address.split("://")[-1].rsplit(":", 1)[0]
    except Exception:  # not on a dask worker
        host = ""
    return worker_threads(os.cpu_count() or 1, threads.get(host, 1))


def eo_task(
    cell: Cell, data: PathLike | None, cache: PathLike | None, path: str, device: str, threads: int | dict[str, int]
) -> dict:
    """The dask task of a shared EO stage: train it and write ``path``; never raises. Returns
    ``{"status": "ok"|"failed", "error", "path", "seconds"}``; a failure's traceback goes to
    ``<path stem>.error.txt``."""
    from .cluster import tune_worker

    t0 = time.perf_counter()
    error_file = Path(path).with_suffix(".error.txt")
    try:
        tune_worker(_threads(threads))
        from ..train import train_eo_stage

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        error_file.unlink(missing_ok=True)
        train_eo_stage(cell.config(data, cache, device), path, overwrite=True)
        return {"status": "ok", "error": "", "path": path, "seconds": round(time.perf_counter() - t0, 2)}
    except Exception as exc:  # the cells that need it fail with this reason; the study goes on
        try:
            with atomic_path(error_file, overwrite=True) as tmp:
                tmp.write_text(traceback.format_exc())
        except OSError:
            pass
        return {"status": "failed", "error": first_line(exc), "path": path, "seconds": round(time.perf_counter() - t0, 2)}


def cell_task(
    cell: Cell,
    data: PathLike | None,
    cache: PathLike | None,
    cell_dir: str,
    split: str,
    device: str,
    threads: int | dict[str, int] = 1,
    eo: str | dict | None = None,
) -> dict:
    """The dask task: :func:`run_cell` on a tuned worker (:func:`~lczmap.study.cluster.tune_worker`)
    with the worker's name recorded. ``eo``: the path of the cell's shared EO stage, or the result
    of the :func:`eo_task` that trains it (a failed one fails the cell with its reason)."""
    from .cluster import tune_worker

    n_threads = _threads(threads)
    tune_worker(n_threads)
    eo_path = eo.get("path") if isinstance(eo, dict) else eo
    if isinstance(eo, dict) and eo.get("status") != "ok":
        row = failed_row(cell, split, f"shared EO stage {cell.eo_stage_id} failed: {eo.get('error')}")
        try:
            Path(cell_dir).mkdir(parents=True, exist_ok=True)
            with atomic_path(Path(cell_dir) / "error.txt", overwrite=True) as tmp:
                tmp.write_text(row["error"] + f"\n(traceback: {Path(str(eo_path)).with_suffix('.error.txt')})\n")
        except OSError:
            pass
    else:
        row = run_cell(cell, data, cache, cell_dir, split, device, threads=n_threads, eo_checkpoint=eo_path)
    try:
        from distributed import get_worker

        row["worker"] = f"{socket.gethostname()}/{get_worker().name}"
    except Exception:  # not on a dask worker
        pass
    return row


def failed_row(cell: Cell, split: str, error: str) -> dict:
    """The results row of a cell that failed with ``error`` before or outside :func:`run_cell`."""
    return {
        "cell_id": cell.cell_id,
        **cell.axes(),
        "split": split,
        "status": "failed",
        "error": error,
        "finished": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
