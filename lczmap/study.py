"""The paper's experiment grid: train and test every cell, tabulate, aggregate, draw the figures.

A *study* is a set of *cells*. A cell is one :class:`~lczmap.train.TrainConfig` (a method, class
setting, labelled-SAR budget, normalisation, SupCon choice and seed, plus fixed training options)
trained once and tested once on the test split. The cells are the union of one or more *grids*:
the base grid (``[grid]`` of a spec) and any extra grids (``[[extra]]``), each the Cartesian
product of its axes, with the axes an extra grid leaves out taken from the base grid. An axis left
out of the base grid takes the paper's values (:data:`AXES`). ``sar-only`` has no EO stage, so
SupCon-on cells of ``sar-only`` are left out of every grid.

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

The cell id is a hash of the cell's full training configuration (:meth:`TrainConfig.fingerprint`;
a study folder has one data set and one test split), so a rerun skips every cell whose row says
``ok``; failed cells are tried again (``retry_failed``). A cell that raises is recorded with its error and does not stop the others.
``results.csv`` is rewritten (atomically) after every finished cell, so an interrupted study
loses at most the cells that were running; those resume from their last finished epoch.

Cells run as tasks on dask.distributed: a :class:`~distributed.LocalCluster` of single-threaded
worker processes by default, or the cluster at ``scheduler``. On a machine with GPUs the local
cluster has one worker per GPU, each worker sees only its own GPU (``CUDA_VISIBLE_DEVICES``, set by
a worker plugin) and each cell asks for one ``GPU`` resource.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import itertools
import json
import logging
import math
import os
import socket
import time
import traceback
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import numpy as np
from distributed.diagnostics.plugin import WorkerPlugin

from . import __version__
from ._io import atomic_path
from .classes import CLASS_SETTINGS, class_codes, label_of
from .errors import ClusterError, ConfigError, DataError, LczmapError, MissingDependencyError, OutputError, StudyError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AXES",
    "AXIS_NAMES",
    "QUICK_SPEC",
    "QUICK_TWIN",
    "Cell",
    "StudySpec",
    "StudyResult",
    "load_spec",
    "parse_spec",
    "quick_spec",
    "run_study",
    "run_cell",
    "read_results",
    "parse_axis",
    "plan",
    "describe_cell",
    "aggregate",
    "summary_markdown",
    "make_figures",
    "plot_figures",
    "report",
    "standard_error",
    "GpuPerWorker",
]

log = logging.getLogger(__name__)

#: The study's axes and the paper's values of each (Hussing et al. 2022): 3 x 3 x 4 x 2 x 2 x 5.
AXES: dict[str, tuple] = {
    "method": ("sar-only", "finetune", "swd"),
    "classes": ("lowrise", "urban", "all"),
    "labels": (32, 128, 1024, "all"),
    "norm": ("batch", "instance"),
    "supcon": (False, True),
    "seed": (0, 1, 2, 3, 4),
}
AXIS_NAMES: tuple[str, ...] = tuple(AXES)

#: Keys a spec may hold at its top level.
SPEC_KEYS = ("title", "data", "cache", "split", "device", "workers", "figure_norm", "grid", "extra", "train")
#: TrainConfig fields a spec may not set in ``[train]``: the axes and the runtime fields.
_NOT_TRAIN = frozenset(AXIS_NAMES) | {"data", "cache", "device"}

#: Twin the ``--quick`` preset writes when it is given no data.
QUICK_TWIN = {"n_train": 2000, "n_val": 100, "n_test": 600, "seed": 0}

#: The ``--quick`` preset (examples/study_quick.toml holds the same spec): the three methods in the
#: low-rise and urban settings at 32 and 128 labelled SAR patches, plus the cells of the
#: normalisation and SupCon figures (low-rise), 3 seeds each, with short schedules: 60 cells.
QUICK_SPEC: dict = {
    "title": "So2Sat twin (synthetic data), --quick preset",
    "figure_norm": "instance",
    "grid": {
        "method": ["sar-only", "finetune", "swd"],
        "classes": ["lowrise", "urban"],
        "labels": [32, 128],
        "norm": ["instance"],
        "supcon": [False],
        "seed": [0, 1, 2],
    },
    "extra": [
        {"method": ["finetune", "swd"], "classes": ["lowrise"], "norm": ["batch"]},
        {"method": ["finetune", "swd"], "classes": ["lowrise"], "supcon": [True]},
    ],
    "train": {"eo_epochs": 6, "sar_epochs": 8, "batch_size": 32, "width": 8, "val_split": "none"},
}

_RESULT_BASE = ["cell_id", "status", "error", *AXIS_NAMES, "split", "accuracy", "kappa", "macro_f1", "n_test",
                "seconds", "train_seconds", "eval_seconds", "checkpoint", "report", "worker", "finished"]


# --- spec -----------------------------------------------------------------------------------------


def _train_fields() -> dict[str, Any]:
    from .train import TrainConfig

    return {f.name: f.default for f in fields(TrainConfig) if not f.name.startswith("_")}


def _listify(value) -> list:
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


_TRUE = {"on", "true", "yes", "1"}
_FALSE = {"off", "false", "no", "0"}


def _as_bool(value, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"{where}: {value!r} is not on/off: use true/false (or on/off)")


def _axis_value(axis: str, value, where: str):
    """Normalise one value of ``axis``; :class:`ConfigError` naming the value and the choices."""
    match axis:
        case "method" | "classes" | "norm":
            choices = AXES[axis]
            if isinstance(value, str) and value.strip().lower() in choices:
                return value.strip().lower()
            raise ConfigError(f"{where}: unknown {axis} {value!r}: choose from {', '.join(choices)}")
        case "labels":
            if isinstance(value, str):
                text = value.strip().lower()
                if text == "all":
                    return "all"
                if text.isdigit() and int(text) >= 1:
                    return int(text)
            elif isinstance(value, int) and not isinstance(value, bool) and value >= 1:
                return int(value)
            raise ConfigError(f"{where}: labels {value!r} is not a budget: use a positive number (e.g. 32, 128, 1024) or 'all'")
        case "supcon":
            return _as_bool(value, f"{where}: supcon")
        case "seed":
            if isinstance(value, str) and value.strip().isdigit():
                return int(value.strip())
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return int(value)
            raise ConfigError(f"{where}: seed {value!r} is not a seed: use integers >= 0 (or seeds = N for 0..N-1)")
    raise ConfigError(f"{where}: unknown axis {axis!r}: the axes are {', '.join(AXIS_NAMES)}")  # pragma: no cover


def _parse_axes(table, where: str) -> dict[str, list]:
    """``{axis: [values]}`` from a spec table; ``seeds = N`` stands for ``seed = [0, ..., N-1]``."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table of axes ({', '.join(AXIS_NAMES)}), not {type(table).__name__}")
    out: dict[str, list] = {}
    for key, raw in table.items():
        key = str(key)
        if key == "seeds":
            if "seed" in table:
                raise ConfigError(f"{where}: give seed = [...] or seeds = N, not both")
            if isinstance(raw, bool) or not isinstance(raw, (int, str)) or not str(raw).strip().isdigit() or int(raw) < 1:
                raise ConfigError(f"{where}: seeds {raw!r} must be a positive number of seeds (0..N-1)")
            out["seed"] = list(range(int(raw)))
            continue
        if key not in AXES:
            raise ConfigError(f"{where}: unknown axis {key!r}: the axes are {', '.join(AXIS_NAMES)} (and seeds = N)")
        values = _listify(raw)
        if not values:
            raise ConfigError(f"{where}: axis {key!r} is empty: give at least one value or leave the axis out")
        normalised = []
        for v in values:
            nv = _axis_value(key, v, where)
            if nv not in normalised:
                normalised.append(nv)
        out[key] = normalised
    return out


