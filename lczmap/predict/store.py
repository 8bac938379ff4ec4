"""Where finished tiles go: a :class:`MemoryStore` of arrays, or a :class:`ResumeStore` of
memory-mapped arrays beside the output with a log of finished tiles, so that an interrupted run
continues where it stopped (``resume``).

The resume folder ``.<out>.partial`` is lczmap's internal state, never an output, and is removed
once the outputs are written. Its arrays are written in place (shared memory maps reach the files
even if the process is killed) with an append-only log of done tiles; its ``state.json`` is
replaced whole through :func:`lczmap._io.atomic_path`. The arrays' blocks are allocated when they
are made (``posix_fallocate``), so a disk without room for them is one
:class:`~lczmap.errors.OutputError` before any tile runs, never a SIGBUS halfway. A resume folder
that cannot be read (garbage, truncated arrays) is refused with the way out: delete it, or rerun
without ``resume`` (which starts over).
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .._io import NO_SPACE, atomic_path, disk_full_error
from ..errors import ConfigError, OutputError
from ..scene import Scene
from .grid import Tile
from .kernel import TileResult
from .model import Model
from .options import PredictOptions

__all__ = ["MemoryStore", "ResumeStore", "fingerprint", "resume_dir", "resume_bytes"]


log = logging.getLogger(__name__)


class MemoryStore:
    """The output arrays of a run: ``codes`` (h, w) uint8, ``confidence`` (h, w) float32,
    ``probabilities`` (K, h, w) float32 when asked, and ``n_valid``, the windows classified."""

    codes: Any
    confidence: Any
    probabilities: Any

    def __init__(self, shape: tuple[int, int], k: int, probs: bool):
        self.codes = np.zeros(shape, np.uint8)
        self.confidence = np.full(shape, np.nan, np.float32)
        self.probabilities = np.full((k, *shape), np.nan, np.float32) if probs else None
        self.n_valid = 0

    def put(self, t: Tile, res: TileResult) -> None:
        i0, i1, j0, j1 = t
        self.codes[i0:i1, j0:j1] = res.codes
        self.confidence[i0:i1, j0:j1] = res.confidence
        if self.probabilities is not None:
            self.probabilities[:, i0:i1, j0:j1] = res.probabilities
        self.n_valid += res.n_valid


def _now() -> str:
    """UTC time for the ``date`` tag; ``$SOURCE_DATE_EPOCH`` pins it for reproducible outputs."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = _dt.datetime.fromtimestamp(int(epoch), _dt.UTC) if epoch and epoch.isdigit() else _dt.datetime.now(_dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def resume_dir(out: Path) -> Path:
    """The resume folder of the output ``out``: ``.<name>.partial`` beside it (a shortened name
    with a hash of the full one where that is too long for the file system)."""
    name = f".{out.name}.partial"
    try:
        limit = os.pathconf(out.parent, "PC_NAME_MAX")
    except (OSError, ValueError):  # pragma: no cover - platforms without pathconf
        limit = 255
    if len(os.fsencode(name)) > limit:
        digest = hashlib.sha1(os.fsencode(out.name)).hexdigest()[:12]
        name = f".{out.name[:80]}.{digest}.partial"
    return out.parent / name


def resume_bytes(shape: tuple[int, int], k: int, probs: bool) -> int:
    """Size of a run's resume arrays: codes (uint8), confidence and, with ``probs``, ``k``
    probabilities (float32) per output pixel, and their headers."""
    n = shape[0] * shape[1]
    return n * (1 + 4 + (4 * k if probs else 0)) + 3 * 4096


