"""Accuracy of an LCZ map as the LCZ community reports it, from confusion matrices.

Confusion matrices are (17, 17) counts in code order (LCZ 1-10, A-G), rows = reference,
columns = map. For a matrix ``C`` with total ``N``:

- ``OA``   = trace(C) / N
- ``OAu``  = trace(C[u, u]) / sum(C[u, u]), u = LCZ 1-10 (urban classes in both)
- ``OAbu`` = (sum(C[b, b]) + sum(C[n, n])) / sum(C[b|n, b|n]), b = LCZ 1-10 (built),
  n = LCZ A-D, F, G (natural); LCZ E (bare rock or paved) is in neither, as in the LCZ
  Generator's own code
- ``OAw``  = sum(W * C) / N, W = :data:`WEIGHTS` (1 on the diagonal, less for less similar pairs)
- ``kappa`` = (OA - pe) / (1 - pe), pe = sum_k rowsum_k * colsum_k / N^2
- per class: precision (user's accuracy) = C[k, k] / colsum_k, recall (producer's accuracy)
  = C[k, k] / rowsum_k, F1 = their harmonic mean.

:func:`bootstrap` draws reference units (polygons) with replacement, as the LCZ Generator's 25
bootstrap draws do, and gives each metric's mean and percentile interval over the draws and the
mean confusion matrix.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["WEIGHTS", "METRICS", "BUILT", "NATURAL", "URBAN", "Bootstrap", "scores", "class_scores", "confusion", "bootstrap"]

#: Class-similarity weights for OAw, in code order (LCZ 1-10, A-G), symmetric, 1 on the diagonal.
#: Source: the weight matrix of Bechtel et al. 2017 (Urban Science 1(2):15, the HUMINEX
#: experiment) as published machine-readably by M. Demuzere (LCZ Generator co-author) in
#: github.com/matthiasdemuzere/multitemporal-lcz-mapping, ``tables/LCZ_metric.csv`` (commit
#: d57b32c), used there for ``OA_weighted`` exactly as :func:`scores` uses it.
WEIGHTS = np.array(
    [
        [1.00, 0.92, 0.83, 0.67, 0.58, 0.50, 0.58, 0.75, 0.42, 0.75, 0.33, 0.25, 0.08, 0.00, 0.25, 0.00, 0.00],
        [0.92, 1.00, 0.92, 0.58, 0.67, 0.58, 0.67, 0.83, 0.42, 0.83, 0.42, 0.33, 0.25, 0.08, 0.33, 0.08, 0.08],
        [0.83, 0.92, 1.00, 0.50, 0.58, 0.67, 0.75, 0.92, 0.58, 0.92, 0.50, 0.42, 0.33, 0.17, 0.42, 0.17, 0.17],
        [0.67, 0.58, 0.50, 1.00, 0.92, 0.83, 0.75, 0.50, 0.75, 0.58, 0.50, 0.58, 0.50, 0.33, 0.08, 0.33, 0.33],
        [0.58, 0.67, 0.58, 0.92, 1.00, 0.92, 0.83, 0.67, 0.83, 0.67, 0.58, 0.67, 0.50, 0.42, 0.17, 0.42, 0.42],
        [0.50, 0.58, 0.67, 0.83, 0.92, 1.00, 0.92, 0.75, 0.92, 0.75, 0.67, 0.75, 0.67, 0.58, 0.25, 0.50, 0.50],
        [0.58, 0.67, 0.75, 0.75, 0.83, 0.92, 1.00, 0.67, 0.83, 0.67, 0.75, 0.67, 0.58, 0.42, 0.17, 0.42, 0.42],
        [0.75, 0.83, 0.92, 0.50, 0.67, 0.75, 0.67, 1.00, 0.75, 0.92, 0.42, 0.50, 0.42, 0.25, 0.50, 0.33, 0.33],
        [0.42, 0.42, 0.58, 0.75, 0.83, 0.92, 0.83, 0.75, 1.00, 0.67, 0.58, 0.67, 0.75, 0.58, 0.33, 0.58, 0.58],
        [0.75, 0.83, 0.92, 0.58, 0.67, 0.75, 0.67, 0.92, 0.67, 1.00, 0.42, 0.50, 0.42, 0.25, 0.50, 0.33, 0.33],
        [0.33, 0.42, 0.50, 0.50, 0.58, 0.67, 0.75, 0.42, 0.58, 0.42, 1.00, 0.92, 0.83, 0.67, 0.42, 0.67, 0.67],
        [0.25, 0.33, 0.42, 0.58, 0.67, 0.75, 0.67, 0.50, 0.67, 0.50, 0.92, 1.00, 0.92, 0.75, 0.50, 0.75, 0.75],
        [0.08, 0.25, 0.33, 0.50, 0.50, 0.67, 0.58, 0.42, 0.75, 0.42, 0.83, 0.92, 1.00, 0.83, 0.58, 0.83, 0.83],
        [0.00, 0.08, 0.17, 0.33, 0.42, 0.58, 0.42, 0.25, 0.58, 0.25, 0.67, 0.75, 0.83, 1.00, 0.75, 0.92, 0.92],
        [0.25, 0.33, 0.42, 0.08, 0.17, 0.25, 0.17, 0.50, 0.33, 0.50, 0.42, 0.50, 0.58, 0.75, 1.00, 0.75, 0.75],
        [0.00, 0.08, 0.17, 0.33, 0.42, 0.50, 0.42, 0.33, 0.58, 0.33, 0.67, 0.75, 0.83, 0.92, 0.75, 1.00, 0.92],
        [0.00, 0.08, 0.17, 0.33, 0.42, 0.50, 0.42, 0.33, 0.58, 0.33, 0.67, 0.75, 0.83, 0.92, 0.75, 0.92, 1.00],
    ]
)
WEIGHTS.setflags(write=False)

#: Indices (code - 1) of the urban / built classes (LCZ 1-10) and the natural ones used by OAbu.
URBAN = np.arange(10)
BUILT = URBAN
NATURAL = np.array([10, 11, 12, 13, 15, 16])  # LCZ A, B, C, D, F, G (E excluded)
#: The overall scores, in report order.
METRICS: tuple[str, ...] = ("OA", "OAu", "OAbu", "OAw", "kappa")


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else float("nan")


def scores(cm: np.ndarray) -> dict[str, float]:
    """OA, OAu, OAbu, OAw and kappa of a (17, 17) confusion matrix (NaN where undefined)."""
    cm = np.asarray(cm, dtype=np.float64)
    total = cm.sum()
    urban = cm[np.ix_(URBAN, URBAN)]
    both = np.concatenate([BUILT, NATURAL])
    agree_bu = cm[np.ix_(BUILT, BUILT)].sum() + cm[np.ix_(NATURAL, NATURAL)].sum()
    oa = _ratio(np.trace(cm), total)
    pe = _ratio((cm.sum(axis=1) * cm.sum(axis=0)).sum(), total * total)
    kappa = (oa - pe) / (1.0 - pe) if total > 0 and pe < 1.0 else float("nan")
    return {
        "OA": oa,
        "OAu": _ratio(np.trace(urban), urban.sum()),
        "OAbu": _ratio(agree_bu, cm[np.ix_(both, both)].sum()),
        "OAw": _ratio((WEIGHTS * cm).sum(), total),
        "kappa": float(kappa),
    }


def class_scores(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per class (17,): precision, recall and F1 (NaN for a class absent from both)."""
    cm = np.asarray(cm, dtype=np.float64)
    diag = np.diag(cm)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = diag / cm.sum(axis=0)
        recall = diag / cm.sum(axis=1)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    f1 = np.where(np.isnan(precision) & np.isnan(recall), np.nan, np.nan_to_num(f1))
    return {"precision": precision, "recall": recall, "f1": f1}