def parse_axis(axis: str, values: Iterable) -> list:
    """Normalised values of one axis (e.g. ``parse_axis("labels", ["32", "all"])`` -> ``[32, "all"]``);
    ``axis="seeds"`` takes one count N for seeds 0..N-1. :class:`ConfigError` on a bad axis or value."""
    parsed = _parse_axes({axis: list(values) if axis != "seeds" else next(iter(values))}, "command line")
    return next(iter(parsed.values()))


def _coerce_train(key: str, value, default, where: str):
    """Normalise a ``[train]`` value to the type of its TrainConfig default."""
    if key == "val_split":
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "")):
            return None
        if isinstance(value, str):
            return value.strip()
        raise ConfigError(f"{where}: val_split {value!r} must be a split name or 'none'")
    if isinstance(default, bool):
        return _as_bool(value, f"{where}: {key}")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value.strip())
        raise ConfigError(f"{where}: {key} {value!r} must be an integer")
    if isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: {key} {value!r} must be a number")
    if isinstance(default, str):
        if isinstance(value, str):
            return value.strip()
        raise ConfigError(f"{where}: {key} {value!r} must be a string")
    return value  # pragma: no cover - every TrainConfig field has a typed default


def _parse_train(table, where: str = "[train]") -> dict:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table of training options, not {type(table).__name__}")
    known = _train_fields()
    out = {}
    for key, value in table.items():
        key = str(key).replace("-", "_")
        if key in AXES or key == "seeds":
            raise ConfigError(f"{where}: {key!r} is an axis of the grid: set it in [grid] (or on the command line)")
        if key in ("data", "cache", "device"):
            raise ConfigError(f"{where}: {key!r} is not a training option here: set it at the top of the spec")
        if key not in known:
            options = ", ".join(sorted(k for k in known if k not in _NOT_TRAIN))
            raise ConfigError(f"{where}: unknown training option {key!r}: use one of {options}")
        out[key] = _coerce_train(key, value, known[key], where)
    return out


