"""Outputs of zones and summaries: checked before any work, replaced as one unit after it.

:func:`check_outputs` refuses, before the work starts, an output that is one of the inputs, an
output named twice, and anything :func:`lczmap._io.check_output` refuses (missing or read-only
folder, a folder as the output, a name too long for the file system, an existing file without
``overwrite``).

:func:`output_unit` writes a main file and the files that belong with it (a Shapefile's .shx,
.dbf, .prj, .cpg; a QGIS style; a CSV copy) to temporary files in their folders through
:func:`lczmap._io.atomic_path`. The caller verifies them (reopens them) inside the block; only
then do they replace the old files together: every old file is first kept under a hidden name
(a hard link, or a copy), and if any step of the replacement fails the old files are put back,
so the folder holds all old or all new files. A GDAL or pyogrio error while writing becomes one
line (:func:`write_error`): the full-disk message of :func:`lczmap._io.disk_full_error` when
the file system (or the process's file-size limit) has no room, else what failed and where.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .._io import atomic_path, check_not_inputs, check_output, disk_full_error, fsync_path
from ..errors import OutputError

__all__ = ["OutputUnit", "check_outputs", "output_unit", "out_of_room", "write_error"]

_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
#: Words with which GDAL, SQLite and the C library report a full disk or file-size limit.
_NO_SPACE_WORDS = ("no space left", "file too large", "disk quota", "disk is full", "disk full")
#: A file system with less room than this is full for our purposes (GDAL often reports a failed
#: write without the reason).
_NEARLY_FULL = 1 << 20


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
            if out.absolute() == other.absolute() or _samefile(out, other):
                raise OutputError(f"{out} is given twice as an output: give each output its own name")


def _samefile(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def out_of_room(exc: BaseException | None, files: Iterable[Path] = ()) -> bool:
    """Whether a failed write ran out of room: an errno or message saying so, a file system with
    less than 1 MB free, or a probe as large as what was written (at least 1 MB) that cannot be
    written there either (GDAL often reports a failed write without its reason, and the file it
    failed on, a journal or index, may be gone)."""
    if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
        return True
    if exc is not None and any(word in str(exc).lower() for word in _NO_SPACE_WORDS):
        return True
    sizes: dict[Path, int] = {}
    for f in files:
        with contextlib.suppress(OSError):
            sizes[Path(f).parent] = max(sizes.get(Path(f).parent, 0), Path(f).stat().st_size)
    return any(not _room_for(folder, max(size, _NEARLY_FULL)) for folder, size in sizes.items())


def _room_for(folder: Path, size: int) -> bool:
    """Whether ``size`` bytes (at most 64 MB) can be written in ``folder`` now."""
    try:
        if shutil.disk_usage(folder).free < _NEARLY_FULL:
            return False
        fd, name = tempfile.mkstemp(prefix=".lczmap-room.", dir=folder)
    except OSError:
        return True  # cannot tell: report the write's own error
    try:
        chunk = memoryview(bytes(_NEARLY_FULL))
        left = min(size, 64 * _NEARLY_FULL)
        while left > 0:  # a write may be cut short at a limit; the next one then fails
            left -= os.write(fd, chunk[: min(left, len(chunk))])
        os.fsync(fd)
        return True
    except OSError as exc:
        return exc.errno not in _NO_SPACE
    finally:
        os.close(fd)
        os.unlink(name)


def write_error(exc: BaseException, target: Path, files: Iterable[Path] = ()) -> OutputError:
    """The one-line error for a failed write of ``target`` (``files``: what was written so far)."""
    if out_of_room(exc, files):
        return disk_full_error(Path(target).absolute())
    detail = " ".join(str(exc).split())[:200] or type(exc).__name__
    return OutputError(f"writing {target} failed ({detail}): the old file, if any, is kept")


def _parts_of(tmp: Path) -> list[Path]:
    """Every file a writer left beside ``tmp`` under its name (sidecars, journals)."""
    stem = tmp.name[: -len(tmp.suffix)] if tmp.suffix else tmp.name
    return [
        p for p in tmp.parent.iterdir() if p != tmp and (p.name.startswith(stem + ".") or p.name.startswith(tmp.name + "-"))
    ]


@dataclass
class OutputUnit:
    """Temporary files of one :func:`output_unit`: ``main`` for the main file, ``sidecar(suffix)``
    for a file the main file's writer puts beside it, ``extra(target)`` for another file of the
    unit (in the target's folder)."""

    path: Path
    main: Path
    overwrite: bool
    extras: dict[Path, Path] = field(default_factory=dict)

    def sidecar(self, suffix: str) -> Path:
        return self.main.with_suffix(suffix)

    def extra(self, target: str | os.PathLike, write: Callable[[Path], None]) -> Path:
        """Write the file that will replace ``target`` with ``write(tmp)``; returns ``tmp``."""
        target = Path(target)
        fd, name = tempfile.mkstemp(prefix=f".{target.name[:80]}.", suffix=f".part{target.suffix}", dir=target.parent)
        os.close(fd)
        tmp = Path(name)
        self.extras[target] = tmp
        try:
            write(tmp)
        except OSError as exc:
            raise write_error(exc, target, [tmp]) from None
        return tmp


class _Backups:
    """The old files of a unit under hidden names, to put back if the replacement fails."""

    def __init__(self) -> None:
        self.kept: dict[Path, Path] = {}
        self.placed: list[Path] = []

    def keep(self, targets: Iterable[Path]) -> None:
        for target in targets:
            if target in self.kept or not target.exists():
                continue
            backup = target.with_name(f".{target.name[:80]}.{secrets.token_hex(4)}.old")
            try:
                os.link(target, backup)
            except OSError:  # no hard links here: a copy (room for it is checked by the copy)
                try:
                    shutil.copy2(target, backup)
                except BaseException:
                    backup.unlink(missing_ok=True)
                    raise
            self.kept[target] = backup

    def place(self, src: Path, target: Path) -> None:
        fsync_path(src)
        self.placed.append(target)
        os.replace(src, target)

    def remove(self, target: Path) -> None:
        self.placed.append(target)
        target.unlink(missing_ok=True)

    def restore(self) -> None:
        for target in reversed(self.placed):
            if target in self.kept:
                backup = self.kept.pop(target)
                if _samefile(backup, target):  # never replaced (rename of a hard link onto itself does nothing)
                    backup.unlink()
                else:
                    os.replace(backup, target)
            else:
                target.unlink(missing_ok=True)
        self.placed = []

    def drop(self) -> None:
        for backup in self.kept.values():
            backup.unlink(missing_ok=True)
        self.kept = {}


@contextlib.contextmanager
def output_unit(
    path: str | os.PathLike,
    overwrite: bool = False,
    sidecars: Sequence[str] = (),
    stale: Sequence[str] = (),
) -> Iterator[OutputUnit]:
    """Yield an :class:`OutputUnit` whose files replace ``path`` and its companions together.

    sidecars: suffixes of files the main writer puts beside the main file (``.shx`` ...); each
    one written replaces ``path`` with that suffix. stale: suffixes of old companions of ``path``
    that no longer belong to the new file (a Shapefile's spatial index): removed with the
    replacement. The caller verifies every file before the block ends; a failure at any point
    leaves the old files as they were and no temporary file behind.
    """
    path = Path(path).absolute()  # messages name the folder, not "."
    backups = _Backups()
    unit: OutputUnit | None = None
    main_ino: tuple[int, int] | None = None
    try:
        with atomic_path(path, overwrite=overwrite) as tmp:
            unit = OutputUnit(path, tmp, overwrite)
            try:
                yield unit
                moves = [(unit.sidecar(s), path.with_suffix(s)) for s in sidecars if unit.sidecar(s).exists()]
                moves += [(tmp_extra, target) for target, tmp_extra in unit.extras.items()]
                for _, target in moves:
                    check_output(target, overwrite)
                written = {target for _, target in moves}
                old = [path.with_suffix(s) for s in stale if path.with_suffix(s) not in written]
                old = [p for p in old if p.exists()]
                try:
                    backups.keep([path, *written, *old])
                    if tmp.is_file():
                        fsync_path(tmp)
                        st = tmp.stat()
                        main_ino = (st.st_dev, st.st_ino)
                    for src, target in moves:  # the main file last: it never lacks its companions
                        backups.place(src, target)
                    for target in old:
                        backups.remove(target)
                except OSError as exc:
                    raise write_error(exc, path, [tmp]) from None
            finally:
                for part in _parts_of(tmp):
                    part.unlink(missing_ok=True)
                for tmp_extra in unit.extras.values():
                    tmp_extra.unlink(missing_ok=True)
    except BaseException:
        if main_ino is not None and path.exists():  # the main file may have been renamed in
            st = path.stat()
            if (st.st_dev, st.st_ino) == main_ino:
                backups.placed.append(path)
        backups.restore()
        raise
    finally:
        backups.drop()
