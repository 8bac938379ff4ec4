"""One writer at a time per output: :func:`output_lock` serialises the processes (and threads) that
write the same target, so that two runs adding layers to one GeoPackage each copy the file only
after the other has renamed its copy into place, and both layers survive.

The lock is a hidden ``.<name>.lock`` file beside the target, locked with ``flock`` (released by
the kernel when its process dies, even by SIGKILL) and removed by the holder when it is done: a
waiter that finds its lock file removed or replaced under it tries again on the new one, so no
lock file is left behind. Where ``fcntl`` is missing (Windows), :mod:`filelock` takes its place.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import OutputError
from .diskspace import NO_SPACE, disk_full_error

__all__ = ["output_lock", "lock_path"]

log = logging.getLogger(__name__)

_held: dict[tuple[int, Path], int] = {}  # (thread, lock file) held, and how many times re-entered


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file of the output ``path``: ``.<name>.lock`` beside it."""
    path = Path(path).absolute()
    return path.with_name(f".{path.name[:80]}.lock")


@contextlib.contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold the lock of the output ``path`` for the block; wait (saying so once, at INFO) while
    another process or thread holds it. Re-entrant within a thread."""
    key = (threading.get_ident(), lock_path(path))
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    release = _acquire(key[1], Path(path))
    _held[key] = 1
    try:
        yield
    finally:
        del _held[key]
        release()


def _open(lock: Path, target: Path) -> int:
    try:
        return os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno in NO_SPACE:
            raise disk_full_error(target) from None
        raise OutputError(f"cannot write in {lock.parent} ({exc.strerror}): choose a writable output folder") from None


if sys.platform == "win32":  # pragma: no cover - filelock's lock file stays

    def _acquire(lock: Path, target: Path) -> Callable[[], None]:
        from filelock import FileLock

        file_lock = FileLock(lock)
        file_lock.acquire()
        return lambda: file_lock.release()

else:
    import fcntl

    def _acquire(lock: Path, target: Path) -> Callable[[], None]:
        """Lock ``lock``; returns the function that removes and unlocks it."""
        said = False
        while True:
            fd = _open(lock, target)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not said:
                    log.info("waiting for another process writing %s", target)
                    said = True
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
            try:
                same = os.fstat(fd).st_ino == os.stat(lock).st_ino
            except FileNotFoundError:  # its holder removed it when done: lock the next one
                same = False
            if same:
                break
            os.close(fd)

        def release() -> None:
            with contextlib.suppress(OSError):
                os.unlink(lock)  # while still locked: a waiter on this file finds it gone and retries
            os.close(fd)

        return release
