"""Honest accuracy of an adaptation: the base and the adapted model scored on held-out polygons.

Each held-out polygon is one reference unit; its pixels are the output pixels whose centre lies
inside it (the windows ``lczmap predict`` classifies there, through the same input chain), so
the scores equal ``lczmap assess`` of the two models' maps against the held-out polygons. OA,
OAu, OAbu, OAw and kappa come from :mod:`lczmap.maps.metrics`, with percentile intervals
from bootstrap draws over the held-out polygons (the same draws for both models).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..evaluate import predict_logits
from ..maps import metrics

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ModelScores", "holdout_scores", "per_class_table"]


@dataclass(frozen=True)
class ModelScores:
    """One model on the held-out polygons: ``scores`` (OA, OAu, OAbu, OAw, kappa on all of
    them), ``intervals`` (bootstrap mean, low, high per score; None without draws) and the
    (17, 17) ``confusion`` pixel counts (rows reference, columns model)."""

    scores: dict[str, float]
    intervals: dict[str, dict[str, float]] | None
    confusion: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"scores": self.scores, "intervals": self.intervals, "confusion": self.confusion.astype(np.int64).tolist()}

    def line(self) -> str:
        """One line: each score with its interval."""
        parts = []
        for m in metrics.METRICS:
            ci = (self.intervals or {}).get(m)
            text = f"{m} {self.scores[m]:.3f}"
            if ci and np.isfinite(ci["low"]):
                text += f" [{ci['low']:.3f}-{ci['high']:.3f}]"
            parts.append(text)
        return "  ".join(parts)


def holdout_scores(
    networks: dict[str, torch.nn.Module],
    codes: tuple[int, ...],
    x: torch.Tensor,
    y: np.ndarray,
    polygon: np.ndarray,
    draws: int,
    seed: int,
    level: float,
    device: torch.device | str = "cpu",
) -> dict[str, ModelScores]:
    """Scores of each network (name -> (B, C, 32, 32) -> logits over ``codes``) on windows ``x``
    with reference codes ``y`` (1-17) from polygons ``polygon`` (one unit each)."""
    units, unit_of = np.unique(polygon, return_inverse=True)
    ref = np.zeros(len(units), np.int64)
    ref[unit_of] = y
    lut = np.asarray(codes, np.int64)
    out = {}
    for name, net in networks.items():
        pred = lut[predict_logits(net, x, device=device).argmax(1).numpy()]
        hist = np.zeros((len(units), 17))
        np.add.at(hist, (unit_of, pred - 1), 1)
        cm = metrics.confusion(ref, hist)
        boot = metrics.bootstrap(ref, hist, draws, seed, level) if draws > 0 else None
        out[name] = ModelScores(metrics.scores(cm), boot.summary() if boot else None, cm)
    return out


def per_class_table(
    codes: np.ndarray, overlaps: np.ndarray, y_lab: np.ndarray, polygon: np.ndarray, held_out: np.ndarray | None = None
) -> pd.DataFrame:
    """Per class of the training areas: polygons, polygons on the scene, polygons that gave
    patches, labelled patches (and, with ``held_out``, how many polygons and patches were held
    out); a DataFrame in code order."""
    import pandas as pd

    from ..classes import label_of, name_of

    rows = []
    held = np.zeros(len(codes), bool) if held_out is None else held_out
    for code in np.unique(codes):
        mine = np.flatnonzero(codes == code)
        from_polys = np.isin(polygon, mine)
        row = {
            "lcz": int(code),
            "label": label_of(int(code)),
            "name": name_of(int(code)),
            "polygons": len(mine),
            "on_scene": int(overlaps[mine].sum()),
            "with_patches": len(np.unique(polygon[from_polys])),
            "patches": int(from_polys.sum()),
        }
        if held_out is not None:
            row["held_out_polygons"] = int(held[mine].sum())
            row["held_out_patches"] = int(np.isin(polygon, mine[held[mine]]).sum())
        rows.append(row)
    return pd.DataFrame(rows)
