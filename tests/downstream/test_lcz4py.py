"""lcz4py 0.1.0 (LCZ4r's Python port, a test extra) on lczmap's maps: its area and plotting functions
(``lcz_cal_area``, ``lcz_plot_map``) read what ``lczmap predict --layout lcz-generator`` and
``lczmap recode`` write and count the same pixels and areas as lczmap's own reader; the band and code
conventions of :mod:`lczmap.downstream.conventions` are what lcz4py does."""

from __future__ import annotations

import os

import numpy as np
import pytest
import rasterio
import torch
from _downstream_fixtures import ZARAGOZA, map_over_subdomain
from click.testing import CliRunner

from lczmap.cli import main
from lczmap.downstream import LCZ4R_BANDS, LCZ4R_CODES
from lczmap.raster import LCZ_GENERATOR_BANDS
from lczmap.zones import inspect_lcz

if os.environ.get("CI"):  # CI installs the test extra: lcz4py missing there is a failure, not a skip
    import LCZ4py as lcz4py
else:
    lcz4py = pytest.importorskip("LCZ4py", reason="lcz4py is not installed: pip install -e .[test]")

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def lcz_map(tmp_path_factory):
    """lczmap's LCZ Generator product of a twin scene over Zaragoza (LCZ 6 and LCZ 14)."""
    work = tmp_path_factory.mktemp("lcz4py")
    out, _ = map_over_subdomain(work)
    return out


def run(*args: str) -> str:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def lcz4py_area(path) -> dict[int, tuple[int, float]]:
    """lcz4py's table for ``path``: LCZ code -> (pixels, km2)."""
    df = lcz4py.lcz_cal_area(str(path), iplot=False)
    return {int(r["lcz"]): (int(r["count"]), float(r["area_km2"])) for r in df.iter_rows(named=True)}


def lczmap_area(path, band=None) -> dict[int, tuple[int, float]]:
    """lczmap's reader for ``path``: LCZ code -> (pixels, km2)."""
    info = inspect_lcz(path, band=band)
    return {c: (int(info.pixels[c]), float(info.areas[c]) / 1e6) for c in range(1, 18) if info.pixels[c]}


def assert_same(theirs: dict, ours: dict, rel: float) -> None:
    assert theirs.keys() == ours.keys()
    for code in ours:
        assert theirs[code][0] == ours[code][0], code
        # lcz4py rounds areas to 0.01 km2; on EPSG:4326 it takes one radius for both directions
        assert theirs[code][1] == pytest.approx(ours[code][1], rel=rel, abs=0.006), code


def test_lczmap_s_generator_product_has_the_bands_lcz4r_selects_by(lcz_map):
    with rasterio.open(lcz_map) as ds:
        assert ds.descriptions == LCZ_GENERATOR_BANDS and ds.dtypes[0] == "uint8" and ds.nodata == 0
        for name, index in LCZ4R_BANDS.items():
            assert ds.descriptions[index - 1] == name
        assert set(np.unique(ds.read(LCZ4R_BANDS["lczFilter"]))) <= {0, *LCZ4R_CODES}


def test_lcz4py_area_of_a_predicted_map(lcz_map):
    """lcz4py reads band 1 (``lcz``) of the product: the same pixels and areas as lczmap's reader."""
    ours = lczmap_area(lcz_map, band="lcz")
    assert 14 in ours and any(c <= 10 for c in ours)  # built and land cover classes
    assert_same(lcz4py_area(lcz_map), ours, rel=1e-6)


def test_lcz4py_plots_a_predicted_map(lcz_map):
    result = lcz4py.lcz_plot_map(str(lcz_map))
    ours = lczmap_area(lcz_map, band="lcz")
    legend = dict(zip(result.legend_df["lcz"].to_list(), result.legend_df["pixel_count"].to_list()))
    assert legend == {c: n for c, (n, _) in ours.items()}
    names = [t.name for t in result.fig.data if t.name]
    assert [int(n.split(":")[0]) for n in names] == sorted(ours)


def test_lcz4py_reads_the_filtered_band_after_recode(lcz_map, tmp_path):
    """lcz4py always reads band 1: the lczFilter band goes to it as its own map."""
    run("recode", str(lcz_map), str(tmp_path / "filter.tif"), "--to", "1-17", "--band", "lczFilter")
    assert_same(lcz4py_area(tmp_path / "filter.tif"), lczmap_area(lcz_map, band="lczFilter"), rel=1e-6)


def test_a_g_in_101_107_are_lost_to_lcz4py_and_found_after_recode(lcz_map, tmp_path):
    """A map coded for UMEP (A-G = 101-107) loses A-G in lcz4py (codes 1-17 only); recode --to 1-17
    gives them back pixel for pixel."""
    run("recode", str(lcz_map), str(tmp_path / "umep.tif"))
    ours = lczmap_area(lcz_map)
    assert set(lcz4py_area(tmp_path / "umep.tif")) == {c for c in ours if c <= 10}
    run("recode", str(tmp_path / "umep.tif"), str(tmp_path / "back.tif"), "--to", "1-17")
    assert_same(lcz4py_area(tmp_path / "back.tif"), ours, rel=1e-6)
    with rasterio.open(tmp_path / "back.tif") as a, rasterio.open(lcz_map) as b:
        assert np.array_equal(a.read(1), b.read(LCZ4R_BANDS["lczFilter"]))


def test_lcz4py_area_of_the_real_zaragoza_map():
    """The real LCZ Generator map (int32, nodata -999, EPSG:4326): the same pixel counts; areas
    within 1 % (lcz4py's spherical approximation against lczmap's ellipsoidal areas)."""
    assert_same(lcz4py_area(ZARAGOZA), lczmap_area(ZARAGOZA), rel=0.01)
