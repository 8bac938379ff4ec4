"""Suspicious training areas: each polygon scored by models that never saw it.

The polygons are cut into windows exactly as ``lczmap adapt`` cuts them
(:func:`~lczmap.adapt.cut_patches`: the windows ``lczmap predict`` classifies at the output
pixels whose centre lies inside a polygon, through predict's input chain). The polygons with
windows are dealt into ``folds`` folds, stratified by class (seeded); for each fold a scorer is
fitted on the polygons of the other folds and gives the held-out fold's windows class
probabilities. Every polygon is thus scored by a model that did not see it, as the LCZ
Generator's bootstrap scores its training areas. The scorers (:data:`SCORERS`):

``head`` (default)
    a multinomial logistic regression per fold on what the checkpoint's SAR network makes of
    each window: its embedding and its class logits (standardised; L2-penalised; each class of
    the training polygons weighted alike, each polygon's windows together as much as another
    polygon's). The network is run once; a fold's fit takes well under a second. It learns the
    classes of the training areas, whichever classes the model maps.
``adapt``
    adapt's own SAR stage per fold (:func:`~lczmap.adapt.fit.fit_sar_stage`, ``adapt.method``
    and ``adapt.sar_epochs``), classifying the held-out windows with the model's fixed classifier
    restricted to the classes of the other folds' polygons. Minutes per fold; only the classes
    the model maps are scored.

Per polygon, the mean class probability over its windows and the share of its windows each class
wins give the flags, in this order (:data:`REASONS`):

``off the scene``
    the polygon does not overlap the scene, or none of its windows holds valid data (swath
    border, nodata): nothing was checked.
``too small``
    fewer than ``min_pixels`` output pixels (100 m at the default stride) have their centre
    inside it: too few windows for a vote, and smaller than an LCZ (Stewart and Oke 2012 give
    a zone a diameter of some hundreds of metres at least).
``another class``
    the most likely class is not the label and is at least ``ratio`` times as likely as the
    labelled class (mean probabilities): a polygon drawn in the wrong folder, or of the wrong zone.
``mixed classes``
    the windows split between classes: the second most frequent class among its windows wins at
    least ``mixed`` of them (a polygon over two zones).

A polygon whose class has no polygon in the other folds (a class drawn once), or (scorer
``adapt``) whose class the model does not map, is not scored; ``detail`` says why.

One module: the folds, the two scorers and the flags are the steps of one check, and each step
reads the arrays the one before made (windows, folds, classes); apart, they would only be
imported back together here.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, ZonesError
from .options import AdaptOptions

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd
    import torch

    from ..checkpoint import Checkpoint
    from ..predict.runner import Progress
    from ..scene import Scene
    from .patches import ScenePatches

__all__ = [
    "CheckOptions",
    "CheckResult",
    "check_areas",
    "SCORERS",
    "REASONS",
    "CHECK_COLUMNS",
    "DEFAULT_FOLDS",
    "DEFAULT_RATIO",
    "DEFAULT_MIXED",
    "DEFAULT_MIN_PIXELS",
    "DEFAULT_CHECK_EPOCHS",
]

log = logging.getLogger(__name__)

#: How the held-out polygons are scored (``--scorer``); the first is the default.
SCORERS: tuple[str, ...] = ("head", "adapt")
#: The reasons a polygon is flagged, in the order they are tested and listed.
REASONS: tuple[str, ...] = ("off the scene", "too small", "another class", "mixed classes")
#: The columns the flagged layer adds to the training areas' own (an own column of the same name
#: is kept as ``<name>_areas``); one ``p_<class>`` column per class of the training areas follows.
CHECK_COLUMNS: tuple[str, ...] = (
    "flag",
    "reason",
    "detail",
    "lcz",
    "lcz_label",
    "predicted",
    "predicted_label",
    "p_labelled",
    "p_predicted",
    "share_second",
    "pixels",
    "windows",
    "fold",
)
#: Folds of the cross-validation by polygon.
DEFAULT_FOLDS = 5
#: How many times as likely as the labelled class another class must be to flag the polygon.
DEFAULT_RATIO = 1.5
#: The share of a polygon's windows its second class must win to call it mixed.
DEFAULT_MIXED = 0.35
#: Fewest output pixels (centres inside the polygon) of a polygon that is not too small: 4 pixels
#: of 100 m, 200 m x 200 m.
DEFAULT_MIN_PIXELS = 4
#: SAR-stage epochs of each fold's adaptation (scorer ``adapt``; short: the check fits ``folds`` models).
DEFAULT_CHECK_EPOCHS = 3
#: L2 penalty of the ``head`` scorer's logistic regression (on standardised features, per window).
HEAD_L2 = 1e-2


def _default_adapt() -> AdaptOptions:
    return AdaptOptions(sar_epochs=DEFAULT_CHECK_EPOCHS, unlabelled=1.0)


@dataclass(frozen=True)
class CheckOptions:
    """How to check training areas: ``folds`` (polygon folds, at least 2), ``scorer`` (one of
    :data:`SCORERS`), ``ratio`` (another class this many times as likely as the label flags a
    polygon; above 1), ``mixed`` (share of the windows the second class must win; in (0, 0.5]),
    ``min_pixels`` (fewest output pixels of a polygon that is not too small), ``adapt`` (an
    :class:`~lczmap.adapt.AdaptOptions`: how the areas and the scene are read, ``field``,
    ``layer``, ``ref_codes``, ``predict``, and ``seed``, ``device``, ``batch_size``; for the scorer
    ``adapt`` also its method, epochs and unlabelled patches; its ``holdout`` does not apply) and
    ``overwrite``. Validated on construction (:class:`~lczmap.errors.ConfigError` naming the CLI
    option)."""

    folds: int = DEFAULT_FOLDS
    scorer: str = SCORERS[0]
    ratio: float = DEFAULT_RATIO
    mixed: float = DEFAULT_MIXED
    min_pixels: int = DEFAULT_MIN_PIXELS
    adapt: AdaptOptions = dataclasses.field(default_factory=_default_adapt)
    overwrite: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.scorer not in SCORERS:
            raise ConfigError(f"unknown scorer {self.scorer!r} (--scorer): choose one of {', '.join(SCORERS)}")
        for name, option, least in (("folds", "--folds", 2), ("min_pixels", "--min-pixels", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Integral) or value < least:
                raise ConfigError(f"{name} must be an integer of at least {least} ({option}), got {value!r}")
            set_(self, name, int(value))
        reals = (("ratio", "--ratio", 1.0, math.inf, "above 1"), ("mixed", "--mixed", 0.0, 0.5, "in (0, 0.5]"))
        for name, option, low, high, span in reals:
            real = getattr(self, name)
            ok = not isinstance(real, bool) and isinstance(real, Real) and math.isfinite(real) and low < float(real) <= high
            if not ok:
                raise ConfigError(f"{name} must be a finite number {span} ({option}), got {real!r}")
            set_(self, name, float(real))
        if not isinstance(self.adapt, AdaptOptions):
            raise ConfigError(
                f"adapt must be an AdaptOptions (how the areas and the scene are read), got {type(self.adapt).__name__}"
            )
        set_(self, "overwrite", bool(self.overwrite))


@dataclass
class CheckResult:
    """What :func:`check_areas` found: ``frame``, the training areas (their own geometry, CRS and
    columns) with :data:`CHECK_COLUMNS` and a ``p_<class>`` column per class; ``path``, the layer
    written; the ``folds`` run; the ``scorer``; seconds."""

    frame: Any
    path: Path
    folds: int
    scorer: str
    seconds: float = 0.0

    @property
    def flagged(self) -> Any:
        """The flagged polygons' rows."""
        return self.frame[self.frame["flag"].to_numpy(bool)]

    def counts(self) -> dict[str, int]:
        """Flagged polygons per reason (a polygon may have several)."""
        reasons = [str(v).split("; ") for v in self.frame["reason"].tolist()]
        return {r: sum(r in rs for rs in reasons) for r in REASONS}

    def table(self) -> str:
        """The flagged polygons (row number, label, reason, detail) as text."""
        rows = self.flagged
        if not len(rows):
            return "no polygon flagged"
        shown = rows[["lcz_label", "reason", "detail"]].rename(columns={"lcz_label": "labelled"})
        return str(shown.to_string())

    def summary(self) -> str:
        """One line for a terminal."""
        n, k = len(self.frame), int(self.frame["flag"].sum())
        per = ", ".join(f"{r} {c}" for r, c in self.counts().items())
        return (
            f"{self.path}: {k} of {n} training polygons flagged ({per}); {self.folds}-fold cross-validation "
            f"by polygon, scorer {self.scorer}, {self.seconds:.0f} s"
        )


