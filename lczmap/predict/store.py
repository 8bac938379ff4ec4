"""Where finished tiles go: a :class:`MemoryStore` of arrays, or a :class:`ResumeStore` of
memory-mapped arrays beside the output with a log of finished tiles, so that an interrupted run
continues where it stopped (``resume``).

The resume folder ``.<out>.partial`` is lczmap's internal state, never an output, and is removed
once the outputs are written. Its arrays are written in place (shared memory maps reach the files
even if the process is killed) with an append-only log of done tiles; its ``state.json`` is
replaced whole through :func:`lczmap._io.atomic_path`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_path
from ..errors import ConfigError
from ..scene import Scene
from .grid import Tile
from .kernel import TileResult
from .model import Model
from .options import PredictOptions

__all__ = ["MemoryStore", "ResumeStore", "fingerprint"]

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
    when = (_dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc) if epoch and epoch.isdigit()
            else _dt.datetime.now(_dt.timezone.utc))
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class ResumeStore(MemoryStore):
    """Tile results in memory-mapped arrays beside the output, with a log of finished tiles.
    ``done``: indices of the tiles already finished; ``state``: the run's fingerprint and date."""

    _nv: dict[str, int]  # windows classified per finished tile (by index)

    def __init__(self, out: Path, fingerprint: dict, shape: tuple[int, int], k: int, probs: bool, resume: bool):
        self.dir = out.parent / f".{out.name}.partial"
        fp = json.dumps(fingerprint, sort_keys=True)
        state_file = self.dir / "state.json"
        self.done: set[int] = set()
        if self.dir.exists():
            old = None
            try:
                old = json.loads(state_file.read_text())
            except (OSError, ValueError):
                pass
            if resume and old is not None and old.get("fingerprint") == fp:
                self.state = old
                try:
                    lines = (self.dir / "done.txt").read_text().split("\n")
                    self.done = {int(x) for x in lines[:-1] if x.strip().isdigit()}
                except OSError:
                    self.done = set()
                self._open("r+", shape, k, probs)
                by_tile = old.get("n_valid_by_tile", {})
                self._nv = {str(i): by_tile.get(str(i), 0) for i in self.done}
                self.n_valid = int(sum(self._nv.values()))
                log.info("resuming: %d tiles already done", len(self.done))
                return
            if resume and old is not None:
                raise ConfigError(
                    f"the interrupted run in {self.dir} used other inputs or options: rerun without --resume to start over"
                )
            shutil.rmtree(self.dir)
        elif resume:
            log.warning("nothing to resume for %s: starting from the beginning", out)
        self.dir.mkdir()
        self.state = {"fingerprint": fp, "date": _now()}
        self._write_state()
        self._open("w+", shape, k, probs)
        self.n_valid = 0
        self._nv = {}

    def _open(self, mode: str, shape: tuple[int, int], k: int, probs: bool) -> None:
        from numpy.lib.format import open_memmap

        def mm(name, dtype, shp, fill):
            path = self.dir / name
            if mode == "w+":
                arr = open_memmap(path, mode="w+", dtype=dtype, shape=shp)
                arr[...] = fill
                return arr
            return open_memmap(path, mode="r+")

        self.codes = mm("codes.npy", np.uint8, shape, 0)
        self.confidence = mm("confidence.npy", np.float32, shape, np.nan)
        self.probabilities = mm("probabilities.npy", np.float32, (k, *shape), np.nan) if probs else None

    def put_indexed(self, index: int, t: Tile, res: TileResult) -> None:
        # The arrays are shared file mappings: what is written here reaches the files even if the
        # process is killed right after, so the tile is logged as done without a (slow) msync.
        super().put(t, res)
        self._nv[str(index)] = res.n_valid
        with open(self.dir / "done.txt", "a") as f:
            f.write(f"{index}\n")
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


def fingerprint(scene: Scene, model: Model, options: PredictOptions, probs: bool, extra: dict) -> dict:
    """What a resumed run must share with the interrupted one: input files (size, time), the
    scene's grid and bands, the model's weights, and the options that change the result."""
    files: list[list] = []
    for src in scene.sources:
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
        "scene": [scene.crs, list(scene.transform), scene.height, scene.width, scene.units,
                  [[b.path, b.band, b.part] for b in scene.bands]],
        "model": h.hexdigest(),
        "codes": list(model.codes),
        "stride": options.stride,
        "max_nodata": options.max_nodata,
        "tile": options.tile_size,
        "probs": probs,
        **extra,
    }
