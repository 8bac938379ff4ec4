"""The resume state of an interrupted run (``<stem>.resume.pt``): model, optimiser and history at
the last finished epoch, written atomically after every epoch and loaded with
``torch.load(weights_only=True)``, so loading it never runs code."""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch

from .. import __version__
from .._io import atomic_path
from ..errors import ConfigError
from ..models.networks import YNet
from .config import TrainConfig

__all__ = ["save_state", "load_state", "saved_position"]

#: Marker of a resume state.
STATE_FORMAT = "lczmap-resume"


def save_state(
    path: Path,
    cfg: TrainConfig,
    stage: str,
    epoch: int,
    net: YNet,
    optimizer: torch.optim.Optimizer,
    history: list,
    elapsed: float,
) -> None:
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
    buf = io.BytesIO()  # serialised first: a full disk is then a plain OSError of the write below
    torch.save(state, buf)
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_bytes(buf.getbuffer())


def saved_position(path: Path) -> tuple[str, int] | None:
    """The (stage, 0-based epoch) the resume state at ``path`` holds; None when there is none or it
    cannot be read. What an interrupted run reports is read here, from the file a rerun continues."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        stage, epoch = state["stage"], state["epoch"]
    except Exception:
        return None
    if stage not in ("eo", "sar") or not isinstance(epoch, int):
        return None
    return stage, epoch


def load_state(path: Path, cfg: TrainConfig) -> dict:
    """The state at ``path``; :class:`ConfigError` when it is unreadable, damaged, was written with
    options that change the result, or holds non-finite weights."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(
            f"cannot read the resume state {path} ({type(exc).__name__}): delete it, or drop --resume and pass --overwrite"
        ) from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ConfigError(f"{path} is not an lczmap resume state: delete it, or drop --resume and pass --overwrite")
    try:
        saved = json.loads(state["config"])
        history = json.loads(state["history"])
        ok = (
            state["stage"] in ("eo", "sar")
            and isinstance(state["epoch"], int)
            and isinstance(history, list)
            and isinstance(state["model"], dict)
            and isinstance(state["optimizer"], dict)
            and isinstance(saved, dict)
            and float(state["elapsed"]) >= 0
        )
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"the resume state {path} is damaged: delete it, or drop --resume and pass --overwrite")
    now = cfg.fingerprint()
    diff = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
    if diff:
        raise ConfigError(
            f"the interrupted run at {path} used other options ({', '.join(diff)} differ): "
            "rerun with the same options, or drop --resume and pass --overwrite to start afresh"
        )
    tensors = [t for t in state["model"].values() if isinstance(t, torch.Tensor) and t.is_floating_point()]
    if not all(bool(torch.isfinite(t).all()) for t in tensors):
        raise ConfigError(
            f"the resume state {path} holds NaN or infinite weights (a diverged run): "
            "lower the learning rate, drop --resume and pass --overwrite to start afresh"
        )
    return state
