"""How well a map's probabilities are calibrated against reference units: the top-label expected
calibration error (:mod:`lczmap.calibration`) of the pixels under reference polygons (pixel centre
inside) and points (the pixel holding the point).

A probability layer is any output of ``lczmap predict`` or ``lczmap mosaic`` that holds them: the
per-class probabilities (``--probabilities``: the top probability and its class), the confidence
(``--confidence``: the top probability; the class comes from the LCZ map, on the same grid), or the
LCZ Generator layout (``--layout lcz-generator``: its ``classProbability`` band, in percent, and
its ``lcz`` band). A map of classes alone holds no probabilities and is refused.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..calibration import ECE_DEFINITION, Reliability, reliability
from ..errors import DataError
from ..zones.lczraster import LczRasterInfo

__all__ = ["ProbabilityLayer", "open_probability_layer", "reference_reliability"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbabilityLayer:
    """What a probability raster holds: ``kind`` (``probabilities``, ``confidence`` or
    ``lcz-generator``), the LCZ ``codes`` of its bands (probabilities) and its calibration tag."""

    path: Path
    kind: str
    codes: tuple[int, ...]
    calibration: str


def _refuse(path: Path, what: str) -> DataError:
    return DataError(
        f"{path} holds no probabilities ({what}): give the --probabilities or --confidence output of lczmap predict "
        "(or mosaic), or a map written with --layout lcz-generator"
    )


def open_probability_layer(path: str | os.PathLike[str]) -> ProbabilityLayer:
    """Recognise a probability layer (see the module) or refuse, in one line, a raster that is none."""
    import rasterio

    path = Path(path)
    try:
        with rasterio.open(path) as src:
            tags, desc, count, dtype = src.tags(), [d or "" for d in src.descriptions], src.count, src.dtypes[0]
    except rasterio.errors.RasterioIOError:
        raise DataError(f"{path} is not a raster GDAL reads: give a probability layer written by lczmap predict") from None
    cal = tags.get("probability_calibration", "not recorded (written before lczmap calibrated probabilities)")
    if "classProbability" in desc:
        return ProbabilityLayer(path, "lcz-generator", (), cal)
    if np.dtype(dtype).kind != "f":
        what = "one band of classes" if count == 1 else f"{count} {dtype} bands, no classProbability band"
        raise _refuse(path, what)
    if count == 1:
        return ProbabilityLayer(path, "confidence", (), cal)
    try:
        codes = tuple(int(c) for c in tags["codes"].split(","))
    except (KeyError, ValueError):
        raise DataError(
            f"{path} has {count} float bands but no 'codes' tag naming the LCZ of each: give a --probabilities output of lczmap"
        ) from None
    if len(codes) != count:
        raise DataError(f"{path} has {count} bands but its 'codes' tag names {len(codes)} classes: the file was altered")
    return ProbabilityLayer(path, "probabilities", codes, cal)


def _code(raw: np.ndarray) -> np.ndarray:
    """LCZ codes 1-17 (0: none) of raw values in either coding (A-G as 11-17 or 101-107)."""
    v = np.asarray(raw, dtype=np.int64)
    v = np.where(v >= 101, v - 90, v)
    return np.where((v >= 1) & (v <= 17), v, 0)


def reference_reliability(
    path: str | os.PathLike[str], info: LczRasterInfo, geoms: Any, ref: np.ndarray
) -> tuple[Reliability, dict[str, Any]]:
    """The reliability of probability layer ``path`` at the reference units ``geoms`` (shapely
    geometries in ``info.crs``) with LCZ codes ``ref``; ``info``: the assessed map (its grid; its
    classes for a confidence layer). Returns it with the JSON section of the assessment."""
    import rasterio
    from rasterio.features import rasterize
    from rasterio.windows import Window

    layer = open_probability_layer(path)
    with rasterio.open(layer.path) as src:
        if src.crs != info.crs or (src.height, src.width) != info.shape or not src.transform.almost_equals(info.transform):
            raise DataError(
                f"{layer.path} is not on the grid of {info.path} ({src.height} x {src.width} pixels, not {info.shape[0]} x "
                f"{info.shape[1]}, or another transform or CRS): give the probability layer written with that map"
            )
        grid = rasterize(
            ((g, int(c)) for g, c in zip(geoms, ref) if g is not None and not g.is_empty),
            out_shape=info.shape,
            transform=info.transform,
            fill=0,
            dtype="uint8",
        )
        rows = np.flatnonzero(grid.any(axis=1))
        conf_parts, cls_parts, ref_parts = [], [], []
        for r in rows:
            cols = np.flatnonzero(grid[r])
            c0, c1 = int(cols[0]), int(cols[-1]) + 1
            win = Window(c0, int(r), c1 - c0, 1)
            keep = grid[r, c0:c1] != 0
            if layer.kind == "probabilities":
                p = src.read(window=win)[:, 0, :].astype(np.float64)
                ok = np.isfinite(p).all(axis=0)
                conf = np.where(ok, np.nan_to_num(p).max(axis=0), np.nan)
                cls = np.where(ok, np.asarray(layer.codes)[np.nan_to_num(p, nan=-1).argmax(axis=0)], 0)
            elif layer.kind == "lcz-generator":
                band = list(src.descriptions).index("classProbability") + 1
                pct = src.read(band, window=win)[0].astype(np.float64)
                cls = _code(src.read(1, window=win)[0])
                conf = np.where(cls != 0, pct / 100.0, np.nan)
            else:
                conf = src.read(1, window=win)[0].astype(np.float64)
                with rasterio.open(info.path) as lcz_src:
                    raw = lcz_src.read(info.band, window=win)[0]
                lut = info.raw_values
                cls = np.array([lut.get(float(v), 0) for v in raw], dtype=np.int64)
            conf_parts.append(conf[keep])
            cls_parts.append(cls[keep])
            ref_parts.append(grid[r, c0:c1][keep])
    conf = np.concatenate(conf_parts) if conf_parts else np.zeros(0)
    cls = np.concatenate(cls_parts) if cls_parts else np.zeros(0, np.int64)
    refs = np.concatenate(ref_parts) if ref_parts else np.zeros(0, np.int64)
    valid = np.isfinite(conf) & (cls != 0)
    if not valid.any():
        raise DataError(
            f"{layer.path} has no probability under the reference units (no pixel centre inside a polygon, or only "
            "no data there): give reference data of the mapped area"
        )
    rel = reliability(np.clip(conf[valid], 0.0, 1.0), cls[valid] == refs[valid])
    log.info("%s: ECE %.4f over %d reference pixels (%s)", layer.path.name, rel.ece, rel.n, layer.calibration)
    section = {
        "probabilities": str(layer.path),
        "layer": layer.kind,
        "probability_calibration": layer.calibration,
        "pixels": rel.n,
        "ece": round(rel.ece, 6),
        "accuracy": round(float((cls[valid] == refs[valid]).mean()), 6),
        "mean_confidence": round(float(conf[valid].mean()), 6),
        "definition": ECE_DEFINITION,
        "reliability": rel.to_dict(),
    }
    return rel, section
