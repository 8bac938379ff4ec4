"""The resume state of an interrupted run (``<stem>.resume.pt``): model, optimiser and history at
the last finished epoch, written atomically after every epoch and loaded with
``torch.load(weights_only=True)``, so loading it never runs code."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .. import __version__
from .._io import atomic_path
from ..errors import ConfigError
from ..models.networks import YNet
from .config import TrainConfig

__all__ = ["save_state", "load_state"]

#: Marker of a resume state.
STATE_FORMAT = "lczmap-resume"


def save_state(path: Path, cfg: TrainConfig, stage: str, epoch: int, net: YNet, optimizer, history: list,
               elapsed: float) -> None:
    """Write the state after ``epoch`` (0-based) of ``stage`` to ``path``."""
    state = {
        "format": STATE_FORMAT,
        "lczmap_version": __version__,
        "config": json.dumps(cfg.fingerprint(), sort_keys=True),
        "stage": stage,
        "epoch": epoch,
        "model": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "history": json.dumps(history),
        "elapsed": float(elapsed),
    }
    with atomic_path(path, overwrite=True) as tmp:
        torch.save(state, tmp)


def load_state(path: Path, cfg: TrainConfig) -> dict:
    """The state at ``path``; :class:`ConfigError` when it is unreadable or was written with
    options that change the result."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(
            f"cannot read the resume state {path} ({type(exc).__name__}): delete it and rerun without --resume"
        ) from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ConfigError(f"{path} is not an lczmap resume state: delete it and rerun without --resume")
    saved = json.loads(state["config"])
    now = cfg.fingerprint()
    diff = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
    if diff:
        raise ConfigError(
            f"the interrupted run at {path} used other options ({', '.join(diff)} differ): "
            "rerun with the same options, or drop --resume and pass --overwrite to start afresh"
        )
    return state
