"""When a write fails: was the file system full? GDAL, libtiff, SQLite and pyogrio often report a
failed write without its reason (or in their own words), so :func:`out_of_room` also looks at the
free space and writes a probe as large as what was written; :func:`write_error` and
:func:`writing` turn any failed write into one line."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import LczmapError, OutputError
from .files import NO_SPACE, disk_full_error

__all__ = ["out_of_room", "write_error", "writing"]

#: Words with which the C library, libtiff, GDAL and SQLite report a full disk or file-size limit.
_NO_SPACE_WORDS = ("no space left", "file too large", "disk quota", "disk is full", "disk full", "free disk space")
#: A file system with less room than this is full for our purposes.
_NEARLY_FULL = 1 << 20


def out_of_room(exc: BaseException | None, files: Iterable[str | os.PathLike] = ()) -> bool:
    """Whether a failed write ran out of room: an errno or message saying so, a file system with
    less than 1 MB free, or a probe 1 MB larger than what was written (at most 64 MB) that cannot
    be written there either (the file it failed on, a journal or index, may be gone)."""
    if isinstance(exc, OSError) and exc.errno in NO_SPACE:
        return True
    if exc is not None and any(word in str(exc).lower() for word in _NO_SPACE_WORDS):
        return True
    sizes: dict[Path, int] = {}
    for f in files:
        folder = Path(f).parent
        size = 0
        with contextlib.suppress(OSError):
            size = Path(f).stat().st_size
        sizes[folder] = max(sizes.get(folder, 0), size)
    return any(not _room_for(folder, size + _NEARLY_FULL) for folder, size in sizes.items())


def _room_for(folder: Path, size: int) -> bool:
    """Whether ``size`` bytes (at most 64 MB) can be written in ``folder`` now."""
    try:
        if shutil.disk_usage(folder).free < _NEARLY_FULL:
            return False
        fd, name = tempfile.mkstemp(prefix=".lczmap-room.", dir=folder)
    except OSError as exc:
        return exc.errno not in NO_SPACE  # cannot tell otherwise: report the write's own error
    try:
        chunk = memoryview(bytes(_NEARLY_FULL))
        left = min(size, 64 * _NEARLY_FULL)
        while left > 0:  # a write may be cut short at a limit; the next one then fails
            left -= os.write(fd, chunk[: min(left, len(chunk))])
        os.fsync(fd)
        return True
    except OSError as exc:
        return exc.errno not in NO_SPACE
    finally:
        os.close(fd)
        os.unlink(name)


def write_error(exc: BaseException, target: str | os.PathLike, files: Iterable[str | os.PathLike] = (),
                needed: int | None = None) -> OutputError:
    """The one-line error for a failed write of ``target`` (``files``: what was written so far;
    ``needed``: bytes the output needs, for the message)."""
    if out_of_room(exc, files):
        return disk_full_error(Path(target).absolute(), needed)
    detail = " ".join(str(exc).split())[:200] or type(exc).__name__
    return OutputError(f"writing {target} failed ({detail}): the old file, if any, is kept")


def _parts(tmp: Path) -> list[Path]:
    """``tmp`` and the files a writer put beside it under its name (overview temporaries, PAM, journals)."""
    try:
        return [p for p in tmp.parent.iterdir() if p.name.startswith(tmp.name)]
    except OSError:  # pragma: no cover
        return []


@contextlib.contextmanager
def writing(target: str | os.PathLike, needed: int | None = None, tmp: str | os.PathLike | None = None) -> Iterator[None]:
    """Turn a failed write (or check) of ``target`` into one :func:`write_error` line; remove what
    the writer left beside ``tmp`` when it fails. lczmap's own errors pass through."""
    try:
        yield
    except LczmapError:
        raise
    except Exception as exc:  # GDAL, pyogrio, SQLite and torch each have their own error types
        parts = _parts(Path(tmp)) if tmp is not None else []
        written = [p for p in parts if p.is_file()]
        error = write_error(exc, target, written or ([tmp] if tmp is not None else []), needed)
        for p in parts:
            p.unlink(missing_ok=True)
        raise error from None