@dataclass(frozen=True)
class Bootstrap:
    """Scores over bootstrap draws: ``draws`` (D, 5) in :data:`METRICS` order, ``f1`` (D, 17),
    ``confusion`` the mean (17, 17) matrix, and the ``level`` of the percentile intervals."""

    draws: np.ndarray
    f1: np.ndarray
    confusion: np.ndarray
    level: float

    def interval(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean, low and high (percentiles) over the draws (axis 0), NaNs ignored."""
        tail = 50.0 * (1.0 - self.level)
        with warnings.catch_warnings():  # a class absent from every draw: NaN, said once in the docs
            warnings.simplefilter("ignore", RuntimeWarning)
            return (
                np.nanmean(values, axis=0),
                np.nanpercentile(values, tail, axis=0),
                np.nanpercentile(values, 100.0 - tail, axis=0),
            )

    def summary(self) -> dict[str, dict[str, float]]:
        mean, low, high = self.interval(self.draws)
        return {m: {"mean": float(mean[i]), "low": float(low[i]), "high": float(high[i])} for i, m in enumerate(METRICS)}


def confusion(ref: np.ndarray, hist: np.ndarray) -> np.ndarray:
    """The (17, 17) confusion counts of reference units: ``ref`` (U,) their codes 1-17, ``hist``
    (U, 17) the count of map pixels of each code 1-17 in each unit."""
    cm = np.zeros((17, 17))
    np.add.at(cm, np.asarray(ref, dtype=np.int64) - 1, np.asarray(hist, dtype=np.float64))
    return cm


def bootstrap(ref: np.ndarray, hist: np.ndarray, draws: int = 25, seed: int = 0, level: float = 0.95) -> Bootstrap:
    """Draw the reference units (polygons, points) with replacement ``draws`` times (seeded):
    each draw sums the confusion counts of U units picked at random; its scores and per-class
    F1 are kept. ``ref``/``hist`` as :func:`confusion` takes them."""
    ref = np.asarray(ref)
    rng = np.random.default_rng(seed)
    rows, f1s, total = [], [], np.zeros((17, 17))
    for _ in range(draws):
        pick = rng.integers(0, len(ref), len(ref))
        cm = confusion(ref[pick], hist[pick])
        total += cm
        s = scores(cm)
        rows.append([s[m] for m in METRICS])
        f1s.append(class_scores(cm)["f1"])
    return Bootstrap(np.array(rows).reshape(-1, len(METRICS)), np.array(f1s).reshape(-1, 17), total / max(draws, 1), level)