@dataclass(frozen=True)
class Cell:
    """One cell of the grid: its axis values and the fixed training options."""

    method: str
    classes: str
    labels: int | str
    norm: str
    supcon: bool
    seed: int
    train: tuple[tuple[str, Any], ...] = ()

    def axes(self) -> dict:
        return {a: getattr(self, a) for a in AXIS_NAMES}

    def config(self, data=None, cache=None, device: str = "auto"):
        """The cell's :class:`~lczmap.train.TrainConfig` (not yet checked)."""
        from .train import TrainConfig

        return TrainConfig(
            data=None if data is None else str(data),
            cache=None if cache is None else str(cache),
            device=device,
            **self.axes(),
            **dict(self.train),
        )

    @property
    def cell_id(self) -> str:
        """Stable id: a hash of the full training configuration (the test split is the study folder's)."""
        payload = json.dumps(self.config().fingerprint(), sort_keys=True, default=str)
        return hashlib.sha1(payload.encode()).hexdigest()[:12]


@dataclass
class StudySpec:
    """A validated study: data, grids, fixed training options and run settings."""

    grid: dict[str, list] = field(default_factory=lambda: {a: list(v) for a, v in AXES.items()})
    extra: list[dict[str, list]] = field(default_factory=list)
    train: dict = field(default_factory=dict)
    data: str | None = None
    cache: str | None = None
    split: str | None = None
    device: str = "auto"
    workers: int | None = None
    title: str | None = None
    figure_norm: str = "instance"

    def grids(self) -> list[dict[str, list]]:
        """The base grid and each extra grid with the base grid's axes filled in."""
        return [dict(self.grid)] + [{**self.grid, **e} for e in self.extra]

    def cells(self) -> list[Cell]:
        """Every cell of the study, in grid order, without duplicates or sar-only SupCon cells."""
        train = tuple(sorted(self.train.items()))
        seen: set = set()
        out = []
        for g in self.grids():
            for values in itertools.product(*(g[a] for a in AXIS_NAMES)):
                cell = Cell(*values, train=train)
                if cell.method == "sar-only" and cell.supcon:
                    continue
                key = tuple(cell.axes().values())
                if key in seen:
                    continue
                seen.add(key)
                out.append(cell)
        return out

    def with_axes(self, axes: Mapping[str, Iterable]) -> "StudySpec":
        """A copy in which each axis given replaces that axis in every grid (the command line's
        ``--method`` etc.)."""
        parsed = _parse_axes({k: list(v) for k, v in axes.items()}, "command line")
        grid = {**self.grid, **parsed}
        extra = [{k: v for k, v in e.items() if k not in parsed} for e in self.extra]
        return replace(self, grid=grid, extra=extra).check()

    def with_train(self, options: Mapping[str, Any]) -> "StudySpec":
        """A copy with more fixed training options (the command line's ``--train KEY=VALUE``)."""
        return replace(self, train={**self.train, **_parse_train(options, "--train")}).check()

    def check(self) -> "StudySpec":
        """Validate everything that can be checked without the data; raises :class:`ConfigError`."""
        from .train import TrainConfig

        for name, g in [("[grid]", self.grid)] + [(f"[[extra]] #{i + 1}", e) for i, e in enumerate(self.extra)]:
            _parse_axes(g, name)
        if self.figure_norm not in AXES["norm"]:
            raise ConfigError(f"figure_norm {self.figure_norm!r}: choose batch or instance")
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1):
            raise ConfigError(f"workers {self.workers!r} must be a positive number of dask workers")
        from ._device import check_device

        check_device(self.device)
        cells = self.cells()
        if not cells:
            raise ConfigError("the grid has no cells (sar-only has no SupCon cells): add a method or supcon = false")
        try:
            TrainConfig(data=None, method="swd", supcon=False, **self.train).check()
        except ConfigError as exc:
            raise ConfigError(f"[train]: {exc}") from None
        except TypeError as exc:  # pragma: no cover - keys are checked against the fields above
            raise ConfigError(f"[train]: {exc}") from None
        return self

    def to_dict(self) -> dict:
        return {
            "title": self.title,
            "data": self.data,
            "cache": self.cache,
            "split": self.split,
            "device": self.device,
            "workers": self.workers,
            "figure_norm": self.figure_norm,
            "grid": self.grid,
            "extra": self.extra,
            "train": self.train,
        }


