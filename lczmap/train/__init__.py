"""Training: the stages and methods of EO-to-SAR few-shot transfer (``sar-only``, ``finetune``,
``swd``; SupCon in the EO stage), shared EO stages, resume and data-parallel runs.

:class:`TrainConfig` holds a run's options (validated on construction); :func:`train` (also named
:func:`train_model`) runs it; :func:`train_eo_stage` trains an EO stage alone for runs to share.
The design (stages, schedules, randomness, modules) is described in docs/training.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes
from ..models import NORMS, Norm
from .config import DEVICE_DATA, EO_OPTIONS, METHODS, Method, TrainConfig, TrainResult, output_paths

if TYPE_CHECKING:
    from .data import augment
    from .eostage import load_eo_stage
    from .runner import TrainingInterrupted, train, train_eo_stage, train_model

__all__ = [
    "Method",
    "METHODS",
    "DEVICE_DATA",
    "EO_OPTIONS",
    "Norm",
    "NORMS",
    "TrainConfig",
    "TrainResult",
    "train",
    "train_model",
    "train_eo_stage",
    "TrainingInterrupted",
    "load_eo_stage",
    "output_paths",
    "augment",
]

#: Names imported on first use, so that the configuration and its choices load without torch.
_LAZY = {
    "train": ".runner",
    "train_model": ".runner",
    "train_eo_stage": ".runner",
    "TrainingInterrupted": ".runner",
    "load_eo_stage": ".eostage",
    "augment": ".data",
}

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
