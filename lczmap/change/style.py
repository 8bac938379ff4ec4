"""The change layer as QGIS shows it: band 1 (``transition``) paletted, one colour per from-to
pair that occurs (the colour of the class it became, blended a quarter with the class it was, so
that "low plants -> open low-rise" and "sparsely built -> open low-rise" differ), unchanged
pixels light grey; labels "D Low plants -> 6 Open low-rise"."""

from __future__ import annotations

from collections.abc import Iterable

from ..classes import lcz
from ..raster import paletted_qml

__all__ = [
    "NO_CHANGE",
    "CHANGE_NODATA",
    "CHANGE_BANDS",
    "transition_value",
    "transition_colour",
    "transition_label",
    "change_qml",
]

#: Value of the ``transition`` band where nothing changed.
NO_CHANGE = 1
#: Value of every band of the change layer where no date has data.
CHANGE_NODATA = 0
#: The change layer's bands, in order: ``transition`` (from * 100 + to; 1 = no change),
#: ``from`` and ``to`` (LCZ codes at the first and last date), ``date`` (1-based index of the first
#: date showing a change; 0 = none), ``changes`` (how many times the class changed).
CHANGE_BANDS = ("transition", "from", "to", "date", "changes")
_GREY = (220, 220, 220)


def transition_value(from_code: int, to_code: int) -> int:
    """The ``transition`` band's value of a change from LCZ ``from_code`` to ``to_code``."""
    return int(from_code) * 100 + int(to_code)


def transition_colour(value: int) -> tuple[int, int, int]:
    """RGB of a ``transition`` value."""
    if value == NO_CHANGE:
        return _GREY
    a, b = lcz(value // 100).rgb, lcz(value % 100).rgb
    return (round(0.25 * a[0] + 0.75 * b[0]), round(0.25 * a[1] + 0.75 * b[1]), round(0.25 * a[2] + 0.75 * b[2]))


def transition_label(value: int) -> str:
    """'D Low plants -> 6 Open low-rise' (or 'No change')."""
    if value == NO_CHANGE:
        return "No change"
    a, b = lcz(value // 100), lcz(value % 100)
    return f"{a.label} {a.name} -> {b.label} {b.name}"


def change_qml(values: Iterable[int]) -> str:
    """A QGIS layer style of the change layer: a paletted renderer of its ``transition`` band
    with an entry for each of ``values`` (those the layer holds) and for "No change"."""
    entries = []
    for v in sorted({NO_CHANGE, *(int(x) for x in values if int(x) != CHANGE_NODATA)}):
        r, g, b = transition_colour(v)
        entries.append((v, f"#{r:02x}{g:02x}{b:02x}", transition_label(v)))
    return paletted_qml(entries)
