"""The public verb: :func:`adapt_model` adapts a trained model to one scene from training areas
and writes a new, self-describing checkpoint."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .._io import check_outputs, check_utf8
from ..checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from ..classes import label_of
from ..errors import CheckpointError, ConfigError, ZonesError
from ..evaluate import calibrate_network
from ..predict.model import load_model, model_file
from ..scene import Scene, open_scene
from .areas import TrainingAreas, check_classes, read_training_areas, split_holdout
from .fit import fit_sar_stage
from .options import AdaptOptions
from .patches import ScenePatches, cut_patches
from .result import AdaptResult, scene_record
from .scores import ModelScores, holdout_scores, per_class_table

if TYPE_CHECKING:
    import pandas as pd

    from ..predict.runner import Progress

__all__ = ["AdaptResult", "adapt_model", "scene_record"]  # the first and last from .result

log = logging.getLogger(__name__)


def adapt_model(
    model: str | os.PathLike | Checkpoint,
    scene: str | os.PathLike | Scene,
    training_areas: Any,
    out: str | os.PathLike,
    *,
    options: AdaptOptions | None = None,
    holdout_layer: str | os.PathLike | None = None,
    progress: Progress | None = None,
    **overrides: Any,
) -> AdaptResult:
    """Adapt ``model`` (a checkpoint path or a loaded :class:`~lczmap.checkpoint.Checkpoint`) to
    ``scene`` (a path ``lczmap predict`` reads, or an opened :class:`~lczmap.scene.Scene`) from
    ``training_areas`` (a vector file or GeoDataFrame of LCZ polygons, any CRS; see
    :func:`~lczmap.adapt.read_training_areas`) and write the adapted checkpoint ``out``
    (``.safetensors``). ``training_areas`` None adapts without labels: ``options.scene_patches``
    unlabelled windows aligned to the checkpoint's EO reference (``swd-eo``,
    :mod:`lczmap.adapt.unsupervised`; ``options.eo_data`` makes the reference of a checkpoint
    without one); with training areas, ``method="swd-eo"`` adds the labelled cross-entropy.

    Labelled patches are the windows ``lczmap predict`` classifies at the output pixels whose
    centre lies inside a polygon, through predict's input chain; unlabelled ones are drawn at
    random from the rest of the scene. The SAR stage of ``options.method`` runs from the model
    (:mod:`lczmap.adapt.fit`). ``options``: an :class:`~lczmap.adapt.AdaptOptions`; its fields
    may also be given as keyword arguments, which override those of ``options``. With
    ``holdout > 0``, that share of each class's polygons is held out, the model is adapted on
    the rest (that is the model written) and both models are scored on the held-out polygons;
    ``holdout_layer`` (a vector file) receives the held-out polygons, for ``lczmap assess``.
    The checkpoint records the base model, the scene, the training areas, the patches per class,
    the options and the held-out scores (``meta["adaptation"]``).
    """
    t0 = time.perf_counter()
    if options is not None and not isinstance(options, AdaptOptions):
        raise ConfigError(f"options must be an AdaptOptions, got {type(options).__name__}")
    opts = dataclasses.replace(options or AdaptOptions(), **overrides) if overrides else (options or AdaptOptions())
    out = Path(out)
    if out.suffix != ".safetensors":
        raise ConfigError(f"the adapted model {out} must end in .safetensors (-o/--out): rename the output")
    if holdout_layer is not None and opts.holdout <= 0:
        raise ConfigError("a held-out polygons layer (--holdout-layer) needs --holdout above 0 (holdout=...)")
    from ..zones.vector import vector_driver, vector_outputs, vector_sink

    outputs = [out]
    driver = None
    if holdout_layer is not None:
        driver = vector_driver(Path(holdout_layer))
        outputs += vector_outputs(Path(holdout_layer), driver)
    inputs = [
        model_file(model),
        *(scene.sources if isinstance(scene, Scene) else [scene]),
        training_areas if isinstance(training_areas, (str, os.PathLike)) else None,
    ]
    check_utf8(out, "adapted model", needs="safetensors")  # before any work: it would not read back
    for p in outputs[1:]:
        check_utf8(p, "held-out polygons layer")
    check_outputs(outputs, inputs, opts.overwrite)

    ckpt = model if isinstance(model, Checkpoint) else load_checkpoint(model)
    if not isinstance(ckpt, Checkpoint):
        raise CheckpointError(f"cannot adapt {type(model).__name__}: give a checkpoint path or a loaded Checkpoint")
    m = load_model(ckpt)
    if training_areas is None:
        from .unlabelled import adapt_unlabelled

        return adapt_unlabelled(ckpt, m, scene, out, opts, progress, t0)
    areas = read_training_areas(training_areas, opts.field, opts.layer, opts.ref_codes)
    check_classes(areas.codes, f"training areas {areas.name}")
    read = opts.predict
    aoi = read.aoi
    if aoi is None and areas.roi is not None:
        aoi = areas.roi_bounds()
        log.info(
            "the area of interest is the ROI of %s (%s west,south,east,north): unlabelled patches are drawn "
            "there (--aoi to choose another)",
            areas.name,
            ",".join(f"{v:.4f}" for v in aoi or ()),
        )
    if not isinstance(scene, Scene):
        scene = open_scene(
            scene,
            m.band_set,
            bands=read.bands,
            units=read.units,
            quantity=read.quantity,
            resample=read.resample,
            swaths=read.swaths,
        )
    plan = read.resolve(m, scene)
    if aoi is not None and read.aoi is None:
        _check_roi(scene, plan.stride, aoi, areas.name)
    patches = cut_patches(scene, m, areas, plan, opts.unlabelled, opts.seed, progress, aoi=aoi)
    x, y_idx, poly = _usable(patches, ckpt.codes, areas)
    keep, held = split_holdout(areas, opts.holdout, opts.seed, usable=np.isin(areas.frame["polygon"].to_numpy(), poly))
    table = per_class_table(areas.codes, patches.overlaps, patches.y_lab, patches.polygon, held if opts.holdout > 0 else None)
    train_polys = areas.frame["polygon"].to_numpy()[keep]
    in_train = np.isin(poly, train_polys)
    if opts.holdout > 0 and in_train.all():
        raise ZonesError(
            f"--holdout {opts.holdout:g} holds out no polygon with patches: each class needs at least "
            "two polygons on the scene to hold one out; draw more polygons or drop --holdout"
        )
    note = _holdout_note(ckpt.codes, y_idx, in_train) if opts.holdout > 0 else None
    log.info("adapting on %d labelled and %d unlabelled patches (%s)", int(in_train.sum()), len(patches.x_unl), opts.method)
    x_t = torch.from_numpy(x)
    x_lab, y_lab, x_unl = x_t[torch.from_numpy(in_train)], torch.from_numpy(y_idx[in_train]), torch.from_numpy(patches.x_unl)
    if opts.method == "swd-eo":
        from .unlabelled import model_reference, reference_meta
        from .unsupervised import fit_reference_stage

        ref, source = model_reference(ckpt, opts, progress)
        net, history, stop = fit_reference_stage(ckpt, ref, x_unl, opts, progress, x_lab, y_lab)
    else:
        net, history = fit_sar_stage(ckpt, x_lab, y_lab, x_unl, opts, progress)
    scores = None
    if opts.holdout > 0 and len(np.unique(y_idx[~in_train])) >= 2:
        lut = np.asarray(ckpt.codes)
        scores = holdout_scores(
            {"base": ckpt.sar_network(), "adapted": net.sar_network()},
            ckpt.codes,
            x_t[torch.from_numpy(~in_train)],
            lut[y_idx[~in_train]],
            poly[~in_train],
            opts.bootstrap,
            opts.seed,
            opts.level,
        )
    meta = _meta(ckpt, scene, areas, patches, table, opts, int(in_train.sum()), history, scores)
    # the temperature of the adapted model, fitted on the held-out training areas (none: uncalibrated)
    x_held = x_t[torch.from_numpy(~in_train)]
    meta["calibration"] = calibrate_network(net.sar_network(), x_held, y_idx[~in_train], "the held-out training areas")
    if note is not None:
        meta["adaptation"]["holdout_note"] = note
    if opts.method == "swd-eo":
        meta["adaptation"].update(reference_meta(ref, source, stop, ckpt.codes))
    if aoi is not None:
        meta["adaptation"]["area_of_interest"] = {
            "aoi": list(aoi) if isinstance(aoi, tuple) else str(aoi),
            "from": "--aoi" if read.aoi is not None else f"the ROI of {areas.name}",
        }
    save_checkpoint(out, net, meta, overwrite=opts.overwrite, extra=ref.tensors() if opts.method == "swd-eo" else None)
    written = None
    if holdout_layer is not None and driver is not None:
        frame = areas.frame[held].copy()
        frame["lcz_label"] = [label_of(int(c)) for c in frame["lcz"]]
        with vector_sink(Path(holdout_layer), driver, opts.overwrite) as sink:
            sink.write(frame)
        written = Path(holdout_layer)
    return AdaptResult(
        out,
        table,
        int(in_train.sum()),
        len(patches.x_unl),
        history,
        scores,
        written,
        time.perf_counter() - t0,
        note,
        stop if opts.method == "swd-eo" else None,
    )


def _check_roi(scene: Scene, stride: int, roi: tuple[float, float, float, float], name: str) -> None:
    """Refuses a ROI of the training areas that lies outside the scene, naming the ROI (not --aoi)."""
    from ..errors import SceneError
    from ..predict.grid import aoi_window
    from .patches import scene_grid

    try:
        aoi_window(scene_grid(scene, stride), roi)
    except SceneError:
        raise ZonesError(
            f"the ROI of {name} ({','.join(f'{v:.4f}' for v in roi)} west,south,east,north) lies outside "
            f"the scene {scene.name}: draw the ROI over the scene's city, or give --aoi"
        ) from None


def _holdout_note(codes: tuple[int, ...], y_idx: np.ndarray, in_train: np.ndarray) -> str | None:
    """What a reader of the held-out scores must know, logged as a warning: the classes that have
    no held-out polygon (not scored), and a holdout of one class (then not scored at all: its OA
    says nothing and its kappa is undefined). None when every class is held out in part."""

    def labels(idx: np.ndarray) -> str:
        return ", ".join(f"LCZ {label_of(codes[int(i)])}" for i in idx)

    trained, tested = np.unique(y_idx[in_train]), np.unique(y_idx[~in_train])
    parts = []
    unscored = np.setdiff1d(trained, tested)
    if len(unscored):
        parts.append(
            f"{labels(unscored)} {'has' if len(unscored) == 1 else 'have'} no held-out polygon (fewer than "
            "two polygons with patches): not scored"
        )
    if len(tested) < 2:
        parts.append(
            f"the held-out polygons hold one class ({labels(tested)}): no scores (the OA of one class says "
            "nothing, its kappa is undefined); draw at least two polygons in more classes"
        )
    if not parts:
        return None
    note = "holdout: " + "; ".join(parts)
    log.warning("%s", note)
    return note


def _usable(patches: ScenePatches, codes: tuple[int, ...], areas: TrainingAreas) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The labelled windows of classes the model has, their output indices and polygons; refuses
    training areas that give no patch at all."""
    if len(patches.x_lab) == 0:
        raise ZonesError(
            f"{areas.name} gives no labelled patch: no polygon holds the centre of a valid 100 m output "
            "pixel of the scene (polygons off the swath or over nodata); draw polygons over the mapped area"
        )
    index = {c: i for i, c in enumerate(codes)}
    known = np.array([int(c) in index for c in patches.y_lab])
    if not known.all():
        missing = sorted({int(c) for c in patches.y_lab[~known]})
        log.warning(
            "the model has no class %s (its classes: %s): those training areas are left out",
            ", ".join(map(str, missing)),
            ", ".join(map(str, codes)),
        )
    if not known.any():
        raise ZonesError(
            f"{areas.name} holds only classes the model does not map "
            f"({', '.join(map(str, sorted(set(patches.y_lab.tolist()))))}; "
            f"the model maps {', '.join(map(str, codes))}): adapt a model trained on those classes"
        )
    y_idx = np.array([index.get(int(c), -1) for c in patches.y_lab], np.int64)[known]
    classes = np.unique(y_idx)
    if len(classes) < 2:
        raise ZonesError(
            f"the polygons of {areas.name} on the scene give labelled patches of one class only "
            f"(LCZ {label_of(codes[int(classes[0])])}): adaptation needs at least 2 classes; draw polygons "
            "of more classes over the scene"
        )
    return patches.x_lab[known], y_idx, patches.polygon[known]


def _meta(
    ckpt: Checkpoint,
    scene: Scene,
    areas: TrainingAreas,
    patches: ScenePatches,
    table: pd.DataFrame,
    opts: AdaptOptions,
    n_train: int,
    history: list[dict[str, float]],
    scores: dict[str, ModelScores] | None,
) -> dict[str, Any]:
    """The adapted checkpoint's metadata: the base model's, with the adaptation recorded."""
    meta = {k: v for k, v in ckpt.meta.items() if k != "lczmap_version"}
    meta["method"] = opts.method
    meta["adaptation"] = {
        "base_model": str(getattr(ckpt, "path", "")),
        "base_method": str(ckpt.meta.get("method")),
        "method": opts.method,
        "scene": scene_record(scene, patches),
        "training_areas": {
            "name": areas.name,
            "class_from": areas.source,
            "crs": str(areas.frame.crs.to_string()),
            "polygons": len(areas),
        },
        "classes": table.to_dict(orient="records"),
        "labelled_patches": n_train,
        "unlabelled_patches": len(patches.x_unl),
        "options": opts.to_dict(),
        "history": history,
        "holdout": None if scores is None else {name: s.to_dict() for name, s in scores.items()},
    }
    return meta
