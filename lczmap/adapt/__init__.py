"""Few-shot adaptation of a trained model to one scene from LCZ training areas.

A city's training areas (polygons of homogeneous LCZ drawn by local experts, as the LCZ
Generator takes them) and a Sentinel-1 scene of the city are turned into labelled SAR patches
(the windows ``lczmap predict`` classifies under the polygons, through the same input chain)
and unlabelled ones (the rest of the scene); the SAR stage of ``swd`` or ``finetune`` runs from
the model's checkpoint, and a new checkpoint records what it was adapted on.

Modules: :mod:`~lczmap.adapt.options` (:class:`AdaptOptions`, :data:`ADAPT_METHODS`, defaults;
no torch), :mod:`~lczmap.adapt.areas` (reading training areas, the split by polygon),
:mod:`~lczmap.adapt.patches` (windows cut from the scene), :mod:`~lczmap.adapt.fit` (the SAR
stage), :mod:`~lczmap.adapt.scores` (held-out scores, the per-class table),
:mod:`~lczmap.adapt.api` (:func:`adapt_model`) and :mod:`~lczmap.adapt.check` (:func:`check_areas`: suspicious
training areas, each polygon scored by models that did not see it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes
from .options import ADAPT_METHODS, DEFAULT_BOOTSTRAP, DEFAULT_EPOCHS, DEFAULT_LR, DEFAULT_UNLABELLED, AdaptMethod, AdaptOptions

if TYPE_CHECKING:
    from .api import AdaptResult, adapt_model
    from .areas import TrainingAreas, read_training_areas, split_holdout
    from .check import CheckOptions, CheckResult, check_areas
    from .patches import ScenePatches, cut_patches
    from .scores import ModelScores

__all__ = [
    "AdaptMethod",
    "ADAPT_METHODS",
    "AdaptOptions",
    "AdaptResult",
    "adapt_model",
    "CheckOptions",
    "CheckResult",
    "check_areas",
    "TrainingAreas",
    "read_training_areas",
    "split_holdout",
    "ScenePatches",
    "cut_patches",
    "ModelScores",
    "DEFAULT_EPOCHS",
    "DEFAULT_LR",
    "DEFAULT_UNLABELLED",
    "DEFAULT_BOOTSTRAP",
]

#: Names imported on first use, so that the options and their choices load without torch.
_LAZY = {
    "AdaptResult": "api",
    "adapt_model": "api",
    "CheckOptions": "check",
    "CheckResult": "check",
    "check_areas": "check",
    "TrainingAreas": "areas",
    "read_training_areas": "areas",
    "split_holdout": "areas",
    "ScenePatches": "patches",
    "cut_patches": "patches",
    "ModelScores": "scores",
}


__getattr__, __dir__ = lazy_attributes(__name__, {name: f".{module}" for name, module in _LAZY.items()})
