"""Urban canopy parameters (UCPs) per LCZ class, after Stewart & Oke 2012 (BAMS 93:1879-1900).

The figures below are the paper's ranges, written as printed: Table 3 (geometric and surface
cover properties) and Table 4 (thermal, radiative and metabolic properties). A range ``a-b``
gives low ``a`` and high ``b``; ``<b`` gives low 0 (the physical floor) and high ``b``; ``>a``
gives low ``a`` and high the physical ceiling where there is one (1 for the sky view factor, 100 %
for surface fractions) and ``a`` otherwise (an open range: the paper gives no upper figure);
a single figure gives itself; ``-`` (not given) gives NaN. ``mid`` is the mean of low and high.
Surface fractions are printed in percent and returned as fractions 0-1.

This module holds the table and what is computed from it alone (:func:`ucp_lookup`,
:func:`ucp_table`, :func:`district_ucp`), so that both the district summaries
(:func:`lczmap.zones.summarize` with ``ucp=``) and the per-pixel raster
(:func:`lczmap.maps.map_ucp`) use one copy of the figures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from .classes import LCZ_CLASSES
from .errors import ZonesError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "UcpValue",
    "UCP_VALUES",
    "UCP_PARAMETERS",
    "SHARE_COLUMNS",
    "ucp_lookup",
    "ucp_table",
    "district_ucp",
    "check_parameters",
]

#: Columns of a class-share table (:func:`lczmap.zones.summarize`) holding the share of each
#: class, in code order (``lcz_1`` ... ``lcz_10``, ``lcz_A`` ... ``lcz_G``).
SHARE_COLUMNS: tuple[str, ...] = tuple(f"lcz_{c.label}" for c in LCZ_CLASSES)

UcpValue = Literal["low", "mid", "high"]
#: Which figure of a range :func:`map_ucp` writes.
UCP_VALUES: tuple[str, ...] = get_args(UcpValue)

#: Parameter (band name) -> (unit, source table, physical floor, physical ceiling or None, percent?)
UCP_PARAMETERS: dict[str, tuple[str, str, float, float | None, bool]] = {
    "sky_view_factor": ("1", "Table 3", 0.0, 1.0, False),
    "aspect_ratio": ("1", "Table 3", 0.0, None, False),
    "building_surface_fraction": ("1", "Table 3", 0.0, 100.0, True),
    "impervious_surface_fraction": ("1", "Table 3", 0.0, 100.0, True),
    "pervious_surface_fraction": ("1", "Table 3", 0.0, 100.0, True),
    "height_of_roughness_elements": ("m", "Table 3", 0.0, None, False),
    "terrain_roughness_class": ("Davenport class", "Table 3", 1.0, 8.0, False),
    "surface_admittance": ("J m-2 s-1/2 K-1", "Table 4", 0.0, None, False),
    "surface_albedo": ("1", "Table 4", 0.0, 1.0, False),
    "anthropogenic_heat_output": ("W m-2", "Table 4", 0.0, None, False),
}

# Stewart & Oke 2012, Table 3 "Values of geometric and surface cover properties for local
# climate zones": sky view factor, aspect ratio, building / impervious / pervious surface
# fraction (%), height of roughness elements (m), terrain roughness class (Davenport et al. 2000).
_TABLE_3 = {
    1: ("0.2-0.4", ">2", "40-60", "40-60", "<10", ">25", "8"),
    2: ("0.3-0.6", "0.75-2", "40-70", "30-50", "<20", "10-25", "6-7"),
    3: ("0.2-0.6", "0.75-1.5", "40-70", "20-50", "<30", "3-10", "6"),
    4: ("0.5-0.7", "0.75-1.25", "20-40", "30-40", "30-40", ">25", "7-8"),
    5: ("0.5-0.8", "0.3-0.75", "20-40", "30-50", "20-40", "10-25", "5-6"),
    6: ("0.6-0.9", "0.3-0.75", "20-40", "20-50", "30-60", "3-10", "5-6"),
    7: ("0.2-0.5", "1-2", "60-90", "<20", "<30", "2-4", "4-5"),
    8: (">0.7", "0.1-0.3", "30-50", "40-50", "<20", "3-10", "5"),
    9: (">0.8", "0.1-0.25", "10-20", "<20", "60-80", "3-10", "5-6"),
    10: ("0.6-0.9", "0.2-0.5", "20-30", "20-40", "40-50", "5-15", "5-6"),
    11: ("<0.4", ">1", "<10", "<10", ">90", "3-30", "8"),  # A
    12: ("0.5-0.8", "0.25-0.75", "<10", "<10", ">90", "3-15", "5-6"),  # B
    13: ("0.7-0.9", "0.25-1.0", "<10", "<10", ">90", "<2", "4-5"),  # C
    14: (">0.9", "<0.1", "<10", "<10", ">90", "<1", "3-4"),  # D
    15: (">0.9", "<0.1", "<10", ">90", "<10", "<0.25", "1-2"),  # E
    16: (">0.9", "<0.1", "<10", "<10", ">90", "<0.25", "1-2"),  # F
    17: (">0.9", "<0.1", "<10", "<10", ">90", "-", "1"),  # G
}

# Stewart & Oke 2012, Table 4 "Values of thermal, radiative, and metabolic properties for local
# climate zones": surface admittance (J m-2 s-1/2 K-1), surface albedo, anthropogenic heat
# output (W m-2, annual mean, local scale). LCZ A's admittance is printed as unknown.
_TABLE_4 = {
    1: ("1500-1800", "0.10-0.20", "50-300"),
    2: ("1500-2200", "0.10-0.20", "<75"),
    3: ("1200-1800", "0.10-0.20", "<75"),
    4: ("1400-1800", "0.12-0.25", "<50"),
    5: ("1400-2000", "0.12-0.25", "<25"),
    6: ("1200-1800", "0.12-0.25", "<25"),
    7: ("800-1500", "0.15-0.35", "<35"),
    8: ("1200-1800", "0.15-0.25", "<50"),
    9: ("1000-1800", "0.12-0.25", "<10"),
    10: ("1000-2500", "0.12-0.20", ">300"),
    11: ("-", "0.10-0.20", "0"),  # A: admittance unknown
    12: ("1000-1800", "0.15-0.25", "0"),  # B
    13: ("700-1500", "0.15-0.30", "0"),  # C
    14: ("1200-1600", "0.15-0.25", "0"),  # D
    15: ("1200-2500", "0.15-0.30", "0"),  # E
    16: ("600-1400", "0.20-0.35", "0"),  # F
    17: ("1500", "0.02-0.10", "0"),  # G
}


def _parse(text: str, floor: float, ceiling: float | None) -> tuple[float, float]:
    text = text.strip()
    if text in ("-", ""):
        return math.nan, math.nan
    if text.startswith("<"):
        return floor, float(text[1:])
    if text.startswith(">"):
        low = float(text[1:])
        return low, ceiling if ceiling is not None else low
    if "-" in text:
        a, b = text.split("-")
        return float(a), float(b)
    return float(text), float(text)


def ucp_lookup(value: UcpValue = "mid", parameters: tuple[str, ...] | None = None) -> np.ndarray:
    """A (18, P) float32 lookup: row = LCZ code (row 0, no data, is NaN), column = parameter
    (``parameters``, default all, in :data:`UCP_PARAMETERS` order)."""
    if value not in UCP_VALUES:
        raise ZonesError(f"unknown UCP value {value!r} (--value): choose one of {', '.join(UCP_VALUES)}")
    names = check_parameters(parameters)
    table = np.full((18, len(names)), np.nan, np.float32)
    for j, name in enumerate(names):
        _, source, floor, ceiling, percent = UCP_PARAMETERS[name]
        rows = _TABLE_3 if source == "Table 3" else _TABLE_4
        column = list(n for n, p in UCP_PARAMETERS.items() if p[1] == source).index(name)
        for code in range(1, 18):
            low, high = _parse(rows[code][column], floor, ceiling)
            figure = {"low": low, "high": high, "mid": (low + high) / 2}[value]
            table[code, j] = figure / 100.0 if percent else figure
    return table


def check_parameters(parameters: Iterable[str] | None) -> tuple[str, ...]:
    """The UCP parameters asked for (all for None); :class:`ZonesError` naming an unknown one."""
    if parameters is None:
        return tuple(UCP_PARAMETERS)
    names = tuple(parameters)
    unknown = [p for p in names if p not in UCP_PARAMETERS]
    if unknown or not names:
        raise ZonesError(
            f"unknown UCP parameter(s) {', '.join(unknown) or '(none given)'} (--parameter): "
            f"choose from {', '.join(UCP_PARAMETERS)}"
        )
    return names


def ucp_table(value: UcpValue | None = None) -> pd.DataFrame:
    """The UCP table as a pandas DataFrame indexed by LCZ code (1-17), with ``label`` and ``name``.

    ``value`` ``"low"``, ``"mid"`` or ``"high"``: one column per parameter. None: columns
    ``<parameter>_low``, ``_mid``, ``_high`` for every parameter.
    """
    import pandas as pd

    frame = pd.DataFrame(
        {"label": [c.label for c in LCZ_CLASSES], "name": [c.name for c in LCZ_CLASSES]},
        index=pd.Index([c.code for c in LCZ_CLASSES], name="lcz"),
    )
    for v in [value] if value is not None else UCP_VALUES:
        lookup = ucp_lookup(v)  # type: ignore[arg-type]
        for j, name in enumerate(UCP_PARAMETERS):
            frame[name if value is not None else f"{name}_{v}"] = lookup[1:, j].astype(np.float64)
    if value is None:
        frame = frame[["label", "name"] + [f"{n}_{v}" for n in UCP_PARAMETERS for v in UCP_VALUES]]
    return frame


def district_ucp(shares: pd.DataFrame, value: UcpValue = "mid", prefix: str = "ucp_") -> pd.DataFrame:
    """Area-weighted UCPs per row of a class-share table (e.g. what :func:`lczmap.zones.summarize`
    returns with districts: columns ``lcz_1`` ... ``lcz_G``, shares of each district's area).

    Each parameter is the share-weighted mean over the classified area (no data left out, shares
    renormalised over the classes that have a figure for the parameter); NaN for a district
    without any. Returns a copy of ``shares`` with one column ``<prefix><parameter>`` each.
    """
    missing = [c for c in SHARE_COLUMNS if c not in shares.columns]
    if missing:
        raise ZonesError(f"the share table lacks columns {', '.join(missing[:4])} ...: give the table lczmap.summarize returns")
    weights = shares[list(SHARE_COLUMNS)].to_numpy(np.float64)
    lookup = ucp_lookup(value)[1:].astype(np.float64)  # (17, P)
    known = ~np.isnan(lookup)
    num = weights @ np.nan_to_num(lookup)
    den = weights @ known.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(den > 0, num / den, np.nan)
    out = shares.copy()
    for j, name in enumerate(UCP_PARAMETERS):
        out[f"{prefix}{name}"] = values[:, j]
    return out
