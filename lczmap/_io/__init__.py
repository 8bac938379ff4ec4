"""The one way lczmap writes an output: a temporary file beside the target, flushed to disk,
checked, then renamed into place; several files that belong together replace the old ones
together or not at all.

An interrupted or failed job never leaves a half-written file under the final name, an existing
output is kept unless ``overwrite`` is true, an output is never one of the job's inputs, and a
full disk becomes one line that says how much room there is instead of a broken file.

- :mod:`.files`: checks before work and :func:`atomic_path` for one file;
- :mod:`.room`: was a failed write a full disk? one line for any failed write;
- :mod:`.unit`: :func:`output_unit` for a main file and its companions.
"""

from __future__ import annotations

from .files import (
    NO_SPACE,
    atomic_path,
    check_free_space,
    check_not_inputs,
    check_output,
    check_outputs,
    check_utf8,
    disk_full_error,
    fsync_path,
    remove_stale_parts,
    shown,
)
from .room import out_of_room, write_error, writing
from .unit import OutputUnit, output_unit

__all__ = [
    "NO_SPACE",
    "OutputUnit",
    "atomic_path",
    "check_free_space",
    "check_not_inputs",
    "check_output",
    "check_outputs",
    "check_utf8",
    "disk_full_error",
    "fsync_path",
    "out_of_room",
    "output_unit",
    "remove_stale_parts",
    "shown",
    "write_error",
    "writing",
]
