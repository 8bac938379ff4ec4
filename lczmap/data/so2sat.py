"""Lazy reading of So2Sat LCZ42 HDF5 files (v1, v2, v3 layouts).

Nothing here reads a split whole: patches are read by index in sorted, chunked HDF5 requests, labels
are read in row blocks, and statistics stream over row blocks. Files of any numeric dtype (the real
float64 files, torchgeo-style uint8 test files, gzip-compressed ones) are read and returned as float32.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..bands import BandSet, band_set
from ..errors import DataError

log = logging.getLogger(__name__)

__all__ = ["So2Sat", "So2SatSplit", "H5Patches", "open_so2sat", "SPLIT_NAMES", "V3_VARIANTS", "ROW_BLOCK"]

SPLIT_NAMES = ("training", "validation", "testing")
V3_VARIANTS = ("random", "block", "culture_10")
#: Rows per block for streaming passes (labels, statistics, cache writing).
ROW_BLOCK = 2048

_SHAPES = {"sen1": 8, "sen2": 10}


class So2SatSplit:
    """One So2Sat HDF5 file (one split), opened lazily and validated on first use.

    ``len(split)`` is the number of patches; :meth:`labels` the label index (0-16) of each patch;
    :meth:`read` patches of one band set as float32 ``(n, C, 32, 32)``.
    """

    def __init__(self, path: str | os.PathLike, name: str | None = None):
        self.path = Path(path)
        self.name = name or self.path.stem
        self._file: h5py.File | None = None
        self._pid: int | None = None
        self._labels: np.ndarray | None = None
        self.n = self._validate()

    # -- file handling -------------------------------------------------------------------------
    @property
    def file(self) -> h5py.File:
        """The open HDF5 file; reopened after a fork (DataLoader workers, dask processes)."""
        if self._file is None or self._pid != os.getpid():
            try:
                self._file = h5py.File(self.path, "r")
            except OSError as exc:
                raise DataError(f"{self.path} is not a readable HDF5 file ({exc}): check the download") from None
            self._pid = os.getpid()
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state["_file"] = None
        return state

    def _validate(self) -> int:
        f = self.file
        missing = [k for k in ("sen1", "sen2", "label") if k not in f]
        if missing:
            raise DataError(
                f"{self.path} has no {', '.join(repr(m) for m in missing)} dataset: "
                "So2Sat LCZ42 files hold sen1, sen2 and label; point lczmap at the So2Sat training/validation/testing .h5 files"
            )
        n = f["label"].shape[0]
        for key, channels in _SHAPES.items():
            shape = f[key].shape
            if len(shape) != 4 or shape[1:3] != (32, 32) or shape[3] != channels or shape[0] != n:
                raise DataError(
                    f"{self.path}: {key} has shape {shape}, expected ({n}, 32, 32, {channels}): "
                    "the file is not in So2Sat LCZ42 layout"
                )
        if f["label"].ndim != 2 or f["label"].shape[1] != 17:
            raise DataError(
                f"{self.path}: label has shape {f['label'].shape}, expected ({n}, 17) one-hot: "
                "the file is not in So2Sat LCZ42 layout"
            )
        if n == 0:
            raise DataError(f"{self.path} holds no patches: check the file")
        return n

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return f"So2SatSplit({str(self.path)!r}, n={self.n})"

    # -- reading -------------------------------------------------------------------------------
    def iter_blocks(self, key: str, block: int = ROW_BLOCK) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start, rows)`` over the whole dataset ``key`` in contiguous row blocks."""
        ds = self.file[key]
        for start in range(0, self.n, block):
            yield start, ds[start : start + block]

    def labels(self) -> np.ndarray:
        """Label index 0-16 of every patch, int64 ``(N,)``; checks the labels are one-hot."""
        if self._labels is None:
            out = np.empty(self.n, dtype=np.int64)
            for start, rows in self.iter_blocks("label"):
                rows = np.asarray(rows, dtype=np.float64)
                ones = rows == 1
                if not (ones.sum(axis=1) == 1).all() or not ((rows == 0) | ones).all():
                    bad = start + int(np.flatnonzero(~((ones.sum(axis=1) == 1) & ((rows == 0) | ones).all(axis=1)))[0])
                    raise DataError(
                        f"{self.path}: label row {bad} is not one-hot ({rows[bad - start].tolist()}): "
                        "So2Sat labels hold exactly one 1 per row; check the file"
                    )
                out[start : start + len(rows)] = rows.argmax(axis=1)
            self._labels = out
        return self._labels

    def read(self, bands: BandSet | str, indices: np.ndarray | slice | None = None) -> np.ndarray:
        """Patches of ``bands`` at ``indices`` (any order, repeats allowed) as float32 (n, C, 32, 32)."""
        bands = band_set(bands) if isinstance(bands, str) else bands
        ds = self.file[bands.key]
        if indices is None or isinstance(indices, slice):
            raw = ds[indices if indices is not None else slice(None)]
        else:
            indices = np.asarray(indices, dtype=np.int64)
            if indices.size and (indices.min() < 0 or indices.max() >= self.n):
                raise IndexError(f"patch index out of range 0..{self.n - 1}")
            uniq, inverse = np.unique(indices, return_inverse=True)
            raw = ds[uniq][inverse] if uniq.size else np.empty((0, *ds.shape[1:]), ds.dtype)
        sel = raw[..., list(bands.indices)]
        return np.ascontiguousarray(sel.transpose(0, 3, 1, 2), dtype=np.float32)


