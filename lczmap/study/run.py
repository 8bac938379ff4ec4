"""Running a study: the study folder and its manifest, the lock, resume, and the cells as tasks
on dask.distributed.

Outputs, all in the study folder ``out``::

    out/study.json                the resolved spec (the folder's identity; a rerun must match its data)
    out/results.csv               one row per cell: configuration, status, error, accuracy, kappa,
                                  seconds, checkpoint and report (paths relative to ``out``)
                                  (``results.parquet`` too with table_format="parquet")
    out/summary.md, summary.csv   mean and standard error over seeds per configuration
    out/accuracy_vs_labels.png    accuracy vs labelled SAR per class setting, one line per method
    out/norm.png                  batch vs instance norm for finetune and swd
    out/supcon.png                SupCon vs none in the low-rise setting
    out/cells/<cell id>/          model.safetensors (+ .metrics.csv, .curve.png), eval/report.json, error.txt
    out/eo/<EO stage id>.safetensors   each EO stage the cells share, trained once (error.txt beside a failed one)

A study folder has one data set and one test split, and the cell id is a hash of the cell's full
training configuration, so a rerun skips every cell whose row says ``ok``; failed cells are tried
again (``retry_failed``). A cell that raises is recorded with its error and does not stop the
others. ``results.csv`` is rewritten (atomically) after every finished cell, so an interrupted
study loses at most the cells that were running; those resume from their last finished epoch.

Shared EO stages: cells that differ only in method and labelled SAR budget have the same EO
stage (:attr:`~lczmap.study.spec.Cell.eo_stage_id`). The study trains each EO stage its cells to
run need once (:func:`lczmap.train.train_eo_stage`, a task of its own), and those cells start
their SAR stage from it (``eo_checkpoint``): the same checkpoints, byte for byte, as training the
EO stage in every cell. A rerun reuses the EO stages in ``out/eo``; a failed EO stage fails the
cells that need it, with its error.

Cells run as tasks on dask.distributed (:mod:`lczmap.study.cluster`): a local cluster of worker
processes by default (one per core, or ``cells_per_gpu`` per GPU), or the cluster at
``scheduler``. Each worker runs one task at a time with its share of the machine's cores as torch
threads. Tasks carry priorities: EO stages first, then cells by their number of training steps,
so that the last cells to finish are short.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import __version__
from .._io import atomic_path
from ..errors import ConfigError, MissingDependencyError, StudyError
from ..predict.cluster import DEFAULT_CONNECT_TIMEOUT, check_connect_timeout, check_scheduler, connect_scheduler
from .figures import plot_figures
from .results import TABLE_FORMATS, aggregate, read_results, summary_markdown, write_table
from .spec import Cell, StudySpec, describe_cell, study_folder, train_fields
from .tasks import cell_task, eo_task, failed_row, first_line, run_cell

__all__ = ["LOCK_NAME", "EO_FOLDER", "StudyResult", "plan", "plan_eo_stages", "report", "run_cell", "run_study"]

log = logging.getLogger(__name__)

#: The lock file of a running study, in its folder.
LOCK_NAME = ".study.lock"
#: The folder of the shared EO stages, in the study folder.
EO_FOLDER = "eo"


# --- the study ---------------------------------------------------------------------------------------


@dataclass
class StudyResult:
    """What :func:`run_study` did and wrote."""

    out: Path
    table: Path
    summary: Path
    figures: list[Path]
    cells: int
    ran: int
    skipped: int
    failed: int
    seconds: float


def _check_data(spec: StudySpec, cells: list[Cell]) -> tuple[str, dict[str, int]]:
    """Open the data, find the test split and check that every class setting has patches in the
    training and test splits. Returns the test split and the training patches of each class
    setting. Raises before any cell runs."""
    from ..data import open_patches, select_classes
    from ..data.so2sat import open_so2sat

    if spec.data is None:
        raise ConfigError("no So2Sat data: give DATA (a So2Sat folder or .h5 file), data = ... in the spec, or --quick")
    so2sat = open_so2sat(spec.data)
    split = spec.split or so2sat.test_split
    for name in ("training", split):
        so2sat.split(name)  # DataError naming the split when it is missing
    sar_bands = spec.train.get("sar_bands", train_fields()["sar_bands"])
    sizes: dict[str, int] = {}
    for name in ("training", split):
        labels = open_patches(spec.data, name, sar_bands, spec.cache).labels
        for setting in sorted({c.classes for c in cells}):
            positions, _ = select_classes(labels, setting, name)
            if name == "training":
                sizes[setting] = len(positions)
                for b in sorted({c.labels for c in cells if c.classes == setting and isinstance(c.labels, int)}):
                    if b > len(positions):
                        log.warning("labels %d > the %d %s training patches: those cells will fail", b, len(positions), setting)
    return split, sizes


def _prepare_out(out: Path, spec: StudySpec, split: str) -> None:
    manifest = out / "study.json"
    study_folder(out)  # refuses an unusable --out before reading anything in it
    if manifest.is_file():
        try:
            old = json.loads(manifest.read_text())
            if not isinstance(old, dict):
                raise ValueError
            was_data, was_split = (old.get("spec") or {}).get("data"), old.get("split")
        except (ValueError, AttributeError, OSError):
            raise StudyError(f"{manifest} is corrupt: delete it (the results table is kept) and rerun") from None
        if was_data and spec.data and Path(was_data).resolve() != Path(spec.data).resolve():
            raise StudyError(f"{out} holds a study of the data {was_data}, not {spec.data}: choose another --out")
        if was_split and was_split != split:
            raise StudyError(f"{out} holds a study tested on {was_split!r}, not {split!r}: choose another --out")
    elif out.is_dir() and any(p.name not in ("twin", "cache", LOCK_NAME) for p in out.iterdir()):
        raise StudyError(f"{out} is not empty and holds no study (no study.json): choose a new or empty --out")


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    """Hold ``out/.study.lock``: one running study per folder. The lock is the operating system's
    (:class:`filelock.FileLock`), so it goes with its process: a run that was killed leaves no lock
    that blocks the next one."""
    from filelock import FileLock, Timeout

    lock = FileLock(out / LOCK_NAME, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise StudyError(f"another lczmap study is running in {out}: wait for it to finish, or stop it") from None
    try:
        yield
    finally:
        lock.release()


def run_study(
    spec: StudySpec,
    out: str | os.PathLike,
    scheduler: Any = None,
    workers: int | None = None,
    retry_failed: bool = True,
    table_format: str = "csv",
    progress: Callable | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    cells_per_gpu: int | None = None,
) -> StudyResult:
    """Run every unfinished cell of ``spec`` on dask and write the table, summary and figures to ``out``.

    ``scheduler``: a dask.distributed address (``tcp://host:8786``) or Client; default a local
    cluster of ``workers`` processes (default: one per core, or ``cells_per_gpu`` per GPU), each
    with its share of the cores as torch threads.
    ``retry_failed``: run cells whose row says ``failed`` again (default) or keep their rows.
    ``table_format``: ``csv`` (always written) or ``parquet`` (``results.parquet`` too).
    ``progress``: ``(total=, desc=) -> tqdm-like`` or None. ``connect_timeout``: seconds to wait
    for ``scheduler``. ``cells_per_gpu``: cells that share one GPU of a local cluster (default:
    as many as fit in its memory, at most its share of the cores; ignored without GPUs).
    Everything in the spec, the scheduler's address, the data and the study folder is checked
    before any cell runs.
    """
    t0 = time.perf_counter()
    spec = spec.check()
    if table_format not in TABLE_FORMATS:
        raise ConfigError(f"unknown table format {table_format!r} (--format): choose {' or '.join(TABLE_FORMATS)}")
    if table_format == "parquet":
        import importlib.util

        if importlib.util.find_spec("pyarrow") is None:
            raise MissingDependencyError("table_format='parquet' needs pyarrow: pip install pyarrow")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"--workers {workers} (workers={workers}) must be at least 1")
    scheduler = check_scheduler(scheduler)
    connect_timeout = check_connect_timeout(connect_timeout)
    from .cluster import check_cells_per_gpu

    check_cells_per_gpu(cells_per_gpu)
    cells = spec.cells()
    data = str(Path(spec.data).resolve()) if spec.data else None
    cache = str(Path(spec.cache).resolve()) if spec.cache else None
    spec = replace(spec, data=data, cache=cache)
    split, sizes = _check_data(spec, cells)
    out = Path(out)
    with contextlib.ExitStack() as stack:
        if scheduler is not None and not hasattr(scheduler, "submit"):  # reached before anything is written
            scheduler = stack.enter_context(connect_scheduler(scheduler, connect_timeout))
        _prepare_out(out, spec, split)
        return _run_cells(
            spec,
            cells,
            out,
            split,
            sizes,
            data,
            cache,
            scheduler,
            workers,
            retry_failed,
            table_format,
            progress,
            connect_timeout,
            cells_per_gpu,
            t0,
        )


def _cost(cell: Cell, sizes: dict[str, int]) -> int:
    """Training samples of the cell's SAR stage (its EO stage is shared): the order to start cells in."""
    config = cell.config()
    per_step = 3 if cell.method == "swd" else 1
    return sizes.get(cell.classes, 1) * config.sar_epochs * per_step


def _eo_cost(cell: Cell, sizes: dict[str, int]) -> int:
    config = cell.config()
    return sizes.get(cell.classes, 1) * config.eo_epochs * (2 if cell.supcon else 1)


def _usable_eo_stage(path: Path, cell: Cell) -> bool:
    """True when ``path`` is an EO stage with ``cell``'s EO options (else it is trained again)."""
    if not path.is_file():
        return False
    from ..errors import ConfigError as _ConfigError
    from ..train.eostage import read_eo_options

    try:
        return read_eo_options(path) == cell.config().eo_options()
    except _ConfigError as exc:
        log.warning("training the EO stage %s again: %s", path.stem, exc)
        return False


def _run_cells(
    spec: StudySpec,
    cells: list[Cell],
    out: Path,
    split: str,
    sizes: dict[str, int],
    data: str | None,
    cache: str | None,
    scheduler: Any,
    workers: int | None,
    retry_failed: bool,
    table_format: str,
    progress: Callable | None,
    connect_timeout: float,
    cells_per_gpu: int | None,
    t0: float,
) -> StudyResult:
    """The cells not finished yet, then the table, summary and figures (see :func:`run_study`)."""
    with _lock(out):
        manifest = {"lczmap_version": __version__, "spec": spec.to_dict(), "split": split, "cells": len(cells)}
        with atomic_path(out / "study.json", overwrite=True) as tmp:
            tmp.write_text(json.dumps(manifest, indent=2, default=str))
        rows: dict[str, dict] = {}
        if (out / "results.csv").is_file():
            old = read_results(out / "results.csv")
            for r in old.to_dict("records"):
                rows[str(r["cell_id"])] = r
        by_id = {c.cell_id: c for c in cells}
        done = {i for i, r in rows.items() if r.get("status") == "ok"}
        if not retry_failed:
            done |= {i for i, r in rows.items() if r.get("status") != "ok"}
        todo = [c for i, c in by_id.items() if i not in done]
        skipped = len(cells) - len(todo)
        log.info("study: %d cells, %d finished earlier, %d to run", len(cells), skipped, len(todo))

        def ordered() -> list[dict]:
            ids = list(by_id) + [i for i in rows if i not in by_id]
            return [rows[i] for i in ids if i in rows]

        if todo:
            from ..train.data import run_device_bytes
            from .cluster import connect

            # the EO stages of the cells to train (a cell with a checkpoint is only tested)
            eo_dir = out / EO_FOLDER
            stages: dict[str, list[Cell]] = {}
            for c in todo:
                sid = c.eo_stage_id
                if sid is not None and not (out / "cells" / c.cell_id / "model.safetensors").is_file():
                    stages.setdefault(sid, []).append(c)
            to_train = {sid: cs for sid, cs in stages.items() if not _usable_eo_stage(eo_dir / f"{sid}.safetensors", cs[0])}
            log.info("study: %d shared EO stages, %d to train", len(stages), len(to_train))
            cell_bytes = max((run_device_bytes(c.config(), sizes.get(c.classes, 0)) for c in todo), default=0)
            run = connect(
                scheduler,
                spec,
                len(todo) + len(to_train),
                workers,
                connect_timeout,
                cells_per_gpu=cells_per_gpu,
                cell_bytes=cell_bytes,
            )
            client = run.client
            bar = progress(total=len(todo), desc="study cells") if progress else None
            try:
                from distributed import as_completed

                resources = {"GPU": 1} if run.gpu else None
                eo_futures: dict[str, Any] = {}
                for sid, cs in sorted(to_train.items(), key=lambda kv: -_eo_cost(kv[1][0], sizes)):
                    eo_futures[sid] = client.submit(
                        eo_task,
                        cs[0],
                        data,
                        cache,
                        str((eo_dir / f"{sid}.safetensors").resolve()),
                        spec.device,
                        run.threads,
                        key=f"lczmap-study-eo-{sid}-{os.urandom(4).hex()}",
                        pure=False,
                        resources=resources,
                        priority=2**40 + _eo_cost(cs[0], sizes),
                    )
                futures, submitted = {}, []
                for c in sorted(todo, key=lambda c: -_cost(c, sizes)):
                    sid = c.eo_stage_id
                    eo: Any = None
                    if sid in eo_futures:
                        eo = eo_futures[sid]
                    elif sid in stages:
                        eo = str((eo_dir / f"{sid}.safetensors").resolve())
                    fut = client.submit(
                        cell_task,
                        c,
                        data,
                        cache,
                        str((out / "cells" / c.cell_id).resolve()),
                        split,
                        spec.device,
                        run.threads,
                        eo,
                        key=f"lczmap-study-cell-{c.cell_id}-{os.urandom(4).hex()}",
                        pure=False,
                        resources=resources,
                        priority=_cost(c, sizes),
                    )
                    futures[fut.key] = c
                    submitted.append(fut)
                for fut in as_completed(submitted, loop=client.loop):
                    c = futures[fut.key]
                    try:
                        row = fut.result()
                    except Exception as exc:  # the worker died (KilledWorker) or the task could not run
                        row = failed_row(c, split, first_line(exc))
                    row.update(c.config(data, cache, spec.device).to_dict())
                    row["cell_id"] = c.cell_id  # the client's id is the record's (a worker may run other code)
                    row["labels"] = str(c.labels)
                    sid = c.eo_stage_id
                    row["eo_checkpoint"] = f"{EO_FOLDER}/{sid}.safetensors" if sid in stages else ""
                    for key in ("checkpoint", "report"):  # relative to the study folder, which may move
                        if row.get(key):
                            row[key] = os.path.relpath(row[key], out.resolve())
                    rows[c.cell_id] = row
                    if row["status"] != "ok":
                        log.warning("cell %s (%s) failed: %s", c.cell_id, describe_cell(c), row["error"])
                    else:
                        log.info("cell %s (%s): accuracy %.3f", c.cell_id, describe_cell(c), row["accuracy"])
                    write_table(ordered(), out, table_format)
                    fut.release()
                    if bar is not None:
                        bar.update(1)
            finally:
                if bar is not None:
                    bar.close()
                run.close(own_client=not hasattr(scheduler, "submit"))
        table = write_table(ordered(), out, table_format)
        written = report(out, figure_norm=spec.figure_norm, title=spec.title, cell_ids=list(by_id))
    failed_total = sum(1 for i in by_id if rows.get(i, {}).get("status") != "ok")
    return StudyResult(
        out, table, out / "summary.md", written, len(cells), len(todo), skipped, failed_total, round(time.perf_counter() - t0, 1)
    )


def plan(spec: StudySpec, out: str | os.PathLike | None = None) -> list[tuple[Cell, str]]:
    """Each cell of ``spec`` with its state in the study folder ``out``: ``done`` (finished earlier),
    ``failed`` (recorded with an error; :func:`run_study` runs it again unless ``retry_failed`` is
    false) or ``todo``.
    Reads nothing but the results table."""
    spec = spec.check()
    rows: dict = {}
    if out is not None and (Path(out) / "results.csv").is_file():
        df = read_results(out)
        rows = {str(r["cell_id"]): r["status"] for r in df.to_dict("records")}
    result = []
    for c in spec.cells():
        status = rows.get(c.cell_id)
        result.append((c, "done" if status == "ok" else "todo" if status is None else "failed"))
    return result


def plan_eo_stages(
    spec: StudySpec, out: str | os.PathLike | None = None, retry_failed: bool = True
) -> list[tuple[str, str, list[Cell]]]:
    """The EO stages the cells of ``spec`` share: ``(EO stage id, state, cells)`` in grid order,
    state ``done`` (in ``out/eo`` already), ``todo`` (a cell to run needs it: it is trained once)
    or ``unused`` (every cell that needs it is finished). Reads the results table and the EO
    stages' headers only."""
    states = dict((c.cell_id, s) for c, s in plan(spec, out))
    runs = {"todo", "failed"} if retry_failed else {"todo"}
    stages: dict[str, list[Cell]] = {}
    for c in spec.cells():
        sid = c.eo_stage_id
        if sid is not None:
            stages.setdefault(sid, []).append(c)
    result = []
    for sid, cs in stages.items():
        path = None if out is None else Path(out) / EO_FOLDER / f"{sid}.safetensors"
        if path is not None and _usable_eo_stage(path, cs[0]):
            state = "done"
        elif any(states[c.cell_id] in runs for c in cs):
            state = "todo"
        else:
            state = "unused"
        result.append((sid, state, cs))
    return result


def report(
    out: str | os.PathLike, figure_norm: str = "instance", title: str | None = None, cell_ids: Iterable[str] | None = None
) -> list[Path]:
    """(Re)write ``summary.md``, ``summary.csv`` and the figures of the study in ``out`` from its
    results table (only the rows of ``cell_ids`` when given). Returns the figures written."""
    out = Path(out)
    df = read_results(out / "results.csv")
    if cell_ids is not None:
        df = df[df["cell_id"].isin(set(cell_ids))]
    agg = aggregate(df)
    with atomic_path(out / "summary.csv", overwrite=True) as tmp:
        agg.to_csv(tmp, index=False)
    with atomic_path(out / "summary.md", overwrite=True) as tmp:
        tmp.write_text(summary_markdown(agg, title))
    return plot_figures(df, out, figure_norm=figure_norm, title=title)