class ResumeStore(MemoryStore):
    """Tile results in memory-mapped arrays beside the output, with a log of finished tiles.
    ``done``: indices of the tiles already finished; ``state``: the run's fingerprint and date.
    ``n_tiles``: the run's number of tiles (logged tiles beyond it mark a corrupt folder)."""

    _nv: dict[str, int]  # windows classified per finished tile (by index)
    state: dict[str, Any]

    def __init__(
        self, out: Path, fingerprint: dict, shape: tuple[int, int], k: int, probs: bool, resume: bool, n_tiles: int | None = None
    ):
        self.dir = resume_dir(out)
        self._out = out
        fp = json.dumps(fingerprint, sort_keys=True)
        self.done: set[int] = set()
        if self.dir.exists() or self.dir.is_symlink():
            if resume and self._resume(fp, shape, k, probs, n_tiles):
                return
            self._clear()
        elif resume:
            log.warning("nothing to resume for %s: starting from the beginning", out)
        try:
            self.dir.mkdir()
            self.state = {"fingerprint": fp, "date": _now()}
            self._write_state()
            self._open("w+", shape, k, probs)
        except BaseException:
            self.remove()
            raise
        self.n_valid = 0
        self._nv = {}

    def _corrupt(self, what: str) -> OutputError:
        return OutputError(
            f"the resume state in {self.dir} cannot be read ({what}): delete {self.dir} "
            "or rerun without --resume (resume=False) to start over"
        )

    def _resume(self, fp: str, shape: tuple[int, int], k: int, probs: bool, n_tiles: int | None) -> bool:
        """Open the interrupted run in ``self.dir``; False when there is none to continue."""
        if not self.dir.is_dir():
            raise self._corrupt("it is not a folder")
        try:
            old = json.loads((self.dir / "state.json").read_text())
        except FileNotFoundError:
            return False  # killed before its state was written: nothing was done
        except (OSError, ValueError) as exc:
            raise self._corrupt(f"state.json: {type(exc).__name__}") from None
        if not isinstance(old, dict) or not isinstance(old.get("fingerprint"), str) or "date" not in old:
            raise self._corrupt("state.json is not a run's state")
        if old["fingerprint"] != fp:
            raise ConfigError(
                f"the interrupted run in {self.dir} used other inputs or options: rerun without --resume to start over"
            )
        self.state = old
        try:
            lines = (self.dir / "done.txt").read_text().split("\n")
        except FileNotFoundError:
            lines = [""]
        except (OSError, ValueError) as exc:
            raise self._corrupt(f"done.txt: {type(exc).__name__}") from None
        if any(x.strip() and not x.strip().isdigit() for x in lines[:-1]):
            raise self._corrupt("done.txt holds something other than tile numbers")
        self.done = {int(x) for x in lines[:-1] if x.strip()}
        if n_tiles is not None and any(i >= n_tiles for i in self.done):
            raise self._corrupt(f"done.txt names tiles beyond the run's {n_tiles}")
        try:
            self._open("r+", shape, k, probs)
        except (OSError, ValueError) as exc:
            raise self._corrupt(" ".join(str(exc).split())[:120] or type(exc).__name__) from None
        by_tile = old.get("n_valid_by_tile", {})
        if not isinstance(by_tile, dict) or not all(isinstance(v, int) for v in by_tile.values()):
            raise self._corrupt("state.json's tile counts")
        self._nv = {str(i): by_tile.get(str(i), 0) for i in self.done}
        self.n_valid = int(sum(self._nv.values()))
        log.info("resuming: %d tiles already done", len(self.done))
        return True

    def _clear(self) -> None:
        """Remove an earlier run's folder (or whatever holds its name) to start over."""
        try:
            if self.dir.is_dir() and not self.dir.is_symlink():
                shutil.rmtree(self.dir)
            else:
                self.dir.unlink()
        except OSError as exc:
            raise OutputError(f"cannot remove the earlier run's {self.dir} ({exc.strerror}): delete it") from None

    def _open(self, mode: str, shape: tuple[int, int], k: int, probs: bool) -> None:
        from numpy.lib.format import open_memmap

        def mm(name: str, dtype: type, shp: tuple[int, ...], fill: float) -> np.memmap:
            path = self.dir / name
            if mode == "w+":
                try:
                    arr = open_memmap(path, mode="w+", dtype=dtype, shape=shp)
                    _allocate(path)
                except OSError as exc:
                    if exc.errno in NO_SPACE:
                        raise disk_full_error(self._out, resume_bytes(shape, k, probs)) from None
                    raise OutputError(f"cannot write the resume file {path} ({exc.strerror})") from None
                arr[...] = fill
                return arr
            arr = open_memmap(path, mode="r+")
            if arr.shape != tuple(shp) or arr.dtype != np.dtype(dtype):
                raise ValueError(f"{name} holds {arr.dtype} {arr.shape}, expected {np.dtype(dtype)} {tuple(shp)}")
            return arr

        self.codes = self.confidence = self.probabilities = None
        self.codes = mm("codes.npy", np.uint8, shape, 0)
        self.confidence = mm("confidence.npy", np.float32, shape, np.nan)
        self.probabilities = mm("probabilities.npy", np.float32, (k, *shape), np.nan) if probs else None

    def put_indexed(self, index: int, t: Tile, res: TileResult) -> None:
        # The arrays are shared file mappings: what is written here reaches the files even if the
        # process is killed right after, so the tile is logged as done without a (slow) msync.
        super().put(t, res)
        self._nv[str(index)] = res.n_valid
        try:
            with open(self.dir / "done.txt", "a") as f:
                f.write(f"{index}\n")
        except OSError as exc:
            if exc.errno in NO_SPACE:
                raise disk_full_error(self._out) from None
            raise
        if len(self._nv) % 64 == 0:
            self._save_state()

    def _save_state(self) -> None:
        for arr in (self.codes, self.confidence, self.probabilities):
            if arr is not None:
                arr.flush()
        self.state["n_valid_by_tile"] = self._nv
        self._write_state()

    def _write_state(self) -> None:
        with atomic_path(self.dir / "state.json", overwrite=True) as tmp:
            tmp.write_text(json.dumps(self.state))

    def close(self) -> None:
        self._save_state()

    def remove(self) -> None:
        self.codes = self.confidence = self.probabilities = None
        shutil.rmtree(self.dir, ignore_errors=True)


