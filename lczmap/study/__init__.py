"""The paper's experiment grid: train and test every cell, tabulate, aggregate, draw the figures.

A *study* is a set of *cells*; a cell is one :class:`~lczmap.train.TrainConfig` (a method, class
setting, labelled-SAR budget, normalisation, SupCon choice and seed, plus fixed training options)
trained once and tested once on the test split. The package along its seams:

- :mod:`~lczmap.study.spec`: axes, grids, cells, spec files (TOML/YAML/JSON), the ``--quick`` preset
- :mod:`~lczmap.study.run`: the study folder, its lock and manifest, resume, shared EO stages,
  cells as dask tasks
- :mod:`~lczmap.study.tasks`: what runs on the workers: a cell (:func:`run_cell`), a shared EO stage
- :mod:`~lczmap.study.cluster`: the local dask cluster (cells per GPU, torch threads per worker)
  or a running scheduler
- :mod:`~lczmap.study.results`: the results table, mean and standard error over seeds, summary
- :mod:`~lczmap.study.figures`: the paper's three figures

``import lczmap.study`` loads neither torch nor dask; :class:`GpuPerWorker` loads dask on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes
from .figures import make_figures, plot_figures
from .results import TABLE_FORMATS, aggregate, read_results, standard_error, summary_markdown
from .run import EO_FOLDER, LOCK_NAME, StudyResult, plan, plan_eo_stages, report, run_cell, run_study
from .spec import (
    AXES,
    AXIS_NAMES,
    QUICK_SPEC,
    QUICK_TWIN,
    SPEC_KEYS,
    SPEC_SUFFIXES,
    Cell,
    StudySpec,
    describe_cell,
    describe_eo_stage,
    load_spec,
    parse_axis,
    parse_spec,
    quick_spec,
)

if TYPE_CHECKING:
    from .cluster import GpuPerWorker

__all__ = [
    "AXES",
    "AXIS_NAMES",
    "EO_FOLDER",
    "LOCK_NAME",
    "QUICK_SPEC",
    "QUICK_TWIN",
    "SPEC_KEYS",
    "SPEC_SUFFIXES",
    "TABLE_FORMATS",
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
    "plan_eo_stages",
    "describe_cell",
    "describe_eo_stage",
    "aggregate",
    "summary_markdown",
    "make_figures",
    "plot_figures",
    "report",
    "standard_error",
    "GpuPerWorker",
]


# a dask WorkerPlugin: importing it loads dask
__getattr__, __dir__ = lazy_attributes(__name__, {"GpuPerWorker": ".cluster"})
