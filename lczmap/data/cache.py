"""A compact, memory-mappable cache of So2Sat band sets for fast training epochs.

Layout of a cache folder (written by :func:`prepare`, ``lczmap prepare``)::

    CACHE_DIR/cache.json                 format marker, source, splits, band sets, completion state
    CACHE_DIR/<split>/labels.npy         int64 (N,)  label index 0-16
    CACHE_DIR/<split>/<band set>.npy     float32 (N, C, 32, 32), C-contiguous, memory-mapped on read

Each band-set array is preallocated at its final size and filled in row blocks; after each block the
number of finished rows is recorded, so an interrupted ``prepare`` resumes where it stopped.
Random batches read from the memory map cost one page-cache copy per patch, so epochs run close to
in-memory speed, orders of magnitude faster than random access into the float64 HDF5 files.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from .._io import atomic_path
from ..bands import BandSet, band_set
from ..errors import DataError, OutputExistsError
from .so2sat import ROW_BLOCK, So2Sat, open_so2sat

log = logging.getLogger(__name__)

__all__ = ["CachePatches", "prepare", "read_cache_index", "is_cache", "CACHE_FORMAT", "PREPARE_EO_BANDS",
           "PREPARE_SAR_BANDS"]

CACHE_FORMAT = "lczmap-cache"
CACHE_VERSION = 1
_INDEX = "cache.json"
#: Band sets :func:`prepare` caches unless told otherwise: the paper's EO input, and the SAR inputs of
#: the paper (complex VV) and of GRD scenes (Lee-filtered intensity).
PREPARE_EO_BANDS: tuple[str, ...] = ("rgb",)
PREPARE_SAR_BANDS: tuple[str, ...] = ("vv-complex", "lee-intensity")


def is_cache(path: str | os.PathLike) -> bool:
    return (Path(path) / _INDEX).is_file()


def read_cache_index(cache: str | os.PathLike) -> dict:
    """The ``cache.json`` of a cache folder; :class:`DataError` when it is not an lczmap cache."""
    index_path = Path(cache) / _INDEX
    if not index_path.is_file():
        raise DataError(f"{cache} is not an lczmap cache (no {_INDEX}): create one with `lczmap prepare SO2SAT_DIR {cache}`")
    try:
        index = json.loads(index_path.read_text())
    except ValueError:
        raise DataError(f"{index_path} is corrupt: delete the cache folder and run `lczmap prepare` again") from None
    if index.get("format") != CACHE_FORMAT:
        raise DataError(f"{cache} is not an lczmap cache: create one with `lczmap prepare`")
    if index.get("version") != CACHE_VERSION:
        raise DataError(
            f"{cache} was written by another lczmap cache version ({index.get('version')}): run `lczmap prepare` again"
        )
    return index


def _write_index(cache: Path, index: dict) -> None:
    with atomic_path(cache / _INDEX, overwrite=True) as tmp:
        tmp.write_text(json.dumps(index, indent=2))


class CachePatches:
    """Patches of one band set of one split from a cache (see :func:`lczmap.data.open_patches`)."""

    def __init__(self, cache: str | os.PathLike, split: str, bands: BandSet):
        self.cache = Path(cache)
        index = read_cache_index(self.cache)
        entry = index["splits"].get(split)
        if entry is None:
            raise DataError(f"cache {cache} has no split {split!r}: run `lczmap prepare` with that split")
        state = entry["band_sets"].get(bands.name)
        if state is None or not state.get("complete"):
            raise DataError(
                f"cache {cache} does not hold band set {bands.name!r} of split {split!r} complete: "
                f"run `lczmap prepare ... --sar-bands/--eo-bands {bands.name}`"
            )
        self.band_set = bands
        self.split = split
        self.source = str(self.cache)
        self._path = self.cache / split / f"{bands.name}.npy"
        self._labels_path = self.cache / split / "labels.npy"
        self._array: np.ndarray | None = None
        self._labels: np.ndarray | None = None
        self._pid: int | None = None

    @property
    def array(self) -> np.ndarray:
        if self._array is None or self._pid != os.getpid():
            self._array = np.load(self._path, mmap_mode="r")
            self._pid = os.getpid()
        return self._array

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_array"] = None
        return state

    def __len__(self) -> int:
        return self.array.shape[0]

    @property
    def labels(self) -> np.ndarray:
        if self._labels is None:
            self._labels = np.load(self._labels_path)
        return self._labels

    def __getitem__(self, idx) -> np.ndarray:
        if isinstance(idx, (int, np.integer, slice)):
            return np.array(self.array[idx], dtype=np.float32)
        idx = np.asarray(idx, dtype=np.int64)
        return np.take(self.array, idx, axis=0)

    def blocks(self, block: int = ROW_BLOCK) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, len(self), block):
            yield start, np.array(self.array[start : start + block])

    def __repr__(self) -> str:
        return f"CachePatches({self.source!r}, split={self.split!r}, bands={self.band_set.name!r}, n={len(self)})"


def prepare(
    data: str | os.PathLike,
    cache: str | os.PathLike,
    band_sets: Iterable[str | BandSet] = PREPARE_EO_BANDS + PREPARE_SAR_BANDS,
    splits: Iterable[str] | None = None,
    progress: Callable | None = None,
) -> Path:
    """Write the chosen band sets of each split of the So2Sat data at ``data`` into ``cache``.

    Resumable: finished band sets are skipped, a partly written one continues from its last
    finished block (band-set arrays are filled in place; ``cache.json``, written atomically after
    each block, records how far, so it is the commit record). Returns the cache folder. ``progress(total=, desc=, unit=)`` makes a tqdm-like bar.
    """
    so2sat: So2Sat = open_so2sat(data)
    cache = Path(cache)
    bands = [band_set(b) if isinstance(b, str) else b for b in band_sets]
    names = list(splits) if splits else list(so2sat.splits)
    for name in names:
        so2sat.split(name)  # raises for unknown splits before anything is written
    if cache.exists() and not cache.is_dir():
        raise OutputExistsError(f"{cache} exists and is not a folder: choose another cache folder")
    cache.mkdir(parents=True, exist_ok=True)
    if (cache / _INDEX).exists():
        index = read_cache_index(cache)
        if Path(index["source"]).resolve() != so2sat.root.resolve():
            raise DataError(
                f"cache {cache} was prepared from {index['source']}, not {so2sat.root}: choose another cache folder"
            )
    elif any(cache.iterdir()):
        raise OutputExistsError(f"{cache} is not empty and not an lczmap cache: choose an empty or new folder")
    else:
        index = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "source": str(so2sat.root.resolve()),
                 "layout": so2sat.layout, "splits": {}}
        _write_index(cache, index)

    for name in names:
        split = so2sat.split(name)
        folder = cache / name
        folder.mkdir(parents=True, exist_ok=True)
        entry = index["splits"].setdefault(name, {"n": len(split), "labels": False, "band_sets": {}})
        if not entry["labels"]:
            with atomic_path(folder / "labels.npy", overwrite=True) as tmp, open(tmp, "wb") as fh:
                np.save(fh, split.labels())
            entry["labels"] = True
            _write_index(cache, index)
        for bs in bands:
            state = entry["band_sets"].setdefault(bs.name, {"complete": False, "rows_done": 0, "band_set": bs.to_dict()})
            if state["complete"]:
                log.info("cache %s: %s/%s already complete", cache, name, bs.name)
                continue
            _fill(split, bs, folder / f"{bs.name}.npy", state, lambda: _write_index(cache, index), progress)
    return cache


def _fill(split, bs: BandSet, path: Path, state: dict, save_index: Callable, progress: Callable | None) -> None:
    n = len(split)
    shape = (n, bs.n_channels, 32, 32)
    start = int(state["rows_done"])
    if start and path.exists():
        arr = np.load(path, mmap_mode="r+")
        if arr.shape != shape or arr.dtype != np.float32:
            start = 0
    if not start or not path.exists():
        start = 0
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
    bar = progress(total=n, desc=f"{split.name}/{bs.name}", unit="patch") if progress else None
    if bar is not None:
        bar.update(start)
    try:
        for lo in range(start, n, ROW_BLOCK):
            hi = min(lo + ROW_BLOCK, n)
            arr[lo:hi] = split.read(bs, slice(lo, hi))
            arr.flush()
            state["rows_done"] = hi
            save_index()
            if bar is not None:
                bar.update(hi - lo)
    finally:
        if bar is not None:
            bar.close()
    del arr
    state["complete"] = True
    save_index()
