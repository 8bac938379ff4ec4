"""A compact, memory-mappable cache of So2Sat band sets for fast training epochs.

Layout of a cache folder (written by :func:`prepare`, ``lczmap prepare``)::

    CACHE_DIR/cache.json                 format marker, source, splits (each with the identity of the
                                         file it came from), band sets, completion state
    CACHE_DIR/<split>/labels.npy         int64 (N,)  label index 0-16
    CACHE_DIR/<split>/<band set>.npy     float32 (N, C, 32, 32), C-contiguous, memory-mapped on read

Each band-set array is preallocated at its final size and filled in row blocks; after each block the
number of finished rows is recorded, so an interrupted ``prepare`` resumes where it stopped.
Each split records the identity of its source file (resolved path, size, modification time,
patch count and a SHA-256 of its labels): :func:`check_cache_source` refuses a cache built from
other data, and :func:`prepare` checks the size and header of every array it finds and rewrites
a truncated or damaged one instead of trusting it. Random batches read from the memory map cost
one page-cache copy per patch, so epochs run close to in-memory speed, orders of magnitude
faster than random access into the float64 HDF5 files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from .._io import NO_SPACE, atomic_path, check_free_space, check_output, disk_full_error
from ..bands import BandSet, band_set
from ..errors import DataError, OutputError, OutputExistsError
from .so2sat import ROW_BLOCK, So2Sat, So2SatSplit, open_so2sat

log = logging.getLogger(__name__)

__all__ = [
    "CachePatches",
    "prepare",
    "read_cache_index",
    "is_cache",
    "check_cache_source",
    "source_identity",
    "labels_sha256",
    "CACHE_FORMAT",
    "PREPARE_EO_BANDS",
    "PREPARE_SAR_BANDS",
]

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


#: errno values of a full file system (as in :mod:`lczmap._io`).


def labels_sha256(labels: np.ndarray) -> str:
    """SHA-256 of a label array as little-endian int64 (the content part of a cache's source identity)."""
    return hashlib.sha256(np.ascontiguousarray(labels, dtype="<i8").tobytes()).hexdigest()


def source_identity(split: So2SatSplit) -> dict:
    """The identity of the file a cached split comes from: resolved path, size, modification time
    (ns), patch count and the SHA-256 of its labels."""
    st = split.path.stat()
    return {
        "file": str(split.path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "n": len(split),
        "labels_sha256": labels_sha256(split.labels()),
    }


#: (cache, split, file identity) already found to match, so a run checks each split once.
_MATCHED: set[tuple] = set()


def check_cache_source(cache: str | os.PathLike, split: So2SatSplit, entry: dict | None = None) -> None:
    """Refuse (:class:`DataError`) a cached split that was not prepared from ``split``'s file.

    The same resolved path, size and modification time match at once; otherwise (the data was
    copied, moved or touched) the patch count and the labels' SHA-256 must match. A cache written
    before caches recorded their source matches when its ``labels.npy`` equals the data's labels,
    with a warning that its patches cannot be checked (rerunning ``prepare`` records the source).
    """
    cache = Path(cache)
    if entry is None:
        entry = read_cache_index(cache)["splits"].get(split.name) or {}
    ident = entry.get("source")
    st = split.path.stat()
    key = (str(cache.resolve()), split.name, str(split.path.resolve()), st.st_size, st.st_mtime_ns, json.dumps(ident))
    if key in _MATCHED:
        return
    if ident and (ident.get("file"), ident.get("size"), ident.get("mtime_ns")) == (key[2], st.st_size, st.st_mtime_ns):
        _MATCHED.add(key)
        return
    fix = f"rerun `lczmap prepare {split.path.parent} NEW_CACHE_DIR` for this data, or drop --cache"
    if ident:
        n_cache, want = ident.get("n"), ident.get("labels_sha256")
    else:
        cached = _load_labels(cache, split.name, entry.get("n"))
        n_cache, want = len(cached), labels_sha256(cached)
    if n_cache != len(split) or want != labels_sha256(split.labels()):
        source = ident["file"] if ident else "other data"
        raise DataError(
            f"cache {cache} was prepared from {source} ({n_cache} {split.name} patches), not from {split.path} "
            f"({len(split)} patches{', other labels' if n_cache == len(split) else ''}): {fix}"
        )
    if not ident:
        log.warning(
            "cache %s records no source (written by an older lczmap): its %s labels match %s, its patches cannot be "
            "checked; rerun `lczmap prepare %s %s` to record the source",
            cache,
            split.name,
            split.path,
            split.path.parent,
            cache,
        )
    _MATCHED.add(key)


def _array_problem(path: Path, shape: tuple[int, ...], dtype: str) -> str | None:
    """What is wrong with the .npy file ``path`` for an array of ``shape``/``dtype`` (None: nothing):
    missing, an unreadable header, another shape or dtype, or a size that does not fit the header."""
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            got_shape, fortran, got_dtype = read(fh)
            offset = fh.tell()
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    except (OSError, ValueError) as exc:
        return f"damaged ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    if tuple(got_shape) != tuple(shape) or got_dtype != np.dtype(dtype) or fortran:
        return f"of another layout ({got_dtype} {tuple(got_shape)}, expected {np.dtype(dtype)} {tuple(shape)})"
    expected = offset + int(np.prod(shape)) * np.dtype(dtype).itemsize
    if size != expected:
        return (
            f"truncated ({size:,} of {expected:,} bytes)"
            if size < expected
            else f"too long ({size:,} bytes, expected {expected:,})"
        )
    return None


def _load_labels(cache: Path, split: str, n: int | None) -> np.ndarray:
    path = cache / split / "labels.npy"
    problem = _array_problem(path, (int(n),), "int64") if n is not None else None
    if problem is None:
        try:
            return np.load(path)
        except (OSError, ValueError) as exc:
            problem = f"damaged ({type(exc).__name__})"
    raise DataError(f"cache file {path} is {problem}: rerun `lczmap prepare` on this cache to repair it")


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
        n = int(entry["n"])
        problem = _array_problem(self._path, (n, bands.n_channels, 32, 32), "float32")
        if problem:
            raise DataError(f"cache file {self._path} is {problem}: rerun `lczmap prepare` on this cache to repair it")
        self._array: np.ndarray | None = None
        self._labels: np.ndarray | None = None
        self._pid: int | None = None

    @property
    def array(self) -> np.ndarray:
        if self._array is None or self._pid != os.getpid():
            self._array = np.load(self._path, mmap_mode="r")
            self._pid = os.getpid()
        return self._array

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state["_array"] = None
        return state

    def __len__(self) -> int:
        return self.array.shape[0]

    @property
    def labels(self) -> np.ndarray:
        if self._labels is None:
            self._labels = _load_labels(self.cache, self.split, len(self))
        return self._labels

    def __getitem__(self, idx: int | slice | np.ndarray) -> np.ndarray:
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
    each block, records how far, so it is the commit record). Every array found is checked (its
    header, shape, dtype and size; the labels against the source's hash) and a truncated or
    damaged one is written again. A cache of other data is refused (:class:`DataError`); one
    written before caches recorded their source gets it recorded when its labels match. Free space
    for the arrays still to write is checked before anything is written. Returns the cache folder.
    ``progress(total=, desc=, unit=)`` makes a tqdm-like bar.
    """
    so2sat: So2Sat = open_so2sat(data)
    cache = Path(cache)
    bands = [band_set(b) if isinstance(b, str) else b for b in band_sets]
    names = list(splits) if splits else list(so2sat.splits)
    for name in names:
        so2sat.split(name)  # raises for unknown splits before anything is written
    if cache.exists() and not cache.is_dir():
        raise OutputExistsError(f"{cache} exists and is not a folder: choose another cache folder")
    index = None
    if (cache / _INDEX).exists():
        index = read_cache_index(cache)
        if Path(index["source"]).resolve() != so2sat.root.resolve():
            raise DataError(f"cache {cache} was prepared from {index['source']}, not {so2sat.root}: choose another cache folder")
    elif cache.is_dir() and any(cache.iterdir()):
        raise OutputExistsError(f"{cache} is not empty and not an lczmap cache: choose an empty or new folder")
    # check every split's source and array before writing anything
    plan = []
    needed = 0
    for name in names:
        split = so2sat.split(name)
        entry = (index or {}).get("splits", {}).get(name)
        ident = source_identity(split)
        if entry is not None:
            _check_prepare_source(cache, split, entry, ident)
        for bs in bands:
            state = (entry or {}).get("band_sets", {}).get(bs.name)
            path = cache / name / f"{bs.name}.npy"
            shape = (len(split), bs.n_channels, 32, 32)
            if state and state.get("complete"):
                problem = _array_problem(path, shape, "float32")
                if problem is None:
                    continue
                log.warning("cache %s: %s is %s: writing it again", cache, path.relative_to(cache), problem)
                state.update(complete=False, rows_done=0)
            needed += int(np.prod(shape)) * 4 if not (state and state.get("rows_done")) else 0
        plan.append((split, ident))
    ancestor = _existing_ancestor(cache)
    if not cache.is_dir():
        check_output(ancestor / ".lczmap-prepare")  # a writable place for the new cache folder
    check_free_space(ancestor / "cache.json", needed + 2**20)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno in NO_SPACE:
            raise disk_full_error(cache) from None
        raise OutputError(f"cannot create the cache folder {cache} ({exc.strerror}): choose a writable folder") from None
    if index is None:
        index = {
            "format": CACHE_FORMAT,
            "version": CACHE_VERSION,
            "source": str(so2sat.root.resolve()),
            "layout": so2sat.layout,
            "splits": {},
        }
        _write_index(cache, index)

    for split, ident in plan:
        name = split.name
        folder = cache / name
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {folder} ({exc.strerror}): choose a writable cache folder") from None
        entry = index["splits"].setdefault(name, {"n": len(split), "labels": False, "band_sets": {}})
        labels_ok = entry["labels"] and _array_problem(folder / "labels.npy", (len(split),), "int64") is None
        if labels_ok and entry.get("source") is None:  # an older cache: its labels must be the data's
            labels_ok = labels_sha256(np.load(folder / "labels.npy")) == ident["labels_sha256"]
        elif labels_ok:
            labels_ok = labels_sha256(np.load(folder / "labels.npy")) == entry["source"]["labels_sha256"]
        if not labels_ok:
            if entry["labels"]:
                log.warning("cache %s: %s/labels.npy is damaged: writing it again", cache, name)
            with atomic_path(folder / "labels.npy", overwrite=True) as tmp, open(tmp, "wb") as fh:
                np.save(fh, split.labels())
            entry["labels"] = True
        if entry.get("source") != ident:
            entry["source"] = ident
            _write_index(cache, index)
        for bs in bands:
            state = entry["band_sets"].setdefault(bs.name, {"complete": False, "rows_done": 0, "band_set": bs.to_dict()})
            if state["complete"]:
                log.info("cache %s: %s/%s already complete", cache, name, bs.name)
                continue
            _fill(split, bs, folder / f"{bs.name}.npy", state, lambda: _write_index(cache, index), progress)
    return cache


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _check_prepare_source(cache: Path, split: So2SatSplit, entry: dict, ident: dict) -> None:
    """Refuse to add to a cached split that came from other data than ``split``."""
    old = entry.get("source")
    if old is None:  # an older cache: compared through its labels below, when they are readable
        try:
            check_cache_source(cache, split, entry)
        except DataError as exc:
            if "was prepared from" in str(exc):
                raise DataError(f"{str(exc).split(': rerun')[0]}: delete {cache} or choose another cache folder") from None
        return
    if (old.get("n"), old.get("labels_sha256")) != (ident["n"], ident["labels_sha256"]):
        raise DataError(
            f"cache {cache} was prepared from {old.get('file')} ({old.get('n')} {split.name} patches), not from the "
            f"data now at {split.path} ({ident['n']} patches): delete {cache} or choose another cache folder"
        )


def _fill(split: So2SatSplit, bs: BandSet, path: Path, state: dict, save_index: Callable, progress: Callable | None) -> None:
    n = len(split)
    shape = (n, bs.n_channels, 32, 32)
    start = int(state["rows_done"])
    if start and _array_problem(path, shape, "float32") is None:
        arr = np.load(path, mmap_mode="r+")
    else:
        start = 0
        arr = _create_array(path, shape)
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


def _create_array(path: Path, shape: tuple[int, ...]) -> np.memmap:
    """A new float32 .npy array of ``shape`` at ``path``, memory-mapped for writing, with its disk
    blocks reserved up front (a full disk is then an error here, not a SIGBUS while filling it)."""
    try:
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
        if hasattr(os, "posix_fallocate"):
            fd = os.open(path, os.O_RDWR)
            try:
                os.posix_fallocate(fd, 0, path.stat().st_size)
            except OSError as exc:
                if exc.errno not in NO_SPACE:  # file systems without fallocate: the free-space check stands
                    log.debug("cannot reserve %s: %s", path, exc)
                else:
                    raise
            finally:
                os.close(fd)
    except OSError as exc:
        path.unlink(missing_ok=True)
        if exc.errno in NO_SPACE:
            raise disk_full_error(path, int(np.prod(shape)) * 4) from None
        raise OutputError(f"cannot write {path} ({exc.strerror}): choose a writable cache folder") from None
    return arr
