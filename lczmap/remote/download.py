"""Download So2Sat LCZ42 (HDF5, float64) from its authors' server at TUM, or from a mirror of
the same file names, resumable and checked against the MD5 of each file.

Where the names, addresses and checksums come from:

- The files are published by the dataset's authors (Zhu et al., 2020) on mediaTUM: version 2 at
  https://mediatum.ub.tum.de/1483140 (share ``m1483140`` on dataserv.ub.tum.de: ``training.h5``,
  ``validation.h5``, ``testing.h5``), version 3 at https://mediatum.ub.tum.de/1613658 (share
  ``m1613658``: ``random/``, ``block/`` and ``culture_10/``, each ``training.h5`` and
  ``testing.h5``). The addresses below are that server's public-share download links.
- The MD5s are those torchgeo records for the same files (``torchgeo/datasets/so2sat.py``,
  ``So2Sat.md5s_by_version``, microsoft/torchgeo); mediaTUM's pages could not be read from the
  machine this was written on, so they were not compared with the MD5 mediaTUM shows.

A mirror (``mirror=``) serves the same relative names under its address; the published MD5s
still apply. ``checksums=`` replaces them with an ``md5sum``-style manifest (``MD5  NAME`` per
line) for a copy that differs on purpose (a subset, a test server); the default is always the
published table."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .._io import check_writable
from ..errors import ConfigError
from .http import Progress, download

__all__ = ["SO2SAT_FILES", "SO2SAT_VERSIONS", "So2SatFile", "so2sat_files", "download_so2sat", "read_checksums"]

Version = Literal["2", "3"]
SO2SAT_VERSIONS: tuple[Version, ...] = ("2", "3")


@dataclass(frozen=True)
class So2SatFile:
    """One published file: its split, its name relative to the dataset folder, its address on
    the authors' server and its MD5."""

    split: str
    name: str
    url: str
    md5: str


_V2 = "https://dataserv.ub.tum.de/s/m1483140/download?path=%2F&files={file}"
_V3 = "https://dataserv.ub.tum.de/s/m1613658/download?path=%2F{folder}&files={file}"


def _v2(split: str, md5: str) -> So2SatFile:
    return So2SatFile(split, f"{split}.h5", _V2.format(file=f"{split}.h5"), md5)


def _v3(design: str, split: str, md5: str) -> So2SatFile:
    return So2SatFile(design, f"{design}/{split}.h5", _V3.format(folder=design, file=f"{split}.h5"), md5)


#: The published files by version (splits: v2 training/validation/testing; v3 the three
#: experiment designs random/block/culture_10, each a training.h5 and a testing.h5).
SO2SAT_FILES: dict[Version, tuple[So2SatFile, ...]] = {
    "2": (
        _v2("training", "702bc6a9368ebff4542d791e53469244"),
        _v2("validation", "71cfa6795de3e22207229d06d6f8775d"),
        _v2("testing", "e81426102b488623a723beab52b31a8a"),
    ),
    "3": (
        _v3("random", "training", "94e2e2e667b406c2adf61e113b42204e"),
        _v3("random", "testing", "1e15c425585ce816342d1cd779d453d8"),
        _v3("block", "training", "a91d6150e8b059dac86105853f377a11"),
        _v3("block", "testing", "6414af1ec33ace417e879f9c88066d47"),
        _v3("culture_10", "training", "702bc6a9368ebff4542d791e53469244"),
        _v3("culture_10", "testing", "58335ce34ca3a18424e19da84f2832fc"),
    ),
}

_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")


def read_checksums(path: str | os.PathLike[str]) -> dict[str, str]:
    """An ``md5sum``-style manifest: ``MD5  NAME`` per line (``*NAME`` accepted, ``#`` comments)."""
    out: dict[str, str] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the checksum manifest {path} ({exc}): give an md5sum-style file") from None
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or not _MD5.match(parts[0]):
            raise ConfigError(f"{path} line {n} is not 'MD5  NAME' (md5sum's format): fix the manifest")
        out[parts[1].lstrip("*").strip()] = parts[0].lower()
    if not out:
        raise ConfigError(f"{path} lists no checksums: give an md5sum-style manifest")
    return out


def so2sat_files(
    version: Version = "2",
    splits: Sequence[str] | None = None,
    *,
    mirror: str | None = None,
    checksums: str | os.PathLike[str] | None = None,
) -> list[So2SatFile]:
    """The files to fetch: ``version``'s published files of ``splits`` (None: all), at
    ``mirror``'s address when given (``MIRROR/NAME``), with the published MD5s or those of the
    ``checksums`` manifest."""
    if version not in SO2SAT_VERSIONS:
        raise ConfigError(f"unknown So2Sat version {version!r}: use {' or '.join(SO2SAT_VERSIONS)} (--version)")
    table = SO2SAT_FILES[version]
    known = list(dict.fromkeys(f.split for f in table))
    if splits:
        unknown = [s for s in splits if s not in known]
        if unknown:
            raise ConfigError(f"version {version} has no split {', '.join(unknown)}: choose from {', '.join(known)} (--splits)")
        table = tuple(f for f in table if f.split in splits)
    if mirror is not None and not re.match(r"^https?://", mirror):
        raise ConfigError(f"--mirror {mirror!r} is not an http(s):// address: give the mirror's address")
    sums = read_checksums(checksums) if checksums is not None else None
    out = []
    for f in table:
        url = f"{mirror.rstrip('/')}/{f.name}" if mirror else f.url
        md5 = f.md5
        if sums is not None:
            if f.name not in sums:
                raise ConfigError(f"the checksum manifest {checksums} has no line for {f.name}: add it, or drop --checksums")
            md5 = sums[f.name]
        out.append(So2SatFile(f.split, f.name, url, md5))
    return out


def download_so2sat(
    folder: str | os.PathLike[str],
    version: Version = "2",
    splits: Sequence[str] | None = None,
    *,
    mirror: str | None = None,
    checksums: str | os.PathLike[str] | None = None,
    retries: int = 5,
    retry_delay: float = 2.0,
    progress: Progress | None = None,
    on_file: Progress | None = None,
) -> list[Path]:
    """Fetch So2Sat LCZ42 ``version`` (``splits``: see :data:`SO2SAT_FILES`; None: all) into
    ``folder`` under the published names (:func:`so2sat_files` for ``mirror`` and
    ``checksums``). Files already whole are kept; a partial download is resumed; a file whose
    MD5 does not match is fetched again (:func:`lczmap.remote.http.download`). ``on_file(i, n)``
    is told before each file, ``progress(bytes, total)`` during it. Returns the files' paths."""
    files = so2sat_files(version, splits, mirror=mirror, checksums=checksums)
    root = Path(folder)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {root} ({exc.strerror}): choose a writable folder") from None
    check_writable(root)
    out = []
    for i, f in enumerate(files):
        if on_file is not None:
            on_file(i, len(files))
        dest = root / f.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        out.append(download(f.url, dest, f.md5, retries=retries, delay=retry_delay, progress=progress))
    return out
