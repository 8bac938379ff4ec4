"""lczmap: Local Climate Zone mapping from Sentinel-1 radar with EO-to-SAR few-shot transfer.

The public API lives here, with verb-noun names, each imported on first use so that
``import lczmap`` stays light (torch, rasterio and geopandas load only when needed)::

    import lczmap

    lczmap.train_model(lczmap.TrainConfig(data="So2Sat/", sar_bands="lee-intensity"), "model.safetensors")
    lczmap.evaluate_model("model.safetensors", "So2Sat/")
    lczmap.predict_scene("scene.tif", "lcz.tif", model="model.safetensors")
    lczmap.vectorize_zones("lcz.tif", "zones.gpkg")
    lczmap.summarize("lcz.tif", "districts.csv", by="districts.gpkg")

The sub-packages (``lczmap.predict``, ``lczmap.train``, ``lczmap.zones``, ``lczmap.maps``,
``lczmap.adapt``, ``lczmap.study``, ``lczmap.scene``, ``lczmap.twin``, ``lczmap.data``) hold the rest
and keep their own names. Type checkers see every name here with its type (the ``TYPE_CHECKING``
imports below, one per name of the lazy table).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes as _lazy_attributes

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    CheckpointError,
    ClusterError,
    ConfigError,
    DataError,
    LczmapError,
    MissingDependencyError,
    OutputError,
    OutputExistsError,
    RemoteError,
    SceneError,
    StudyError,
    TrainingError,
    ZonesError,
)

#: public name -> (module, attribute in that module)
_LAZY: dict[str, tuple[str, str]] = {
    # data
    "open_so2sat": ("lczmap.data", "open_so2sat"),
    "open_patches": ("lczmap.data", "open_patches"),
    "prepare_cache": ("lczmap.data", "prepare"),
    "band_set": ("lczmap.bands", "band_set"),
    "write_twin": ("lczmap.twin", "write_twin"),
    "write_scene": ("lczmap.twin", "write_scene"),
    "write_acquisitions": ("lczmap.twin", "write_acquisitions"),
    # training
    "TrainConfig": ("lczmap.train", "TrainConfig"),
    "train_model": ("lczmap.train", "train_model"),
    "evaluate_model": ("lczmap.evaluate", "evaluate_model"),
    "load_checkpoint": ("lczmap.checkpoint", "load_checkpoint"),
    "run_study": ("lczmap.study", "run_study"),
    # mapping
    "open_scene": ("lczmap.scene", "open_scene"),
    "PredictOptions": ("lczmap.predict", "PredictOptions"),
    "predict_scene": ("lczmap.predict", "predict_scene"),
    "predict_scenes": ("lczmap.predict", "predict_scenes"),
    "predict_dataarray": ("lczmap.predict", "predict_dataarray"),
    "MosaicOptions": ("lczmap.mosaic", "MosaicOptions"),
    "MosaicResult": ("lczmap.mosaic", "MosaicResult"),
    "predict_mosaic": ("lczmap.mosaic", "predict_mosaic"),
    "vectorize_zones": ("lczmap.zones", "vectorize_zones"),
    "summarize": ("lczmap.zones", "summarize"),
    "grid_districts": ("lczmap.zones", "grid_districts"),
    "run_demo": ("lczmap.demo", "run_demo"),
    # LCZ maps for climate users
    "assess_map": ("lczmap.maps", "assess_map"),
    "map_ucp": ("lczmap.maps", "map_ucp"),
    "sample_points": ("lczmap.maps", "sample_points"),
    "render_map": ("lczmap.maps", "render_map"),
    "design_sample": ("lczmap.maps", "design_sample"),
    "assess_sample": ("lczmap.maps", "assess_sample"),
    # a city's own training areas
    "AdaptOptions": ("lczmap.adapt", "AdaptOptions"),
    "adapt_model": ("lczmap.adapt", "adapt_model"),
    "CheckOptions": ("lczmap.adapt", "CheckOptions"),
    "check_areas": ("lczmap.adapt", "check_areas"),
    # change over the years
    "ChangeOptions": ("lczmap.change", "ChangeOptions"),
    "detect_change": ("lczmap.change", "detect_change"),
    # getting data
    "search_scenes": ("lczmap.remote", "search_scenes"),
    "download_so2sat": ("lczmap.remote", "download_so2sat"),
    # the tools users run next
    "check_wrf": ("lczmap.downstream", "check_wrf"),
    "recode_lcz": ("lczmap.downstream", "recode_lcz"),
}

if TYPE_CHECKING:  # the lazy table's names as type checkers see them (tests/test_package.py keeps them equal)
    from .adapt import AdaptOptions, CheckOptions, adapt_model, check_areas
    from .bands import band_set
    from .change import ChangeOptions, detect_change
    from .checkpoint import load_checkpoint
    from .data import open_patches, open_so2sat, prepare as prepare_cache
    from .demo import run_demo
    from .downstream import check_wrf, recode_lcz
    from .evaluate import evaluate_model
    from .maps import assess_map, assess_sample, design_sample, map_ucp, render_map, sample_points
    from .mosaic import MosaicOptions, MosaicResult, predict_mosaic
    from .predict import PredictOptions, predict_dataarray, predict_scene, predict_scenes
    from .remote import download_so2sat, search_scenes
    from .scene import open_scene
    from .study import run_study
    from .train import TrainConfig, train_model
    from .twin import write_acquisitions, write_scene, write_twin
    from .zones import grid_districts, summarize, vectorize_zones


__all__ = [
    "__version__",
    "LczmapError",
    "DataError",
    "ConfigError",
    "CheckpointError",
    "SceneError",
    "OutputError",
    "OutputExistsError",
    "RemoteError",
    "ZonesError",
    "StudyError",
    "ClusterError",
    "TrainingError",
    "MissingDependencyError",
    *_LAZY,
]


__getattr__, __dir__ = _lazy_attributes(__name__, _LAZY)
