"""Single output files: checks before work (folder, name, inputs, UTF-8, free space) and
:func:`atomic_path`, which writes a temporary file beside the target, flushes, verifies and
renames it into place; a full disk becomes one line that says how much room there is."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

from ..errors import LczmapError, OutputError, OutputExistsError

__all__ = ["atomic_path", "check_output", "check_outputs", "check_free_space", "check_not_inputs", "check_utf8",
           "shown", "fsync_path", "disk_full_error", "NO_SPACE", "remove_stale_parts"]

#: errno values that mean "the file system (or the process's file-size limit) has no room".
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def check_output(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Check that ``path`` may be written: its folder exists and is writable, it is not a folder,
    and it does not exist unless ``overwrite``. Returns it as a :class:`~pathlib.Path`."""
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise OutputError(f"output folder {folder} does not exist: create it first")
    if len(os.fsencode(path.name)) > _name_max(folder):
        raise OutputError(f"the file name {path.name[:40]}... is too long for {folder}'s file system: choose a shorter name")
    if path.is_dir():
        raise OutputError(f"{path} is a folder: give a file name for the output")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists: pass --overwrite (overwrite=True) to replace it")
    try:  # a real probe: os.access says yes to root on read-only mounts and to folders like /proc
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write in {folder} ({exc.strerror}): choose a writable output folder") from None
    return path


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):  # pragma: no cover - platforms without pathconf
        return 255


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


def check_free_space(path: str | os.PathLike, needed: int) -> None:
    """Refuse up front when the file system holding ``path`` has less than ``needed`` bytes free."""
    folder = Path(path).parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:  # pragma: no cover - a folder check_output accepted
        return
    if free < needed:
        raise disk_full_error(path, needed)


def _same(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_not_inputs(outputs: Iterable[str | os.PathLike | None], inputs: Iterable[str | os.PathLike | None]) -> None:
    """Refuse any output that is one of the inputs (same resolved path or the same file)."""
    ins = [Path(p) for p in inputs if p is not None and not str(p).startswith("/vsi") and "://" not in str(p)]
    for out in outputs:
        if out is None:
            continue
        out = Path(out)
        for inp in ins:
            if _same(out, inp):
                raise OutputError(f"the output {out} is also an input ({inp}): choose another output name")


def check_outputs(
    outputs: Sequence[Path],
    inputs: Iterable[str | os.PathLike | None],
    overwrite: bool,
) -> None:
    """Before any work: no output is an input or named twice, and each may be written."""
    check_not_inputs(outputs, inputs)
    for i, out in enumerate(outputs):
        check_output(out, overwrite)
        for other in outputs[:i]:
            if Path(out).absolute() == Path(other).absolute() or _same(Path(out), Path(other)):
                raise OutputError(f"{out} is given twice as an output: give each output its own name")


def shown(path: Any) -> str:
    """``path`` as printable text: bytes that are not UTF-8 appear as ``\\xff`` escapes."""
    text = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def check_utf8(path: Any, what: str, error: type[LczmapError] = OutputError) -> None:
    """Raise ``error`` when the path ``path`` (``what``: e.g. "output") is not UTF-8 text, which
    GDAL needs (a Latin-1 name on a UTF-8 system cannot be passed to it)."""
    if path is None or not isinstance(path, (str, bytes, os.PathLike)):
        return
    raw = os.fspath(path)
    try:
        raw.decode("utf-8") if isinstance(raw, bytes) else raw.encode("utf-8")
    except UnicodeError:
        raise error(f"the {what} {shown(path)} is not a UTF-8 file name, which GDAL needs: rename it") from None


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a written file (or folder entry) to disk."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if Path(path).is_dir() and hasattr(os, "O_DIRECTORY") else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems refuse fsync on folders
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


def remove_stale_parts(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries that :func:`atomic_path` made for ``path`` and a killed process
    (SIGKILL, power loss) left behind (hidden ``.<name>.*.part*`` files or folders beside it).
    Call it when a job is rerun for the same output; returns what was removed."""
    path = Path(path)
    removed = []
    for stale in path.parent.glob(f".{glob_escape(path.name[:80])}.*.part*"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
        removed.append(stale)
    return removed


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike,
    overwrite: bool = False,
    suffix: str | None = None,
    verify: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success flush it, ``verify`` it, and rename it
    onto ``path``.

    ``verify(tmp)`` may reopen the file and raise when it is not whole (e.g. read a raster's last
    block). On any exception, the temporary file is removed and ``path`` is left as it was; a full
    file system (``ENOSPC``, quota, file-size limit) becomes a one-line :class:`OutputError`.
    """
    path = check_output(path, overwrite)
    suffix = path.suffix if suffix is None else suffix
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:80]}.", suffix=f".part{suffix}", dir=path.parent)
    except OSError as exc:
        if exc.errno in NO_SPACE:
            raise disk_full_error(path) from None
        raise OutputError(f"cannot write in {path.parent} ({exc.strerror}): choose a writable output folder") from None
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.unlink()  # writers (GDAL, h5py) want to create the file themselves
    try:
        try:
            yield tmp_path
            if tmp_path.is_file():
                fsync_path(tmp_path)
            if verify is not None:
                verify(tmp_path)
        except OSError as exc:
            if exc.errno in NO_SPACE:
                raise disk_full_error(path) from None
            raise
        if not overwrite and path.exists():
            raise OutputExistsError(f"{path} appeared while writing: pass --overwrite to replace it")
        os.replace(tmp_path, path)
        fsync_path(path.parent)
    finally:
        if tmp_path.is_dir() and not tmp_path.is_symlink():
            shutil.rmtree(tmp_path, ignore_errors=True)
        elif tmp_path.exists() or tmp_path.is_symlink():
            tmp_path.unlink()
