"""Accuracy of an LCZ map against reference polygons or points, or agreement with another map.

:func:`assess_map` reports OA, OAu, OAbu, OAw and kappa (formulas in :mod:`.metrics`), per-class
precision, recall and F1, bootstrap intervals over the reference units (25 seeded draws by
default, as the LCZ Generator) and the mean confusion matrix; as JSON, a tidy CSV, a confusion
matrix figure and, for reference units, a layer of the units with their agreement.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import check_outputs
from ..classes import LCZ_CLASSES, label_of
from ..errors import ZonesError
from ..zones.codes import DEFAULT_BLOCK_ROWS, CodeScheme, Progress, inspect_lcz
from ..zones.vector import vector_driver, vector_outputs, vector_sink
from . import metrics
from .agreement import map_confusion, unit_histograms
from .reference import find_class_field, normalise_codes, read_layer
from .report import confusion_figure, figure_format, save_figure, write_csv, write_json

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
            "confusion": {"rows": "reference", "columns": "map", "classes": [c.label for c in LCZ_CLASSES],
                          "counts": self.confusion.astype(np.int64),
                          "mean": self.mean_confusion},
            "weights": "Bechtel et al. 2017 (Urban Science 1(2):15), as in lczmap.products.metrics.WEIGHTS",
            **self.extra,
        }

    def table(self):
        """A tidy table: one row per (scope, metric) with value, mean, low, high."""
        import pandas as pd

        rows = []
        for m in metrics.METRICS:
            ci = (self.intervals or {}).get(m, {})
            rows.append(("overall", m, self.scores[m], ci.get("mean"), ci.get("low"), ci.get("high")))
        present = self.per_class[(self.per_class["reference_pixels"] + self.per_class["map_pixels"]) > 0]
        for r in present.itertuples():
            for m in ("precision", "recall", "f1"):
                ci = (r.f1_mean, r.f1_low, r.f1_high) if m == "f1" else (None, None, None)
                rows.append((f"LCZ {r.label}", m, getattr(r, m), *ci))
        return pd.DataFrame(rows, columns=["scope", "metric", "value", "mean", "low", "high"])

    def summary(self) -> str:
        """Two or three lines for a terminal."""
        def fmt(m):
            ci = (self.intervals or {}).get(m)
            value = f"{self.scores[m]:.3f}"
            return f"{m} {value}" + (f" [{ci['low']:.3f}-{ci['high']:.3f}]" if ci and np.isfinite(ci["low"]) else "")
        what = f"{self.units} reference units" if self.kind == "reference" else "map-to-map"
        lines = [f"{what}, {self.pixels} pixels compared", "  ".join(fmt(m) for m in metrics.METRICS)]
        if self.intervals:
            lines.append(f"intervals: {self.level:.0%} over {self.draws} bootstrap draws (seed {self.seed})")
        return "\n".join(lines)


def _per_class(cm: np.ndarray, boot: metrics.Bootstrap | None):
    import pandas as pd

    s = metrics.class_scores(cm)
    frame = pd.DataFrame({
        "lcz": [c.code for c in LCZ_CLASSES],
        "label": [c.label for c in LCZ_CLASSES],
        "name": [c.name for c in LCZ_CLASSES],
        "reference_pixels": cm.sum(axis=1).astype(np.int64),
        "map_pixels": cm.sum(axis=0).astype(np.int64),
        "precision": s["precision"],
        "recall": s["recall"],
        "f1": s["f1"],
    })
    if boot is not None:
        mean, low, high = boot.interval(boot.f1)
    else:
        mean = low = high = np.full(17, np.nan)
    frame["f1_mean"], frame["f1_low"], frame["f1_high"] = mean, low, high
    return frame


def _unit_layer(frame, ref: np.ndarray, hist: np.ndarray):
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
    units_path: str | os.PathLike | None = None,
    out_layer: str | None = None,
    overwrite: bool = False,
    block_rows: int | None = None,
    progress: Progress = None,
) -> Assessment:
    """Assess the LCZ map ``lcz_path`` against ``reference`` or another map (``against``).

    reference: polygons or points (a path GDAL reads, GeoParquet, or a GeoDataFrame; any CRS;
    ``layer`` picks a layer) whose ``field`` holds the class (found by name when None; values in
    either coding, letters or "LCZ x" labels; ``ref_codes`` forces a coding). Reference units
    that do not touch the map are left out (logged); no-data map pixels are not compared.
    against: another LCZ raster (any coding, CRS and pixel size): compared on the union grid (the
    map's pixel grid extended to both extents), resampled by nearest neighbour.
    draws, seed, level: bootstrap over the reference units (0 draws: none).
    Outputs (each optional): ``json_path``, ``csv_path`` (tidy table), ``figure_path`` (.png,
    .pdf: the confusion matrix), ``units_path`` (the units with their agreement; a vector format
    by extension, layer ``out_layer``).
    """
    if (reference is None) == (against is None):
        raise ZonesError("give either REFERENCE (reference=...) or --against OTHER_MAP (against=...), not both or neither")
    if units_path is not None and reference is None:
        raise ZonesError("--units (units_path) writes reference units: it needs REFERENCE, not --against")
    if draws < 0 or not 0 < level < 1:
        raise ZonesError(f"draws (--draws) must be >= 0 and level (--level) in (0, 1), got {draws} and {level}")
    figure_format(figure_path) if figure_path is not None else None
    driver = vector_driver(Path(units_path)) if units_path is not None else None
    outputs = [Path(p) for p in (json_path, csv_path, figure_path) if p is not None]
    outputs += vector_outputs(Path(units_path), driver) if units_path is not None and driver else []
    ref_path = reference if isinstance(reference, (str, os.PathLike)) else None
    check_outputs(outputs, [lcz_path, ref_path, against], overwrite)
    block_rows = block_rows or DEFAULT_BLOCK_ROWS
    if reference is not None:  # check the reference before scanning the map
        frame, name = read_layer(reference, layer)
        column = find_class_field(frame, field, name)
        ref = normalise_codes(frame[column].tolist(), ref_codes, name, column)
        kinds = set(frame.geometry.geom_type)
        if not kinds <= {"Polygon", "MultiPolygon", "Point"}:
            raise ZonesError(f"{name} holds {', '.join(sorted(kinds))} geometries: give reference polygons or points")
    info = inspect_lcz(lcz_path, codes=codes, nodata=nodata, block_rows=block_rows, progress=progress)

    if against is not None:
        other = inspect_lcz(against, block_rows=block_rows, progress=progress)
        comp = map_confusion(info, other, block_rows, progress)
        cm = comp.confusion.astype(np.float64)
        result = Assessment(
            "map", metrics.scores(cm), None, _per_class(cm, None), cm, None, 0, comp.both, 0, seed, level,
            extra={"map": str(info.path), "other": str(other.path), "grid_shape": list(comp.shape),
                   "pixels_map_only": comp.map_only, "pixels_other_only": comp.other_only,
                   "resampling": "other map onto the map's pixel grid (union extent), nearest neighbour"},
        )
    else:
        geoms = frame.geometry.to_crs(info.crs).values
        hist = unit_histograms(info, geoms, progress)
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
            "reference", metrics.scores(cm), boot.summary() if boot else None, _per_class(cm, boot), cm,
            boot.confusion if boot else None, int(valid.sum()), int(cm.sum()), draws, seed, level,
            polygons=_unit_layer(frame, ref, hist),
            extra={"map": str(info.path), "reference": name, "field": column, "units_outside": int((~on_map).sum())},
        )
    written: dict[str, Path] = {}
    if json_path is not None:
        written["json"] = write_json(result.to_dict(), json_path, overwrite)
    if csv_path is not None:
        written["csv"] = write_csv(result.table(), csv_path, overwrite)
    if figure_path is not None:
        shown = result.mean_confusion if result.mean_confusion is not None else result.confusion
        title = f"{Path(lcz_path).name}: OA {result.scores['OA']:.2f}, kappa {result.scores['kappa']:.2f}"
        fig = confusion_figure(shown, title, reference="other map" if against is not None else "reference")
        written["figure"] = save_figure(fig, figure_path, overwrite)
    if units_path is not None and driver is not None:
        with vector_sink(Path(units_path), driver, overwrite, out_layer) as sink:
            sink.write(result.polygons)
        written["units"] = Path(units_path)
    result.outputs.update(written)
    return result
