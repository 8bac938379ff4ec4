"""Vector LCZ zones and per-area summaries of an LCZ raster.

Two jobs, both reading any LCZ raster (lczmap's own, coded 1-17 with nodata 0, or another
LCZ map's, coded 1-10 and A-G as 101-107 with any nodata value):

:func:`vectorize_zones` (also ``zones``, its older name)
    Removes patches below a minimum area (a sieve) and turns the map into polygons with the LCZ
    code, label, name, colour, area in m2 and, given a confidence raster, the mean confidence.
    The map is processed in strips of rows; the sieve reads each strip with a halo wide enough
    that the result equals the whole-map sieve exactly, and polygons cut by strip edges are
    stitched, so there are no seams. Memory depends on the strip size and the map width, not on
    the map height.
:func:`summarize`
    For each polygon of a districts layer (any CRS), the share of its area per LCZ class with
    exact coverage weighting of edge pixels (exactextract), the dominant class and the nodata
    share; without districts, a whole-map table of area and share per class.

Patches and polygons use 4-connectivity (pixels that share an edge); pixels touching only at a
corner are separate patches.

Modules: :mod:`.lczraster` (reading LCZ rasters of any coding, confidence rasters, pixel areas),
:mod:`.sieve` (the strip sieve), :mod:`.polygons` (polygons stitched across strips),
:mod:`lczmap._io` (outputs checked before the work, replaced together after it),
:mod:`.vector` (checked vector writer), :mod:`.vectorize` (:func:`vectorize_zones`),
:mod:`.summary` (:func:`summarize`, :func:`grid_districts`), :mod:`.style` (QGIS style).
"""

from __future__ import annotations

from ..errors import ZonesError
from .lczraster import CODE_SCHEMES, DEFAULT_BLOCK_ROWS, CodeScheme, LczRasterInfo, inspect_lcz
from .sieve import MAX_SIEVE_PASSES
from .style import zones_qml
from .summary import SHARE_COLUMNS, grid_districts, summarize
from .vector import VECTOR_FORMATS
from .vectorize import ZonesResult, vectorize_zones

#: The older name of :func:`vectorize_zones` (the same function).
zones = vectorize_zones

__all__ = [
    "ZonesError",
    "CodeScheme",
    "CODE_SCHEMES",
    "DEFAULT_BLOCK_ROWS",
    "MAX_SIEVE_PASSES",
    "LczRasterInfo",
    "ZonesResult",
    "inspect_lcz",
    "vectorize_zones",
    "zones",
    "summarize",
    "grid_districts",
    "zones_qml",
    "VECTOR_FORMATS",
    "SHARE_COLUMNS",
]
