"""What defines an adaptation: one frozen, validated :class:`AdaptOptions` for every way in
(library, CLI, QGIS), the method choices and the defaults the CLI and the QGIS form show.

Imports nothing heavy (no torch, no rasterio), so that the CLI and the QGIS plugin can build
their forms from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from numbers import Integral, Real
from typing import Any, Literal, get_args

from ..errors import ConfigError
from ..predict.options import DEFAULT_MAX_NODATA, DEFAULT_STRIDE, PredictOptions

__all__ = ["AdaptMethod", "ADAPT_METHODS", "AdaptOptions", "DEFAULT_EPOCHS", "DEFAULT_LR", "DEFAULT_UNLABELLED",
           "DEFAULT_BOOTSTRAP", "SCENE_FIELDS"]

AdaptMethod = Literal["finetune", "swd"]
#: Adaptation methods (``--method``): the SAR stages of ``lczmap train`` that start from a model;
#: the first is the default (ahead on the twin: docs/method-results.md).
ADAPT_METHODS: tuple[str, ...] = get_args(AdaptMethod)
#: SAR-stage epochs of an adaptation (each ``ceil((labelled + unlabelled) / batch)`` steps).
DEFAULT_EPOCHS = 5
#: Learning rate of the SAR encoder during adaptation (AdamW, as ``lczmap train``).
DEFAULT_LR = 3e-4
#: Unlabelled scene patches drawn per labelled one.
DEFAULT_UNLABELLED = 10.0
#: Bootstrap draws over the held-out polygons (as the LCZ Generator).
DEFAULT_BOOTSTRAP = 25
#: The fields that say how to read the scene, passed on to :class:`~lczmap.predict.PredictOptions`.
SCENE_FIELDS = ("bands", "units", "quantity", "resample", "stride", "max_nodata", "speckle_filter")


def _check_int(name: str, option: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ConfigError(f"{name} must be an integer of at least {low} ({option}), got {value!r}")
    return int(value)


def _check_real(name: str, option: str, value: Any, low: float, high: float = math.inf, low_open: bool = False,
                high_open: bool = False) -> float:
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
    The training areas: ``field`` (class field; None: by name, or the KML folders), ``layer``,
    ``ref_codes`` (coding of A-G: ``auto``, ``1-17``, ``101-107``).
    Honest accuracy: ``holdout`` (share of each class's polygons held out, 0: none) and
    ``bootstrap`` (draws over the held-out polygons for the intervals), ``level``.
    The scene, read as ``lczmap predict`` reads it: ``bands``, ``units``, ``quantity``, ``resample``,
    ``stride``, ``max_nodata``, ``speckle_filter`` (see :class:`~lczmap.predict.PredictOptions`).
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
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    field: str | None = None
    layer: str | None = None
    ref_codes: str = "auto"
    holdout: float = 0.0
    bootstrap: int = DEFAULT_BOOTSTRAP
    level: float = 0.95
    bands: tuple[str, ...] | None = None
    units: str | None = None
    quantity: str | None = None
    resample: str | None = None
    stride: int = DEFAULT_STRIDE
    max_nodata: float = DEFAULT_MAX_NODATA
    speckle_filter: str | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        from .._device import check_device
        from ..zones.codes import CODE_SCHEMES

        if self.method not in ADAPT_METHODS:
            raise ConfigError(f"unknown adaptation method {self.method!r} (--method): choose one of {', '.join(ADAPT_METHODS)}")
        set_ = object.__setattr__
        set_(self, "sar_epochs", _check_int("sar_epochs", "--sar-epochs", self.sar_epochs, 1))
        set_(self, "batch_size", _check_int("batch_size", "--batch-size", self.batch_size, 1))
        set_(self, "projections", _check_int("projections", "--projections", self.projections, 1))
        set_(self, "seed", _check_int("seed", "--seed", self.seed, 0))
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
        self.scene_options()  # validates the scene fields the way predict does

    def scene_options(self) -> PredictOptions:
        """The scene fields as the :class:`~lczmap.predict.PredictOptions` that ``lczmap predict``
        would be given to map this scene with the adapted model (validated there)."""
        return PredictOptions(**{name: getattr(self, name) for name in SCENE_FIELDS}, device="cpu")

    def to_dict(self) -> dict:
        """The options as JSON-able values (what the adapted checkpoint records)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["bands"] = list(self.bands) if self.bands is not None else None
        return out
