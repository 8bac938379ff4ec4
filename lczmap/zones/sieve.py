"""The sieve: dissolve patches below a minimum size, exactly the same in strips as on the whole map.

A patch (4-connected pixels of one code) below ``min_pixels`` takes the code of the large patches
it shares the longest border with (ties: the lowest code); up to :data:`MAX_SIEVE_PASSES` passes.
No-data pixels (code 0) are never filled and never fill.

This sieve is our own (scipy labelling) and is kept rather than GDAL's ``GDALSieveFilter``
(``rasterio.features.sieve``): GDAL merges a small patch into its *largest* neighbour, chained,
so its result depends on the size of whole neighbouring patches and a map sieved strip by strip
would differ from the whole-map result along strip edges. The rule here looks only a bounded
distance away (:func:`sieve_halo`), so :func:`sieved_strips` equals :func:`sieve_array` of the
whole map exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from .lczraster import LczRasterInfo, read_codes, row_areas

if TYPE_CHECKING:
    from rasterio.io import DatasetReader

__all__ = ["MAX_SIEVE_PASSES", "label_patches", "min_pixels_for", "sieve_array", "sieve_halo", "sieved_strips"]

#: Most sieve passes; each pass dissolves the small patches that touch a large one.
MAX_SIEVE_PASSES = 4


def label_patches(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """4-connected patches of equal code: (labels int32, 0 = no data; code of each label)."""
    from scipy import ndimage

    four = ndimage.generate_binary_structure(2, 1)
    labels = np.zeros(codes.shape, np.int32)
    label_codes = [0]
    present = np.flatnonzero(np.bincount(codes.ravel(), minlength=18)[1:]) + 1
    scratch = np.empty(codes.shape, np.int32)
    for code in present:
        n = ndimage.label(codes == code, structure=four, output=scratch)
        hit = scratch > 0
        labels[hit] = scratch[hit] + (len(label_codes) - 1)
        label_codes.extend([int(code)] * n)
    return labels, np.asarray(label_codes, np.uint8)


def _sieve_pass(codes: np.ndarray, min_pixels: int) -> tuple[np.ndarray, bool]:
    """One pass: every patch below ``min_pixels`` that touches a large patch takes the code of the
    large patches it shares the longest border with (ties: the lowest code)."""
    labels, label_codes = label_patches(codes)
    sizes = np.bincount(labels.ravel(), minlength=label_codes.size)
    small = sizes < min_pixels
    small[0] = False
    if not small.any():
        return codes, False
    large = ~small
    large[0] = False
    parts = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        for s, t in ((a, b), (b, a)):
            hit = small[s] & large[t]
            parts.append(s[hit].astype(np.int64) * 32 + label_codes[t[hit]])
    keys = np.concatenate(parts)
    if keys.size == 0:
        return codes, False
    uniq, counts = np.unique(keys, return_counts=True)
    lab, code = uniq // 32, uniq % 32
    order = np.lexsort((code, -counts, lab))
    lab, code = lab[order], code[order]
    first = np.r_[True, lab[1:] != lab[:-1]]
    target = label_codes.copy()
    target[lab[first]] = code[first]
    return target[labels], True


def sieve_array(codes: np.ndarray, min_pixels: int) -> np.ndarray:
    """Sieve a whole array (uint8 codes, 0 = no data): up to :data:`MAX_SIEVE_PASSES` passes.

    Patches with no large neighbour after the last pass (e.g. islands in no data) stay.
    """
    if min_pixels <= 1:
        return codes
    for _ in range(MAX_SIEVE_PASSES):
        codes, changed = _sieve_pass(codes, min_pixels)
        if not changed:
            break
    return codes


def sieve_halo(min_pixels: int) -> int:
    """Rows of context that make a strip's sieve equal the whole-map sieve.

    Per pass, a pixel's new code depends on its patch (if small: fewer than ``min_pixels``
    pixels, so within ``min_pixels - 1`` steps) and on whether the patches along its border are
    small (another ``min_pixels`` steps), so each pass reaches at most ``2 * min_pixels + 1``
    rows; passes add up.
    """
    if min_pixels <= 1:
        return 0
    return MAX_SIEVE_PASSES * (2 * min_pixels + 1) + 1


def min_pixels_for(info: LczRasterInfo, min_area: float) -> int:
    """Pixels a patch needs to reach ``min_area`` m2 (at the map's middle row for geographic CRSs)."""
    if min_area <= 0:
        return 0
    row_area = row_areas(info.transform, info.crs, info.shape[0])
    pixel = float(row_area[info.shape[0] // 2])
    return max(int(math.ceil(min_area / pixel - 1e-9)), 1)


def sieved_strips(src: DatasetReader, info: LczRasterInfo, min_pixels: int, block_rows: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_row, codes)`` strips of the sieved map, each read with its halo."""
    from rasterio.windows import Window

    height, width = info.shape
    halo = sieve_halo(min_pixels)
    for r0 in range(0, height, block_rows):
        r1 = min(r0 + block_rows, height)
        w0, w1 = max(0, r0 - halo), min(height, r1 + halo)
        codes = read_codes(src, info, Window(0, w0, width, w1 - w0))
        codes = sieve_array(codes, min_pixels)
        yield r0, np.ascontiguousarray(codes[r0 - w0 : r1 - w0])
