"""The EO reference a checkpoint carries: per class a seeded sample of at most
:data:`REFERENCE_PER_CLASS` EO embeddings of the training split, made by the trained EO encoder
(eval mode), stored as float16 beside the weights (:data:`lczmap.checkpoint.EXTRA_PREFIX`).

It is the EO side of the seed method at deployment: ``lczmap adapt`` without training areas
aligns a scene's SAR embeddings to it (:mod:`lczmap.adapt.unsupervised`). Size: at most
``classes x REFERENCE_PER_CLASS x embedding x 2`` bytes plus 2 bytes per sample for the classes
(17 classes, 256 per class, a 64-wide embedding: 557 KiB; the demo's twin, 2000 EO patches:
250 KiB). ``lczmap train`` writes it; for an older checkpoint :func:`reference_from_data` makes
the same sample from the So2Sat release it was trained on (``lczmap adapt --eo-data``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import CheckpointError

if TYPE_CHECKING:
    from ..checkpoint import Checkpoint
    from ..models.networks import YNet
    from .data import TrainData

__all__ = [
    "REFERENCE_PER_CLASS",
    "REFERENCE_Z",
    "REFERENCE_Y",
    "EoReference",
    "sample_per_class",
    "embed_eo",
    "eo_reference",
    "training_reference",
    "reference_from_data",
    "read_reference",
]

log = logging.getLogger(__name__)

#: Most EO embeddings kept per class.
REFERENCE_PER_CLASS = 256
#: Names of the reference's tensors in :attr:`Checkpoint.extra <lczmap.checkpoint.Checkpoint.extra>`:
#: embeddings (R, D) float16 and their output indices (R,) int16.
REFERENCE_Z = "eo_reference.z"
REFERENCE_Y = "eo_reference.y"


@dataclass(frozen=True)
class EoReference:
    """EO embeddings ``z`` (R, D) float16 with the output index ``y`` (R,) of each (its class),
    for a model whose output indices map to LCZ ``codes``."""

    z: torch.Tensor
    y: torch.Tensor
    codes: tuple[int, ...]

    def tensors(self) -> dict[str, torch.Tensor]:
        """The tensors to store beside the weights (``save_checkpoint(..., extra=)``)."""
        return {REFERENCE_Z: self.z.to(torch.float16).contiguous(), REFERENCE_Y: self.y.to(torch.int16).contiguous()}

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors().values())

    def counts(self) -> np.ndarray:
        """Samples per output index."""
        return np.bincount(self.y.numpy().astype(np.int64), minlength=len(self.codes))

    def summary(self) -> dict[str, Any]:
        """What ``lczmap info`` shows: the classes it holds, samples, their dimension and type,
        its size (bytes, and as text), samples per LCZ (by label: ``LCZ 2``, ``LCZ A``)."""
        from ..classes import label_of

        counts = self.counts()
        return {
            "classes": int((counts > 0).sum()),
            "samples": int(len(self.y)),
            "dimension": int(self.z.shape[1]),
            "dtype": "float16",
            "bytes": self.nbytes,
            "size": f"{self.nbytes / 1024:.1f} KiB",
            "per_class_at_most": REFERENCE_PER_CLASS,
            "samples_per_lcz": {f"LCZ {label_of(c)}": int(n) for c, n in zip(self.codes, counts)},
        }


def sample_per_class(y: np.ndarray, n_classes: int, per_class: int = REFERENCE_PER_CLASS, seed: int = 0) -> np.ndarray:
    """Sorted positions into ``y`` (output indices): per class at most ``per_class``, drawn
    without replacement (seeded), all of a class that has fewer."""
    rng = np.random.default_rng([seed, 0xE0])
    keep = []
    for k in range(n_classes):
        pos = np.flatnonzero(y == k)
        if len(pos) > per_class:
            pos = rng.choice(pos, per_class, replace=False)
        keep.append(pos)
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, np.int64)


@torch.no_grad()
def embed_eo(net: YNet, x: torch.Tensor, device: torch.device | str = "cpu", batch: int = 256) -> torch.Tensor:
    """EO embeddings (N, D) float32 on the CPU of patches ``x`` (N, C, 32, 32) in physical units,
    by ``net``'s EO encoder in eval mode (its mode is restored)."""
    was = net.eo_encoder.training
    net.eo_encoder.eval()
    out = [net.eo_encoder(x[s : s + batch].to(device)).float().cpu() for s in range(0, len(x), batch)]
    net.eo_encoder.train(was)
    return torch.cat(out) if out else torch.zeros((0, net.arch.embedding))


