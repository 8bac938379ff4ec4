"""w2w run on an lczmap map to completion: a twin scene written over (part of) w2w's own sample WRF
domain (Zaragoza), mapped with ``lczmap predict --layout lcz-generator``, checked with
``lczmap check-wrf``, then put into the domain by w2w 0.6.0 (its own environment:
scripts/dev/install_w2w.sh), its outputs checked against what check-wrf said."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from _downstream_fixtures import (
    COLS,
    GEO_EM,
    ROWS,
    ZARAGOZA,
    map_over_subdomain,
    read_nc,
    run_w2w,
    subset_geo_em,
    w2w_python,
)
from click.testing import CliRunner

from lczmap.cli import main
from lczmap.downstream import check_wrf, read_wrf_domain

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def w2w_run(tmp_path_factory):
    """The sub-domain, a twin scene over it, lczmap's map of it, check-wrf's verdict and w2w's run."""
    py = w2w_python()
    work = tmp_path_factory.mktemp("w2w")
    geo_em = subset_geo_em(py, work / "geo_em.d04.nc", ROWS, COLS)
    _, place = map_over_subdomain(work)
    runner = CliRunner()
    default = runner.invoke(main, ["check-wrf", str(work / "lcz.tif"), str(geo_em)])
    check = runner.invoke(main, ["check-wrf", str(work / "lcz.tif"), str(geo_em), "--npix-area", "64"])
    refused = run_w2w(py, work, "lcz.tif", "geo_em.d04.nc")  # w2w's default samples 2025 cells: it stops
    proc = run_w2w(py, work, "lcz.tif", "geo_em.d04.nc", "-n", "8")
    return work, place, check, check_wrf(work / "lcz.tif", geo_em, npix_area=64), proc, default, refused


def test_the_twin_scene_lies_over_the_wrf_domain(w2w_run):
    work, place, *_ = w2w_run
    domain = read_wrf_domain(work / "geo_em.d04.nc")
    assert domain.shape == (ROWS[1] - ROWS[0], COLS[1] - COLS[0])
    full = read_wrf_domain(GEO_EM)
    assert np.array_equal(domain.lat, full.lat[slice(*ROWS), slice(*COLS)])
    assert place.crs == "EPSG:32630"  # UTM 30N holds Zaragoza
    with rasterio.open(work / "lcz.tif") as ds:
        assert ds.descriptions == ("lcz", "lczFilter", "classProbability") and ds.crs.to_epsg() == 32630


def test_check_wrf_says_what_stops_w2w_on_a_small_domain(w2w_run):
    *_, default, refused = w2w_run
    assert default.exit_code == 1
    assert "Error: the domain has 64 cells and w2w samples natural land from --npix-area 2025 cells" in default.output
    assert "run w2w with -n 8" in default.output
    assert refused.returncode != 0 and "Reduce NPIX_AREA" in refused.stdout + refused.stderr


def test_check_wrf_says_ready_before_w2w_runs(w2w_run):
    _, _, cli, check, *_ = w2w_run
    assert cli.exit_code == 0, cli.output
    assert check.ok and "ready for w2w" in cli.output
    assert (check.coverage >= 0.99).all()
    # some cells urban, some natural: the threshold and the aggregation are put to the test
    assert 0 < check.urban_cells < check.coverage.size and max(check.urban_classes) > 3


def test_w2w_runs_to_completion_and_writes_its_three_files(w2w_run):
    work, *_, proc, _, _ = w2w_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in ("NoUrban", "LCZ_extent", "LCZ_params"):
        assert (work / f"geo_em.d04_{name}.nc").stat().st_size > 0
    assert "Seems you are using a LCZ map produced by" in proc.stdout  # it took the lczFilter band
    assert "Check 9" in proc.stdout and "ERROR" not in proc.stdout


def test_w2w_outputs_are_what_check_wrf_predicted(w2w_run):
    work, _, _, check, proc, *_ = w2w_run
    assert proc.returncode == 0
    params = read_nc(work / "geo_em.d04_LCZ_params.nc", "LU_INDEX", "FRC_URB2D")
    lu, frc = params["LU_INDEX"], params["FRC_URB2D"]
    urban = lu > 30
    # urban fraction where the map is built, as check-wrf computed it, and nowhere else
    assert np.array_equal(urban, check.urban_class > 0)
    np.testing.assert_allclose(frc, check.urban_fraction, atol=1e-4)
    # LU_INDEX: urban cells LCZ + 30 (w2w 0.6.0, WRF < 4.4.2: 31-41), the rest MODIS classes 1-21
    assert np.array_equal(lu[urban] - 30, check.urban_class[urban])
    assert lu[urban].min() >= 31 and lu[urban].max() <= 41
    assert np.isin(lu[~urban], np.arange(1, 22)).all() and (lu[~urban] != 13).all()  # no MODIS urban left
    assert set(check.lu_index("4.4.1")) == set(np.unique(lu[urban]).astype(int))
    assert all(51 <= v <= 61 for v in check.lu_index("4.5.1"))
    assert int(params["attrs"]["NUM_LAND_CAT"][0]) == 41
    # LCZ_extent: the same urban cells as MODIS urban (13), the rest as in LCZ_params
    extent = read_nc(work / "geo_em.d04_LCZ_extent.nc", "LU_INDEX")["LU_INDEX"]
    assert np.array_equal(extent == 13, urban) and np.array_equal(extent[~urban], lu[~urban])
    no_urban = read_nc(work / "geo_em.d04_NoUrban.nc", "LU_INDEX")["LU_INDEX"]
    assert (no_urban != 13).all() and no_urban.max() <= 21


@pytest.mark.parametrize(
    "args, options, cells, classes",
    [
        ((), {}, 369, (2, 3, 5, 6, 8, 9)),
        (
            ("-f", "0.5", "-b", *map(str, range(1, 11)), "15"),
            {"frc_threshold": 0.5, "built": (*range(1, 11), 15)},
            196,
            (2, 3, 5, 6, 8, 15),
        ),
    ],
    ids=["defaults", "threshold-0.5-and-lcz-E-built"],
)
def test_w2w_on_the_real_zaragoza_map_matches_check_wrf(tmp_path, args, options, cells, classes):
    """The real LCZ Generator map on the whole sample domain: check-wrf's urban cells, classes and
    urban fractions are w2w's, cell for cell (LCZ E built: WRF's urban class 11, LU_INDEX 41)."""
    py = w2w_python()
    for f in (GEO_EM, ZARAGOZA):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    proc = run_w2w(py, tmp_path, ZARAGOZA.name, GEO_EM.name, *args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    check = check_wrf(ZARAGOZA, GEO_EM, **options)
    params = read_nc(tmp_path / "geo_em.d04_LCZ_params.nc", "LU_INDEX", "FRC_URB2D")
    lu = params["LU_INDEX"]
    wrf_class = np.where(check.urban_class == 15, 11, check.urban_class)
    assert np.array_equal(np.where(lu > 30, lu - 30, 0), wrf_class)
    np.testing.assert_allclose(params["FRC_URB2D"], check.urban_fraction, atol=1e-4)
    assert (check.urban_cells, check.urban_classes) == (cells, classes)
    assert set(check.lu_index()) == set(np.unique(lu[lu > 30]).astype(int))
