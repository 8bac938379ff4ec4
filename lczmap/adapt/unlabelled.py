"""Adaptation without training areas: :func:`adapt_unlabelled` cuts the scene's unlabelled
patches as ``lczmap predict`` sees them and runs :func:`~lczmap.adapt.unsupervised.fit_reference_stage`;
:func:`model_reference` finds the EO reference (the checkpoint's, or one made from ``--eo-data``).
:func:`lczmap.adapt.adapt_model` calls it when no training areas are given."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import Checkpoint, save_checkpoint
from ..errors import CheckpointError, ConfigError
from ..predict.model import Model
from ..predict.runner import Progress
from ..scene import Scene, open_scene
from ..train.reference import EoReference, read_reference, reference_from_data
from .options import AdaptOptions
from .patches import cut_unlabelled
from .unsupervised import StopReport, fit_reference_stage

__all__ = ["model_reference", "adapt_unlabelled", "reference_meta"]

log = logging.getLogger(__name__)


def model_reference(ckpt: Checkpoint, options: AdaptOptions, progress: Progress | None = None) -> tuple[EoReference, str]:
    """The EO reference to align to and where it came from: made from ``options.eo_data`` when
    given, else the checkpoint's; :class:`CheckpointError` (one line) when there is none."""
    if options.eo_data is not None:
        log.info("making the EO reference from %s", options.eo_data)
        return reference_from_data(ckpt, options.eo_data, progress=progress), f"--eo-data {options.eo_data}"
    ref = read_reference(ckpt)
    if ref is None:
        raise CheckpointError(
            f"{ckpt.path} carries no EO reference (written by lczmap train before it stored one): give "
            "--eo-data SO2SAT_DIR (the So2Sat release it was trained on), or training areas"
        )
    return ref, "the checkpoint"


def reference_meta(ref: EoReference, source: str, stop: StopReport, codes: tuple[int, ...]) -> dict[str, Any]:
    """What an adapted checkpoint records of the reference and the stopping rule."""
    return {"eo_reference": {"from": source, **ref.summary()}, "stopping": stop.to_dict(codes)}


def adapt_unlabelled(
    ckpt: Checkpoint,
    model: Model,
    scene: str | Any,
    out: Path,
    opts: AdaptOptions,
    progress: Progress | None,
    t0: float,
) -> Any:
    """The body of :func:`~lczmap.adapt.adapt_model` without training areas (its checks of the
    options and outputs done): ``opts.scene_patches`` unlabelled windows of ``scene``, the
    reference stage, the checkpoint ``out`` with ``meta["adaptation"]``."""
    import pandas as pd

    from .result import AdaptResult, scene_record

    if opts.method == "swd":
        raise ConfigError(
            "swd adapts from training areas: without them the method is swd-eo (drop --method, or give training areas)"
        )
    if opts.holdout > 0:
        raise ConfigError("--holdout holds out training polygons: without training areas there are none; drop --holdout")
    ref, source = model_reference(ckpt, opts, progress)
    read = opts.predict
    if not isinstance(scene, Scene):
        scene = open_scene(
            scene,
            model.band_set,
            bands=read.bands,
            units=read.units,
            quantity=read.quantity,
            resample=read.resample,
            swaths=read.swaths,
        )
    plan = read.resolve(model, scene)
    patches = cut_unlabelled(scene, model, plan, opts.scene_patches, opts.seed, progress, aoi=read.aoi)
    log.info("adapting without labels on %d scene patches (swd-eo, EO reference from %s)", len(patches.x_unl), source)
    net, history, stop = fit_reference_stage(ckpt, ref, torch.from_numpy(patches.x_unl), opts, progress)
    meta = {k: v for k, v in ckpt.meta.items() if k != "lczmap_version"}
    meta["method"] = "swd-eo"
    meta["adaptation"] = {
        "base_model": str(getattr(ckpt, "path", "")),
        "base_method": str(ckpt.meta.get("method")),
        "method": "swd-eo",
        "scene": scene_record(scene, patches),
        "training_areas": None,
        "labelled_patches": 0,
        "unlabelled_patches": len(patches.x_unl),
        "options": {**opts.to_dict(), "method": "swd-eo"},
        "history": history,
        **reference_meta(ref, source, stop, ckpt.codes),
    }
    meta["calibration"] = None  # no labels to fit a temperature on: uncalibrated (T = 1)
    if read.aoi is not None:
        meta["adaptation"]["area_of_interest"] = {"aoi": list(read.aoi) if isinstance(read.aoi, tuple) else str(read.aoi)}
    save_checkpoint(out, net, meta, overwrite=opts.overwrite, extra=ref.tensors())
    return AdaptResult(
        out,
        pd.DataFrame(columns=["lcz", "label", "name", "polygons", "on_scene", "with_patches", "patches"]),
        0,
        len(patches.x_unl),
        history,
        None,
        None,
        time.perf_counter() - t0,
        None,
        stop,
    )
