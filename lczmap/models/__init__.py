"""Encoders, classifier and the EO/SAR "Y-network" of EO-to-SAR few-shot transfer.

Two encoders of identical architecture map EO patches (B, C_eo, 32, 32) and SAR patches
(B, C_sar, 32, 32) into one shared embedding space (B, D); one linear classifier maps embeddings
to logits (B, K). A small projection head (used only by SupCon) maps EO embeddings to the
contrastive space.

Input normalisation lives inside the network (:class:`Standardize`, per-channel mean and std as
buffers), so a saved network takes patches in the band set's physical units.

Default architecture (:data:`DEFAULT_ARCHITECTURE`, what ``lczmap train`` uses; lczmap's choice,
the paper does not publish one): three stages of two 3x3 conv -> norm -> ReLU blocks with 16, 32
and 64 channels, 2x2 max-pooling between stages (32 -> 16 -> 8), global average pooling and a
linear layer to a 64-d embedding. 76,320 parameters per encoder for the two ``vv-complex`` SAR
channels (76,464 for the three RGB channels; 48 more per input channel), plus a 64 -> K
classifier and a 64 -> 64 -> 64 SupCon projection head (8,320): fast on a CPU, enough for 32x32
patches. Checkpoints store their architecture, so models of any width keep loading.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes
from .architecture import DEFAULT_ARCHITECTURE, NORMS, Architecture, Norm, check_norm

if TYPE_CHECKING:
    from .networks import Encoder, SarNetwork, Standardize, YNet

__all__ = [
    "Norm",
    "NORMS",
    "Architecture",
    "DEFAULT_ARCHITECTURE",
    "Standardize",
    "Encoder",
    "YNet",
    "SarNetwork",
    "check_norm",
]

#: Names from :mod:`.networks`, imported on first use so that the choices above load without torch.
__getattr__, __dir__ = lazy_attributes(__name__, dict.fromkeys(("Standardize", "Encoder", "YNet", "SarNetwork"), ".networks"))