def parse_spec(spec: Mapping, base_dir: str | os.PathLike | None = None) -> StudySpec:
    """A :class:`StudySpec` from a mapping (a parsed TOML/YAML file, or a dict).

    Unknown keys, axes or values raise :class:`ConfigError` naming the problem and the choices.
    Relative ``data`` and ``cache`` paths are taken relative to ``base_dir``.
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(f"a study spec must be a table of keys ({', '.join(SPEC_KEYS)}), not {type(spec).__name__}")
    unknown = [str(k) for k in spec if k not in SPEC_KEYS]
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} in the study spec: use {', '.join(SPEC_KEYS)}")
    grid = {a: list(v) for a, v in AXES.items()}
    grid.update(_parse_axes(spec.get("grid", {}), "[grid]"))
    extra_raw = spec.get("extra", [])
    if isinstance(extra_raw, Mapping) or not isinstance(extra_raw, (list, tuple)):
        raise ConfigError("extra must be a list of grids ([[extra]] tables in TOML, a list in YAML)")
    extra = []
    for i, e in enumerate(extra_raw):
        axes = _parse_axes(e, f"[[extra]] #{i + 1}")
        if not axes:
            raise ConfigError(f"[[extra]] #{i + 1} is empty: give the axes that differ from [grid]")
        extra.append(axes)
    train = _parse_train(spec.get("train", {}))

    def path(key):
        value = spec.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ConfigError(f"{key} {value!r} must be a path")
        p = Path(value).expanduser()
        if not p.is_absolute() and base_dir is not None:
            p = Path(base_dir) / p
        return str(p)

    for key in ("title", "split", "device", "figure_norm"):
        if key in spec and spec[key] is not None and not isinstance(spec[key], str):
            raise ConfigError(f"{key} {spec[key]!r} must be a string")
    workers = spec.get("workers")
    return StudySpec(
        grid=grid,
        extra=extra,
        train=train,
        data=path("data"),
        cache=path("cache"),
        split=spec.get("split"),
        device=spec.get("device") or "auto",
        workers=workers,
        title=spec.get("title"),
        figure_norm=spec.get("figure_norm") or "instance",
    ).check()


def load_spec(path: str | os.PathLike) -> StudySpec:
    """Read a study spec from a ``.toml``, ``.yaml``/``.yml`` or ``.json`` file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"study spec {path} does not exist: give a .toml or .yaml file")
    text = path.read_text()
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib

            raw = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text) or {}
        elif suffix == ".json":
            raw = json.loads(text)
        else:
            raise ConfigError(f"study spec {path} must end in .toml, .yaml, .yml or .json")
    except ConfigError:
        raise
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot parse the study spec {path} ({first}): fix its syntax") from None
    return parse_spec(raw, base_dir=path.parent)


def quick_spec(out: str | os.PathLike, data: str | os.PathLike | None = None, cache: str | os.PathLike | None = None,
               progress: Callable | None = None) -> StudySpec:
    """The ``--quick`` preset. Without ``data``, writes the twin (:data:`QUICK_TWIN`) to ``out/twin``
    and its cache to ``out/cache`` first (both kept and reused by a rerun)."""
    spec = parse_spec(QUICK_SPEC)
    if data is None:
        from .data import prepare
        from .data.synthetic import write_twin

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        data = write_twin(out / "twin", progress=progress, **QUICK_TWIN)
        cache = prepare(data, out / "cache", band_sets=("rgb", "vv-complex"), progress=progress)
    return replace(spec, data=str(data), cache=None if cache is None else str(cache)).check()


# --- cells ------------------------------------------------------------------------------------------


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