def eo_reference(
    net: YNet,
    x_eo: torch.Tensor,
    y_eo: torch.Tensor,
    codes: tuple[int, ...],
    seed: int = 0,
    per_class: int = REFERENCE_PER_CLASS,
    device: torch.device | str = "cpu",
) -> EoReference:
    """The reference of ``net`` from EO patches ``x_eo`` (N, C, 32, 32) with output indices
    ``y_eo`` (N,): :func:`sample_per_class`, then :func:`embed_eo`."""
    keep = torch.from_numpy(sample_per_class(y_eo.numpy(), len(codes), per_class, seed))
    z = embed_eo(net, x_eo[keep], device)
    return EoReference(z.to(torch.float16), y_eo[keep].to(torch.int16), tuple(codes))


def training_reference(
    net: YNet, data: TrainData, data_dir: str | os.PathLike | None, eo_bands: str, classes: str, seed: int
) -> EoReference | None:
    """The reference ``lczmap train`` stores: from the run's EO patches where it read them, else
    (a finetune run that took its EO stage from a file) the same sample read from ``data_dir``;
    None for a model without a trained EO encoder (``sar-only``: ``eo_bands`` of None)."""
    if data.x_eo is not None and data.y_eo is not None:
        return eo_reference(net, data.x_eo, data.y_eo, data.codes, seed)
    if data_dir is None:
        return None
    return _from_source(net, data_dir, None, eo_bands, classes, data.codes, seed, None)


def _from_source(
    net: YNet,
    data_dir: str | os.PathLike,
    cache: str | os.PathLike | None,
    eo_bands: str,
    classes: str,
    codes: tuple[int, ...],
    seed: int,
    progress: Callable | None,
) -> EoReference:
    from ..data import open_patches, select_classes
    from .data import read_patches

    src = open_patches(data_dir, "training", eo_bands, cache)
    positions, y = select_classes(src.labels, classes, "training")
    keep = sample_per_class(y, len(codes), REFERENCE_PER_CLASS, seed)
    x = read_patches(src, positions[keep], progress, f"reading EO {eo_bands} for the EO reference")
    z = embed_eo(net, x)
    return EoReference(z.to(torch.float16), torch.from_numpy(y[keep]).to(torch.int16), tuple(codes))


def reference_from_data(
    ckpt: Checkpoint, data_dir: str | os.PathLike, cache: str | os.PathLike | None = None, progress: Callable | None = None
) -> EoReference:
    """The reference of an older checkpoint, made from the So2Sat release ``data_dir`` it was
    trained on (its training split, the checkpoint's EO band set, class setting and seed): the
    sample ``lczmap train`` would have stored."""
    if ckpt.method == "sar-only":
        raise CheckpointError(
            f"{ckpt.path} was trained sar-only: its EO encoder is untrained and gives no EO reference; "
            "adapt it with training areas, or adapt a model trained with swd or finetune"
        )
    seed = int(ckpt.meta.get("seed") or 0)
    return _from_source(ckpt.model(), data_dir, cache, ckpt.eo_bands.name, str(ckpt.meta["classes"]), ckpt.codes, seed, progress)


def read_reference(ckpt: Checkpoint) -> EoReference | None:
    """The reference ``ckpt`` carries, or None (an older checkpoint, or a sar-only model)."""
    z, y = ckpt.extra.get(REFERENCE_Z), ckpt.extra.get(REFERENCE_Y)
    if z is None or y is None:
        return None
    emb = ckpt.architecture.embedding
    fits = z.ndim == 2 and z.shape[1] == emb and tuple(y.shape) == (z.shape[0],) and y.numel() > 0
    if not fits or int(y.min()) < 0 or int(y.max()) >= len(ckpt.codes):
        raise CheckpointError(
            f"{ckpt.path}: its EO reference ({tuple(z.shape)} embeddings) does not fit the model ({emb}-wide "
            f"embedding, {len(ckpt.codes)} classes): the file is damaged; retrain it or give lczmap adapt --eo-data"
        )
    return EoReference(z, y, ckpt.codes)
