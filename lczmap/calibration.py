"""Calibrated class probabilities: temperature scaling, expected calibration error, reliability diagrams.

A softmax output is a probability only when it is calibrated: among the pixels given a
confidence of 0.8, about 80 % should be right. Networks trained with cross-entropy are usually
over-confident. **Temperature scaling** (Guo et al. 2017, "On Calibration of Modern Neural
Networks", ICML) divides the logits by one scalar ``T > 0`` fitted by minimising the negative
log-likelihood (NLL) on held-out data: ``p = softmax(z / T)``. Dividing by a positive scalar keeps
the order of the logits, so the most likely class (the map) never changes; only how sure each
pixel is does. One scalar, fitted on a few thousand held-out patches, cannot over-fit the way a
per-class (vector) scaling can on the few held-out polygons of a city's training areas, so lczmap
fits the scalar only.

Where ``T`` comes from: ``lczmap train`` fits it on the validation split and ``lczmap adapt`` on the
held-out training areas (``--holdout``); the checkpoint stores it as ``meta["calibration"]``
(:class:`Calibration`). A checkpoint without it (older ones, adapt without a holdout, a run
without validation) is *uncalibrated* and maps with ``T = 1`` (the plain softmax).

**Expected calibration error** (top-label ECE, Naeini et al. 2015; Guo et al. 2017): the
confidence of a sample is its top probability, it is correct when its top class is the true one;
samples are put in :data:`N_BINS` = 15 equal-width confidence bins ``(i/15, (i+1)/15]`` (a
confidence of 0 goes to the first), and ``ECE = sum over bins of |acc_b - conf_b| * n_b / n``,
where ``acc_b`` and ``conf_b`` are the bin's accuracy and mean confidence. It is in [0, 1]; 0 is
perfect. The **reliability diagram** draws ``acc_b`` against ``conf_b``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_path
from .errors import DataError

__all__ = [
    "N_BINS",
    "T_RANGE",
    "Calibration",
    "Reliability",
    "fit_temperature",
    "fit_calibration",
    "report_entry",
    "softmax",
    "nll",
    "reliability",
    "expected_calibration_error",
    "calibration_of",
    "calibration_tag",
    "plot_reliability",
    "write_reliability_diagram",
    "ECE_DEFINITION",
]

log = logging.getLogger(__name__)

#: Equal-width confidence bins of the expected calibration error.
N_BINS = 15
#: The temperatures :func:`fit_temperature` searches (a fit at a bound is logged).
T_RANGE = (0.05, 20.0)
#: What "ECE" means in lczmap's reports (written beside every ECE it reports).
ECE_DEFINITION = (
    "top-label expected calibration error: confidence = top probability, correct = top class is the true class; "
    f"{N_BINS} equal-width bins (i/{N_BINS}, (i+1)/{N_BINS}]; ECE = sum over bins of |accuracy - mean confidence| * n_bin / n"
)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities (N, K) float64 of ``logits`` (N, K) divided by ``temperature``."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` (N,) under ``softmax(logits / temperature)``."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    m = z.max(axis=1, keepdims=True)
    lse = (m[:, 0] + np.log(np.exp(z - m).sum(axis=1))) if len(z) else np.zeros(0)
    y = np.asarray(labels, dtype=np.int64)
    return float(np.mean(lse - z[np.arange(len(y)), y])) if len(y) else math.nan


def _check(logits: np.ndarray, labels: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if z.ndim != 2 or y.ndim != 1 or len(z) != len(y):
        raise DataError(f"{what}: logits must be (N, K) and labels (N,), got {z.shape} and {y.shape}")
    if len(y) == 0:
        raise DataError(f"{what}: no held-out samples to calibrate on: give held-out data (a validation split, --holdout)")
    if (y < 0).any() or (y >= z.shape[1]).any():
        raise DataError(f"{what}: labels must be class indices 0-{z.shape[1] - 1}")
    if not np.isfinite(z).all():
        raise DataError(f"{what}: the logits hold NaN or infinity: the model diverged; retrain it")
    return z, y


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature ``T`` in :data:`T_RANGE` minimising the NLL of ``labels`` (N,) under
    ``softmax(logits / T)`` (logits (N, K)). The NLL is convex in ``1 / T``, so its minimum is found
    by a bounded scalar search (Brent) on ``log T`` to 1e-9."""
    from scipy.optimize import minimize_scalar

    z, y = _check(logits, labels, "temperature scaling")
    lo, hi = math.log(T_RANGE[0]), math.log(T_RANGE[1])
    res = minimize_scalar(lambda u: nll(z, y, math.exp(u)), bounds=(lo, hi), method="bounded", options={"xatol": 1e-9})
    t = float(math.exp(float(res.x)))
    if min(abs(res.x - lo), abs(res.x - hi)) < 1e-4:
        log.warning("the fitted temperature %.3g lies at a bound of %s: the held-out data say little", t, T_RANGE)
    return t


