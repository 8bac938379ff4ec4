"""lczmap's exception tree.

Every error a user can cause derives from :class:`LczmapError`; the CLI turns these into a
one-line message and a non-zero exit code without a traceback. Each subclass also derives from
the built-in exception a Python caller would expect, so ``except ValueError`` keeps working.
Messages name the problem and the fix.
"""

from __future__ import annotations

__all__ = [
    "LczmapError",
    "DataError",
    "ConfigError",
    "CheckpointError",
    "SceneError",
    "OutputExistsError",
    "MissingDependencyError",
    "ZonesError",
    "OutputError",
    "StudyError",
    "ClusterError",
    "TrainingError",
    "RemoteError",
]


class LczmapError(Exception):
    """Root of all lczmap errors."""


class DataError(LczmapError, ValueError):
    """A So2Sat file, folder or cache is missing, malformed or cannot supply what was asked."""


class ConfigError(LczmapError, ValueError):
    """An option or a combination of options is invalid (unknown band set, class setting, ...)."""


class CheckpointError(LczmapError, ValueError):
    """A file is not an lczmap checkpoint, is corrupt, or comes from an incompatible version."""


class SceneError(LczmapError, ValueError):
    """A scene cannot be read or cannot supply the bands, resolution or extent a model needs."""


class OutputExistsError(LczmapError, FileExistsError):
    """An output exists and ``overwrite`` was not given."""


class MissingDependencyError(LczmapError, ImportError):
    """An optional dependency is not installed; the message gives the ``pip install`` line."""


class ZonesError(LczmapError, ValueError):
    """An LCZ raster, confidence raster or districts layer cannot be used for zones/summaries."""


class OutputError(LczmapError, OSError):
    """An output cannot be written: its folder is missing or read-only, the disk is full, or it
    would replace one of the job's own inputs."""


class StudyError(LczmapError, ValueError):
    """A study folder cannot be used for this study (another study's results, a corrupt manifest,
    a lock held by a live run)."""


class ClusterError(LczmapError, ConnectionError):
    """A dask scheduler cannot be reached or refused the work."""


class TrainingError(LczmapError, RuntimeError):
    """Training cannot go on (e.g. the loss or the weights became non-finite)."""


class RemoteError(LczmapError, OSError):
    """A remote catalogue, file server or download refused or failed: an HTTP error that retries
    did not cure (401/403: credentials; 404: the address), a connection that could not be made,
    or a download whose checksum does not match."""
