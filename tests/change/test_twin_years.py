"""The twin city over several years (lczmap.twin.years): change injected into the truth where and
when it says, the scenes show it, and the first year is the existing twin city unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from lczmap.errors import ConfigError
from lczmap.twin import write_acquisitions
from lczmap.twin.scene import land_map
from lczmap.twin.years import CHANGE_KINDS, FIRST_YEAR, write_years

SIZE = (200, 200)


@pytest.fixture(scope="module")
def years(tmp_path_factory):
    return write_years(tmp_path_factory.mktemp("years"), years=3, per_year=2, size=SIZE, seed=0)


def _read(path):
    with rasterio.open(path) as src:
        return src.read(), src.tags()


def test_truth_changes_where_and_when_the_plan_says(years):
    assert years.years == (FIRST_YEAR, FIRST_YEAR + 1, FIRST_YEAR + 2)
    assert [len(s) for s in years.scenes] == [2, 2, 2]
    assert {c.kind for c in years.changes} == set(CHANGE_KINDS)  # all four kinds on this city
    truths = np.stack([_read(p)[0][0] for p in years.truths])
    when = _read(years.change_truth)[0][0]
    seen = truths[0] > 0
    land = land_map(SIZE[0] // 10, SIZE[1] // 10, 0) + 1
    np.testing.assert_array_equal(truths[0][seen], land[seen])  # the first year is the city's
    for ch in years.changes:
        r, c = np.array(ch.cells).T
        sources, to = CHANGE_KINDS[ch.kind]
        assert ch.year >= 1 and np.isin(land[r, c], sources).all()
        for y in range(3):
            expect = to if y >= ch.year else land[r, c]
            ok = seen[r, c]
            np.testing.assert_array_equal(truths[y][r, c][ok], np.broadcast_to(expect, r.shape)[ok])
        assert (when[r, c][seen[r, c]] == ch.year + 1).all()
    moved = (truths[1:] != truths[:-1]).any(axis=0)
    np.testing.assert_array_equal(moved, when > 0)  # nothing else changes
    doc = json.loads(years.changes_json.read_text())
    assert doc["years"] == list(years.years) and len(doc["changes"]) == len(years.changes)


def test_the_scenes_show_the_change(years):
    """Over changed cells the years' radar differs far more than over unchanged ones (speckle and
    the date's radiometry alone)."""
    when = _read(years.change_truth)[0][0]
    a = np.log(_read(years.scenes[0][0])[0][0])
    b = np.log(_read(years.scenes[2][0])[0][0])  # the same orbit two years later
    cell = np.nan_to_num(np.abs(a - b), nan=0.0).reshape(SIZE[0] // 10, 10, SIZE[1] // 10, 10).mean(axis=(1, 3))
    changed, unchanged = when > 0, (when == 0) & (cell > 0)
    assert changed.sum() >= 20
    assert np.median(cell[changed]) > 1.5 * np.median(cell[unchanged])


def test_first_year_is_the_twin_city_byte_for_byte(years, tmp_path):
    acq = write_acquisitions(tmp_path / "acq", 2, size=SIZE, seed=0, offsets=[(0, 0), (0, 0)])
    for mine, theirs in zip(years.scenes[0], acq.scenes):
        (a, tags), (b, _) = _read(mine), _read(theirs)
        assert a.tobytes() == b.tobytes()
        assert tags["YEAR"] == str(FIRST_YEAR) and tags["ACQUISITION_DATE"].startswith(str(FIRST_YEAR))


def test_bad_arguments(tmp_path):
    with pytest.raises(ConfigError, match="years must be at least 2"):
        write_years(tmp_path / "a", years=1)
    with pytest.raises(ConfigError, match="whole 100 m cells"):
        write_years(tmp_path / "b", years=2, size=(205, 200))
