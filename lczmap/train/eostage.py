"""A trained EO stage as a file: the weights the EO stage trains (EO encoder, classifier,
projection head), the options that define it (:data:`~lczmap.train.config.EO_OPTIONS`), its
rows of the history and its input statistics, in one safetensors file.

A run given such a file (``eo_checkpoint``, ``lczmap train --eo-checkpoint``) starts its SAR
stage from it instead of training the EO stage; because the two stages share no random state,
its checkpoint is the same, byte for byte, as that of the run that trains the EO stage itself. A
study trains each distinct EO stage once this way and shares it between its cells.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import __version__
from .._io import atomic_path
from ..checkpoint import canonical_safetensors
from ..errors import ConfigError
from ..models.networks import YNet
from .config import TrainConfig

__all__ = ["EO_STAGE_FORMAT", "EO_PARTS", "EoStage", "save_eo_stage", "load_eo_stage", "read_eo_options"]

#: Marker of an EO-stage file (``format`` of its safetensors header).
EO_STAGE_FORMAT = "lczmap-eo-stage"
#: Version of the file layout this lczmap writes and reads.
EO_STAGE_VERSION = 1
#: The modules of the Y-network the EO stage trains (their state is what the file holds).
EO_PARTS = ("eo_encoder", "classifier", "projector")


@dataclass
class EoStage:
    """An EO stage read from a file: ``state`` (Y-network names of :data:`EO_PARTS`), the EO
    options, the EO rows of the history, the EO input statistics, the number of EO patches and
    the class codes."""

    path: Path
    state: dict[str, torch.Tensor]
    options: dict
    history: list[dict]
    eo_stats: tuple[list, list]
    n_eo: int
    codes: tuple[int, ...]

    def load_into(self, net: YNet) -> None:
        """Put the stage's weights into ``net`` (its EO encoder, classifier and projection head)."""
        for part in EO_PARTS:
            prefix = part + "."
            module = getattr(net, part)
            module.load_state_dict({k[len(prefix) :]: v for k, v in self.state.items() if k.startswith(prefix)})


def save_eo_stage(
    path: str | os.PathLike,
    cfg: TrainConfig,
    net: YNet,
    history: list[dict],
    eo_stats: tuple[list, list],
    n_eo: int,
    codes: tuple[int, ...],
    overwrite: bool = False,
) -> Path:
    """Write the EO stage of ``cfg`` (``net`` after it) to ``path`` atomically, with its history
    rows (their timings included: they go on to the CSV of the runs that use the stage)."""
    from safetensors.torch import save

    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in net.state_dict().items() if k.split(".", 1)[0] in EO_PARTS}
    meta = {
        "lczmap_version": __version__,
        "eo_options": cfg.eo_options(),
        "history": history,
        "eo_mean": list(eo_stats[0]),
        "eo_std": list(eo_stats[1]),
        "n_eo": int(n_eo),
        "codes": list(codes),
    }
    header = {"format": EO_STAGE_FORMAT, "format_version": str(EO_STAGE_VERSION), "meta": json.dumps(meta)}
    data = canonical_safetensors(save(state, metadata=header))
    with atomic_path(path, overwrite=overwrite, verify=_verify) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def _verify(tmp: Path) -> None:
    _header(tmp)  # ConfigError when it does not read back


def _header(path: Path) -> dict:
    """The metadata of the EO-stage file ``path``; :class:`ConfigError` (one line) when it is
    missing, not a safetensors file, not an EO stage or of a newer layout."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise ConfigError(f"--eo-checkpoint {path} does not exist: give an EO stage written by lczmap (or drop it)")
    try:
        with safe_open(str(path), framework="pt") as fh:
            extra = fh.metadata() or {}
    except (SafetensorError, OSError):
        raise ConfigError(f"--eo-checkpoint {path} is not a readable safetensors file: retrain the EO stage") from None
    if extra.get("format") != EO_STAGE_FORMAT:
        raise ConfigError(f"--eo-checkpoint {path} is not an lczmap EO stage: give a file the EO stage of a study wrote")
    if extra.get("format_version") != str(EO_STAGE_VERSION):
        raise ConfigError(
            f"--eo-checkpoint {path} has EO-stage layout {extra.get('format_version')!r}, this lczmap "
            f"reads {EO_STAGE_VERSION}: retrain the EO stage with this lczmap"
        )
    try:
        meta = json.loads(extra["meta"])
        if not isinstance(meta, dict) or not isinstance(meta["eo_options"], dict) or not isinstance(meta["history"], list):
            raise ValueError
    except (KeyError, ValueError, TypeError):
        raise ConfigError(f"--eo-checkpoint {path} has unreadable metadata: retrain the EO stage") from None
    return meta


def read_eo_options(path: str | os.PathLike) -> dict:
    """The EO options an EO-stage file was trained with (reads its header only)."""
    return _header(Path(path))["eo_options"]


def _mismatch(saved: dict, cfg: TrainConfig) -> list[str]:
    now = cfg.eo_options()
    return [f"{k} {saved.get(k)!r} there, {now.get(k)!r} here" for k in now if saved.get(k) != now.get(k)]


def load_eo_stage(path: str | os.PathLike, cfg: TrainConfig) -> EoStage:
    """The EO stage at ``path`` for the run ``cfg``. :class:`ConfigError` (one line, naming the
    first options that differ) when it was trained with other EO options, and when it is not a
    readable EO stage."""
    path = Path(path)
    meta = _header(path)
    diff = _mismatch(meta["eo_options"], cfg)
    if diff:
        raise ConfigError(
            f"--eo-checkpoint {path} was trained with other EO options ({'; '.join(diff[:3])}"
            f"{'; ...' if len(diff) > 3 else ''}): train it with this run's options or drop --eo-checkpoint"
        )
    try:
        from safetensors.torch import load_file

        state = load_file(str(path), device="cpu")
        stage = EoStage(
            path,
            state,
            meta["eo_options"],
            meta["history"],
            (meta["eo_mean"], meta["eo_std"]),
            int(meta["n_eo"]),
            tuple(int(c) for c in meta["codes"]),
        )
    except ConfigError:
        raise
    except Exception as exc:  # safetensors raises its own types for damaged files
        raise ConfigError(f"--eo-checkpoint {path} is damaged ({type(exc).__name__}): retrain the EO stage") from None
    tensors = [t for t in state.values() if t.is_floating_point()]
    if not all(bool(torch.isfinite(t).all()) for t in tensors):
        raise ConfigError(f"--eo-checkpoint {path} holds NaN or infinite weights: retrain the EO stage")
    return stage
