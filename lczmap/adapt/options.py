"""What defines an adaptation: one frozen, validated :class:`AdaptOptions` for every way in
(library, CLI, QGIS), the method choices and the defaults the CLI and the QGIS form show.

Imports nothing heavy (no torch, no rasterio), so that the CLI and the QGIS plugin can build
their forms from it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from numbers import Integral, Real
from typing import Any, Literal, get_args

from ..errors import ConfigError
from ..predict.options import PredictOptions

__all__ = [
    "AdaptMethod",
    "ADAPT_METHODS",
    "AdaptOptions",
    "DEFAULT_EPOCHS",
    "DEFAULT_LR",
    "DEFAULT_UNLABELLED",
    "DEFAULT_BOOTSTRAP",
    "DEFAULT_SCENE_PATCHES",
    "SCENE_FIELDS",
]

AdaptMethod = Literal["finetune", "swd", "swd-eo"]
#: Adaptation methods (``--method``): the SAR stages of ``lczmap train`` that start from a model;
#: the first is the default with training areas (ahead on the twin: docs/method-results.md).
#: ``swd-eo`` aligns the scene to the EO reference the checkpoint carries
#: (:mod:`lczmap.adapt.unsupervised`): the method without training areas, and with them the
#: labelled cross-entropy on top.
ADAPT_METHODS: tuple[str, ...] = get_args(AdaptMethod)
#: SAR-stage epochs of an adaptation (each ``ceil((labelled + unlabelled) / batch)`` steps).
DEFAULT_EPOCHS = 5
#: Learning rate of the SAR encoder during adaptation (AdamW, as ``lczmap train``).
DEFAULT_LR = 3e-4
#: Unlabelled scene patches drawn per labelled one.
DEFAULT_UNLABELLED = 10.0
#: Bootstrap draws over the held-out polygons (as the LCZ Generator).
DEFAULT_BOOTSTRAP = 25
#: Unlabelled scene patches drawn without training areas.
DEFAULT_SCENE_PATCHES = 3000
#: The fields of ``AdaptOptions.predict`` (a :class:`~lczmap.predict.PredictOptions`) an adaptation
#: reads the scene with, as ``lczmap predict`` reads it; its other fields do not apply.
SCENE_FIELDS = ("bands", "units", "quantity", "resample", "stride", "max_nodata", "speckle_filter")


def _check_int(name: str, option: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ConfigError(f"{name} must be an integer of at least {low} ({option}), got {value!r}")
    return int(value)


def _check_real(
    name: str, option: str, value: Any, low: float, high: float = math.inf, low_open: bool = False, high_open: bool = False
) -> float:
    ok = not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        span = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ConfigError(f"{name} must be a finite number in {span} ({option}), got {value!r}")
    return float(value)


@dataclass(frozen=True)
class AdaptOptions:
    """How to adapt a model to a scene: every option of :func:`~lczmap.adapt.adapt_model` except
    the inputs, the output and the progress callback. Validated on construction (a bad value
    raises :class:`~lczmap.errors.ConfigError` naming the CLI option too); change one with
    :func:`dataclasses.replace`, which validates again.

    The method: ``method`` (``finetune`` or ``swd``, :data:`ADAPT_METHODS`), ``sar_epochs``,
    ``sar_lr``, ``batch_size``, ``swd_lambda`` / ``swd_eta`` / ``projections`` (swd's marginal and
    class-conditional weights and its random projections, as ``lczmap train``), ``augment``
    (rotations, flips, shifts of the labelled patches), ``unlabelled`` (unlabelled scene patches
    drawn per labelled one), ``seed``, ``device``, ``amp``.
    ``swd-eo`` (and adaptation without training areas): ``scene_patches`` (unlabelled patches
    drawn without training areas), ``confidence`` (least softmax confidence of a pseudo-label),
    ``pseudo_share`` (share of each predicted class's most confident patches pseudo-labelled),
    ``patience`` (epochs without a better label-free score before stopping), ``eo_data`` (the
    So2Sat release the model was trained on, to make the EO reference of a checkpoint without one).
    The training areas: ``field`` (class field; None: by name, or the KML folders), ``layer``,
    ``ref_codes`` (coding of A-G: ``auto``, ``1-17``, ``101-107``).
    Honest accuracy: ``holdout`` (share of each class's polygons held out, 0: none) and
    ``bootstrap`` (draws over the held-out polygons for the intervals), ``level``.
    The scene, read as ``lczmap predict`` reads it: ``predict``, the
    :class:`~lczmap.predict.PredictOptions` of which :data:`SCENE_FIELDS` apply (``bands``,
    ``units``, ``quantity``, ``resample``, ``stride``, ``max_nodata``, ``speckle_filter``), so
    that the adapted model maps the scene with those same options.
    ``overwrite`` replaces existing outputs.
    """

    method: str = ADAPT_METHODS[0]
    sar_epochs: int = DEFAULT_EPOCHS
    sar_lr: float = DEFAULT_LR
    batch_size: int = 64
    swd_lambda: float = 1.0
    swd_eta: float = 1.0
    projections: int = 50
    augment: bool = True
    unlabelled: float = DEFAULT_UNLABELLED
    scene_patches: int = DEFAULT_SCENE_PATCHES
    confidence: float = 0.5
    pseudo_share: float = 0.5
    patience: int = 2
    eo_data: str | None = None
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    field: str | None = None
    layer: str | None = None
    ref_codes: str = "auto"
    holdout: float = 0.0
    bootstrap: int = DEFAULT_BOOTSTRAP
    level: float = 0.95
    predict: PredictOptions = dataclasses.field(default_factory=PredictOptions)  # `field` is a field here
    overwrite: bool = False

    def __post_init__(self) -> None:
        from .._device import check_device
        from ..zones.lczraster import CODE_SCHEMES

        if self.method not in ADAPT_METHODS:
            raise ConfigError(f"unknown adaptation method {self.method!r} (--method): choose one of {', '.join(ADAPT_METHODS)}")
        set_ = object.__setattr__
        set_(self, "sar_epochs", _check_int("sar_epochs", "--sar-epochs", self.sar_epochs, 1))
        set_(self, "batch_size", _check_int("batch_size", "--batch-size", self.batch_size, 1))
        set_(self, "projections", _check_int("projections", "--projections", self.projections, 1))
        set_(self, "seed", _check_int("seed", "--seed", self.seed, 0))
        set_(self, "scene_patches", _check_int("scene_patches", "--scene-patches", self.scene_patches, 1))
        set_(self, "patience", _check_int("patience", "--patience", self.patience, 1))
        set_(self, "confidence", _check_real("confidence", "--confidence", self.confidence, 0.0, 1.0, high_open=True))
        set_(self, "pseudo_share", _check_real("pseudo_share", "--pseudo-share", self.pseudo_share, 0.0, 1.0, low_open=True))
        if self.eo_data is not None:
            set_(self, "eo_data", str(self.eo_data))
        set_(self, "bootstrap", _check_int("bootstrap", "--bootstrap", self.bootstrap, 0))
        set_(self, "sar_lr", _check_real("sar_lr", "--sar-lr", self.sar_lr, 0.0, low_open=True))
        set_(self, "swd_lambda", _check_real("swd_lambda", "--lambda", self.swd_lambda, 0.0))
        set_(self, "swd_eta", _check_real("swd_eta", "--eta", self.swd_eta, 0.0))
        set_(self, "unlabelled", _check_real("unlabelled", "--unlabelled", self.unlabelled, 0.0))
        set_(self, "holdout", _check_real("holdout", "--holdout", self.holdout, 0.0, 1.0, high_open=True))
        set_(self, "level", _check_real("level", "--level", self.level, 0.0, 1.0, low_open=True, high_open=True))
        if self.ref_codes not in CODE_SCHEMES:
            raise ConfigError(f"unknown LCZ coding {self.ref_codes!r} (--ref-codes): use {', '.join(CODE_SCHEMES)}")
        check_device(str(self.device))
        set_(self, "device", str(self.device))
        if not isinstance(self.predict, PredictOptions):
            raise ConfigError(
                f"predict must be a PredictOptions (how lczmap predict reads the scene), got {type(self.predict).__name__}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON-able values (what the adapted checkpoint records): the scene's
        :data:`SCENE_FIELDS` among them, as flat keys."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "predict":
                out.update({name: getattr(self.predict, name) for name in SCENE_FIELDS})
                out["bands"] = list(self.predict.bands) if self.predict.bands is not None else None
            else:
                out[f.name] = getattr(self, f.name)
        return out
