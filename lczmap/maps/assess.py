"""Accuracy of an LCZ map against reference polygons or points, or agreement with another map.

:func:`assess_map` reports OA, OAu, OAbu, OAw and kappa (formulas in :mod:`.metrics`), per-class
precision, recall and F1, bootstrap intervals over the reference units (25 seeded draws by
default, as the LCZ Generator) and the mean confusion matrix; as JSON, a tidy CSV, a confusion
matrix figure and, for reference units, a layer of the units with their agreement. Given a
probability layer, also the expected calibration error of its probabilities at the reference
pixels and a reliability diagram (:mod:`.calibration`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._io import check_outputs
from ..classes import LCZ_CLASSES, label_of
from ..errors import ZonesError
from ..zones.lczraster import DEFAULT_BLOCK_ROWS, CodeScheme, Progress, inspect_lcz
from ..zones.vector import vector_driver, vector_outputs, vector_sink
from . import metrics
from .agreement import map_confusion, reference_histograms
from .calibration import reference_reliability
from .reference import read_class_areas
from .report import ReportFile, confusion_figure, csv_file, figure_file, figure_format, json_file, write_together

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

__all__ = ["Assessment", "assess_map", "DEFAULT_DRAWS"]

log = logging.getLogger(__name__)

#: Bootstrap draws over the reference units unless told otherwise (as the LCZ Generator).
DEFAULT_DRAWS = 25


@dataclass(frozen=True)
class Assessment:
    """What :func:`assess_map` found.

    ``scores``: OA, OAu, OAbu, OAw, kappa on all units; ``intervals``: their bootstrap mean and
    percentile interval (None against another map); ``per_class``: a DataFrame (one row per
    class: reference and map pixels, precision, recall, F1 and its interval); ``confusion``:
    (17, 17) pixel counts, rows reference, columns map; ``mean_confusion``: the mean over the
    draws; ``units``: reference units (polygons, points) on the map; ``polygons``: the units with
    their agreement (GeoDataFrame) or None; ``outputs``: the files written.
    """

    kind: str
    scores: dict[str, float]
    intervals: dict[str, dict[str, float]] | None
    per_class: Any
    confusion: np.ndarray
    mean_confusion: np.ndarray | None
    units: int
    pixels: int
    draws: int
    seed: int
    level: float
    polygons: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (NaN kept as float; :func:`.report.write_json` writes it as null)."""
        return {
            "kind": self.kind,
            "scores": self.scores,
            "intervals": self.intervals,
            "bootstrap": {"draws": self.draws, "seed": self.seed, "level": self.level} if self.intervals else None,
            "units": self.units,
            "pixels": self.pixels,
            "per_class": self.per_class.to_dict(orient="records"),
            "confusion": {
                "rows": "reference",
                "columns": "map",
                "classes": [c.label for c in LCZ_CLASSES],
                "counts": self.confusion.astype(np.int64),
                "mean": self.mean_confusion,
            },
            "weights": "Bechtel et al. 2017 (Urban Science 1(2):15), as in lczmap.maps.metrics.WEIGHTS",
            **self.extra,
        }

    def table(self) -> pd.DataFrame:
        """A tidy table: one row per (scope, metric) with value, mean, low, high."""
        import pandas as pd

        rows = []
        for m in metrics.METRICS:
            ci = (self.intervals or {}).get(m, {})
            rows.append(("overall", m, self.scores[m], ci.get("mean"), ci.get("low"), ci.get("high")))
        present = self.per_class[(self.per_class["reference_pixels"] + self.per_class["map_pixels"]) > 0]
        for r in present.itertuples():
            for m in ("precision", "recall", "f1"):
                f1_ci = (r.f1_mean, r.f1_low, r.f1_high) if m == "f1" else (None, None, None)
                rows.append((f"LCZ {r.label}", m, getattr(r, m), *f1_ci))
        return pd.DataFrame(rows, columns=["scope", "metric", "value", "mean", "low", "high"])

    def summary(self) -> str:
        """Two or three lines for a terminal."""

        def fmt(m: str) -> str:
            ci = (self.intervals or {}).get(m)
            value = f"{self.scores[m]:.3f}"
            return f"{m} {value}" + (f" [{ci['low']:.3f}-{ci['high']:.3f}]" if ci and np.isfinite(ci["low"]) else "")

        what = f"{self.units} reference units" if self.kind == "reference" else "map-to-map"
        lines = [f"{what}, {self.pixels} pixels compared", "  ".join(fmt(m) for m in metrics.METRICS)]
        if self.intervals:
            lines.append(f"intervals: {self.level:.0%} over {self.draws} bootstrap draws (seed {self.seed})")
        cal = self.extra.get("calibration")
        if cal:
            lines.append(
                f"ECE {cal['ece']:.3f} over {cal['pixels']} reference pixels (top label, 15 bins; accuracy "
                f"{cal['accuracy']:.3f}, mean confidence {cal['mean_confidence']:.3f}; {cal['probability_calibration']})"
            )
        return "\n".join(lines)


