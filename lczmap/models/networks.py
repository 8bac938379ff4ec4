"""The networks: input standardisation, the encoder, the Y-network and the one-branch network
used for inference (see :mod:`lczmap.models` for the default architecture)."""

from __future__ import annotations

import torch
from numpy.typing import ArrayLike
from torch import nn

from ..errors import ConfigError
from .architecture import Architecture, check_norm

__all__ = ["Standardize", "Encoder", "YNet", "SarNetwork"]


def _norm_layer(norm: str, channels: int) -> nn.Module:
    match norm:
        case "batch":
            return nn.BatchNorm2d(channels)
        case "instance":
            # learned affine parameters, no running statistics: train and eval behave alike
            return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)
    raise ConfigError(f"unknown norm {norm!r}: choose batch or instance")


class Standardize(nn.Module):
    """(x - mean) / std per channel; ``mean`` and ``std`` are buffers of shape (C,)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))

    def set_stats(self, mean: ArrayLike | torch.Tensor, std: ArrayLike | torch.Tensor) -> None:
        mean = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        std = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        if mean.numel() != self.mean.numel() or std.numel() != self.std.numel():
            raise ConfigError(f"normalisation statistics have {mean.numel()} channels, the network {self.mean.numel()}")
        self.mean.copy_(mean)
        self.std.copy_(torch.clamp(std, min=1e-12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean[:, None, None].to(x.dtype)) / self.std[:, None, None].to(x.dtype)


class Encoder(nn.Module):
    """Compact CNN: (B, C, H, W) in physical units -> (B, embedding)."""

    def __init__(self, in_channels: int, norm: str = "instance", arch: Architecture | None = None):
        super().__init__()
        arch = arch or Architecture()
        check_norm(norm)
        self.standardize = Standardize(in_channels)
        layers: list[nn.Module] = []
        channels = in_channels
        for stage in range(arch.depth):
            out = arch.width * 2**stage
            for _ in range(arch.blocks):
                layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), _norm_layer(norm, out), nn.ReLU(inplace=True)]
                channels = out
            if stage < arch.depth - 1:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.embed = nn.Linear(channels, arch.embedding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.standardize(x))
        return self.embed(torch.flatten(self.pool(x), 1))


class YNet(nn.Module):
    """EO encoder, SAR encoder, shared classifier and a SupCon projection head.

    ``eo_encoder(x_eo) -> (B, D)``, ``sar_encoder(x_sar) -> (B, D)``, ``classifier(z) -> (B, K)``,
    ``projector(z) -> (B, P)``.
    """

    def __init__(
        self,
        eo_channels: int,
        sar_channels: int,
        n_classes: int,
        norm: str = "instance",
        arch: Architecture | None = None,
    ):
        super().__init__()
        arch = arch or Architecture()
        self.arch = arch
        self.norm = check_norm(norm)
        self.eo_encoder = Encoder(eo_channels, norm, arch)
        self.sar_encoder = Encoder(sar_channels, norm, arch)
        self.classifier = nn.Linear(arch.embedding, n_classes)
        self.projector = nn.Sequential(
            nn.Linear(arch.embedding, arch.embedding), nn.ReLU(inplace=True), nn.Linear(arch.embedding, arch.projection)
        )

    def sar_network(self) -> SarNetwork:
        return SarNetwork(self.sar_encoder, self.classifier)

    def eo_network(self) -> SarNetwork:
        return SarNetwork(self.eo_encoder, self.classifier)

    def copy_eo_to_sar(self) -> list[str]:
        """Initialise the SAR encoder from the EO encoder wherever shapes agree (all but the first
        convolution when the channel counts differ, and the input statistics). Returns the names
        of the parameters copied."""
        sar_state = self.sar_encoder.state_dict()
        copied = []
        for name, value in self.eo_encoder.state_dict().items():
            if name.startswith("standardize."):
                continue
            if name in sar_state and sar_state[name].shape == value.shape:
                sar_state[name] = value.clone()
                copied.append(name)
        self.sar_encoder.load_state_dict(sar_state)
        return copied


class SarNetwork(nn.Module):
    """One encoder plus the classifier: (B, C, 32, 32) physical units -> logits (B, K)."""

    def __init__(self, encoder: Encoder, classifier: nn.Linear):
        super().__init__()
        self.encoder = encoder
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.encoder(x))
