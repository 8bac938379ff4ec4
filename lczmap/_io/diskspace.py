"""When a write fails: was the file system full? GDAL, libtiff, SQLite and pyogrio often report a
failed write without its reason (or in their own words), so :func:`out_of_space` also looks at the
free space and writes a probe as large as what was written; :func:`write_error` and
:func:`writing` turn any failed write into one line."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import LczmapError, OutputError

log = logging.getLogger(__name__)

__all__ = ["NO_SPACE", "disk_full_error", "gdal_messages", "out_of_space", "write_error", "writing"]

#: errno values that mean "the file system (or the process's file-size limit) has no room".
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})

#: Words with which the C library, libtiff, GDAL and SQLite report a full disk or file-size limit.
_NO_SPACE_WORDS = ("no space left", "file too large", "disk quota", "disk is full", "disk full", "free disk space")
#: A file system with less room than this is full for our purposes.
_NEARLY_FULL = 1 << 20


def _mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{n / 1e6:.2f} MB"


def disk_full_error(path: str | os.PathLike, needed: int | None = None) -> OutputError:
    """The one-line error for a full file system under ``path`` (with the room that is left, and
    what was needed when known)."""
    folder = Path(path).parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:  # pragma: no cover
        free = None
    need = f"{_mb(needed)} needed, " if needed else ""
    have = f"{_mb(free)} free" if free is not None else "free space unknown"
    return OutputError(f"no space left on {folder}: {need}{have}: free some space or choose another output folder")


def out_of_space(exc: BaseException | None, files: Iterable[str | os.PathLike] = ()) -> bool:
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
    return any(not _space_for(folder, size + _NEARLY_FULL) for folder, size in sizes.items())


def _space_for(folder: Path, size: int) -> bool:
    """Whether ``size`` bytes (at most 64 MB) can be written in ``folder`` now."""
    try:
        if shutil.disk_usage(folder).free < _NEARLY_FULL:
            return False
        fd, name = tempfile.mkstemp(prefix=".lczmap-space.", dir=folder)
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


def write_error(
    exc: BaseException,
    target: str | os.PathLike,
    files: Iterable[str | os.PathLike] = (),
    needed: int | None = None,
    said: Iterable[str] = (),
) -> OutputError:
    """The one-line error for a failed write of ``target`` (``files``: what was written so far;
    ``needed``: bytes the output needs, for the message; ``said``: what GDAL said meanwhile)."""
    said = list(said)
    if out_of_space(exc, files) or any(out_of_space(OSError(text)) for text in said):
        return disk_full_error(Path(target).absolute(), needed)
    detail = " ".join(str(exc).split())[:200] or " ".join(" ".join(said[-1:]).split())[:200] or type(exc).__name__
    return OutputError(f"writing {target} failed ({detail}): the old file, if any, is kept")


def _parts(tmp: Path) -> list[Path]:
    """``tmp`` and the files a writer put beside it under its name (overview temporaries, PAM, journals)."""
    try:
        return [p for p in tmp.parent.iterdir() if p.name.startswith(tmp.name)]
    except OSError:  # pragma: no cover
        return []


@contextlib.contextmanager
def gdal_messages() -> Iterator[list[str]]:
    """Keep what GDAL and libtiff say during the block in the list yielded instead of printing it
    (e.g. ``_tiffWriteProc: File too large.`` before lczmap's one line on a full disk): what they
    print on the process's stderr (GDAL's default error handler) and what rasterio logs under
    ``rasterio`` where no handler is set (Python prints that bare). When the block ends without an
    error it is logged at DEBUG (``-v``: the write is then checked by reading it back); when it
    fails, the text is the caller's to put in its one line. Re-entrant; stderr is captured only
    where the platform has ``memfd_create``."""
    said: list[str] = []
    logger = logging.getLogger("rasterio")
    kept = _Kept(said) if not logger.handlers else None
    propagate = logger.propagate
    if kept is not None:
        logger.addHandler(kept)
        logger.propagate = False
    capture = _StderrCapture()
    failed = True
    try:
        with capture:
            yield said
        failed = False
    finally:
        if kept is not None:
            logger.removeHandler(kept)
            logger.propagate = propagate
        said[:0] = [line for line in capture.text.splitlines() if line.strip()]
        if said and not failed:  # GDAL does not always fail a write it complains of: the read-back decides
            log.debug("GDAL said: %s", " / ".join(said))


class _Kept(logging.Handler):
    def __init__(self, messages: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class _StderrCapture:
    """File descriptor 2 pointed at an in-memory file for a block (not the disk: it may be full)."""

    depth = 0  # nested captures: only the outermost redirects

    def __init__(self) -> None:
        self.text = ""
        self.saved: int | None = None
        self.fd: int | None = None

    def __enter__(self) -> None:
        _StderrCapture.depth += 1
        if _StderrCapture.depth > 1 or not hasattr(os, "memfd_create"):
            return
        try:
            self.fd = os.memfd_create("lczmap-gdal-messages")
            sys.stderr.flush()
            self.saved = os.dup(2)
            os.dup2(self.fd, 2)
        except OSError:  # no stderr to redirect (a closed fd 2): leave it as it is
            self._close()

    def __exit__(self, *exc: object) -> None:
        _StderrCapture.depth -= 1
        if self.saved is None or self.fd is None:
            return
        try:
            sys.stderr.flush()
        finally:
            os.dup2(self.saved, 2)
        os.lseek(self.fd, 0, os.SEEK_SET)
        self.text = os.read(self.fd, 1 << 16).decode("utf-8", "replace")
        self._close()

    def _close(self) -> None:
        for fd in (self.fd, self.saved):
            if fd is not None:
                os.close(fd)
        self.fd = self.saved = None


@contextlib.contextmanager
def writing(target: str | os.PathLike, needed: int | None = None, tmp: str | os.PathLike | None = None) -> Iterator[None]:
    """Turn a failed write (or check) of ``target`` into one :func:`write_error` line; remove what
    the writer left beside ``tmp`` when it fails. lczmap's own errors pass through. What GDAL says
    meanwhile is kept for that line (:func:`gdal_messages`), not printed."""
    with gdal_messages() as said:
        try:
            yield
        except LczmapError:
            raise
        except Exception as exc:  # GDAL, pyogrio, SQLite and torch each have their own error types
            parts = _parts(Path(tmp)) if tmp is not None else []
            written = [p for p in parts if p.is_file()]
            error = write_error(exc, target, written or ([tmp] if tmp is not None else []), needed, said)
            for p in parts:
                p.unlink(missing_ok=True)
            raise error from None
