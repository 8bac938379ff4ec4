"""So2Sat LCZ42 data: lazy HDF5 reading, caches, class settings and budgets.

The band sets (:mod:`lczmap.bands`) are re-exported here for existing user code."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Protocol

import numpy as np

from ..bands import EO_BAND_SETS, SAR_BAND_SETS, BandSet, Channel, band_set
from ..errors import DataError
from .cache import (
    PREPARE_EO_BANDS,
    PREPARE_SAR_BANDS,
    CachePatches,
    check_cache_source,
    is_cache,
    prepare,
    read_cache_index,
)
from .fewshot import draw_budget, parse_budget, select_classes
from .so2sat import ROW_BLOCK, H5Patches, So2Sat, So2SatSplit, open_so2sat

__all__ = [
    "BandSet",
    "Channel",
    "band_set",
    "EO_BAND_SETS",
    "SAR_BAND_SETS",
    "So2Sat",
    "So2SatSplit",
    "open_so2sat",
    "H5Patches",
    "CachePatches",
    "prepare",
    "is_cache",
    "read_cache_index",
    "PREPARE_EO_BANDS",
    "PREPARE_SAR_BANDS",
    "open_patches",
    "select_classes",
    "draw_budget",
    "parse_budget",
    "channel_stats",
    "PatchSource",
    "check_cache_source",
    "check_finite",
]


class PatchSource(Protocol):
    """What training reads: ``len``, ``labels`` (int64 label index 0-16) and ``src[idx]`` ->
    float32 ``(n, C, 32, 32)``; ``blocks()`` streams the whole split."""

    band_set: BandSet
    split: str

    def __len__(self) -> int: ...
    @property
    def labels(self) -> np.ndarray: ...
    def __getitem__(self, idx: int | slice | np.ndarray) -> np.ndarray: ...
    def blocks(self, block: int = ...) -> Iterator[tuple[int, np.ndarray]]: ...


def open_patches(
    data: str | os.PathLike | None,
    split: str,
    bands: str | BandSet,
    cache: str | os.PathLike | None = None,
) -> H5Patches | CachePatches:
    """Patches of one band set of one split: from ``cache`` when it holds them complete, else from
    the raw So2Sat files at ``data`` (a folder or a single .h5 file). With both, the cache must have
    been prepared from ``data`` (:func:`~lczmap.data.cache.check_cache_source`)."""
    bs = band_set(bands) if isinstance(bands, str) else bands
    if cache is not None and is_cache(cache):
        entry = read_cache_index(cache)["splits"].get(split) or {}
        state = entry.get("band_sets", {}).get(bs.name)
        if state and state.get("complete") and data is not None:
            check_cache_source(cache, open_so2sat(data).split(split), entry)
            return CachePatches(cache, split, bs)
        if data is None:
            return CachePatches(cache, split, bs)  # without raw data, the cache's own message says what is missing
    if data is None:
        raise DataError(f"no So2Sat data given and no cache at {cache}: give the So2Sat folder or run `lczmap prepare`")
    return H5Patches(open_so2sat(data).split(split), bs)


def check_finite(x: np.ndarray, src: object) -> None:
    """Refuse (:class:`DataError`) patches ``x`` read from ``src`` that hold NaN or infinite values."""
    if not np.isfinite(x).all():
        raise DataError(f"{src!r} holds NaN or infinite values: clean the data or choose another band set")


def channel_stats(
    src: PatchSource | np.ndarray, positions: np.ndarray | None = None, block: int = ROW_BLOCK
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and (population) standard deviation, float64 ``(C,)``, in one streaming pass.

    Blocks are combined with Chan et al.'s parallel update, so the result equals numpy's over the
    whole array to float64 precision without ever holding it. ``src``: a patch source with
    ``blocks()`` or an (N, C, H, W) array. ``positions`` restricts the pass.
    """
    count = 0
    mean = None
    m2 = None
    if positions is None:
        if hasattr(src, "blocks"):
            chunks = (x for _, x in src.blocks(block))
        else:  # an array: contiguous slices
            chunks = (src[i : i + block] for i in range(0, len(src), block))
    else:
        positions = np.sort(np.asarray(positions, dtype=np.int64))
        chunks = (src[positions[i : i + block]] for i in range(0, len(positions), block))
    for x in chunks:
        x = np.asarray(x, dtype=np.float64)
        c = x.shape[1]
        flat = x.transpose(1, 0, 2, 3).reshape(c, -1)
        n_b = flat.shape[1]
        if n_b == 0:
            continue
        mean_b = flat.mean(axis=1)
        m2_b = ((flat - mean_b[:, None]) ** 2).sum(axis=1)
        if mean is None:
            mean, m2, count = mean_b, m2_b, n_b
        else:
            delta = mean_b - mean
            total = count + n_b
            mean = mean + delta * n_b / total
            m2 = m2 + m2_b + delta**2 * count * n_b / total
            count = total
    if mean is None or m2 is None:
        raise DataError("no patches to compute statistics from: check the split and class setting")
    return mean, np.sqrt(m2 / count)
