"""What one does with an LCZ map, for the urban-climate community: accuracy, canopy parameters,
station samples and readable figures. (A "product" in lczmap is an input Sentinel-1 product kind,
:mod:`lczmap.scene`; these are outputs.)

:func:`assess_map`
    OA, OAu, OAbu, OAw, kappa and per-class precision/recall/F1 of an LCZ map against reference
    polygons or points (bootstrap intervals over the units, mean confusion matrix), or its
    agreement with another LCZ map; JSON, CSV, a confusion-matrix figure and the units with
    their agreement as a layer.
:func:`map_ucp`, :func:`ucp_table`, :func:`district_ucp`
    Urban canopy parameters per pixel, per class and per district (Stewart & Oke 2012).
:func:`design_sample`, :func:`assess_sample`
    A stratified random sample of the map's classes to label (GeoPackage and KML), and from the
    labelled sample the area-adjusted accuracy and class areas with confidence intervals
    (Olofsson et al. 2014).
:func:`sample_points`
    The LCZ at points and the class shares within a radius.
:func:`render_map`
    A PNG or PDF map with the WUDAPT palette, legend, scale bar, CRS, model and date.

Modules: :mod:`.reference` (reference layers, class fields, point tables), :mod:`.metrics`
(scores, weights, bootstrap), :mod:`.agreement` (pixels per reference unit, map against map),
:mod:`.assess`, :mod:`.design`, :mod:`.olofsson`, :mod:`.report` (figures and files), :mod:`.ucp`, :mod:`.sample`, :mod:`.render`.
"""

from __future__ import annotations

from .assess import DEFAULT_DRAWS, Assessment, assess_map
from .design import ALLOCATIONS, SampleDesign, design_sample
from .metrics import METRICS, WEIGHTS
from .olofsson import AreaEstimate, SampleAssessment, assess_sample
from .reference import CLASS_FIELDS, X_COLUMNS, Y_COLUMNS, normalise_codes
from .render import render_map
from .sample import DEFAULT_BUFFER, sample_points
from .ucp import UCP_PARAMETERS, UCP_VALUES, district_ucp, map_ucp, ucp_table

__all__ = [
    "Assessment",
    "assess_map",
    "DEFAULT_DRAWS",
    "ALLOCATIONS",
    "SampleDesign",
    "design_sample",
    "AreaEstimate",
    "SampleAssessment",
    "assess_sample",
    "METRICS",
    "WEIGHTS",
    "CLASS_FIELDS",
    "X_COLUMNS",
    "Y_COLUMNS",
    "normalise_codes",
    "render_map",
    "sample_points",
    "DEFAULT_BUFFER",
    "map_ucp",
    "ucp_table",
    "district_ucp",
    "UCP_PARAMETERS",
    "UCP_VALUES",
]
