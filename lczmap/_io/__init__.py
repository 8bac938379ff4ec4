"""The one way lczmap writes an output: a temporary file beside the target, flushed to disk,
checked, then renamed into place; several files that belong together replace the old ones
together or not at all.

An interrupted or failed job never leaves a half-written file under the final name, an existing
output is kept unless ``overwrite`` is true, an output is never one of the job's inputs, and a
full disk becomes one line that says how much room there is instead of a broken file.

- :mod:`.files`: checks before work and :func:`atomic_path` for one file;
- :mod:`.diskspace`: was a failed write a full disk? one line for any failed write;
- :mod:`.fileset`: :func:`output_fileset` for a main file and its companions;
- :mod:`.lock`: :func:`output_lock`, one writer of an output at a time.
"""

from __future__ import annotations

from .diskspace import NO_SPACE, disk_full_error, gdal_messages, out_of_space, write_error, writing
from .files import (
    RASTER_SIDECARS,
    atomic_path,
    check_free_space,
    check_input,
    check_not_inputs,
    check_output,
    check_outputs,
    check_utf8,
    check_writable,
    fsync_path,
    remove_stale_parts,
    shown,
    sidecars_of,
    temp_path,
)
from .fileset import OutputFileset, output_fileset
from .lock import output_lock

__all__ = [
    "NO_SPACE",
    "OutputFileset",
    "RASTER_SIDECARS",
    "atomic_path",
    "check_free_space",
    "check_writable",
    "check_input",
    "check_not_inputs",
    "check_output",
    "check_outputs",
    "check_utf8",
    "disk_full_error",
    "fsync_path",
    "gdal_messages",
    "out_of_space",
    "output_fileset",
    "output_lock",
    "remove_stale_parts",
    "shown",
    "sidecars_of",
    "temp_path",
    "write_error",
    "writing",
]
