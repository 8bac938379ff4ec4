"""Single output files: checks before work (folder, name, inputs, UTF-8, free space) and
:func:`atomic_path`, which writes a temporary file beside the target, flushes, verifies and
renames it into place; a full disk becomes one line that says how much room there is."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

from ..errors import LczmapError, OutputError, OutputExistsError
from .diskspace import NO_SPACE, disk_full_error
from .lock import output_lock

__all__ = [
    "atomic_path",
    "check_output",
    "check_outputs",
    "check_free_space",
    "check_not_inputs",
    "check_utf8",
    "shown",
    "fsync_path",
    "remove_stale_parts",
    "check_input",
    "sidecars_of",
    "temp_path",
    "RASTER_SIDECARS",
]

#: Files GDAL and QGIS read beside a raster as part of it (suffixes added to its name, and the
#: QGIS style that replaces its extension): whoever writes the raster also writes or replaces them.
RASTER_SIDECARS = (".aux.xml", ".ovr", ".msk")
_RASTER_EXTENSIONS = frozenset({".tif", ".tiff", ".vrt", ".img"})


def sidecars_of(path: str | os.PathLike) -> list[Path]:
    """The files beside the output ``path`` that belong to it and count as it: a raster's
    ``<name>.aux.xml`` (GDAL's categories and statistics), ``<name>.ovr`` and ``<name>.msk``
    (overviews and mask GDAL would take for the new file's) and ``<stem>.qml`` (its QGIS style);
    none for other files."""
    path = Path(path)
    if path.suffix.lower() not in _RASTER_EXTENSIONS:
        return []
    return [*(path.with_name(path.name + s) for s in RASTER_SIDECARS), path.with_suffix(".qml")]


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
    for side in sidecars_of(path) if not overwrite else ():
        if side.exists() or side.is_symlink():
            raise OutputExistsError(
                f"{side} exists and belongs with {path.name}, which would replace it: "
                "pass --overwrite (overwrite=True) to replace it, or move it away"
            )
    check_writable(folder)
    return path


def check_writable(folder: str | os.PathLike) -> None:
    """Refuse a folder lczmap cannot write in, by a real probe (os.access says yes to root on
    read-only mounts and to folders like /proc)."""
    try:
        with tempfile.TemporaryFile(dir=os.fspath(folder)):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write in {folder} ({exc.strerror}): choose a writable output folder") from None


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):  # pragma: no cover - platforms without pathconf
        return 255


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


def check_input(path: str | os.PathLike | None, what: str, error: type[LczmapError] = LczmapError, folder: bool = False) -> None:
    """Refuse up front an input ``path`` (``what``: e.g. "scene") that is not a regular file: a
    named pipe, device or socket (reading one waits forever or reads a stream), or a folder
    where a file is expected (``folder``: a folder is accepted, e.g. a SAFE product). A path that
    does not exist, ``/vsi...`` paths and URLs are left to the reader. Raises ``error``."""
    if path is None:
        return
    text = os.fspath(path)
    text = os.fsdecode(text) if isinstance(text, bytes) else text
    if text.startswith("/vsi") or "://" in text:
        return
    try:
        mode = os.stat(text).st_mode
    except (OSError, ValueError):
        return
    if stat.S_ISREG(mode) or (folder and stat.S_ISDIR(mode)):
        return
    kind = (
        "a folder"
        if stat.S_ISDIR(mode)
        else "a named pipe"
        if stat.S_ISFIFO(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    raise error(f"the {what} {shown(path)} is {kind}, not a file: give the path of a file")


def shown(path: Any) -> str:
    """``path`` as printable text: bytes that are not UTF-8 appear as ``\\xff`` escapes."""
    text = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def check_utf8(path: Any, what: str, error: type[LczmapError] = OutputError, needs: str = "GDAL") -> None:
    """Raise ``error`` when the path ``path`` (``what``: e.g. "output") is not UTF-8 text, which
    GDAL needs (a Latin-1 name on a UTF-8 system cannot be passed to it), and so does the writer
    ``needs`` names in the message (e.g. safetensors)."""
    if path is None or not isinstance(path, (str, bytes, os.PathLike)):
        return
    raw = os.fspath(path)
    try:
        raw.decode("utf-8") if isinstance(raw, bytes) else raw.encode("utf-8")
    except UnicodeError:
        raise error(f"the {what} {shown(path)} is not a UTF-8 file name, which {needs} needs: rename it") from None


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


def temp_path(target: str | os.PathLike, suffix: str | None = None) -> Path:
    """A new, unused hidden name beside ``target`` for its temporary file (``.<name>.XXXX.part<suffix>``,
    the pattern :func:`remove_stale_parts` clears). The file is not created: its writer creates
    it, with the mode any new file of this process gets (the umask's, like the files GDAL
    creates), not mkstemp's 0600."""
    target = Path(target)
    suffix = target.suffix if suffix is None else suffix
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name[:80]}.", suffix=f".part{suffix}", dir=target.parent)
    except OSError as exc:
        if exc.errno in NO_SPACE:
            raise disk_full_error(target) from None
        raise OutputError(f"cannot write in {target.parent} ({exc.strerror}): choose a writable output folder") from None
    os.close(fd)
    os.unlink(name)  # writers (GDAL, h5py) want to create the file themselves
    return Path(name)


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
    One writer of ``path`` at a time (:func:`~lczmap._io.lock.output_lock`); the temporaries a
    killed writer of ``path`` left are removed first (:func:`remove_stale_parts`).
    """
    path = check_output(path, overwrite)
    with output_lock(path):
        if not overwrite and path.exists():  # written by the writer this one waited for
            raise OutputExistsError(f"{path} exists: pass --overwrite (overwrite=True) to replace it")
        remove_stale_parts(path)
        with _replaced(path, temp_path(path, suffix), overwrite, verify) as tmp:
            yield tmp


@contextlib.contextmanager
def _replaced(path: Path, tmp_path: Path, overwrite: bool, verify: Callable[[Path], None] | None) -> Iterator[Path]:
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
