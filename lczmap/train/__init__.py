"""Training: the stages and methods of EO-to-SAR few-shot transfer.

Methods (``TrainConfig.method``):

``sar-only``
    SAR encoder + classifier trained from scratch on the labelled SAR patches (cross-entropy).
``finetune``
    EO stage (EO encoder + classifier on all labelled EO training patches of the class setting),
    then the SAR encoder is initialised from the EO encoder (all layers whose shapes agree: all but
    the first convolution when the channel counts differ) and the SAR encoder + classifier are
    fine-tuned on the labelled SAR patches.
``swd``
    EO stage as above, same SAR initialisation, then the joint objective of Rostami et al. (2019):
    ``CE(EO) + CE(labelled SAR) + lambda * SWD(EO, all SAR) + eta * mean_j SWD(EO_j, labelled SAR_j)``.
    The EO encoder keeps training in stage 2 unless ``freeze_eo``.

Shared EO stages: the EO stage depends only on :data:`EO_OPTIONS` (class setting, norm, SupCon,
seed and the EO stage's own options), not on the method or the labelled SAR budget.
:func:`train_eo_stage` trains it alone into a file and ``eo_checkpoint`` starts a run's SAR stage
from such a file: the stages share no random state, so the run writes the same checkpoint, byte
for byte, as one that trains the EO stage itself. The study trains each EO stage once this way.

``supcon`` adds Khosla et al.'s supervised contrastive loss (on the projection head, over two
augmented views of each EO patch) to the EO stage.

Data: EO and SAR come from the same So2Sat training split (paired patches). The labelled SAR set
is ``labels`` patches drawn by :func:`lczmap.data.draw_budget` (seeded, stratified); the rest of
the SAR patches of the class setting form the unlabelled pool, used only by position (their
labels are never read for SAR). Patches are loaded into memory once, as float32, and kept on the
device when they fit (``device_data``): batches are then gathered and augmented there.

Schedules: an EO epoch is one pass over the EO patches; a SAR-stage epoch is
``ceil(n_sar / batch)`` steps, ``n_sar`` the SAR pool (labelled + unlabelled), for every method,
so that the methods get the same number of updates. Each step draws a labelled SAR batch
(uniform, with replacement), and for ``swd`` an EO batch and an unlabelled SAR batch too.

Reproducibility: the model is initialised from ``seed``; every epoch draws its batches,
augmentations and projections from a generator seeded by (seed, stage, epoch, rank), so a run
resumed at an epoch boundary (``resume=True``) continues exactly as an uninterrupted one.

Distributed: under ``torchrun`` (``WORLD_SIZE`` > 1) each process trains on its own share of
every batch and gradients are averaged with an all-reduce (gloo on CPU, nccl on CUDA) before
each optimiser step, as DistributedDataParallel does; rank 0 writes the outputs.

Modules: :mod:`~lczmap.train.config` (:class:`TrainConfig`, :data:`METHODS`, :func:`output_paths`),
:mod:`~lczmap.train.data` (loading the patches, statistics, :func:`augment`),
:mod:`~lczmap.train.stages` (one epoch of each stage), :mod:`~lczmap.train.eostage` (a trained
EO stage as a file), :mod:`~lczmap.train.distributed`
(``torchrun`` process group, gradient average), :mod:`~lczmap.train.records` (CSV, learning
curve, TensorBoard), :mod:`~lczmap.train.resume` (resume state) and
:mod:`~lczmap.train.runner` (:func:`train`, also named :func:`train_model`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes
from ..models import NORMS, Norm
from .config import DEVICE_DATA, EO_OPTIONS, METHODS, Method, TrainConfig, TrainResult, output_paths

if TYPE_CHECKING:
    from .data import augment
    from .eostage import load_eo_stage
    from .runner import train, train_eo_stage, train_model

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
    "load_eo_stage",
    "output_paths",
    "augment",
]

#: Names imported on first use, so that the configuration and its choices load without torch.
_LAZY = {"train": ".runner", "train_model": ".runner", "train_eo_stage": ".runner", "load_eo_stage": ".eostage",
         "augment": ".data"}

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