@dataclass(frozen=True)
class Reliability:
    """Top-label reliability of probabilities in :data:`N_BINS` equal-width bins: per bin the
    ``count``, the mean ``confidence`` and the ``accuracy`` (NaN in empty bins); ``ece``, the
    overall ``accuracy`` and the number of samples ``n``."""

    edges: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    ece: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready bins (empty bins' means as None)."""

        def clean(a: np.ndarray) -> list[float | None]:
            return [None if not np.isfinite(v) else round(float(v), 6) for v in a]

        return {
            "bins": N_BINS if len(self.count) == N_BINS else len(self.count),
            "edges": [round(float(v), 6) for v in self.edges],
            "count": [int(v) for v in self.count],
            "confidence": clean(self.confidence),
            "accuracy": clean(self.accuracy),
        }


def reliability(confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> Reliability:
    """Reliability of top-label ``confidence`` (N,) in [0, 1] given whether each sample is
    ``correct`` (N,); see the module's definition of the ECE."""
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    ok = np.asarray(correct, dtype=bool).ravel()
    if conf.shape != ok.shape:
        raise DataError(f"confidence and correct differ in length ({conf.size} and {ok.size})")
    if conf.size == 0:
        raise DataError("no samples to measure calibration on: give held-out data with probabilities")
    if not np.isfinite(conf).all() or (conf < 0).any() or (conf > 1 + 1e-6).any():
        raise DataError("confidences must be probabilities in [0, 1] (no NaN): give a probability layer, not a map of classes")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.searchsorted(edges[1:-1], conf, side="left")  # bins (lo, hi], 0 in the first
    count = np.bincount(idx, minlength=n_bins).astype(np.int64)
    sum_conf = np.bincount(idx, weights=conf, minlength=n_bins)
    sum_ok = np.bincount(idx, weights=ok.astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, sum_conf / count, np.nan)
        acc = np.where(count > 0, sum_ok / count, np.nan)
    ece = float(np.abs(sum_ok - sum_conf).sum() / conf.size)  # = sum |acc_b - conf_b| n_b / n
    return Reliability(edges, count, mean_conf, acc, ece, int(conf.size))


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, n_bins: int = N_BINS) -> float:
    """Top-label ECE of class ``probabilities`` (N, K) against ``labels`` (N,) class indices."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if p.ndim != 2 or len(p) != len(y):
        raise DataError(f"probabilities must be (N, K) and labels (N,), got {p.shape} and {y.shape}")
    return reliability(p.max(axis=1), p.argmax(axis=1) == y, n_bins).ece


@dataclass(frozen=True)
class Calibration:
    """How a model's probabilities are calibrated: temperature scaling with ``temperature``,
    fitted on ``fitted_on`` (``n`` samples), with the NLL and ECE there before (``T = 1``) and after."""

    temperature: float
    fitted_on: str
    n: int
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float
    method: str = "temperature"

    def to_dict(self) -> dict[str, Any]:
        """What the checkpoint stores as ``meta["calibration"]``."""
        return {
            "method": self.method,
            "temperature": self.temperature,
            "fitted_on": self.fitted_on,
            "n": self.n,
            "nll_before": round(self.nll_before, 6),
            "nll_after": round(self.nll_after, 6),
            "ece_before": round(self.ece_before, 6),
            "ece_after": round(self.ece_after, 6),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Read ``meta["calibration"]``; refuses what is not a positive, finite temperature."""
        try:
            method = str(data.get("method", "temperature"))
            t = float(data["temperature"])
            if method != "temperature" or not (math.isfinite(t) and t > 0):
                raise ValueError
            return cls(
                t,
                str(data.get("fitted_on", "")),
                int(data.get("n", 0)),
                float(data.get("nll_before", math.nan)),
                float(data.get("nll_after", math.nan)),
                float(data.get("ece_before", math.nan)),
                float(data.get("ece_after", math.nan)),
                method,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise DataError(
                f"calibration {dict(data) if isinstance(data, Mapping) else data!r} is not temperature scaling with a "
                "positive temperature: the metadata was edited or the file is damaged"
            ) from None

    def tag(self) -> str:
        """One line for an output's tags."""
        return f"temperature scaling, T={self.temperature:.4f} (fitted on {self.fitted_on}, {self.n} samples)"


def calibration_tag(calibration: Calibration | None) -> str:
    """The ``probability_calibration`` tag of a probability output."""
    return "uncalibrated (softmax, T=1)" if calibration is None else calibration.tag()


def calibration_of(meta: Mapping[str, Any] | None) -> Calibration | None:
    """The calibration a checkpoint's ``meta`` records, or None (uncalibrated: older checkpoints)."""
    data = (meta or {}).get("calibration")
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise DataError(f"calibration {data!r} in the checkpoint metadata is not an object: the file is damaged")
    return Calibration.from_dict(data)


def fit_calibration(logits: np.ndarray, labels: np.ndarray, fitted_on: str) -> Calibration:
    """Fit the temperature on held-out ``logits`` (N, K) and ``labels`` (N,) and record the NLL
    and ECE before and after."""
    z, y = _check(logits, labels, f"calibration on {fitted_on}")
    t = fit_temperature(z, y)
    before, after = softmax(z), softmax(z, t)
    cal = Calibration(
        t,
        fitted_on,
        len(y),
        nll(z, y),
        nll(z, y, t),
        expected_calibration_error(before, y),
        expected_calibration_error(after, y),
    )
    log.info(
        "calibration on %s (%d samples): T = %.4f, ECE %.4f -> %.4f, NLL %.4f -> %.4f",
        fitted_on,
        len(y),
        t,
        cal.ece_before,
        cal.ece_after,
        cal.nll_before,
        cal.nll_after,
    )
    return cal


# --- the reliability diagram ----------------------------------------------------------------------


def plot_reliability(curves: Mapping[str, Reliability], title: str = "") -> Any:
    """A matplotlib ``Figure`` (no pyplot): accuracy against confidence per bin for each named
    curve (e.g. ``{"uncalibrated": ..., "T = 1.8": ...}``) with the diagonal, and the share of
    samples per bin below."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0, 6.0), constrained_layout=True)
    ax, hist = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
    colours = ("#d95f02", "#1b9e77", "#7570b3", "#e7298a")
    width = 1.0 / N_BINS
    for i, (name, r) in enumerate(curves.items()):
        c = colours[i % len(colours)]
        ok = r.count > 0
        ax.plot(r.confidence[ok], r.accuracy[ok], marker="o", markersize=4, color=c, label=f"{name}: ECE {r.ece:.3f}")
        share = r.count / max(r.n, 1)
        offset = (i - (len(curves) - 1) / 2) * width / max(len(curves), 1)
        centres = (r.edges[:-1] + r.edges[1:]) / 2
        hist.bar(centres + offset, share, width=width / max(len(curves), 1), color=c, alpha=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy in bin")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title or f"reliability ({N_BINS} equal-width bins, top label)", fontsize=9)
    hist.set_xlabel("confidence (top probability)")
    hist.set_ylabel("share")
    return fig


def write_reliability_diagram(
    path: str | os.PathLike[str], curves: Mapping[str, Reliability], title: str = "", overwrite: bool = False
) -> Path:
    """Write :func:`plot_reliability` as a PNG to ``path``, atomically."""
    fig = plot_reliability(curves, title)
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return Path(path)


def report_entry(
    logits: np.ndarray, labels: np.ndarray, calibration: Calibration | None
) -> tuple[dict[str, Any], dict[str, Reliability]]:
    """The ``calibration`` section of an evaluation report for ``logits`` (N, K) and ``labels``
    (N,), and its curves: the ECE and NLL uncalibrated (``T = 1``) and with the model's
    temperature (the same when uncalibrated)."""
    z, y = _check(logits, labels, "calibration report")
    t = 1.0 if calibration is None else calibration.temperature
    raw, cal = softmax(z), softmax(z, t)
    r_raw = reliability(raw.max(axis=1), raw.argmax(axis=1) == y)
    r_cal = reliability(cal.max(axis=1), cal.argmax(axis=1) == y)
    entry = {
        "definition": ECE_DEFINITION,
        "calibrated": calibration is not None,
        "temperature": t,
        "fitted_on": None if calibration is None else calibration.fitted_on,
        "ece_uncalibrated": round(r_raw.ece, 6),
        "ece_calibrated": round(r_cal.ece, 6),
        "nll_uncalibrated": round(nll(z, y), 6),
        "nll_calibrated": round(nll(z, y, t), 6),
        "reliability_uncalibrated": r_raw.to_dict(),
        "reliability_calibrated": r_cal.to_dict(),
    }
    curves = {"uncalibrated (T = 1)": r_raw}
    if calibration is not None:
        curves[f"calibrated (T = {t:.3f})"] = r_cal
    return entry, curves