@dataclass
class So2Sat:
    """A So2Sat LCZ42 release found at ``root``: its layout and its splits."""

    root: Path
    layout: str
    splits: dict[str, So2SatSplit] = field(default_factory=dict)

    def split(self, name: str) -> So2SatSplit:
        if name not in self.splits:
            raise DataError(
                f"split {name!r} not found in {self.root} (layout {self.layout}): choose one of {', '.join(self.splits)}"
            )
        return self.splits[name]

    @property
    def test_split(self) -> str:
        """The split models are tested on: ``testing`` where present, else ``validation``."""
        for name in ("testing", "validation"):
            if name in self.splits:
                return name
        raise DataError(f"{self.root} has no testing or validation split: add testing.h5 or validation.h5")


def open_so2sat(path: str | os.PathLike) -> So2Sat:
    """Open a So2Sat folder (v1, v2, v3 or one v3 variant folder) or a single ``.h5`` file."""
    root = Path(path)
    if not root.exists():
        raise DataError(f"{root} does not exist: give the So2Sat LCZ42 folder or one of its .h5 files")
    if root.is_file():
        if root.suffix.lower() not in (".h5", ".hdf5"):
            raise DataError(f"{root} is not an HDF5 file: give a So2Sat .h5 file or its folder")
        return So2Sat(root, "file", {root.stem: So2SatSplit(root)})
    found = {n: root / f"{n}.h5" for n in SPLIT_NAMES if (root / f"{n}.h5").is_file()}
    if found:
        if set(found) == {"training", "validation"}:
            layout = "v1"
        elif set(found) == {"training", "testing"}:
            layout = f"v3-{root.name}" if root.name in V3_VARIANTS else "v3"
        else:
            layout = "v2"
        return So2Sat(root, layout, {n: So2SatSplit(p, n) for n, p in found.items()})
    variants = [v for v in V3_VARIANTS if (root / v).is_dir()]
    if variants:
        splits = {}
        for v in variants:
            for n in SPLIT_NAMES:
                p = root / v / f"{n}.h5"
                if p.is_file():
                    splits[f"{v}/{n}"] = So2SatSplit(p, f"{v}/{n}")
        if splits:
            return So2Sat(root, "v3", splits)
    raise DataError(
        f"no So2Sat files found in {root}: expected training.h5 with validation.h5 and/or testing.h5 "
        f"(v1/v2), or v3 folders {', '.join(V3_VARIANTS)}; run `lczmap demo-data DIR` for a twin"
    )


class H5Patches:
    """Patches of one band set from one raw So2Sat split (see :func:`lczmap.data.open_patches`)."""

    def __init__(self, split: So2SatSplit, bands: BandSet):
        self._split = split
        self.band_set = bands
        self.split = split.name
        self.source = str(split.path)

    def __len__(self) -> int:
        return len(self._split)

    @property
    def labels(self) -> np.ndarray:
        return self._split.labels()

    def __getitem__(self, idx: int | slice | np.ndarray) -> np.ndarray:
        if isinstance(idx, (int, np.integer)):
            return self._split.read(self.band_set, np.array([idx]))[0]
        return self._split.read(self.band_set, idx)

    def blocks(self, block: int = ROW_BLOCK) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start, patches)`` over the whole split in contiguous blocks (streaming)."""
        for start in range(0, len(self), block):
            yield start, self._split.read(self.band_set, slice(start, start + block))

    def __repr__(self) -> str:
        return f"H5Patches({self.source!r}, split={self.split!r}, bands={self.band_set.name!r}, n={len(self)})"
