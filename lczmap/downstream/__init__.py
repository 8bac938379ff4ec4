"""lczmap's maps in the tools that use LCZ maps: WRF through w2w, LCZ4r/lcz4py, UMEP.

- :func:`check_wrf` (:mod:`~lczmap.downstream.wrf`): before w2w, does the map cover the WRF domain,
  which cells become urban and with which LU_INDEX, what stops w2w or WRF;
  :func:`read_wrf_domain` (:mod:`~lczmap.downstream.geo_em`) reads a geo_em file.
- :func:`recode_lcz` (:mod:`~lczmap.downstream.recode`): any LCZ map as a single-band LCZ COG
  in codes 1-17 (LCZ4r/lcz4py) or 101-107 (UMEP's LCZ converter).
- :data:`LCZ4R_BANDS` and :data:`UMEP_CODES` (:mod:`~lczmap.downstream.conventions`): what those
  tools select by.
"""

from __future__ import annotations

from .conventions import LCZ4R_BANDS, LCZ4R_CODES, UMEP_CODES, UMEP_FRACTIONS, umep_fraction_table
from .geo_em import WRF_PROJECTIONS, WrfDomain, read_wrf_domain
from .recode import recode_lcz
from .wrf import W2W_BUILT, W2W_FRC_THRESHOLD, W2W_FRC_URB2D, W2W_NPIX_NLC, WrfCheck, check_wrf, wrf_urban_offset

__all__ = [
    "check_wrf",
    "WrfCheck",
    "wrf_urban_offset",
    "W2W_BUILT",
    "W2W_FRC_URB2D",
    "W2W_FRC_THRESHOLD",
    "W2W_NPIX_NLC",
    "read_wrf_domain",
    "WrfDomain",
    "WRF_PROJECTIONS",
    "recode_lcz",
    "LCZ4R_BANDS",
    "LCZ4R_CODES",
    "UMEP_CODES",
    "UMEP_FRACTIONS",
    "umep_fraction_table",
]