def check_areas(
    model: str | os.PathLike | Checkpoint,
    scene: str | os.PathLike | Scene,
    training_areas: Any,
    out: str | os.PathLike,
    *,
    options: CheckOptions | None = None,
    progress: Progress | None = None,
    **overrides: Any,
) -> CheckResult:
    """Score each polygon of ``training_areas`` (a vector file or GeoDataFrame, as
    :func:`~lczmap.adapt.adapt_model` reads them) on ``scene`` (a path ``lczmap predict`` reads,
    or an opened :class:`~lczmap.scene.Scene`) with a scorer fitted on the other polygons
    (cross-validation by polygon; ``model``, a checkpoint path or a loaded
    :class:`~lczmap.checkpoint.Checkpoint`, supplies the features or the network), flag the
    suspicious ones (the module docstring says when) and write every polygon, with its own
    geometry and columns and the check's, to the vector layer ``out`` (a GeoPackage for QGIS; any
    format of :data:`lczmap.zones.vector.VECTOR_FORMATS`), atomically. ``options``: a
    :class:`CheckOptions`; its fields may also be given as keyword arguments. Raises
    :class:`~lczmap.errors.ZonesError` for areas of one class, entirely off the scene or giving
    windows of fewer than two classes, :class:`~lczmap.errors.OutputExistsError` for an existing
    ``out`` without ``overwrite``."""
    from .._io import check_outputs, check_utf8
    from ..checkpoint import Checkpoint, load_checkpoint
    from ..errors import CheckpointError
    from ..maps.reference import read_class_areas
    from ..predict.model import load_model, model_file
    from ..scene import Scene, open_scene
    from ..zones.vector import vector_driver, vector_outputs, vector_sink
    from .areas import check_classes, read_training_areas
    from .patches import cut_patches

    t0 = time.perf_counter()
    if options is not None and not isinstance(options, CheckOptions):
        raise ConfigError(f"options must be a CheckOptions, got {type(options).__name__}")
    opts = dataclasses.replace(options or CheckOptions(), **overrides) if overrides else (options or CheckOptions())
    aopts = opts.adapt
    out = Path(out)
    driver = vector_driver(out)
    inputs = [
        model_file(model),
        *(scene.sources if isinstance(scene, Scene) else [scene]),
        training_areas if isinstance(training_areas, (str, os.PathLike)) else None,
    ]
    check_utf8(out, "flagged training areas")
    check_outputs(vector_outputs(out, driver), inputs, opts.overwrite)

    ckpt = model if isinstance(model, Checkpoint) else load_checkpoint(model)
    if not isinstance(ckpt, Checkpoint):
        raise CheckpointError(f"cannot check with {type(model).__name__}: give a checkpoint path or a loaded Checkpoint")
    m = load_model(ckpt)
    areas = read_training_areas(training_areas, aopts.field, aopts.layer, aopts.ref_codes)
    drawn = np.unique(areas.codes)
    if len(drawn) < 2:
        raise ZonesError(
            f"training areas {areas.name} hold one class (LCZ {_label(int(drawn[0]))}): the check scores each "
            "polygon by a model fitted on the other polygons and needs at least 2 classes; draw polygons of more classes"
        )
    check_classes(areas.codes, f"training areas {areas.name}")  # warns of classes with few polygons
    own = read_class_areas(training_areas, aopts.field, aopts.layer, aopts.ref_codes, what="training areas").frame  # type: ignore[arg-type]
    read = aopts.predict
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
    unlabelled = aopts.unlabelled if opts.scorer == "adapt" else 0.0
    aoi = read.aoi if read.aoi is not None else areas.roi_bounds()
    patches = cut_patches(scene, m, areas, plan, unlabelled, aopts.seed, progress, aoi=aoi)

    codes = areas.codes
    n = len(codes)
    windows = np.bincount(patches.polygon, minlength=n)[:n]
    mapped = np.isin(codes, np.asarray(ckpt.codes)) if opts.scorer == "adapt" else np.ones(n, bool)
    scorable = mapped & (windows > 0)
    classes = np.unique(codes[scorable])
    if len(classes) < 2:
        held = ", ".join(f"LCZ {_label(int(c))}" for c in classes) or "none"
        maps = " the model maps" if opts.scorer == "adapt" else ""
        raise ZonesError(
            f"the polygons of {areas.name} give valid windows of fewer than 2 classes{maps} "
            f"(classes with windows: {held}): the check scores each polygon by the others and needs at least 2 "
            "classes; draw polygons of more classes over the scene"
        )
    folds = _folds(codes, scorable, opts.folds, aopts.seed)
    k = int(folds.max()) + 1
    window_fold = folds[patches.polygon]
    window_class = np.searchsorted(classes, patches.y_lab)
    probs = np.zeros((len(patches.y_lab), len(classes)), np.float64)
    trained = np.zeros((k, len(classes)), bool)  # the classes each fold's scorer learnt
    if opts.scorer == "head":
        features = _features(ckpt, patches.x_lab, aopts.batch_size, aopts.device)
    for f in range(k):
        train, test = (window_fold != f) & (window_fold >= 0), window_fold == f
        trained[f] = np.isin(np.arange(len(classes)), window_class[train])
        log.info("fold %d/%d: fitted on %d windows, scoring %d", f + 1, k, int(train.sum()), int(test.sum()))
        if opts.scorer == "head":
            probs[test] = _head_probabilities(features, window_class, patches.polygon, train, test, len(classes))
        else:
            probs[test] = _adapt_probabilities(ckpt, aopts, patches, classes, window_class, train, test, progress)

    check = _flag(codes, classes, patches, probs, windows, folds, trained, mapped, opts)
    layer = _layer(own, check, areas.frame)
    with vector_sink(out, driver, opts.overwrite) as sink:
        sink.write(layer)
    result = CheckResult(layer, out, k, opts.scorer, time.perf_counter() - t0)
    log.info("%s", result.summary())
    return result


