"""lczmap: Local Climate Zone mapping from Sentinel-1 radar with EO-to-SAR few-shot transfer."""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    CheckpointError,
    ConfigError,
    DataError,
    LczmapError,
    OutputExistsError,
    SceneError,
)

__all__ = [
    "__version__",
    "LczmapError",
    "DataError",
    "ConfigError",
    "CheckpointError",
    "SceneError",
    "OutputExistsError",
]
