"""The hidden Markov model of one pixel's LCZ over a time series, vectorised over pixels.

The hidden state is the pixel's true class at each date; what a date shows is the classifier's
class probabilities for it (``predict --probabilities``, ``mosaic --probabilities``). The
emission of class ``c`` at date ``t`` is that date's probability of ``c``, floored (a classifier
that rules a class out at one date cannot veto it for the whole series) and 1 for every class
where the date has no data; dividing by a class prior would only rescale every path by the same
factor under the flat prior used here. The transition prior makes change rare: a pixel keeps its
class from one date to the next with probability ``stay``; the rest is shared among the other
classes, a built class (LCZ 1-10) turning natural (A-G) weighing ``built_to_natural`` times as
much as any other move (demolition to bare land is rarer than building on it).

Two algorithms, for two questions:

- :func:`viterbi` gives the single most probable *sequence* of classes of each pixel: the
  consistent maps. A sequence is what the maps must be: each date's class read off the marginal
  posteriors independently can jump back and forth where the evidence is split, and a pair of
  dates can then show a transition the joint posterior gives almost no weight to.
- :func:`forward_backward` gives the posterior of each date's class and, from the same forward
  pass, the probability that *any* change happened (one minus the posterior of the constant
  paths): a calibrated figure for the change layer's uncertainty, which a single Viterbi path
  cannot give.

Arrays: ``emissions`` (T, N, K) float, T dates, N pixels, K classes; ``transitions`` (K, K) rows
summing to one; ``prior`` (K,). All in float64 with per-date scaling (forward-backward) or in
logs (Viterbi), so long series do not underflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["transition_matrix", "emissions_from", "forward_backward", "viterbi", "Posterior", "is_built"]


def is_built(code: int) -> bool:
    """LCZ 1-10 are built types, 11-17 (A-G) land cover types."""
    return 1 <= int(code) <= 10


def transition_matrix(codes: Sequence[int], stay: float, built_to_natural: float) -> np.ndarray:
    """(K, K) transition probabilities between the LCZ ``codes``: ``stay`` on the diagonal, the
    rest of each row shared among the other classes in proportion to 1, or ``built_to_natural``
    for a built class (1-10) turning natural (11-17)."""
    k = len(codes)
    a = np.zeros((k, k), np.float64)
    if k == 1:
        a[0, 0] = 1.0
        return a
    for i, ci in enumerate(codes):
        w = np.array([built_to_natural if is_built(ci) and not is_built(cj) else 1.0 for cj in codes], np.float64)
        w[i] = 0.0
        a[i] = (1.0 - stay) * w / w.sum()
        a[i, i] = stay
    return a


def emissions_from(probabilities: np.ndarray, floor: float) -> np.ndarray:
    """Emissions (T, N, K) float64 from class probabilities (T, N, K): floored at ``floor``; a
    date with no data at a pixel (any NaN) emits 1 for every class (it says nothing)."""
    p = np.asarray(probabilities, np.float64)
    missing = np.isnan(p).any(axis=-1, keepdims=True)
    e = np.maximum(np.nan_to_num(p, nan=0.0), floor)
    return np.where(missing, 1.0, e)


@dataclass
class Posterior:
    """What :func:`forward_backward` gives: ``marginals`` (T, N, K) posterior of each date's
    class, ``p_change`` (N,) the probability that the class changed at least once,
    ``p_step`` (T - 1, N) the probability of a change between date t and t + 1, and
    ``log_likelihood`` (N,) of the observations."""

    marginals: np.ndarray
    p_change: np.ndarray
    p_step: np.ndarray
    log_likelihood: np.ndarray


def forward_backward(emissions: np.ndarray, transitions: np.ndarray, prior: np.ndarray | None = None) -> Posterior:
    """Scaled forward-backward over the dates of every pixel (see the module docstring)."""
    e = np.asarray(emissions, np.float64)
    t_n, n, k = e.shape
    a = np.asarray(transitions, np.float64)
    pi = np.full(k, 1.0 / k) if prior is None else np.asarray(prior, np.float64)
    alpha = np.empty_like(e)
    scale = np.empty((t_n, n))
    cur = pi[None, :] * e[0]
    for t in range(t_n):
        if t:
            cur = (alpha[t - 1] @ a) * e[t]
        s = cur.sum(axis=1)
        s = np.where(s > 0, s, 1e-300)
        alpha[t] = cur / s[:, None]
        scale[t] = s
    beta = np.ones_like(e)
    for t in range(t_n - 2, -1, -1):
        b = (e[t + 1] * beta[t + 1]) @ a.T
        beta[t] = b / scale[t + 1][:, None]
    gamma = alpha * beta
    gamma /= gamma.sum(axis=2, keepdims=True)
    log_lik = np.log(scale).sum(axis=0)
    # P(x_t = x_{t+1}) = sum_c alpha_t(c) a_cc e_{t+1}(c) beta_{t+1}(c) / scale_{t+1}
    diag = np.diag(a)
    p_step = np.empty((max(t_n - 1, 0), n))
    for t in range(t_n - 1):
        same = (alpha[t] * diag[None, :] * e[t + 1] * beta[t + 1]).sum(axis=1) / scale[t + 1]
        p_step[t] = 1.0 - same
    # P(no change at all) = sum_c pi_c prod_t e_t(c) a_cc^(T-1) / P(obs), in logs
    with np.errstate(divide="ignore"):
        log_const = np.log(pi)[None, :] + np.log(e).sum(axis=0) + (t_n - 1) * np.log(diag)[None, :]
    top = log_const.max(axis=1)
    log_same = top + np.log(np.exp(log_const - top[:, None]).sum(axis=1))
    p_change = np.clip(1.0 - np.exp(log_same - log_lik), 0.0, 1.0)
    return Posterior(gamma, p_change, np.clip(p_step, 0.0, 1.0), log_lik)


def viterbi(emissions: np.ndarray, transitions: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
    """The most probable class sequence of every pixel: (T, N) indices into the K classes. Ties
    go to the lower index at each step, and staying wins a tie with moving (the previous class
    is tried first)."""
    e = np.asarray(emissions, np.float64)
    t_n, n, k = e.shape
    with np.errstate(divide="ignore"):
        log_a = np.log(np.asarray(transitions, np.float64))
        log_e = np.log(e)
        log_pi = np.log(np.full(k, 1.0 / k) if prior is None else np.asarray(prior, np.float64))
    delta = log_pi[None, :] + log_e[0]
    back = np.empty((t_n, n, k), np.int16 if k > 127 else np.int8)
    for t in range(1, t_n):
        scores = delta[:, :, None] + log_a[None, :, :]  # (N, from, to)
        best = scores.argmax(axis=1)  # lowest index among ties
        stay = np.diagonal(scores, axis1=1, axis2=2)  # (N, K): each class from itself
        top = np.take_along_axis(scores, best[:, None, :], axis=1)[:, 0, :]
        best = np.where(stay >= top, np.arange(k)[None, :], best)
        back[t] = best
        delta = top + log_e[t]
    path = np.empty((t_n, n), np.int64)
    path[-1] = delta.argmax(axis=1)
    rows = np.arange(n)
    for t in range(t_n - 1, 0, -1):
        path[t - 1] = back[t, rows, path[t]]
    return path
