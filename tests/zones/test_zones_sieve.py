"""The strip sieve (lczmap.zones.sieve): its rules, and strips equal to the whole map."""

from __future__ import annotations

import numpy as np
import rasterio
from _zones_fixtures import blobby, write_raster
from hypothesis import given, settings, strategies as st

from lczmap.zones import inspect_lcz
from lczmap.zones.sieve import sieve_array, sieve_halo, sieved_strips


def test_sieve_rules():
    codes = np.full((12, 12), 1, np.uint8)
    codes[:, 6:] = 2
    codes[2, 2] = 3  # one pixel inside class 1: dissolved into 1
    codes[5:8, 5] = 4  # three pixels bordering 1 (3 edges + ends) and 2 (3 edges): ties -> lowest code
    codes[9:12, 9:12] = 5  # 9 pixels: kept at min 9
    codes[0, 11] = 0
    codes[1, 11] = 0
    codes[0, 10] = 0  # no data: never filled, never a target
    out = sieve_array(codes, 9)
    assert out[2, 2] == 1
    assert (out[5:8, 5] == 1).all()
    assert (out[9:12, 9:12] == 5).all()
    assert out[0, 11] == 0 and out[1, 11] == 0 and out[0, 10] == 0
    assert sieve_array(codes, 10)[10, 10] == 2  # at 10 the block is small and joins class 2


def test_sieve_keeps_islands_without_large_neighbours():
    codes = np.zeros((7, 7), np.uint8)
    codes[3, 3] = 7  # alone in no data
    codes[0:2, 0:2] = 4
    assert (sieve_array(codes, 5) == codes).all()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    min_pixels=st.integers(2, 6),
    block_rows=st.integers(1, 40),
    cell=st.integers(1, 5),
)
def test_sieve_in_strips_equals_whole_map(tmp_path_factory, seed, min_pixels, block_rows, cell):
    height = 2 * sieve_halo(min_pixels) + 3 * block_rows + 7  # strips never see the whole map
    codes = blobby(height, 23, seed=seed, cell=cell, noise=0.2, classes=5)
    path = write_raster(tmp_path_factory.mktemp("sieve") / "lcz.tif", codes)
    info = inspect_lcz(path)
    with rasterio.open(path) as src:
        strips = list(sieved_strips(src, info, min_pixels, block_rows))
    assert [r0 for r0, _ in strips] == list(range(0, height, block_rows))
    assert np.array_equal(np.vstack([s for _, s in strips]), sieve_array(codes, min_pixels))
