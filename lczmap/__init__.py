"""lczmap: Local Climate Zone mapping from Sentinel-1 radar with EO-to-SAR few-shot transfer.

The main entry points are re-exported here and imported on first use, so ``import lczmap`` stays
light (torch, rasterio and geopandas load only when needed)::

    from lczmap.train import TrainConfig, train
    train(TrainConfig(data="So2Sat/", sar_bands="lee-intensity"), "model.safetensors")
    lczmap.predict_scene("scene.tif", "lcz.tif", model="model.safetensors")
    lczmap.summarize("lcz.tif")

Functions named like their modules (``train``, ``evaluate``, ``zones``) live in those modules:
``lczmap.train.train``, ``lczmap.evaluate.evaluate``, ``lczmap.zones.zones``.
"""

from __future__ import annotations

import importlib

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
    SceneError,
    StudyError,
    TrainingError,
    ZonesError,
)

_LAZY = {
    "open_so2sat": "lczmap.data",
    "open_patches": "lczmap.data",
    "prepare": "lczmap.data",
    "TrainConfig": "lczmap.train",
    "load_checkpoint": "lczmap.checkpoint",
    "open_scene": "lczmap.scene",
    "predict_scene": "lczmap.predict",
    "predict_scenes": "lczmap.predict",
    "predict_dataarray": "lczmap.predict",
    "summarize": "lczmap.zones",
    "grid_districts": "lczmap.zones",
    "run_demo": "lczmap.demo",
    "run_study": "lczmap.study",
}

__all__ = [
    "__version__",
    "LczmapError",
    "DataError",
    "ConfigError",
    "CheckpointError",
    "SceneError",
    "OutputExistsError",
    "ZonesError",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lczmap' has no attribute {name!r}")
