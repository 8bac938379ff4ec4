"""LCZ change over the years: :func:`detect_change` turns a time series of class-probability
rasters (``predict --probabilities``, ``mosaic --probabilities``; one per year or season, on one
grid) into temporally consistent LCZ maps, a change layer (from, to, date of change), the
probability that any change happened, and a transition table with areas.

Modules: ``options`` (:class:`ChangeOptions`), ``hmm`` (the per-pixel hidden Markov model:
transition prior, forward-backward, Viterbi), ``inputs`` (the series, checked), ``style`` (the
change layer's QGIS style), ``api`` (the verb). Names are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .api import ChangeResult, detect_change
    from .hmm import forward_backward, transition_matrix, viterbi
    from .options import ChangeOptions

_LAZY = {
    "ChangeOptions": "options",
    "ChangeResult": "api",
    "detect_change": "api",
    "forward_backward": "hmm",
    "transition_matrix": "hmm",
    "viterbi": "hmm",
}

__all__ = ["detect_change", "ChangeOptions", "ChangeResult", "forward_backward", "transition_matrix", "viterbi"]

__getattr__, __dir__ = lazy_attributes(__name__, {name: f".{module}" for name, module in _LAZY.items()})
