"""A synthetic So2Sat LCZ42 twin and Sentinel-1-like scenes rendered from the same class models.

Real So2Sat LCZ42 is 52 GB and real Sentinel-1 scenes are large downloads, so tests, benchmarks and
the demo run on data generated here. Both products come from one renderer:

1. **Class models** (:mod:`~lczmap.twin.materials`): each of the 17 LCZ classes is a material
   model, and each material has a radar backscatter and an optical spectrum.
2. **Materials -> signals.** Single-look complex amplitudes are zero-mean circular complex Gaussian
   speckle of the materials' power (:mod:`~lczmap.twin.noise`); the intensities and the VV-VH
   covariance are refined-Lee filtered 7 x 7 from the speckle (:mod:`~lczmap.twin.lee`, with
   :mod:`lczmap.speckle`, the filter prediction runs) exactly as So2Sat's ``sen1`` channels 4-7.
   Scenes are written as users receive them: multi-looked GRD intensity (about 4.4 looks,
   unfiltered), gamma0 with an angle band, HyP3 and Planetary Computer RTC pairs.
3. **Cities** (:mod:`~lczmap.twin.cities`): patches come in cities, each with its own radar
   calibration, optical conditions and class mix; validation and test cities are not training
   cities, so models face a real domain shift.

Writers: :func:`write_twin` (So2Sat's HDF5 files, :mod:`~lczmap.twin.so2sat`),
:func:`write_scene` (a scene and its ground-truth LCZ map, :mod:`~lczmap.twin.scene`), and the
SAFE-layout products :func:`write_safe` (IW GRD, :mod:`~lczmap.twin.safe`) and
:func:`write_safe_slc` (IW SLC with bursts and sub-swaths, :mod:`~lczmap.twin.safe_slc`), and
:func:`write_acquisitions` (many dates and passes of one city, offset footprints, one truth map:
:mod:`~lczmap.twin.acquisitions`).
All randomness comes from a counter-based hash of world pixel coordinates and the seed, so output
never depends on chunk or window sizes.
"""

from __future__ import annotations

from .acquisitions import (
    ACQUISITION_KINDS,
    ACQUISITION_TAGS,
    Acquisition,
    AcquisitionKind,
    AcquisitionSet,
    check_acquisition_options,
    plan_acquisitions,
    write_acquisitions,
)
from .cities import City, make_cities
from .lee import lee_filter, polsar_lee
from .materials import CLASS_MODELS, MATERIALS, SO2SAT_CLASS_COUNTS, ClassModel
from .noise import GRD_LOOKS
from .safe import safe_geometry, write_safe
from .safe_slc import SlcLayout, slc_geometry, write_safe_slc
from .scene import (
    HYP3_NAME,
    SCENE_ANGLES,
    SCENE_KINDS,
    SCENE_NODATA,
    SCENE_SIZE,
    SCENE_UNITS,
    SceneKind,
    SceneUnits,
    check_scene_options,
    scene_files,
    write_scene,
)
from .so2sat import LAYOUTS, MIN_PATCHES, PATCH, TWIN_PATCHES, Layout, render_patches, twin_files, write_twin

__all__ = [
    "write_twin",
    "write_scene",
    "twin_files",
    "render_patches",
    "check_scene_options",
    "lee_filter",
    "polsar_lee",
    "make_cities",
    "City",
    "ClassModel",
    "CLASS_MODELS",
    "MATERIALS",
    "SO2SAT_CLASS_COUNTS",
    "PATCH",
    "Layout",
    "LAYOUTS",
    "MIN_PATCHES",
    "TWIN_PATCHES",
    "SceneKind",
    "SceneUnits",
    "SCENE_KINDS",
    "SCENE_UNITS",
    "SCENE_SIZE",
    "SCENE_NODATA",
    "SCENE_ANGLES",
    "HYP3_NAME",
    "GRD_LOOKS",
    "scene_files",
    "write_safe",
    "safe_geometry",
    "write_safe_slc",
    "SlcLayout",
    "slc_geometry",
    "write_acquisitions",
    "plan_acquisitions",
    "check_acquisition_options",
    "Acquisition",
    "AcquisitionSet",
    "AcquisitionKind",
    "ACQUISITION_KINDS",
    "ACQUISITION_TAGS",
]