def _per_class(cm: np.ndarray, boot: metrics.Bootstrap | None) -> pd.DataFrame:
    import pandas as pd

    s = metrics.class_scores(cm)
    frame = pd.DataFrame(
        {
            "lcz": [c.code for c in LCZ_CLASSES],
            "label": [c.label for c in LCZ_CLASSES],
            "name": [c.name for c in LCZ_CLASSES],
            "reference_pixels": cm.sum(axis=1).astype(np.int64),
            "map_pixels": cm.sum(axis=0).astype(np.int64),
            "precision": s["precision"],
            "recall": s["recall"],
            "f1": s["f1"],
        }
    )
    if boot is not None:
        mean, low, high = boot.interval(boot.f1)
    else:
        mean = low = high = np.full(17, np.nan)
    frame["f1_mean"], frame["f1_low"], frame["f1_high"] = mean, low, high
    return frame


def _agreement_layer(frame: gpd.GeoDataFrame, ref: np.ndarray, hist: np.ndarray) -> gpd.GeoDataFrame:
    """The reference units with their agreement: valid pixels, no-data pixels, share of pixels
    agreeing with the reference, and the map's majority class."""
    valid = hist[:, 1:].sum(axis=1)
    agree = hist[np.arange(len(ref)), ref]
    out = frame.copy()
    out["ref_lcz"] = ref.astype(np.int32)
    out["ref_label"] = [label_of(int(c)) for c in ref]
    out["pixels"] = valid.astype(np.int64)
    out["nodata_px"] = hist[:, 0].astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["agree"] = np.where(valid > 0, agree / np.maximum(valid, 1), np.nan)
    major = np.where(valid > 0, hist[:, 1:].argmax(axis=1) + 1, 0)
    out["map_lcz"] = major.astype(np.int32)
    out["map_label"] = [label_of(int(c)) if c else "" for c in major]
    return out


