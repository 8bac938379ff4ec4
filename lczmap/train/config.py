"""What defines a training run: :class:`TrainConfig` (frozen, validated on construction), the
method choices, the run's result and the files it writes."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Literal, get_args

from .._device import check_device
from ..bands import band_set
from ..classes import class_codes
from ..data.fewshot import parse_budget
from ..errors import ConfigError
from ..models import DEFAULT_ARCHITECTURE, Architecture, check_norm

__all__ = ["Method", "METHODS", "DEVICE_DATA", "EO_OPTIONS", "TrainConfig", "TrainResult", "output_paths"]

Method = Literal["sar-only", "finetune", "swd"]
#: Training methods (``--method``).
METHODS: tuple[str, ...] = get_args(Method)

#: Where a run keeps its patches (``--device-data``): ``auto`` on the device when they fit in
#: :data:`lczmap.train.data.DEVICE_DATA_SHARE` of its free memory, ``on`` always, ``off`` in host
#: memory (batches copied to the device step by step).
DEVICE_DATA: tuple[str, ...] = ("auto", "on", "off")

#: The fields that define the EO stage: two runs equal in these train the same EO stage (same
#: weights, same EO rows of the history), whatever their method or labelled SAR budget.
#: ``sar_bands`` is one because the SAR encoder's channel count decides the random initialisation
#: of the layers built after it (the classifier); ``val_split`` and ``val_max`` give the EO
#: epochs' validation accuracy.
EO_OPTIONS: tuple[str, ...] = (
    "classes",
    "seed",
    "eo_bands",
    "sar_bands",
    "norm",
    "supcon",
    "supcon_weight",
    "temperature",
    "eo_epochs",
    "eo_lr",
    "weight_decay",
    "batch_size",
    "augment",
    "width",
    "depth",
    "blocks",
    "embedding",
    "projection",
    "val_split",
    "val_max",
)

#: Fields whose ``lczmap train`` option is not ``--`` + the field name with dashes.
_CLI_NAMES = {"swd_lambda": "--lambda", "swd_eta": "--eta"}
#: Fields ``lczmap train`` has no option for (a study's ``[train]`` table sets them).
_NO_CLI = ("val_max", "weight_decay")


def _option(name: str) -> str:
    """How a message names field ``name``: its ``lczmap train`` option (and the field when the
    two differ), or the field alone."""
    if name in _NO_CLI:
        return name
    if name in _CLI_NAMES:
        return f"{_CLI_NAMES[name]} ({name})"
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Defaults are lczmap's choices (see docs/training.md);
    the architecture defaults are :data:`lczmap.models.DEFAULT_ARCHITECTURE`'s.

    Frozen and validated on construction: a bad value raises :class:`ConfigError` naming the option
    and the fix. The one normalisation, also on construction: ``val_split`` ``"none"`` or ``""``
    becomes ``None``. Change a field with :func:`dataclasses.replace` (validated again).
    """

    data: str | None
    method: str = "swd"
    classes: str = "lowrise"
    labels: int | str = 128
    seed: int = 0
    eo_bands: str = "rgb"
    sar_bands: str = "vv-complex"
    norm: str = "instance"
    supcon: bool = False
    supcon_weight: float = 1.0
    temperature: float = 0.1
    swd_lambda: float = 1.0
    swd_eta: float = 1.0
    projections: int = 50
    eo_epochs: int = 10
    sar_epochs: int = 10
    eo_lr: float = 1e-3
    sar_lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    freeze_eo: bool = False
    stratified: bool = True
    augment: bool = True
    width: int = DEFAULT_ARCHITECTURE.width
    depth: int = DEFAULT_ARCHITECTURE.depth
    blocks: int = DEFAULT_ARCHITECTURE.blocks
    embedding: int = DEFAULT_ARCHITECTURE.embedding
    projection: int = DEFAULT_ARCHITECTURE.projection
    val_split: str | None = "validation"
    val_max: int = 2000
    cache: str | None = None
    device: str = "auto"
    amp: bool = True
    eo_checkpoint: str | None = None
    device_data: str = "auto"

    #: fields that do not change the result; a resumed run may differ in these (``eo_checkpoint``
    #: holds an EO stage trained with this run's EO options: the same weights as training it here)
    RUNTIME: ClassVar[tuple[str, ...]] = ("device", "amp", "data", "cache", "eo_checkpoint", "device_data")
    #: runtime fields the checkpoint does not record: how the run was computed, not what it is (a
    #: run with a shared EO stage or data on the device writes the same file as one without)
    UNRECORDED: ClassVar[tuple[str, ...]] = ("eo_checkpoint", "device_data")

    def __post_init__(self) -> None:
        if isinstance(self.val_split, str) and self.val_split.strip().lower() in ("", "none"):
            object.__setattr__(self, "val_split", None)
        if self.method not in METHODS:
            raise ConfigError(f"unknown method {self.method!r}: choose one of {', '.join(METHODS)}")
        check_norm(self.norm)
        class_codes(self.classes)
        band_set(self.eo_bands, "eo")
        band_set(self.sar_bands, "sar")
        parse_budget(self.labels)
        for name in ("eo_epochs", "sar_epochs"):
            if int(getattr(self, name)) < 0:
                raise ConfigError(f"{_option(name)} must be 0 or more, got {getattr(self, name)}")
        if self.sar_epochs < 1:
            raise ConfigError("--sar-epochs must be at least 1: the SAR stage makes the model")
        for name in ("eo_lr", "sar_lr", "temperature", "batch_size", "projections", "val_max"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{_option(name)} must be positive, got {getattr(self, name)}")
        for name in ("swd_lambda", "swd_eta", "supcon_weight", "weight_decay"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{_option(name)} must be 0 or more, got {getattr(self, name)}")
        if self.supcon and self.method == "sar-only":
            raise ConfigError("--supcon applies to the EO stage, which sar-only does not have: drop --supcon")
        check_device(self.device)
        if self.device_data not in DEVICE_DATA:
            raise ConfigError(f"--device-data {self.device_data!r}: choose {', '.join(DEVICE_DATA)}")
        if self.eo_checkpoint is not None:
            if not self.has_eo_stage:
                raise ConfigError(
                    f"--eo-checkpoint applies to the EO stage, which {self.method}"
                    f"{'' if self.method == 'sar-only' else ' with --eo-epochs 0'} does not have: "
                    "drop --eo-checkpoint"
                )
            object.__setattr__(self, "eo_checkpoint", str(self.eo_checkpoint))
        _ = self.architecture  # validates

    def check(self) -> TrainConfig:
        """A validated copy (construction validates already; this never changes ``self``)."""
        return replace(self)

    @property
    def architecture(self) -> Architecture:
        return Architecture(self.width, self.depth, self.blocks, self.embedding, self.projection)

    @property
    def has_eo_stage(self) -> bool:
        """True when the run trains an EO stage (not sar-only, at least one EO epoch)."""
        return self.method != "sar-only" and self.eo_epochs > 0

    def eo_options(self) -> dict:
        """The options that define the EO stage (:data:`EO_OPTIONS`)."""
        return {k: getattr(self, k) for k in EO_OPTIONS}

    @property
    def eo_stage_id(self) -> str:
        """Stable id of the EO stage: a hash of :meth:`eo_options` (equal ids, equal EO stages)."""
        payload = json.dumps(self.eo_options(), sort_keys=True, default=str)
        return hashlib.sha1(payload.encode()).hexdigest()[:12]

    def eo_config(self) -> TrainConfig:
        """The run that trains only this run's EO stage: its EO options and runtime fields, every
        other field at its default (``finetune``), so that all runs sharing the stage agree on it."""
        keep = {k: getattr(self, k) for k in (*EO_OPTIONS, "data", "cache", "device", "amp", "device_data")}
        return TrainConfig(**{**keep, "method": "finetune"})

    def to_dict(self) -> dict:
        data = asdict(self)
        data["data"] = None if self.data is None else str(self.data)
        data["cache"] = None if self.cache is None else str(self.cache)
        return data

    def recorded(self) -> dict:
        """:meth:`to_dict` less :attr:`UNRECORDED`: the configuration a checkpoint records."""
        return {k: v for k, v in self.to_dict().items() if k not in self.UNRECORDED}

    def fingerprint(self) -> dict:
        """The fields that determine the result (for checking a resume)."""
        return {k: v for k, v in self.to_dict().items() if k not in self.RUNTIME}


@dataclass
class TrainResult:
    """What :func:`~lczmap.train.train` returns: the checkpoint, its metrics and the per-epoch
    history; ``csv`` and ``curve`` are None in the processes of a distributed run that do not write."""

    checkpoint: Path
    metrics: dict
    history: list = field(default_factory=list)
    csv: Path | None = None
    curve: Path | None = None


def output_paths(out: str | os.PathLike) -> dict[str, Path]:
    """The files a run writes next to the checkpoint ``out``: ``resume`` and ``resume_csv`` (the
    state and the per-epoch metrics of a run under way) are replaced by ``checkpoint`` and ``csv``
    when it finishes."""
    out = Path(out)
    stem = out.stem
    return {
        "checkpoint": out,
        "csv": out.with_name(f"{stem}.metrics.csv"),
        "curve": out.with_name(f"{stem}.curve.png"),
        "resume": out.with_name(f"{stem}.resume.pt"),
        "resume_csv": out.with_name(f"{stem}.resume.csv"),
        "tensorboard": out.with_name(f"{stem}.tb"),
    }