def _allocate(path: Path) -> None:
    """Give the file at ``path`` real blocks for its whole length (it is sparse when made), so
    that writing through its memory map never meets a full disk (SIGBUS)."""
    if not hasattr(os, "posix_fallocate"):  # pragma: no cover - macOS, Windows
        return
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):  # file systems without it
            raise
    finally:
        os.close(fd)


def fingerprint(scene: Scene, model: Model, options: PredictOptions, probs: bool, extra: dict) -> dict:
    """What a resumed run must share with the interrupted one: input files (size, time), the
    scene's grid and bands, the model's weights and calibration, and the options that change the result."""
    files: list[list] = []
    aux = [m.path for m in scene.masks] + ([scene.angle.path] if scene.angle is not None else [])
    dem = [os.fspath(options.dem)] if options.dem is not None else []
    for src in (*scene.sources, *aux, *dem):
        try:
            st = os.stat(src)
            files.append([src, st.st_size, int(st.st_mtime)])
        except OSError:
            files.append([src])
    h = hashlib.sha256()
    for v in model.network.state_dict().values():
        h.update(v.detach().cpu().numpy().tobytes())
    return {
        "files": files,
        "scene": [
            scene.crs,
            list(scene.transform),
            scene.height,
            scene.width,
            scene.units,
            [[b.path, b.band, b.part] for b in scene.bands],
            scene.quantity,
            list(scene.conversions),
            list(scene.extra_nodata),
        ],
        "model": h.hexdigest(),
        "codes": list(model.codes),
        "stride": options.stride,
        "max_nodata": options.max_nodata,
        "tile": options.tile_size,
        "probs": probs,
        # the probabilities' temperature (absent when uncalibrated: the fingerprints of before)
        **({"temperature": model.temperature} if model.calibration is not None else {}),
        **extra,
    }
