"""Outputs of several files that replace the old ones together: a main file and the files that
belong with it (a Shapefile's .shx/.dbf/.prj/.cpg, a raster's .aux.xml and QGIS style, a CSV
copy).

:func:`output_fileset` writes each to a temporary file in its folder through
:func:`~lczmap._io.files.atomic_path`. The caller verifies them (reopens them) inside the block;
only then do they replace the old files together: every old file is first kept under a hidden
name (a hard link, or a copy), and if any step of the replacement fails the old files are put
back, so the folder holds all old or all new files. A failed write becomes one line
(:func:`~lczmap._io.diskspace.write_error`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LczmapError
from .diskspace import write_error
from .files import atomic_path, check_output, fsync_path, temp_path
from .lock import output_lock

__all__ = ["OutputFileset", "output_fileset"]


def _samefile(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _parts_of(tmp: Path) -> list[Path]:
    """Every file a writer left beside ``tmp`` under its name (sidecars, journals)."""
    stem = tmp.name[: -len(tmp.suffix)] if tmp.suffix else tmp.name
    return [p for p in tmp.parent.iterdir() if p != tmp and (p.name.startswith(stem + ".") or p.name.startswith(tmp.name + "-"))]


@dataclass
class OutputFileset:
    """Temporary files of one :func:`output_fileset`: ``main`` for the main file, ``sidecar(suffix)``
    for a file the main file's writer puts beside it, ``extra(target)`` for another file of the
    fileset (in the target's folder)."""

    path: Path
    main: Path
    overwrite: bool
    needed: int | None = None
    extras: dict[Path, Path] = field(default_factory=dict)
    replace: set[Path] = field(default_factory=set)

    def sidecar(self, suffix: str) -> Path:
        return self.main.with_suffix(suffix)

    def extra(self, target: str | os.PathLike, write: Callable[[Path], object], overwrite: bool | None = None) -> Path:
        """Write the file that will replace ``target`` with ``write(tmp)``; returns ``tmp``.
        ``overwrite=True`` replaces an existing ``target`` even when the fileset does not (a
        sidecar that belongs to whatever file is in place, like a raster's style)."""
        target = Path(target)
        if overwrite:
            self.replace.add(target)
        tmp = temp_path(target)  # created by ``write``, with the mode the main file gets
        self.extras[target] = tmp
        try:
            write(tmp)
        except LczmapError:
            raise
        except Exception as exc:  # each library has its own errors (matplotlib, pandas, GDAL)
            raise write_error(exc, target, [tmp], self.needed) from None
        return tmp


class _Backups:
    """The old files of a fileset under hidden names, to put back if the replacement fails."""

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
def output_fileset(
    path: str | os.PathLike,
    overwrite: bool = False,
    sidecars: Sequence[str] = (),
    stale: Sequence[str] = (),
    needed: int | None = None,
) -> Iterator[OutputFileset]:
    """Yield an :class:`OutputFileset` whose files replace ``path`` and its companions together.

    sidecars: suffixes of files the main writer puts beside the main file (``.shx`` ...); each
    one written replaces ``path`` with that suffix. stale: suffixes of old companions of ``path``
    that no longer belong to the new file (a Shapefile's spatial index): removed with the
    replacement. needed: bytes the fileset needs, for a full disk's message. The caller verifies
    every file before the block ends; a failure at any point leaves the old files as they were
    and no temporary file behind. One writer of ``path`` at a time: a second waits until the first
    has replaced the files (:func:`~lczmap._io.lock.output_lock`), so that one adding a layer to a
    GeoPackage copies the file with the first one's layer in it.
    """
    path = Path(path).absolute()  # messages name the folder, not "."
    check_output(path, overwrite)
    with output_lock(path):
        with _fileset(path, overwrite, sidecars, stale, needed) as fileset:
            yield fileset


@contextlib.contextmanager
def _fileset(
    path: Path, overwrite: bool, sidecars: Sequence[str], stale: Sequence[str], needed: int | None
) -> Iterator[OutputFileset]:
    backups = _Backups()
    fileset: OutputFileset | None = None
    main_ino: tuple[int, int] | None = None
    try:
        with atomic_path(path, overwrite=overwrite) as tmp:
            fileset = OutputFileset(path, tmp, overwrite, needed)
            try:
                yield fileset
                moves = [(fileset.sidecar(s), path.with_suffix(s)) for s in sidecars if fileset.sidecar(s).exists()]
                moves += [(tmp_extra, target) for target, tmp_extra in fileset.extras.items()]
                for _, target in moves:
                    check_output(target, overwrite or target in fileset.replace)
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
                    raise write_error(exc, path, [tmp], needed) from None
            finally:
                for part in _parts_of(tmp):
                    part.unlink(missing_ok=True)
                for tmp_extra in fileset.extras.values():
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