def _label(code: int) -> str:
    from ..classes import label_of

    return str(label_of(code))


def _folds(codes: np.ndarray, scorable: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold (0..k-1) of each polygon, -1 where not scorable: each class's polygons dealt in a
    seeded random order, continuing round the folds from class to class, so that every fold holds
    about as many polygons and a class's polygons spread over the folds."""
    rng = np.random.default_rng([seed, 0xC4EC])
    out = np.full(len(codes), -1, np.int64)
    k = min(k, int(scorable.sum()))
    nxt = 0
    for code in np.unique(codes[scorable]):
        idx = rng.permutation(np.flatnonzero(scorable & (codes == code)))
        out[idx] = (nxt + np.arange(len(idx))) % k
        nxt = (nxt + len(idx)) % k
    return out


def _features(ckpt: Checkpoint, x: np.ndarray, batch: int, device: str) -> np.ndarray:
    """What the checkpoint's SAR network makes of windows ``x`` (N, C, 32, 32) on ``device``: its
    embedding and its class logits side by side (N, D + K), float64 on the CPU."""
    import torch

    from .._device import resolve_device

    dev = resolve_device(device)
    net = ckpt.sar_network().eval().to(dev)
    parts = []
    with torch.no_grad():
        for start in range(0, len(x), batch):
            z = net.encoder(torch.from_numpy(x[start : start + batch]).to(dev)).float()
            parts.append(torch.cat([z, net.classifier(z).float()], 1).double().cpu().numpy())
    width = net.classifier.in_features + net.classifier.out_features
    return np.concatenate(parts) if parts else np.zeros((0, width))


def _head_probabilities(
    features: np.ndarray, y: np.ndarray, polygon: np.ndarray, train: np.ndarray, test: np.ndarray, n_classes: int
) -> np.ndarray:
    """Class probabilities (N_test, n_classes) of the ``test`` windows from a multinomial logistic
    regression fitted on the ``train`` windows (classes ``y``): features standardised on the
    training windows, each class weighted alike and each polygon's windows as one polygon, L2
    penalty :data:`HEAD_L2`, fitted by L-BFGS (deterministic). Classes without a training window
    get probability 0."""
    import torch

    f_tr = features[train]
    mean, std = f_tr.mean(0), f_tr.std(0)
    std[std < 1e-9] = 1.0
    present = np.unique(y[train])
    col = np.searchsorted(present, y[train])
    poly = polygon[train]
    _, per_poly_inv, per_poly = np.unique(poly, return_inverse=True, return_counts=True)
    weight = 1.0 / per_poly[per_poly_inv]  # each polygon weighs 1
    polys_of_class = np.array([len(np.unique(poly[col == c])) for c in range(len(present))], float)
    weight = weight / polys_of_class[col]  # each class weighs 1
    weight = weight / weight.sum()

    xt = torch.from_numpy((f_tr - mean) / std)
    yt = torch.from_numpy(col.astype(np.int64))
    wt = torch.from_numpy(weight)
    lin = torch.nn.Linear(xt.shape[1], len(present)).double()
    torch.nn.init.zeros_(lin.weight)
    torch.nn.init.zeros_(lin.bias)
    opt = torch.optim.LBFGS(lin.parameters(), lr=1.0, max_iter=200, tolerance_grad=1e-7, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (torch.nn.functional.cross_entropy(lin(xt), yt, reduction="none") * wt).sum() + HEAD_L2 * lin.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        p = torch.softmax(lin(torch.from_numpy((features[test] - mean) / std)), 1).numpy()
    out = np.zeros((int(test.sum()), n_classes))
    out[:, present] = p
    return out


def _adapt_probabilities(
    ckpt: Checkpoint,
    aopts: AdaptOptions,
    patches: ScenePatches,
    classes: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    progress: Progress | None,
) -> np.ndarray:
    """Class probabilities (N_test, len(classes)) of the ``test`` windows from the model adapted
    on the ``train`` windows by adapt's SAR stage; the classifier's softmax over the classes of
    the training windows (the others get probability 0)."""
    import torch

    from ..evaluate import predict_logits
    from .fit import fit_sar_stage

    index = {int(c): i for i, c in enumerate(ckpt.codes)}
    out_idx = np.array([index[int(c)] for c in classes], np.int64)  # the areas' classes in the model's outputs
    x = torch.from_numpy(patches.x_lab)
    y_model = torch.from_numpy(out_idx[y[train]])
    net, _ = fit_sar_stage(ckpt, x[torch.from_numpy(train)], y_model, torch.from_numpy(patches.x_unl), aopts, progress)
    logits: torch.Tensor = predict_logits(net.sar_network(), x[torch.from_numpy(test)], batch_size=aopts.batch_size)
    present = np.unique(y[train])
    p = torch.softmax(logits[:, torch.from_numpy(out_idx[present])].double(), 1).numpy()
    result = np.zeros((int(test.sum()), len(classes)))
    result[:, present] = p
    return result


def _flag(
    codes: np.ndarray,
    classes: np.ndarray,
    patches: ScenePatches,
    probs: np.ndarray,
    windows: np.ndarray,
    folds: np.ndarray,
    trained: np.ndarray,
    mapped: np.ndarray,
    opts: CheckOptions,
) -> pd.DataFrame:
    """The check's columns per polygon (a DataFrame in polygon order): :data:`CHECK_COLUMNS`,
    then ``p_<class>``, the mean probability of each class of ``classes`` over the polygon's windows."""
    import pandas as pd

    rows = []
    prob_cols = [f"p_{_label(int(c))}" for c in classes]
    for i, code in enumerate(codes.tolist()):
        mine = patches.polygon == i
        pixels = int(patches.pixels_per_polygon[i])
        reasons: list[str] = []
        details: list[str] = []
        row: dict[str, Any] = {"predicted": 0, "predicted_label": "", "p_labelled": np.nan, "p_predicted": np.nan}
        row.update({"share_second": np.nan, **{c: np.nan for c in prob_cols}})
        if not patches.overlaps[i] or not mine.any():
            reasons.append("off the scene")
            details.append("outside the scene" if not patches.overlaps[i] else "no window of valid data (nodata or swath border)")
        if patches.overlaps[i] and pixels < opts.min_pixels:
            reasons.append("too small")
            details.append(f"{pixels} output pixel{'s' if pixels != 1 else ''} (fewer than {opts.min_pixels})")
        if mine.any() and not mapped[i]:
            details.append(f"not scored: the model maps no LCZ {_label(code)} (scorer adapt)")
        elif mine.any():
            p = probs[mine].mean(0)
            own = int(np.searchsorted(classes, code))
            best = int(p.argmax())
            votes = np.bincount(probs[mine].argmax(1), minlength=len(classes)) / int(mine.sum())
            order = np.argsort(-votes, kind="stable")
            second = float(votes[order[1]])
            row.update(
                predicted=int(classes[best]),
                predicted_label=_label(int(classes[best])),
                p_labelled=float(p[own]),
                p_predicted=float(p[best]),
                share_second=second,
                **{c: float(v) for c, v in zip(prob_cols, p)},
            )
            if not trained[folds[i], own]:
                details.append(f"not scored: no other polygon of LCZ {_label(code)} has valid windows")
            else:
                if best != own and p[best] >= opts.ratio * p[own]:
                    times = p[best] / p[own] if p[own] > 0 else math.inf
                    reasons.append("another class")
                    details.append(
                        f"LCZ {_label(int(classes[best]))} {p[best]:.2f} vs labelled LCZ {_label(code)} {p[own]:.2f} "
                        f"({times:.1f} times as likely)"
                    )
                if second >= opts.mixed:
                    a, b = (int(classes[j]) for j in order[:2])
                    reasons.append("mixed classes")
                    details.append(f"windows LCZ {_label(a)} {votes[order[0]]:.0%}, LCZ {_label(b)} {second:.0%}")
        rows.append(
            {
                "flag": bool(reasons),
                "reason": "; ".join(reasons),
                "detail": "; ".join(details),
                "lcz": int(code),
                "lcz_label": _label(int(code)),
                **row,
                "pixels": pixels,
                "windows": int(windows[i]),
                "fold": int(folds[i]),
            }
        )
    return pd.DataFrame(rows, columns=[*CHECK_COLUMNS, *prob_cols])


def _layer(own: gpd.GeoDataFrame, check: pd.DataFrame, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The training areas' own columns and geometry (``own``, as read; ``frame``, the polygons
    checked, in the same order) with the check's columns; an own column named as one of the
    check's is kept as ``<name>_areas``."""
    import geopandas as gpd
    import pandas as pd

    if len(own) != len(frame):
        raise RuntimeError(f"the training areas read as {len(own)} and {len(frame)} polygons")  # one reader: cannot happen
    own = own.reset_index(drop=True)
    geom = own.geometry.name
    clash = {c: f"{c}_areas" for c in own.columns if c in check.columns and c != geom}
    attrs = pd.DataFrame(own.drop(columns=geom)).rename(columns=clash)
    joined = pd.concat([attrs, check.reset_index(drop=True)], axis=1)
    return gpd.GeoDataFrame(joined, geometry=own.geometry.to_numpy(), crs=own.crs)
