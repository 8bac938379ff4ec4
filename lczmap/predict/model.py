"""The model as prediction sees it: a network, the LCZ code of each output, the SAR band set, the
fill value of nodata pixels, the calibration of its probabilities; what may be given as a model
(:data:`ModelSource`: a path, a loaded checkpoint (:class:`SarCheckpoint`), a bare network, a
:class:`Model`); and where a checkpoint comes from when none is given."""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeAlias, runtime_checkable

import torch

from ..bands import BandSet, band_set as _band_set
from ..calibration import Calibration, calibration_of
from ..classes import lcz
from ..errors import CheckpointError, ConfigError, DataError
from .grid import PATCH

__all__ = ["Model", "SarCheckpoint", "ModelSource", "load_model", "resolve_model_path", "model_file", "torch_device"]


@runtime_checkable
class SarCheckpoint(Protocol):
    """A loaded checkpoint as prediction reads it (:class:`lczmap.checkpoint.Checkpoint` is one):
    its SAR network, the LCZ code of each output, the SAR band set, the window side, and
    ``meta`` (``sar_mean``: the per-channel fill of nodata pixels)."""

    meta: dict[str, Any]

    @property
    def codes(self) -> tuple[int, ...]: ...

    @property
    def sar_bands(self) -> BandSet: ...

    @property
    def patch_size(self) -> int: ...

    def sar_network(self) -> torch.nn.Module: ...


@dataclass
class Model:
    """What prediction needs of a model: ``network`` ((B, C, 32, 32) physical units -> logits
    (B, K)), ``codes`` (LCZ code of each output index), the SAR ``band_set``, a per-channel
    ``fill`` value (physical units) for nodata pixels inside valid windows, a ``name``, and the
    ``calibration`` of its probabilities (temperature scaling; None: uncalibrated, the plain
    softmax). The classes never depend on the calibration. ``cpu_inference``: on the CPU, run an
    inference-only copy of the network (:meth:`on`; False: the network as it is)."""

    network: torch.nn.Module
    codes: tuple[int, ...]
    band_set: BandSet
    fill: tuple[float, ...] | None = None
    name: str = "model"
    patch_size: int = PATCH
    calibration: Calibration | None = None
    cpu_inference: bool = True
    _on: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.codes = tuple(int(c) for c in self.codes)
        for c in self.codes:
            lcz(c)  # raises ConfigError for a non-LCZ code
        if self.fill is None:
            self.fill = (0.0,) * self.band_set.n_channels
        if len(self.fill) != self.band_set.n_channels:
            raise ConfigError(f"fill has {len(self.fill)} values for {self.band_set.n_channels} channels")
        self.network.eval()

    @property
    def temperature(self) -> float:
        """The logits are divided by this before the softmax (1.0 when uncalibrated)."""
        return 1.0 if self.calibration is None else self.calibration.temperature

    def on(self, device: torch.device) -> torch.nn.Module:
        """The network on ``device`` (moved once, cached). On the CPU, unless ``cpu_inference``
        is False, an inference-only copy (:func:`lczmap.models.inference.cpu_inference_network`:
        batch norm folded into the convolutions, channels-last memory where it pays, cache-sized
        sub-batches): the same logits within float rounding, faster (docs/benchmarks.md, "CPU
        inference"). ``network`` itself is never changed."""
        key = str(device)
        if key not in self._on:
            if device.type == "cpu" and self.cpu_inference:
                from ..models.inference import cpu_inference_network

                self._on[key] = cpu_inference_network(self.network)
            else:
                self._on[key] = copy.deepcopy(self.network).to(device)
        net: torch.nn.Module = self._on[key]
        return net

    def lut(self, device: torch.device) -> torch.Tensor:
        """uint8 LCZ code of each output index, on ``device`` (made once, cached)."""
        key = f"lut:{device}"
        if key not in self._on:
            self._on[key] = torch.tensor(self.codes, dtype=torch.uint8).to(device)
        lut: torch.Tensor = self._on[key]
        return lut

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_on"] = {}
        return state


def resolve_model_path(model: str | os.PathLike | None) -> Path:
    """The checkpoint to use: ``model``, else ``$LCZMAP_MODEL``, else the last one trained."""
    if model is not None:
        return Path(model)
    env = os.environ.get("LCZMAP_MODEL")
    if env:
        return Path(env)
    from ..checkpoint import last_checkpoint

    last = last_checkpoint()
    if last is None:
        raise CheckpointError(
            "no model given and none trained yet: pass --model CHECKPOINT, set LCZMAP_MODEL, "
            "or train one with `lczmap train DATA --sar-bands lee-intensity`"
        )
    return last


#: What may be given as a model: a :class:`Model`; a loaded checkpoint; a checkpoint path (None:
#: ``$LCZMAP_MODEL``, else the last checkpoint ``lczmap train`` wrote); or a bare network
#: (with ``codes`` and ``band_set``, see :func:`load_model`).
ModelSource: TypeAlias = "Model | SarCheckpoint | torch.nn.Module | str | os.PathLike[str] | None"


def load_model(model: ModelSource = None, codes: Sequence[int] | None = None, band_set: BandSet | str | None = None) -> Model:
    """Normalise ``model`` to a :class:`Model`.

    Accepts a :class:`Model`; a checkpoint path (None: ``$LCZMAP_MODEL``, else the last checkpoint
    ``lczmap train`` wrote); a loaded checkpoint (a :class:`SarCheckpoint`); or a bare
    ``torch.nn.Module`` together with ``codes`` and ``band_set``.
    """
    if isinstance(model, Model):
        return model
    if isinstance(model, torch.nn.Module):
        if codes is None or band_set is None:
            raise ConfigError("a bare torch module needs codes=... and band_set=...: or pass a checkpoint path")
        bs = _band_set(band_set, "sar") if isinstance(band_set, str) else band_set
        return Model(model, tuple(codes), bs, name=type(model).__name__)
    if model is None or isinstance(model, (str, os.PathLike)):
        from ..checkpoint import load_checkpoint

        path = resolve_model_path(model)
        if not path.is_file():
            raise CheckpointError(f"checkpoint {path} does not exist: check --model or train one with `lczmap train`")
        model = load_checkpoint(path)
    if isinstance(model, SarCheckpoint):
        fill = (model.meta or {}).get("sar_mean")
        name = str(getattr(model, "path", "checkpoint"))
        try:
            calibration = calibration_of(model.meta)
        except DataError as exc:
            raise CheckpointError(f"{name}: {exc}") from None
        return Model(
            model.sar_network(),
            tuple(model.codes),
            model.sar_bands,
            tuple(float(v) for v in fill) if fill else None,
            name=name,
            patch_size=int(model.patch_size),
            calibration=calibration,
        )
    raise ConfigError(f"cannot use {type(model).__name__} as a model: pass a checkpoint path or a lczmap Model")


def model_file(model: ModelSource) -> Path | None:
    """The checkpoint file ``model`` names or was loaded from (None for a model in memory)."""
    if model is None or isinstance(model, (str, os.PathLike)):
        return resolve_model_path(model)
    path = getattr(model, "path", None)
    return Path(path) if isinstance(path, (str, os.PathLike)) else None


def torch_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a torch device: None or ``auto`` picks CUDA, then MPS, then the CPU."""
    if isinstance(device, torch.device):
        return device
    from .._device import resolve_device

    return resolve_device("auto" if device is None else str(device))
