"""The public verb: :func:`adapt_model` adapts a trained model to one scene from training areas
and writes a new, self-describing checkpoint."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import check_outputs
from ..checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from ..errors import CheckpointError, ConfigError, ZonesError
from ..predict.model import load_model
from ..scene import Scene, open_scene
from .areas import TrainingAreas, read_training_areas, split_holdout
from .fit import fit_sar_stage
from .options import AdaptOptions
from .patches import ScenePatches, cut_patches
from .scores import ModelScores, holdout_scores, per_class_table

__all__ = ["AdaptResult", "adapt_model"]

log = logging.getLogger(__name__)


@dataclass
class AdaptResult:
    """What :func:`adapt_model` did: the ``checkpoint`` written; ``classes``, a table (DataFrame)
    per class of the training areas: polygons, polygons on the scene, polygons that gave patches,
    labelled patches (and held-out polygons and patches); the labelled and unlabelled patches the
    SAR stage used; its ``history`` (mean loss terms per epoch); with a holdout, the ``scores``
    of the ``base`` and the ``adapted`` model on the held-out polygons; the held-out polygons'
    layer when one was asked for; and the seconds it took."""

    checkpoint: Path
    classes: Any
    n_labelled: int
    n_unlabelled: int
    history: list[dict] = field(default_factory=list)
    scores: dict[str, ModelScores] | None = None
    holdout_layer: Path | None = None
    seconds: float = 0.0

    def table(self) -> str:
        """The per-class table as text."""
        return self.classes.to_string(index=False)

    def summary(self) -> str:
        """A few lines for a terminal: patches, then the held-out scores of both models."""
        lines = [f"{self.checkpoint}: adapted on {self.n_labelled} labelled and {self.n_unlabelled} unlabelled patches"]
        if self.scores:
            any_ = next(iter(self.scores.values()))
            n = int(any_.confusion.sum())
            lines.append(f"held-out polygons ({n} pixels):")
            for name, s in self.scores.items():
                lines.append(f"  {name:<8} {s.line()}")
        return "\n".join(lines)


def _model_path(model: Any) -> Path | None:
    return Path(model) if isinstance(model, (str, os.PathLike)) else getattr(model, "path", None)


def adapt_model(
    model: str | os.PathLike | Checkpoint,
    scene: str | os.PathLike | Scene,
    training_areas: Any,
    out: str | os.PathLike,
    *,
    options: AdaptOptions | None = None,
    holdout_layer: str | os.PathLike | None = None,
    progress: Callable | None = None,
    **overrides: Any,
) -> AdaptResult:
    """Adapt ``model`` (a checkpoint path or a loaded :class:`~lczmap.checkpoint.Checkpoint`) to
    ``scene`` (a path ``lczmap predict`` reads, or an opened :class:`~lczmap.scene.Scene`) from
    ``training_areas`` (a vector file or GeoDataFrame of LCZ polygons, any CRS; see
    :func:`~lczmap.adapt.read_training_areas`) and write the adapted checkpoint ``out``
    (``.safetensors``).

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
    inputs = [_model_path(model), *(scene.sources if isinstance(scene, Scene) else [scene]),
              training_areas if isinstance(training_areas, (str, os.PathLike)) else None]
    check_outputs(outputs, inputs, opts.overwrite)

    ckpt = model if isinstance(model, Checkpoint) else load_checkpoint(model)
    if not isinstance(ckpt, Checkpoint):
        raise CheckpointError(f"cannot adapt {type(model).__name__}: give a checkpoint path or a loaded Checkpoint")
    m = load_model(ckpt)
    areas = read_training_areas(training_areas, opts.field, opts.layer, opts.ref_codes)
    scene_opts = opts.scene_options()
    if not isinstance(scene, Scene):
        scene = open_scene(scene, m.band_set, bands=scene_opts.bands, units=scene_opts.units,
                           quantity=scene_opts.quantity, resample=scene_opts.resample)
    patches = cut_patches(scene, m, areas, scene_opts, opts.unlabelled, opts.seed, progress)
    keep, held = split_holdout(areas, opts.holdout, opts.seed)
    table = per_class_table(areas.codes, patches.overlaps, patches.y_lab, patches.polygon,
                            held if opts.holdout > 0 else None)
    x, y_idx, poly = _usable(patches, ckpt.codes, areas)
    train_polys = areas.frame["polygon"].to_numpy()[keep]
    in_train = np.isin(poly, train_polys)
    if opts.holdout > 0 and in_train.all():
        raise ZonesError(f"--holdout {opts.holdout:g} holds out no polygon with patches: each class needs at least "
                         "two polygons on the scene to hold one out; draw more polygons or drop --holdout")
    if not in_train.any():
        raise ZonesError("every polygon with patches was held out: lower --holdout")
    log.info("adapting on %d labelled and %d unlabelled patches (%s)", int(in_train.sum()), len(patches.x_unl), opts.method)
    x_t = torch.from_numpy(x)
    net, history = fit_sar_stage(ckpt, x_t[torch.from_numpy(in_train)], torch.from_numpy(y_idx[in_train]),
                                 torch.from_numpy(patches.x_unl), opts, progress)
    scores = None
    if opts.holdout > 0:
        lut = np.asarray(ckpt.codes)
        scores = holdout_scores({"base": ckpt.sar_network(), "adapted": net.sar_network()}, ckpt.codes,
                                x_t[torch.from_numpy(~in_train)], lut[y_idx[~in_train]], poly[~in_train],
                                opts.bootstrap, opts.seed, opts.level)
    meta = _meta(ckpt, scene, areas, patches, table, opts, int(in_train.sum()), history, scores)
    save_checkpoint(out, net, meta, overwrite=opts.overwrite)
    written = None
    if holdout_layer is not None and driver is not None:
        from ..classes import label_of

        frame = areas.frame[held].copy()
        frame["lcz_label"] = [label_of(int(c)) for c in frame["lcz"]]
        with vector_sink(Path(holdout_layer), driver, opts.overwrite) as sink:
            sink.write(frame)
        written = Path(holdout_layer)
    return AdaptResult(out, table, int(in_train.sum()), len(patches.x_unl), history, scores, written,
                       time.perf_counter() - t0)