def run_cell(cell: Cell, data, cache, cell_dir: str | os.PathLike, split: str, device: str = "auto",
             threads: int = 1) -> dict:
    """Train and test one cell; never raises. Returns its results row (``status`` ``ok`` or ``failed``).

    Writes ``cell_dir/model.safetensors`` (+ training curves) and ``cell_dir/eval/``; a checkpoint
    left by an earlier run is tested without training again, an interrupted training resumes.
    """
    import torch

    from .checkpoint import load_checkpoint
    from .evaluate import evaluate
    from .train import train

    t0 = time.perf_counter()
    cell_dir = Path(cell_dir)
    row: dict = {"cell_id": cell.cell_id, **cell.axes(), "split": split, "worker": socket.gethostname()}
    error_file = cell_dir / "error.txt"
    try:
        torch.set_num_threads(max(1, int(threads)))
        cell_dir.mkdir(parents=True, exist_ok=True)
        error_file.unlink(missing_ok=True)
        config = cell.config(data, cache, device)
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
        rep = evaluate(ckpt, data, split=split, cache=cache, out_dir=cell_dir / "eval",
                       device="cpu" if device == "auto" and not torch.cuda.is_available() else device,
                       overwrite=True)
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
        row.update(status="failed", error=_first_line(exc), seconds=round(time.perf_counter() - t0, 2))
        try:
            error_file.write_text(traceback.format_exc())
        except OSError:
            pass
    row["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return row


def _cell_task(cell: Cell, data, cache, cell_dir: str, split: str, device: str) -> dict:
    """The dask task: :func:`run_cell` (one torch thread per worker) with the worker's name recorded."""
    row = run_cell(cell, data, cache, cell_dir, split, device)
    try:
        from distributed import get_worker

        row["worker"] = f"{socket.gethostname()}/{get_worker().name}"
    except Exception:  # not on a dask worker
        pass
    return row


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


# --- results table ------------------------------------------------------------------------------------


def _result_columns() -> list[str]:
    extra = [k for k in _train_fields() if k not in AXES and k not in ("data", "cache")]
    return _RESULT_BASE + ["data", "cache"] + extra


def read_results(path: str | os.PathLike) -> "pd.DataFrame":
    """A study's results table (``results.csv`` or the study folder) with typed axis columns:
    ``labels`` as text (``"32"``, ``"all"``), ``supcon`` bool, ``seed`` int."""
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        path = path / "results.csv"
    if not path.is_file():
        raise DataError(f"no results table at {path}: run `lczmap study` first")
    df = pd.read_csv(path, dtype={"cell_id": str, "labels": str, "error": str, "checkpoint": str, "split": str},
                     keep_default_na=False, na_values={"accuracy": [""], "kappa": [""], "macro_f1": [""],
                                                       "seconds": [""], "n_test": [""]})
    missing = [c for c in ("cell_id", "status", *AXIS_NAMES) if c not in df.columns]
    if missing:
        raise DataError(f"{path} is not an lczmap study table (no {', '.join(missing)}): choose the study's results.csv")
    df["supcon"] = df["supcon"].map(lambda v: _as_bool(v, f"{path}: supcon") if not isinstance(v, bool) else v)
    df["seed"] = df["seed"].astype(int)
    for c in ("accuracy", "kappa", "macro_f1", "seconds", "train_seconds", "eval_seconds", "n_test"):
        if c in df.columns:
            df[c] = pd.to_numeric(df[c], errors="coerce")
    return df


def _write_table(rows: list[dict], out: Path, table_format: str) -> Path:
    import pandas as pd

    columns = _result_columns()
    df = pd.DataFrame(rows)
    for c in columns:
        if c not in df.columns:
            df[c] = ""
    df = df[columns + [c for c in df.columns if c not in columns]]
    df["labels"] = df["labels"].astype(str)
    df["n_test"] = pd.to_numeric(df["n_test"], errors="coerce").astype("Int64")
    with atomic_path(out / "results.csv", overwrite=True) as tmp:
        df.to_csv(tmp, index=False)
    if table_format == "parquet":
        with atomic_path(out / "results.parquet", overwrite=True) as tmp:
            df.to_parquet(tmp, index=False)
        return out / "results.parquet"
    return out / "results.csv"


# --- aggregation ----------------------------------------------------------------------------------------


def standard_error(values) -> float:
    """Standard error of the mean: sample standard deviation (ddof 1) / sqrt(n); NaN for n < 2."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return float("nan")
    return float(v.std(ddof=1) / math.sqrt(len(v)))


def _labels_key(value: str) -> float:
    return math.inf if str(value) == "all" else float(value)


def _order(df, by: list[str]):
    """Sort by the paper's axis orders (labels numerically, 'all' last)."""
    keys = {
        "method": lambda s: s.map({m: i for i, m in enumerate(AXES["method"])}),
        "classes": lambda s: s.map({m: i for i, m in enumerate(AXES["classes"])}),
        "norm": lambda s: s.map({m: i for i, m in enumerate(AXES["norm"])}),
        "labels": lambda s: s.map(_labels_key),
    }
    return df.sort_values(by, key=lambda s: keys[s.name](s) if s.name in keys else s, kind="stable")


def aggregate(results) -> "pd.DataFrame":
    """Mean and standard error over seeds of test accuracy and kappa per configuration (all axes
    but ``seed``), from a results table (path, folder or DataFrame). Failed cells are counted, not
    averaged. Columns: the axes, ``seeds`` (finished cells), ``failed``, ``accuracy_mean``,
    ``accuracy_se``, ``kappa_mean``, ``kappa_se``, ``seconds_mean``."""
    import pandas as pd

    df = results if isinstance(results, pd.DataFrame) else read_results(results)
    group = [a for a in AXIS_NAMES if a != "seed"]
    rows = []
    for key, g in df.groupby(group, sort=False):
        ok = g[g["status"] == "ok"]
        rows.append({
            **dict(zip(group, key)),
            "seeds": int(len(ok)),
            "failed": int((g["status"] != "ok").sum()),
            "accuracy_mean": float(ok["accuracy"].mean()) if len(ok) else float("nan"),
            "accuracy_se": standard_error(ok["accuracy"]),
            "kappa_mean": float(ok["kappa"].mean()) if len(ok) else float("nan"),
            "kappa_se": standard_error(ok["kappa"]),
            "seconds_mean": float(ok["seconds"].mean()) if len(ok) else float("nan"),
        })
    agg = pd.DataFrame(rows, columns=[*group, "seeds", "failed", "accuracy_mean", "accuracy_se", "kappa_mean",
                                      "kappa_se", "seconds_mean"])
    return _order(agg, ["classes", "method", "norm", "supcon", "labels"]).reset_index(drop=True)


def _pm(mean: float, se: float, scale: float = 1.0, digits: int = 1) -> str:
    if not np.isfinite(mean):
        return "–"
    if not np.isfinite(se):
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {se * scale:.{digits}f}"


def summary_markdown(agg, title: str | None = None) -> str:
    """The aggregate table as markdown: accuracy in %, kappa, mean ± standard error over seeds."""
    lines = []
    if title:
        lines += [f"# {title}", ""]
    lines += [
        "Test accuracy and Cohen's kappa: mean ± standard error over seeds "
        "(standard error = sample standard deviation / sqrt(seeds); no ± where one seed finished).",
        "",
        "| classes | method | norm | SupCon | labelled SAR | seeds | accuracy (%) | kappa | time per cell (s) |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in agg.itertuples(index=False):
        seeds = f"{r.seeds}" + (f" ({r.failed} failed)" if r.failed else "")
        lines.append(
            f"| {r.classes} | {r.method} | {r.norm} | {'on' if r.supcon else 'off'} | {r.labels} | {seeds} | "
            f"{_pm(r.accuracy_mean, r.accuracy_se, 100, 1)} | {_pm(r.kappa_mean, r.kappa_se, 1, 3)} | "
            f"{'–' if not np.isfinite(r.seconds_mean) else f'{r.seconds_mean:.0f}'} |"
        )
    return "\n".join(lines) + "\n"


# --- figures ---------------------------------------------------------------------------------------------

_METHOD_STYLE = {"sar-only": ("tab:grey", "o"), "finetune": ("tab:blue", "s"), "swd": ("tab:red", "^")}
_METHOD_NAME = {"sar-only": "SAR only", "finetune": "fine-tune", "swd": "SWD transfer"}
_CLASSES_NAME = {
    "lowrise": "low-rise (LCZ " + ", ".join(label_of(c) for c in CLASS_SETTINGS["lowrise"]) + ")",
    "urban": "urban (LCZ 1-10)",
    "all": "all 17 LCZ",
}


def _chance(setting: str) -> float:
    return 100.0 / len(class_codes(setting))


def _line(ax, agg, xs_order: list[str], label: str, colour: str, marker: str, linestyle: str = "-") -> bool:
    rows = agg.set_index("labels")
    xs, ys, es = [], [], []
    for i, lab in enumerate(xs_order):
        if lab in rows.index and np.isfinite(rows.loc[lab, "accuracy_mean"]):
            xs.append(i)
            ys.append(100 * rows.loc[lab, "accuracy_mean"])
            se = rows.loc[lab, "accuracy_se"]
            es.append(100 * se if np.isfinite(se) else 0.0)
    if not xs:
        return False
    ax.errorbar(xs, ys, yerr=es, label=label, color=colour, marker=marker, linestyle=linestyle, capsize=3)
    return True


def _panels(fig, n: int):
    axes = fig.subplots(1, n, squeeze=False, sharey=False)[0]
    return list(axes)


def _finish(ax, xs_order, setting: str, title: str) -> None:
    ax.set_xticks(range(len(xs_order)), xs_order)
    ax.set_xlim(-0.4, len(xs_order) - 0.6)
    ax.set_xlabel("labelled SAR patches (count)")
    ax.set_ylabel("test accuracy (%)")
    ax.axhline(_chance(setting), color="black", linewidth=0.8, linestyle=":", label="chance (1 / classes)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("chance"))  # chance last
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=8)


def _save(fig, path: Path) -> Path:
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


def make_figures(results, figure_norm: str = "instance", title: str | None = None) -> dict:
    """The paper's figures from a results table (path, folder or DataFrame), as
    ``{file name: matplotlib Figure}``; a figure whose cells the study lacks is left out (logged).

    ``accuracy_vs_labels.png``: test accuracy vs labelled SAR patches, one panel per class setting,
    one line per method (SupCon off, ``figure_norm``). ``norm.png``: batch vs instance norm for
    finetune and swd (SupCon off), per class setting that has both. ``supcon.png``: SupCon vs none
    in the low-rise setting (``figure_norm``). Error bars: standard error over seeds; x positions
    are evenly spaced budgets (``all`` last); the dotted line is chance (1 / number of classes).
    """
    from matplotlib.figure import Figure

    agg = aggregate(results)
    agg = agg[agg["seeds"] > 0]
    figures: dict = {}
    xs_order = sorted(agg["labels"].astype(str).unique(), key=_labels_key)
    caption = "mean ± standard error over seeds" + (f"\n{title}" if title else "")
    settings = [s for s in AXES["classes"] if s in set(agg["classes"])]

    # Figure 1: accuracy vs labelled SAR per class setting, three methods.
    base = agg[(~agg["supcon"]) & (agg["norm"] == figure_norm)]
    panels = [s for s in settings if len(base[base["classes"] == s])]
    if panels:
        fig = Figure(figsize=(4.6 * len(panels), 4.2), constrained_layout=True)
        for ax, s in zip(_panels(fig, len(panels)), panels):
            for m in AXES["method"]:
                colour, marker = _METHOD_STYLE[m]
                _line(ax, base[(base["classes"] == s) & (base["method"] == m)], xs_order, _METHOD_NAME[m], colour, marker)
            _finish(ax, xs_order, s, f"{_CLASSES_NAME[s]}, {figure_norm} norm")
        fig.suptitle(f"Accuracy vs labelled SAR, {caption}", fontsize=10)
        figures["accuracy_vs_labels.png"] = fig
    else:
        log.info("no accuracy-vs-labels figure: no SupCon-off cells with %s norm", figure_norm)

    # Figure 2: batch vs instance norm, finetune and swd.
    nf = agg[(~agg["supcon"]) & agg["method"].isin(["finetune", "swd"])]
    panels = [s for s in settings if set(nf[nf["classes"] == s]["norm"]) >= {"batch", "instance"}]
    if panels:
        fig = Figure(figsize=(4.6 * len(panels), 4.2), constrained_layout=True)
        for ax, s in zip(_panels(fig, len(panels)), panels):
            for m in ("finetune", "swd"):
                colour, marker = _METHOD_STYLE[m]
                for norm, ls in (("instance", "-"), ("batch", "--")):
                    _line(ax, nf[(nf["classes"] == s) & (nf["method"] == m) & (nf["norm"] == norm)], xs_order,
                          f"{_METHOD_NAME[m]}, {norm} norm", colour, marker, ls)
            _finish(ax, xs_order, s, f"{_CLASSES_NAME[s]}: batch vs instance norm")
        fig.suptitle(f"Batch vs instance norm, {caption}", fontsize=10)
        figures["norm.png"] = fig
    else:
        log.info("no normalisation figure: no class setting has finetune/swd cells with both norms")

    # Figure 3: SupCon vs none, low-rise.
    sc = agg[(agg["classes"] == "lowrise") & (agg["norm"] == figure_norm) & agg["method"].isin(["finetune", "swd"])]
    if set(sc["supcon"]) >= {True, False}:
        fig = Figure(figsize=(5.6, 4.2), constrained_layout=True)
        ax = _panels(fig, 1)[0]
        for m in ("finetune", "swd"):
            colour, marker = _METHOD_STYLE[m]
            for on, ls in ((True, "-"), (False, "--")):
                _line(ax, sc[(sc["method"] == m) & (sc["supcon"] == on)], xs_order,
                      f"{_METHOD_NAME[m]}, {'SupCon' if on else 'no SupCon'}", colour, marker, ls)
        _finish(ax, xs_order, "lowrise", f"{_CLASSES_NAME['lowrise']}, {figure_norm} norm")
        fig.suptitle(f"SupCon pretraining vs none, {caption}", fontsize=10)
        figures["supcon.png"] = fig
    else:
        log.info("no SupCon figure: the study lacks low-rise finetune/swd cells with and without SupCon")
    return figures


def plot_figures(results, out_dir: str | os.PathLike, figure_norm: str = "instance", title: str | None = None) -> list[Path]:
    """Write :func:`make_figures`' figures as PNG files into ``out_dir``; returns the files written."""
    out_dir = Path(out_dir)
    return [_save(fig, out_dir / name) for name, fig in make_figures(results, figure_norm, title).items()]


# --- running --------------------------------------------------------------------------------------------


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


def _check_data(spec: StudySpec, cells: list[Cell]) -> str:
    """Open the data, find the test split and check that every class setting has patches in the
    training and test splits. Returns the test split. Raises before any cell runs."""
    from .data import open_patches, select_classes
    from .data.so2sat import open_so2sat

    if spec.data is None:
        raise ConfigError("no So2Sat data: give DATA (a So2Sat folder or .h5 file) or data = ... in the spec")
    so2sat = open_so2sat(spec.data)
    split = spec.split or so2sat.test_split
    for name in ("training", split):
        so2sat.split(name)  # DataError naming the split when it is missing
    sar_bands = spec.train.get("sar_bands", _train_fields()["sar_bands"])
    for name in ("training", split):
        labels = open_patches(spec.data, name, sar_bands, spec.cache).labels
        for setting in sorted({c.classes for c in cells}):
            positions, _ = select_classes(labels, setting, name)
            if name == "training":
                for b in sorted({c.labels for c in cells if c.classes == setting and c.labels != "all"}):
                    if b > len(positions):
                        log.warning("labels %d > the %d %s training patches: those cells will fail", b, len(positions), setting)
    return split


class _Lock:
    """``out/.study.lock``: one running study per folder (on one host)."""

    def __init__(self, out: Path):
        self.path = out / ".study.lock"

    def __enter__(self):
        me = f"{socket.gethostname()}:{os.getpid()}"
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                owner = self.path.read_text().strip() if self.path.exists() else ""
                host, _, pid = owner.partition(":")
                alive = host == socket.gethostname() and pid.isdigit() and _pid_alive(int(pid))
                if alive or (host and host != socket.gethostname()):
                    raise StudyError(
                        f"another lczmap study ({owner}) is running in {self.path.parent}: wait for it, "
                        f"or delete {self.path} if it is not running"
                    ) from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(me)
            return self
        raise StudyError(f"cannot take the lock {self.path}: delete it and rerun")  # pragma: no cover

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _prepare_out(out: Path, spec: StudySpec, split: str) -> None:
    manifest = out / "study.json"
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} exists and is not a folder: choose another --out")
    if manifest.is_file():
        try:
            old = json.loads(manifest.read_text())
        except ValueError:
            raise StudyError(f"{manifest} is corrupt: delete it (the results table is kept) and rerun") from None
        was_data, was_split = old.get("spec", {}).get("data"), old.get("split")
        if was_data and spec.data and Path(was_data).resolve() != Path(spec.data).resolve():
            raise StudyError(f"{out} holds a study of the data {was_data}, not {spec.data}: choose another --out")
        if was_split and was_split != split:
            raise StudyError(f"{out} holds a study tested on {was_split!r}, not {split!r}: choose another --out")
    elif out.is_dir() and any(p.name not in ("twin", "cache") for p in out.iterdir()):
        raise StudyError(f"{out} is not empty and holds no study (no study.json): choose a new or empty --out")
    out.mkdir(parents=True, exist_ok=True)


def _client(scheduler, spec: StudySpec, n_todo: int, workers: int | None):
    """(client, cluster or None, gpu resources?) for the run."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise MissingDependencyError("lczmap study needs dask.distributed: pip install distributed") from None
    if scheduler is not None:
        if hasattr(scheduler, "submit"):
            client = scheduler
        else:
            try:
                client = Client(scheduler, set_as_default=False, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise ClusterError(f"cannot reach the dask scheduler at {scheduler} ({exc}): check the address") from None
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


def run_study(
    spec: StudySpec,
    out: str | os.PathLike,
    scheduler: Any = None,
    workers: int | None = None,
    retry_failed: bool = True,
    table_format: str = "csv",
    progress: Callable | None = None,
) -> StudyResult:
    """Run every unfinished cell of ``spec`` on dask and write the table, summary and figures to ``out``.

    ``scheduler``: a dask.distributed address (``tcp://host:8786``) or Client; default a local
    cluster of ``workers`` single-threaded processes (default: one per core, or one per GPU).
    ``retry_failed``: run cells whose row says ``failed`` again (default) or keep their rows.
    ``table_format``: ``csv`` (always written) or ``parquet`` (``results.parquet`` too).
    ``progress``: ``(total=, desc=) -> tqdm-like`` or None. Everything in the spec and the data is
    checked before any cell runs.
    """
    t0 = time.perf_counter()
    spec = spec.check()
    if table_format not in ("csv", "parquet"):
        raise ConfigError(f"unknown table format {table_format!r}: choose csv or parquet")
    if table_format == "parquet":
        import importlib.util

        if importlib.util.find_spec("pyarrow") is None:
            raise MissingDependencyError("table_format='parquet' needs pyarrow: pip install pyarrow")
    if workers is not None and workers < 1:
        raise ConfigError(f"workers {workers} must be at least 1")
    cells = spec.cells()
    data = str(Path(spec.data).resolve()) if spec.data else None
    cache = str(Path(spec.cache).resolve()) if spec.cache else None
    spec = replace(spec, data=data, cache=cache)
    split = _check_data(spec, cells)
    out = Path(out)
    _prepare_out(out, spec, split)
    with _Lock(out):
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
            client, cluster, gpu = _client(scheduler, spec, len(todo), workers)
            bar = progress(total=len(todo), desc="study cells") if progress else None
            try:
                from distributed import as_completed

                futures, submitted = {}, []
                for c in todo:
                    fut = client.submit(
                        _cell_task, c, data, cache, str((out / "cells" / c.cell_id).resolve()), split, spec.device,
                        key=f"lczmap-study-cell-{c.cell_id}-{os.urandom(4).hex()}", pure=False,
                        resources={"GPU": 1} if gpu else None,
                    )
                    futures[fut.key] = c
                    submitted.append(fut)
                for fut in as_completed(submitted, loop=client.loop):
                    c = futures[fut.key]
                    try:
                        row = fut.result()
                    except Exception as exc:  # the worker died (KilledWorker) or the task could not run
                        row = {"cell_id": c.cell_id, **c.axes(), "split": split, "status": "failed",
                               "error": _first_line(exc),
                               "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
                    row.update(c.config(data, cache, spec.device).to_dict())
                    row["cell_id"] = c.cell_id  # the client's id is the record's (a worker may run other code)
                    row["labels"] = str(c.labels)
                    for key in ("checkpoint", "report"):  # relative to the study folder, which may move
                        if row.get(key):
                            row[key] = os.path.relpath(row[key], out.resolve())
                    rows[c.cell_id] = row
                    if row["status"] != "ok":
                        log.warning("cell %s (%s) failed: %s", c.cell_id, describe_cell(c), row["error"])
                    else:
                        log.info("cell %s (%s): accuracy %.3f", c.cell_id, describe_cell(c), row["accuracy"])
                    _write_table(ordered(), out, table_format)
                    fut.release()
                    if bar is not None:
                        bar.update(1)
            finally:
                if bar is not None:
                    bar.close()
                if cluster is not None or not hasattr(scheduler, "submit"):
                    client.close()
                if cluster is not None:
                    cluster.close()
        table = _write_table(ordered(), out, table_format)
        written = report(out, figure_norm=spec.figure_norm, title=spec.title, cell_ids=list(by_id))
    failed_total = sum(1 for i in by_id if rows.get(i, {}).get("status") != "ok")
    return StudyResult(out, table, out / "summary.md", written, len(cells), len(todo), skipped, failed_total,
                       round(time.perf_counter() - t0, 1))


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


def describe_cell(c: Cell) -> str:
    """``"swd, lowrise, 32 labels, instance norm, SupCon off, seed 0"``."""
    return f"{c.method}, {c.classes}, {c.labels} labels, {c.norm} norm, SupCon {'on' if c.supcon else 'off'}, seed {c.seed}"


def report(out: str | os.PathLike, figure_norm: str = "instance", title: str | None = None,
           cell_ids: Iterable[str] | None = None) -> list[Path]:
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
