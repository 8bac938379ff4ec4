"""What LCZ4r/lcz4py and UMEP select by, in one place (the docs' tables are tested against it).

LCZ4r (R) and its Python port lcz4py 0.1.0 take an LCZ Generator product's band by name at a
fixed position (``lcz_get_map_generator(band=...)``: ``lcz`` band 1, ``lczFilter`` band 2); their
area and plotting functions (``lcz_cal_area``, ``lcz_plot_map``) read band 1 and keep codes 1-17
(anything else, 101-107 included, is no data). lczmap's LCZ Generator layout has the bands in
that order (:data:`lczmap.raster.LCZ_GENERATOR_BANDS`).

UMEP's LCZ converter reads LCZ 1-10 as 1-10 and A-G as 101-107, and a table of land-cover
fractions per class (paved, buildings, evergreen trees, deciduous trees, grass, bare soil,
water). lczmap's ``ucp`` gives three of those figures per class, from Stewart & Oke 2012 Table 3:
building, impervious (UMEP's paved) and pervious surface fractions (:func:`umep_fraction_table`);
it does not split the pervious share into UMEP's five vegetation, soil and water columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..canopy import UcpValue, ucp_table
from ..classes import LCZ_CLASSES, coded_value

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LCZ4R_BANDS", "LCZ4R_CODES", "UMEP_CODES", "UMEP_FRACTIONS", "umep_fraction_table"]

#: LCZ Generator band name -> the band (1-based) LCZ4r/lcz4py take for it.
LCZ4R_BANDS: dict[str, int] = {"lcz": 1, "lczFilter": 2}
#: Pixel values LCZ4r/lcz4py's area and plotting functions count as LCZ classes (band 1).
LCZ4R_CODES: tuple[int, ...] = tuple(range(1, 18))
#: lczmap code (1-17) -> the value UMEP's LCZ converter reads (1-10, 101-107).
UMEP_CODES: dict[int, int] = {c.code: coded_value(c.code, "101-107") for c in LCZ_CLASSES}
#: UMEP land-cover fraction -> the lczmap UCP parameter that gives it (None: lczmap has no figure).
UMEP_FRACTIONS: dict[str, str | None] = {
    "Paved": "impervious_surface_fraction",
    "Buildings": "building_surface_fraction",
    "Evergreen trees": None,
    "Deciduous trees": None,
    "Grass": None,
    "Bare soil": None,
    "Water": None,
}


def umep_fraction_table(value: UcpValue = "mid") -> pd.DataFrame:
    """Stewart & Oke's surface fractions per class, indexed by UMEP's code (1-10, 101-107):
    ``Paved`` and ``Buildings`` (UMEP's columns) and ``Pervious`` (the sum of UMEP's five other
    columns, not split); ``value``: the range's low, mid or high figure. The ranges' mid figures
    need not sum to 1: UMEP's table must, so adjust before use."""
    table = ucp_table(value)
    out = table[["label", "name"]].copy()
    out["Paved"] = table["impervious_surface_fraction"]
    out["Buildings"] = table["building_surface_fraction"]
    out["Pervious"] = table["pervious_surface_fraction"]
    out.index = out.index.map(UMEP_CODES)
    out.index.name = "umep_code"
    return out