def _usable(patches: ScenePatches, codes: tuple[int, ...], areas: TrainingAreas) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The labelled windows of classes the model has, their output indices and polygons; refuses
    training areas that give no patch at all."""
    if len(patches.x_lab) == 0:
        raise ZonesError(f"{areas.name} gives no labelled patch: no polygon holds the centre of a valid 100 m output "
                         "pixel of the scene (polygons off the swath or over nodata); draw polygons over the mapped area")
    index = {c: i for i, c in enumerate(codes)}
    known = np.array([int(c) in index for c in patches.y_lab])
    if not known.all():
        missing = sorted({int(c) for c in patches.y_lab[~known]})
        log.warning("the model has no class %s (its classes: %s): those training areas are left out",
                    ", ".join(map(str, missing)), ", ".join(map(str, codes)))
    if not known.any():
        raise ZonesError(f"{areas.name} holds only classes the model does not map ({', '.join(map(str, sorted(set(patches.y_lab.tolist()))))}; "
                         f"the model maps {', '.join(map(str, codes))}): adapt a model trained on those classes")
    y_idx = np.array([index.get(int(c), -1) for c in patches.y_lab], np.int64)
    return patches.x_lab[known], y_idx[known], patches.polygon[known]


def _meta(ckpt: Checkpoint, scene: Scene, areas: TrainingAreas, patches: ScenePatches, table, opts: AdaptOptions,
          n_train: int, history: list[dict], scores: dict[str, ModelScores] | None) -> dict:
    """The adapted checkpoint's metadata: the base model's, with the adaptation recorded."""
    meta = {k: v for k, v in ckpt.meta.items() if k != "lczmap_version"}
    grid = patches.grid
    meta["method"] = opts.method
    meta["adaptation"] = {
        "base_model": str(getattr(ckpt, "path", "")),
        "base_method": str(ckpt.meta.get("method")),
        "method": opts.method,
        "scene": {"name": scene.name, "sources": list(scene.sources), "crs": _crs_name(grid.crs),
                  "shape": [scene.height, scene.width], "units": scene.units,
                  "conversions": list(getattr(scene, "conversions", ())), "speckle_filter": patches.speckle_filter,
                  "output_grid": {"shape": [grid.shape.y, grid.shape.x], "transform": list(grid.affine)[:6]}},
        "training_areas": {"name": areas.name, "class_from": areas.source, "crs": str(areas.frame.crs.to_string()),
                           "polygons": len(areas)},
        "classes": table.to_dict(orient="records"),
        "labelled_patches": n_train,
        "unlabelled_patches": len(patches.x_unl),
        "options": opts.to_dict(),
        "history": history,
        "holdout": None if scores is None else {name: s.to_dict() for name, s in scores.items()},
    }
    return meta


def _crs_name(crs: Any) -> str:
    """``EPSG:n`` where the CRS has a code, else its WKT."""
    from pyproj import CRS

    c = CRS.from_user_input(str(crs))
    code = c.to_epsg()
    return f"EPSG:{code}" if code else c.to_wkt()