def _inside_roi(
    frame: gpd.GeoDataFrame, ref: np.ndarray, roi: gpd.GeoDataFrame, name: str
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """The reference units that touch the area of interest (the ROI of an LCZ Generator
    template) and their codes; those outside are left out, logged. Refuses when none is inside."""
    area = roi.to_crs(frame.crs).union_all()
    inside = frame.geometry.intersects(area).to_numpy(bool)
    if not inside.any():
        raise ZonesError(
            f"{name}: no reference unit lies inside its area of interest (ROI): draw the ROI around the training areas"
        )
    if not inside.all():
        log.warning(
            "%s: %d of %d reference units lie outside the area of interest (ROI) and are left out",
            name,
            int((~inside).sum()),
            len(inside),
        )
    return frame[inside], ref[inside]


def _roi_extra(roi: gpd.GeoDataFrame | None, read: gpd.GeoDataFrame, kept: gpd.GeoDataFrame) -> dict[str, Any]:
    """What the JSON says of the assessment area: the ROI's bounds in degrees and the units left out."""
    if roi is None:
        return {}
    bounds = [round(float(v), 6) for v in roi.to_crs("EPSG:4326").total_bounds]
    return {"area_of_interest": {"bounds": bounds, "from": "ROI", "units_outside": len(read) - len(kept)}}


def assess_map(
    lcz_path: str | os.PathLike,
    reference: Any = None,
    *,
    against: str | os.PathLike | None = None,
    field: str | None = None,
    layer: str | None = None,
    ref_codes: CodeScheme = "auto",
    codes: CodeScheme = "auto",
    nodata: float | None = None,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    level: float = 0.95,
    json_path: str | os.PathLike | None = None,
    csv_path: str | os.PathLike | None = None,
    figure_path: str | os.PathLike | None = None,
    agreement_path: str | os.PathLike | None = None,
    out_layer: str | None = None,
    overwrite: bool = False,
    block_rows: int | None = None,
    progress: Progress = None,
    probabilities: str | os.PathLike | None = None,
    reliability_path: str | os.PathLike | None = None,
) -> Assessment:
    """Assess the LCZ map ``lcz_path`` against ``reference`` or another map (``against``).

    reference: polygons or points (a path GDAL reads, GeoParquet, or a GeoDataFrame; any CRS;
    every layer of a multi-layer file, or ``layer``) whose ``field`` holds the class (found by
    name when None, or the layer's name: the LCZ Generator template's class folders; values in
    either coding, letters or "LCZ x" labels; ``ref_codes`` forces a coding), read by
    :func:`~lczmap.maps.reference.read_class_areas`. The template's ROI is the assessment area:
    reference units outside it are left out (logged). Reference units that do not touch the map
    are left out (logged); no-data map pixels are not compared.
    against: another LCZ raster (any coding, CRS and pixel size): compared on the union grid (the
    map's pixel grid extended to both extents), resampled by nearest neighbour.
    draws, seed, level: bootstrap over the reference units (0 draws: none).
    Outputs (each optional): ``json_path``, ``csv_path`` (tidy table), ``figure_path`` (.png,
    .pdf: the confusion matrix), ``agreement_path`` (the reference units with their agreement; a
    vector format by extension, layer ``out_layer``).
    probabilities: a probability layer on the map's grid (``lczmap predict --probabilities`` or
    ``--confidence``, or an LCZ Generator layout map): the JSON gains ``calibration`` (the
    top-label ECE at the reference pixels, :mod:`.calibration`) and ``reliability_path`` (.png,
    .pdf) receives the reliability diagram.
    """
    if (reference is None) == (against is None):
        raise ZonesError("give either REFERENCE (reference=...) or --against OTHER_MAP (against=...), not both or neither")
    if agreement_path is not None and reference is None:
        raise ZonesError(
            "--agreement-layer (agreement_path) writes the reference units' agreement: it needs REFERENCE, not --against"
        )
    if draws < 0 or not 0 < level < 1:
        raise ZonesError(f"draws (--draws) must be >= 0 and level (--level) in (0, 1), got {draws} and {level}")
    figure_format(figure_path) if figure_path is not None else None
    if probabilities is not None and reference is None:
        raise ZonesError("the ECE of a probability layer (--probabilities) is measured at REFERENCE units: give REFERENCE")
    if reliability_path is not None:
        if probabilities is None:
            raise ZonesError("a reliability diagram (--reliability) needs a probability layer: give --probabilities")
        figure_format(reliability_path)
    driver = vector_driver(Path(agreement_path)) if agreement_path is not None else None
    outputs = [Path(p) for p in (json_path, csv_path, figure_path, reliability_path) if p is not None]
    outputs += vector_outputs(Path(agreement_path), driver) if agreement_path is not None and driver else []
    ref_path = reference if isinstance(reference, (str, os.PathLike)) else None
    check_outputs(outputs, [lcz_path, ref_path, against, probabilities], overwrite)
    block_rows = block_rows or DEFAULT_BLOCK_ROWS
    if reference is not None:  # check the reference before scanning the map
        areas = read_class_areas(reference, field, layer, ref_codes)
        frame, name, ref = areas.frame, areas.name, areas.codes
        column = areas.field or areas.source
        if areas.roi is not None:
            frame, ref = _inside_roi(frame, ref, areas.roi, name)
        kinds = set(frame.geometry.geom_type)
        if not kinds <= {"Polygon", "MultiPolygon", "Point"}:
            raise ZonesError(f"{name} holds {', '.join(sorted(kinds))} geometries: give reference polygons or points")
    info = inspect_lcz(lcz_path, codes=codes, nodata=nodata, block_rows=block_rows, progress=progress)

    if against is not None:
        other = inspect_lcz(against, block_rows=block_rows, progress=progress)
        comp = map_confusion(info, other, block_rows, progress)
        cm = comp.confusion.astype(np.float64)
        result = Assessment(
            "map",
            metrics.scores(cm),
            None,
            _per_class(cm, None),
            cm,
            None,
            0,
            comp.both,
            0,
            seed,
            level,
            extra={
                "map": str(info.path),
                "other": str(other.path),
                "grid_shape": list(comp.shape),
                "pixels_map_only": comp.map_only,
                "pixels_other_only": comp.other_only,
                "resampling": "other map onto the map's pixel grid (union extent), nearest neighbour",
            },
        )
    else:
        geoms = frame.geometry.to_crs(info.crs).values
        hist = reference_histograms(info, geoms, progress)
        on_map = hist.sum(axis=1) > 0
        if not on_map.any():
            t, (h, w) = info.transform, info.shape
            extent = (t.c, t.f + t.e * h, t.c + t.a * w, t.f)
            bounds = frame.geometry.to_crs(info.crs).total_bounds
            raise ZonesError(
                f"{name} does not overlap {info.path} (reference spans {', '.join(f'{v:.6g}' for v in bounds)}, the map "
                f"{', '.join(f'{v:.6g}' for v in extent)} in {info.crs.to_string()}): give reference data of the mapped area"
            )
        valid = hist[:, 1:].sum(axis=1) > 0
        if (~on_map).any():
            log.warning("%s: %d of %d reference units lie outside the map and are left out", name, int((~on_map).sum()), len(ref))
        if (on_map & ~valid).any():
            log.warning("%s: %d reference units cover only no-data pixels", name, int((on_map & ~valid).sum()))
        if not valid.any():
            raise ZonesError(f"{name} covers only no-data pixels of {info.path}: check the map's --nodata and the reference")
        cm = metrics.confusion(ref[valid], hist[valid, 1:])
        boot = metrics.bootstrap(ref[valid], hist[valid, 1:], draws, seed, level) if draws > 0 else None
        result = Assessment(
            "reference",
            metrics.scores(cm),
            boot.summary() if boot else None,
            _per_class(cm, boot),
            cm,
            boot.confusion if boot else None,
            int(valid.sum()),
            int(cm.sum()),
            draws,
            seed,
            level,
            polygons=_agreement_layer(frame, ref, hist),
            extra={
                "map": str(info.path),
                "reference": name,
                "field": column,
                "units_outside": int((~on_map).sum()),
                **_roi_extra(areas.roi, areas.frame, frame),
            },
        )
        if probabilities is not None:
            rel, result.extra["calibration"] = reference_reliability(probabilities, info, geoms, ref)
    files: dict[str, ReportFile] = {}  # written, then put in place together with the agreement layer
    if json_path is not None:
        files["json"] = json_file(result.to_dict(), json_path)
    if csv_path is not None:
        files["csv"] = csv_file(result.table(), csv_path)
    if figure_path is not None:
        shown = result.mean_confusion if result.mean_confusion is not None else result.confusion
        title = f"{Path(lcz_path).name}: OA {result.scores['OA']:.2f}, kappa {result.scores['kappa']:.2f}"
        fig = confusion_figure(shown, title, reference="other map" if against is not None else "reference")
        files["figure"] = figure_file(fig, figure_path)
    if reliability_path is not None:
        from ..calibration import plot_reliability

        title = f"{Path(probabilities or '').name} at {result.extra['calibration']['pixels']} reference pixels"
        files["reliability"] = figure_file(plot_reliability({"map": rel}, title), reliability_path)
    written = {kind: file.target for kind, file in files.items()}
    if agreement_path is not None and driver is not None:
        extras = [(file.target, file.write) for file in files.values()]
        with vector_sink(Path(agreement_path), driver, overwrite, out_layer, extras=extras) as sink:
            sink.write(result.polygons)
        written["agreement"] = Path(agreement_path)
    else:
        write_together(list(files.values()), overwrite)
    result.outputs.update(written)
    return result
