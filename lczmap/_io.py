"""Atomic, non-clobbering output files.

Every file lczmap writes goes to a temporary name in the destination folder and is renamed into
place only when complete, so an interrupted job never leaves a half-written output under the
final name, and an existing output is kept unless ``overwrite`` is true.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import OutputError, OutputExistsError

__all__ = ["atomic_path", "check_output"]


def check_output(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Check that ``path`` may be written: its folder exists and is writable, and it does not
    exist unless ``overwrite``. Returns it as a :class:`~pathlib.Path`."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists: pass --overwrite (overwrite=True) to replace it")
    folder = path.parent
    if not folder.is_dir():
        raise OutputError(f"output folder {folder} does not exist: create it first")
    try:  # a real probe: os.access says yes to root on read-only mounts and to folders like /proc
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write in {folder} ({exc.strerror}): choose a writable output folder") from None
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    path = check_output(path, overwrite)
    suffix = path.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".part{suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.unlink()  # writers (GDAL, h5py) want to create the file themselves
    try:
        yield tmp_path
        if not overwrite and path.exists():
            raise OutputExistsError(f"{path} appeared while writing: pass --overwrite to replace it")
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
