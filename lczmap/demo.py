"""The built-in demo: the main job end to end on the seeded So2Sat twin.

:func:`write_demo_data` writes the twin and a Sentinel-1-like scene; :func:`run_demo` runs data ->
cache -> train -> evaluate -> predict -> zones -> summary, and returns where each output is.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from .errors import OutputExistsError
from .twin import SCENE_SIZE, TWIN_PATCHES, SceneKind, SceneUnits, check_scene_options, scene_files, write_scene, write_twin

if TYPE_CHECKING:
    import geopandas as gpd

log = logging.getLogger(__name__)

__all__ = ["write_demo_data", "run_demo", "DemoReport", "DemoSize", "QUICK_DEMO", "map_class_counts", "largest_built_area"]


class DemoSize(TypedDict, total=False):
    """How large :func:`run_demo` runs (its keyword arguments of the same names)."""

    n_train: int
    scene_size: tuple[int, int]
    eo_epochs: int
    sar_epochs: int


#: A test-sized demo: :func:`run_demo`'s steps on a smaller twin and scene and a shorter schedule
#: (a few minutes on two CPU cores; long enough that its map holds several classes, where one
#: epoch per stage maps everything as water). scripts/docs/make_pictures.py records its map's class
#: counts beside the docs' pictures, and tests/test_docs_pictures.py reruns it to tell when the
#: demo's chain has drifted from the pictures.
QUICK_DEMO: DemoSize = {"n_train": 600, "scene_size": (300, 360), "eo_epochs": 2, "sar_epochs": 3}

#: The demo's figure (:attr:`DemoReport.figures` key) of the calibrated test ECE (docs/trust.md).
ECE_FIGURE = "test ECE of the calibrated probabilities (top label, 15 equal-width bins)"
#: The demo's figure of the largest built class's area with its interval (docs/area_accuracy.md).
AREA_FIGURE = "area of the map's largest built class (stratified sample)"


def write_demo_data(
    out_dir: str | os.PathLike,
    n_train: int = TWIN_PATCHES[0],
    n_val: int = TWIN_PATCHES[1],
    n_test: int = TWIN_PATCHES[2],
    scene_size: tuple[int, int] = SCENE_SIZE,
    scene_kind: SceneKind = "grd",
    units: SceneUnits | None = None,
    seed: int = 0,
    overwrite: bool = False,
    progress: Callable | None = None,
) -> dict[str, Path]:
    """Write the So2Sat twin (``OUT_DIR/so2sat``) and a scene with its 100 m ground truth.

    ``scene_kind`` (:data:`lczmap.twin.SCENE_KINDS`): the scene as a user receives it, by default
    unfiltered multi-looked GRD sigma0 (``scene_grd.tif``); ``gamma0`` (with an ``angle`` band),
    ``hyp3`` and ``planetary`` (folders ``scene_hyp3/``, ``scene_planetary/`` holding those
    products' files), ``lee`` (pre-filtered as So2Sat), ``slc`` or ``safe`` (folder ``scene_safe/``
    holding an IW GRD SAFE product). ``units``: ``linear``
    (default) or ``db``. The scene options are checked before the twin is written. Returns the
    paths: ``so2sat``, ``scene`` (the file to give ``lczmap predict``), ``truth``.
    """
    units = units or "linear"
    check_scene_options(scene_size, scene_kind, units, folder=out_dir)

    out = Path(out_dir)
    twin = out / "so2sat"
    scene = out / (f"scene_{scene_kind}" + ("" if scene_kind in ("hyp3", "planetary", "safe") else ".tif"))
    truth = out / "scene_truth_lcz.tif"
    if not overwrite:  # the twin itself resumes: write_twin keeps files written with the same parameters
        for path in (*scene_files(scene, scene_kind, units, seed), truth):
            if path.exists():
                raise OutputExistsError(f"{path} exists: pass --overwrite to write the demo data again")
    write_twin(twin, n_train=n_train, n_val=n_val, n_test=n_test, seed=seed, progress=progress, overwrite=overwrite)
    first, truth = write_scene(
        scene, size=scene_size, seed=seed, kind=scene_kind, units=units, truth_path=truth, overwrite=overwrite, progress=progress
    )
    return {"so2sat": twin, "scene": first, "truth": truth}


@dataclass
class DemoReport:
    """Where the demo wrote each output, and the figures it measured."""

    out_dir: Path
    outputs: dict[str, Path] = field(default_factory=dict)
    figures: dict[str, float | str] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"lczmap demo finished in {self.out_dir}", "", "Outputs:"]
        width = max(len(k) for k in self.outputs)
        for key, path in self.outputs.items():
            lines.append(f"  {key:<{width}}  {path}")
        lines += ["", "Figures (synthetic twin, short schedule):"]
        for key, value in self.figures.items():
            lines.append(f"  {key}: {value:.3f}" if isinstance(value, float) else f"  {key}: {value}")
        lines += [
            "",
            "Open in QGIS: Layer > Add Layer > Add Raster Layer... and pick",
            f"  {self.outputs.get('lcz_map')} (styled: LCZ colours and names come with the file)",
            f"  and {self.outputs.get('adapted_map')} (the model adapted to the city's training areas),",
            "then Add Vector Layer... for the zones (its .qml style beside it is applied automatically)",
            f"  {self.outputs.get('zones')}",
        ]
        return "\n".join(lines)


def map_class_counts(lcz_path: str | os.PathLike) -> dict[str, int]:
    """Pixels of each LCZ class in a map, by label ('1' ... '10', 'A' ... 'G'; classes absent: 0)."""
    from .classes import LCZ_CLASSES
    from .zones import inspect_lcz

    pixels = inspect_lcz(lcz_path).pixels
    return {c.label: int(pixels[c.code]) for c in LCZ_CLASSES}


def map_agreement(
    pred_path: str | os.PathLike, truth_path: str | os.PathLike, exclude: gpd.GeoDataFrame | None = None
) -> dict[str, float]:
    """Share of pixels where an LCZ map equals a reference LCZ map on the same grid.

    Pixels that are nodata (0) in either map are left out, and so are those whose centre lies in
    a geometry of ``exclude`` (a GeoDataFrame, e.g. the training areas a model was adapted on).
    Returns ``agreement`` and ``pixels``.
    """
    import rasterio

    from .errors import SceneError

    with rasterio.open(pred_path) as p, rasterio.open(truth_path) as t:
        if p.shape != t.shape or not p.transform.almost_equals(t.transform) or p.crs != t.crs:
            raise SceneError(f"{pred_path} and {truth_path} are not on the same grid: compare maps of one grid")
        a, b = p.read(1), t.read(1)
        transform, crs = t.transform, t.crs
    valid = (a > 0) & (b > 0)
    if exclude is not None and len(exclude):
        from rasterio.features import rasterize

        geoms = exclude.to_crs(crs).geometry
        valid &= rasterize(((g, 1) for g in geoms), out_shape=b.shape, transform=transform, fill=0, dtype="uint8") == 0
    n = int(valid.sum())
    return {"agreement": float((a[valid] == b[valid]).mean()) if n else float("nan"), "pixels": n}


def largest_built_area(
    lcz_path: str | os.PathLike,
    truth_path: str | os.PathLike,
    sample_path: str | os.PathLike,
    json_path: str | os.PathLike | None = None,
    n: int = 600,
    seed: int = 0,
    overwrite: bool = False,
) -> dict[str, float | int | str] | None:
    """The area of the map's largest built class (LCZ 1-10 by mapped area) estimated as a user
    would, from a stratified random sample: :func:`lczmap.design_sample` draws ``n`` points from the
    map into ``sample_path`` (with its KML; the ``reference`` field empty, as a user receives it;
    at least design's 50 per class, all pixels of a map that has fewer than ``n``),
    each point's reference class is read from the twin's ground truth ``truth_path`` at the point
    (standing in for the analyst who labels it by eye) and :func:`lczmap.assess_sample` gives the
    Olofsson et al. (2014) estimate with its 95 % interval (written to ``json_path``).

    Returns ``code``, ``label``, ``name``, ``area_km2``, ``low_km2``, ``high_km2``, ``mapped_km2``,
    ``true_km2`` (the class's pixels in the truth) and ``points`` (labelled), or None when the map
    holds no built class.
    """
    import numpy as np
    import rasterio

    from .classes import label_of, name_of
    from .maps import assess_sample, design_sample
    from .maps.design import DEFAULT_MIN_PER_CLASS
    from .zones import inspect_lcz

    mapped = inspect_lcz(lcz_path).pixels
    if not mapped[1:11].any():
        return None
    code = int(np.argmax(mapped[1:11])) + 1
    # no fewer than design's minimum per class, no more than the map's pixels (a small map: all of them)
    n = int(min(max(n, np.minimum(DEFAULT_MIN_PER_CLASS, mapped[1:]).sum()), mapped[1:].sum()))
    design = design_sample(lcz_path, sample_path, n=n, seed=seed, overwrite=overwrite)
    points = design.points.copy()
    with rasterio.open(truth_path) as src:
        points_crs = points.to_crs(src.crs)
        truth = np.array([int(v[0]) for v in src.sample(zip(points_crs.geometry.x, points_crs.geometry.y))], dtype=np.int64)
    points["reference"] = [label_of(int(v)) if 1 <= v <= 17 else "" for v in truth]  # 0: no truth there, unlabelled
    result = assess_sample(lcz_path, points, json_path=json_path, overwrite=overwrite)
    e = result.estimate
    i = e.classes.index(code)
    low, high = e.interval(e.area[i], e.area_se[i])
    km2 = 1e-6
    return {
        "code": code,
        "label": label_of(code),
        "name": name_of(code),
        "area_km2": float(e.area[i]) * km2,
        "low_km2": float(low) * km2,
        "high_km2": float(high) * km2,
        "mapped_km2": float(e.stratum_area[i]) * km2,
        "true_km2": float(inspect_lcz(truth_path).areas[code]) * km2,
        "points": result.points,
    }


def run_demo(
    out_dir: str | os.PathLike = "lczmap-demo",
    seed: int = 0,
    overwrite: bool = False,
    progress: Callable | None = None,
    log: Callable[[str], None] | None = None,
    n_train: int = TWIN_PATCHES[0],
    scene_size: tuple[int, int] = SCENE_SIZE,
    eo_epochs: int = 4,
    sar_epochs: int = 6,
    adapt_polygons: int = 5,
) -> DemoReport:
    """Run the main job end to end on the twin and return a :class:`DemoReport`.

    Steps: twin + scene (``demo-data``), cache (``prepare``), training (SWD transfer with the
    ``lee-intensity`` SAR bands a GRD scene supplies, all 17 classes, batch norm, short schedule), evaluation
    on the twin's test split, prediction of the scene, agreement with its ground truth, zones,
    a district summary, a rendered map, and the model adapted to the scene's city
    (``lczmap adapt``) from ``adapt_polygons`` training squares per class drawn from the
    ground truth as an expert would digitise them, with the agreement of the base and the adapted
    maps outside those squares; then the model adapted without labels (``lczmap adapt`` without
    training areas: swd-eo on at most 1,000 of the scene's patches, at most 2 epochs), its map, its
    rendering and its agreement outside the same squares. A rerun reuses finished steps; ``overwrite``
    redoes them all.
    ``n_train``, ``scene_size`` and the epochs size the run (the defaults take a few minutes on
    two CPU cores).
    """
    from .data import prepare
    from .evaluate import evaluate
    from .maps import assess_map, render_map
    from .predict import predict_scene
    from .train import TrainConfig, train
    from .zones import grid_districts, summarize, zones

    say = log or (lambda msg: logging.getLogger(__name__).info(msg))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = DemoReport(out)
    o = report.outputs

    def fresh(path: Path) -> bool:
        return overwrite or not path.exists()

    say("1/10 synthetic So2Sat twin and Sentinel-1-like scene")
    if fresh(out / "scene_grd.tif"):
        o.update(
            write_demo_data(
                out,
                n_train=n_train,
                n_val=max(n_train // 4, 100),
                n_test=max(n_train // 4, 100),
                scene_size=scene_size,
                seed=seed,
                overwrite=overwrite,
                progress=progress,
            )
        )
    else:
        o.update(so2sat=out / "so2sat", scene=out / "scene_grd.tif", truth=out / "scene_truth_lcz.tif")

    say("2/10 cache of the band sets used for training")
    o["cache"] = prepare(o["so2sat"], out / "cache", band_sets=["rgb", "lee-intensity"], progress=progress)

    labels = min(512, n_train // 2)
    say(f"3/10 training: EO stage, then SWD transfer to SAR (lee-intensity, {labels} labelled SAR patches, batch norm)")
    o["checkpoint"] = out / "model.safetensors"
    config = TrainConfig(
        data=str(o["so2sat"]),
        cache=str(o["cache"]),
        method="swd",
        classes="all",
        labels=labels,
        seed=seed,
        sar_bands="lee-intensity",
        eo_epochs=eo_epochs,
        sar_epochs=sar_epochs,
        device="cpu",
        # batch norm: on the twin it beats the default instance norm by far (test accuracy 0.65 vs
        # 0.42 with this schedule; instance norm discards patch brightness, which the twin's
        # classes carry: docs/method-results.md). On real data, compare both with `lczmap study`.
        norm="batch",
    )
    if fresh(o["checkpoint"]):
        train(config, o["checkpoint"], overwrite=overwrite, resume=not overwrite, progress=progress)

    say("4/10 evaluation on the twin's test split")
    o["evaluation"] = out / "evaluation"
    metrics = None
    if not fresh(o["evaluation"] / "report.json"):
        import json

        metrics = json.loads((o["evaluation"] / "report.json").read_text())
        if "calibration" not in metrics:  # a report of before lczmap measured calibration: evaluate again
            metrics = None
    if metrics is None:
        metrics = evaluate(
            o["checkpoint"], o["so2sat"], cache=o["cache"], out_dir=o["evaluation"], overwrite=True, progress=progress
        )
    report.figures["test overall accuracy (twin, SAR)"] = float(metrics["overall_accuracy"])
    report.figures["test kappa"] = float(metrics["kappa"])
    cal = metrics["calibration"]
    how = (
        f"temperature {cal['temperature']:.2f} fitted on {cal['fitted_on']}"
        if cal["calibrated"]
        else "the model is uncalibrated: T = 1"
    )
    report.figures[ECE_FIGURE] = (
        f"{cal['ece_calibrated']:.3f} on {metrics['n']} test patches (uncalibrated {cal['ece_uncalibrated']:.3f}; {how}; "
        f"reliability diagram {o['evaluation'] / 'reliability.png'})"
    )

    say("5/10 prediction of the scene (unfiltered GRD: refined Lee 7 x 7 as So2Sat, then 100 m LCZ map, confidence)")
    o["lcz_map"], o["confidence"] = out / "scene_lcz.tif", out / "scene_confidence.tif"
    if fresh(o["lcz_map"]):
        result = predict_scene(
            o["scene"],
            o["lcz_map"],
            model=o["checkpoint"],
            confidence=o["confidence"],
            device="cpu",
            overwrite=overwrite,
            progress=progress,
        )
        report.figures["prediction windows/s (CPU)"] = float(result.windows_per_s)
    agreement = map_agreement(o["lcz_map"], o["truth"])
    report.figures["map agreement with the scene's ground truth"] = agreement["agreement"]
    # the LCZ community's scores of the map against the truth map (map-to-map: no bootstrap)
    o["assessment"] = out / "scene_assessment.json"
    assessment = assess_map(o["lcz_map"], against=o["truth"], json_path=o["assessment"], overwrite=True)
    for name in ("OA", "OAu", "OAbu", "OAw", "kappa"):
        report.figures[f"map {name} against the ground truth"] = float(assessment.scores[name])
    # the area of the largest built class as a user would estimate it: a stratified sample of the map
    # (lczmap design) labelled, here from the twin's truth, and the estimators of lczmap assess --design
    o["area_sample"], o["area_estimate"] = out / "scene_area_sample.gpkg", out / "scene_area_estimate.json"
    built = largest_built_area(o["lcz_map"], o["truth"], o["area_sample"], o["area_estimate"], seed=seed, overwrite=True)
    report.figures[AREA_FIGURE] = (
        "no built class on the map"
        if built is None
        else f"LCZ {built['label']} ({built['name']}): {built['area_km2']:.2f} km2, 95 % interval {built['low_km2']:.2f}-"
        f"{built['high_km2']:.2f} (Olofsson et al. 2014 stratified estimate from {built['points']} sample points whose "
        f"reference labels come from the twin's ground truth, standing in for an analyst; mapped "
        f"{built['mapped_km2']:.2f} km2, true {built['true_km2']:.2f} km2)"
    )

    say("6/10 vector zones (patches below 20,000 m2 dissolved)")
    o["zones"] = out / "scene_zones.gpkg"
    if fresh(o["zones"]):
        zones(o["lcz_map"], o["zones"], min_area=20000, confidence=o["confidence"], overwrite=overwrite)

    say("7/10 district summary (1 km grid)")
    o["districts"], o["summary_csv"] = out / "districts_summary.gpkg", out / "districts_summary.csv"
    if fresh(o["districts"]):
        summarize(
            o["lcz_map"], o["districts"], by=grid_districts(o["lcz_map"], 1000), csv_path=o["summary_csv"], overwrite=overwrite
        )

    say("8/10 a readable map (PNG: WUDAPT colours, legend, scale bar)")
    o["map_png"] = out / "scene_lcz.png"
    if fresh(o["map_png"]):
        render_map(o["lcz_map"], o["map_png"], overwrite=overwrite)

    say(
        f"9/10 the model adapted to the scene's city from {adapt_polygons} training areas per class "
        "(lczmap adapt, predict, assess)"
    )
    import geopandas as gpd

    from .adapt import adapt_model
    from .adapt.areas import areas_from_map

    o["training_areas"] = out / "scene_training_areas.gpkg"
    o["held_out_areas"] = out / "scene_training_areas_held_out.gpkg"
    o["adapted_model"], o["adapted_map"] = out / "model_adapted.safetensors", out / "scene_lcz_adapted.tif"
    o["adapted_assessment"] = out / "scene_adapted_assessment.json"
    if fresh(o["training_areas"]):
        from ._io import atomic_path

        with atomic_path(o["training_areas"], overwrite=True) as tmp:
            areas_from_map(o["truth"], adapt_polygons, size=3, seed=seed).to_file(tmp, driver="GPKG", layer="training_areas")
    adapted = fresh(o["adapted_model"]) or not o["held_out_areas"].exists()
    if adapted:
        # 30 % of each class's polygons held out: the adapted model never sees them, assess scores on them
        adapt_model(
            o["checkpoint"],
            o["scene"],
            o["training_areas"],
            o["adapted_model"],
            method="finetune",
            sar_epochs=3,
            seed=seed,
            device="cpu",
            holdout=0.3,
            holdout_layer=o["held_out_areas"],
            overwrite=True,
            progress=progress,
        )
    o["adapted_png"] = out / "scene_lcz_adapted.png"
    remap = adapted or fresh(o["adapted_map"])  # a map of the model now in place, never of an older one
    if remap:
        predict_scene(o["scene"], o["adapted_map"], model=o["adapted_model"], device="cpu", overwrite=True, progress=progress)
    if remap or fresh(o["adapted_png"]):
        render_map(o["adapted_map"], o["adapted_png"], overwrite=True)
    for which, lcz_map in (("base", o["lcz_map"]), ("adapted", o["adapted_map"])):
        scored = assess_map(
            lcz_map,
            o["held_out_areas"],
            seed=seed,
            overwrite=True,
            json_path=o["adapted_assessment"] if which == "adapted" else None,
        )
        ci = (scored.intervals or {}).get("OA", {})
        report.figures[f"OA on the held-out training areas, {which} model"] = (
            f"{scored.scores['OA']:.3f} (95 % bootstrap interval {ci.get('low', float('nan')):.3f}-"
            f"{ci.get('high', float('nan')):.3f}, {scored.units} polygons)"
        )
    areas = gpd.read_file(o["training_areas"])
    report.figures["agreement outside the training areas, base model"] = map_agreement(o["lcz_map"], o["truth"], exclude=areas)[
        "agreement"
    ]
    report.figures["agreement outside the training areas, adapted model"] = map_agreement(
        o["adapted_map"], o["truth"], exclude=areas
    )["agreement"]

    say("10/10 the model adapted without labels (lczmap adapt without training areas: swd-eo), predict, render")
    from .checkpoint import load_checkpoint
    from .train.reference import read_reference

    o["unsupervised_model"] = out / "model_unsupervised.safetensors"
    o["unsupervised_map"], o["unsupervised_png"] = out / "scene_lcz_unsupervised.tif", out / "scene_lcz_unsupervised.png"
    redo = fresh(o["unsupervised_model"]) or o["unsupervised_model"].stat().st_mtime_ns < o["checkpoint"].stat().st_mtime_ns
    if redo:
        # a model of before checkpoints carried the EO reference: made from the twin it was trained on (--eo-data)
        eo_data = None if read_reference(load_checkpoint(o["checkpoint"])) is not None else str(o["so2sat"])
        adapt_model(
            o["checkpoint"],
            o["scene"],
            None,
            o["unsupervised_model"],
            scene_patches=1000,
            sar_epochs=2,
            eo_data=eo_data,
            seed=seed,
            device="cpu",
            overwrite=True,
            progress=progress,
        )
    remap = redo or fresh(o["unsupervised_map"])
    if remap:
        predict_scene(
            o["scene"], o["unsupervised_map"], model=o["unsupervised_model"], device="cpu", overwrite=True, progress=progress
        )
    if remap or fresh(o["unsupervised_png"]):
        render_map(o["unsupervised_map"], o["unsupervised_png"], overwrite=True)
    report.figures["agreement outside the training areas, model adapted without labels"] = map_agreement(
        o["unsupervised_map"], o["truth"], exclude=areas
    )["agreement"]
    return report
