"""Change options: one frozen, validated :class:`ChangeOptions` (nothing heavy imported, so that
the CLI and the QGIS form build their defaults from it)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

from ..errors import ConfigError

__all__ = ["ChangeOptions", "DEFAULT_STAY", "DEFAULT_BUILT_TO_NATURAL", "DEFAULT_FLOOR", "DEFAULT_BLOCK"]

#: Probability that a pixel keeps its class from one date to the next (``--stay``): chosen on the twin
#: city of seed 1 (docs/change.md#choosing-the-stay). With the 17 LCZ classes the rest (0.7) is spread
#: over 16 classes, so staying is 4 to 7 times as likely a priori as any one change; with fewer
#: classes a single change weighs more and the stay must be higher (a stay no likelier than one
#: change is refused by :func:`~lczmap.change.api.check_stay`).
DEFAULT_STAY = 0.3
#: Weight of a built class (LCZ 1-10) turning natural (A-G) against any other move (``--built-to-natural``).
DEFAULT_BUILT_TO_NATURAL = 0.1
#: Lowest emission of a class (a date's probability of it is floored here).
DEFAULT_FLOOR = 1e-3
#: Output pixels per side of the windows the series is read and smoothed in.
DEFAULT_BLOCK = 512


def _number(name: str, option: str, value: object, low: float, high: float, open_low: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ConfigError(f"{name} must be a number ({option}), got {value!r}")
    v = float(value)
    if (v <= low if open_low else v < low) or v >= high:
        where = "above" if open_low else "at or above"
        raise ConfigError(f"{name} must lie {where} {low:g} and below {high:g} ({option}), got {v:g}")
    return v


@dataclass(frozen=True)
class ChangeOptions:
    """How :func:`~lczmap.change.detect_change` smooths a series of class probabilities.

    ``stay``: the probability that a pixel keeps its class from one date to the next (the
    diagonal of the transition prior); the rest is shared among the other classes.
    ``built_to_natural``: how much a built class (LCZ 1-10) turning natural (A-G) weighs against
    any other move (1: as likely; the default makes demolition ten times rarer than building).
    ``floor``: the lowest emission of a class (a date's probability below it counts as it).
    ``block``: output pixels per side of a window (memory grows with block^2 x dates x classes).
    ``overwrite``: replace existing outputs."""

    stay: float = DEFAULT_STAY
    built_to_natural: float = DEFAULT_BUILT_TO_NATURAL
    floor: float = DEFAULT_FLOOR
    block: int = DEFAULT_BLOCK
    overwrite: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "stay", _number("stay", "--stay", self.stay, 0.0, 1.0))
        object.__setattr__(
            self, "built_to_natural", _number("built_to_natural", "--built-to-natural", self.built_to_natural, 0.0, math.inf)
        )
        object.__setattr__(self, "floor", _number("floor", "--floor", self.floor, 0.0, 1.0))
        if isinstance(self.block, bool) or not isinstance(self.block, Integral) or self.block < 16:
            raise ConfigError(f"block must be an integer of at least 16, got {self.block!r}")
        object.__setattr__(self, "block", int(self.block))
        object.__setattr__(self, "overwrite", bool(self.overwrite))
