"""Device choice and mixed precision: the one place that knows which torch device a run uses
and which reduced-precision dtype a CUDA device computes natively. Training, evaluation,
prediction and the study all import from here, so inference never loads the training stack."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["DEVICES", "check_device", "resolve_device", "cuda_amp_dtype"]

#: Device names a user may give (``cuda:N`` too).
DEVICES = ("auto", "cpu", "cuda", "mps")


def check_device(name: str) -> None:
    """Refuse a device name that is not auto, cpu, cuda, cuda:N or mps (availability is
    :func:`resolve_device`'s business)."""
    if name not in DEVICES and not str(name).startswith("cuda:"):
        raise ConfigError(f"unknown device {name!r}: choose auto, cpu, cuda or mps")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA, then MPS, then CPU; refuses an unavailable device with a clear error."""
    import torch

    match name:
        case "auto":
            if torch.cuda.is_available():
                return torch.device("cuda")
            if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
                return torch.device("mps")
            return torch.device("cpu")
        case "cpu":
            return torch.device("cpu")
        case "mps":
            if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
                raise ConfigError("--device mps: MPS is not available on this machine; use --device cpu or auto")
            return torch.device("mps")
    if str(name).startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: CUDA is not available on this machine; use --device cpu or auto")
        return torch.device(name)
    raise ConfigError(f"unknown device {name!r}: choose auto, cpu, cuda or mps")


_AMP_DTYPES: dict = {}


def cuda_amp_dtype(device: torch.device) -> torch.dtype:
    """Mixed-precision dtype for a CUDA device: bfloat16 where the GPU computes it natively
    (compute capability 8.0+: A100, H100, RTX 30xx and later), else float16, which pre-Ampere
    GPUs (V100, T4) run on tensor cores while they only emulate bfloat16. Cached per device
    (``torch.cuda.is_bf16_supported`` may probe the device with a synchronising copy)."""
    import torch

    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _AMP_DTYPES:
        major = torch.cuda.get_device_properties(index).major
        _AMP_DTYPES[index] = torch.bfloat16 if major >= 8 else torch.float16
    return _AMP_DTYPES[index]
