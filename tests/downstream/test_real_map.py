"""A real LCZ map from outside (w2w's LCZ Generator map of Zaragoza: int32, nodata -999,
EPSG:4326) through every reader lczmap has, from the command line."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from _downstream_fixtures import GEO_EM, ZARAGOZA
from click.testing import CliRunner

from lczmap.cli import main
from lczmap.downstream import check_wrf, read_wrf_domain, recode_lcz
from lczmap.errors import ZonesError

#: Pixel counts per value of w2w's file (sha256 c478102f...), which the committed copy must keep.
COUNTS = {
    2: 979,
    3: 1500,
    5: 246,
    6: 9789,
    8: 5331,
    9: 1867,
    11: 13487,
    12: 85597,
    13: 42130,
    14: 623573,
    15: 11841,
    16: 126394,
    17: 2916,
}


def run(*args: str) -> str:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def test_the_committed_map_holds_w2w_s_pixels():
    with rasterio.open(ZARAGOZA) as ds:
        assert (ds.dtypes[0], ds.nodata, ds.shape, ds.crs.to_epsg()) == ("int32", -999.0, (765, 1210), 4326)
        values, counts = np.unique(ds.read(1), return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist())) == COUNTS


def test_info_zones_summarize(tmp_path):
    out = run("info", str(ZARAGOZA))
    assert "Bare soil or sand" in out and "126394" in out
    run("zones", str(ZARAGOZA), str(tmp_path / "z.gpkg"), "--min-area", "100000")
    import geopandas as gpd

    zones = gpd.read_file(tmp_path / "z.gpkg")
    assert set(zones["lcz"]) <= set(COUNTS) and len(zones) > 100
    out = run("summarize", str(ZARAGOZA))
    assert "Low plants" in out


def test_assess_against_the_same_map_in_the_other_coding(tmp_path):
    recoded = recode_lcz(ZARAGOZA, tmp_path / "z101.tif")
    with rasterio.open(recoded) as ds:
        assert ds.dtypes[0] == "uint8" and ds.nodata == 0 and ds.tags()["lcz_coding"] == "101-107"
        assert set(np.unique(ds.read(1)).tolist()) == {2, 3, 5, 6, 8, 9, 101, 102, 103, 104, 105, 106, 107}
    out = run("assess", str(ZARAGOZA), "--against", str(recoded))
    assert "OA 1.000" in out and "kappa 1.000" in out


def test_ucp_sample_render(tmp_path):
    run("ucp", str(ZARAGOZA), str(tmp_path / "ucp.tif"), "--parameter", "building_surface_fraction")
    with rasterio.open(tmp_path / "ucp.tif") as ds:
        ucp = ds.read(1)
    with rasterio.open(ZARAGOZA) as ds:
        lcz = ds.read(1)
    assert np.isclose(ucp[lcz == 2], 0.55).all() and np.isclose(ucp[lcz == 14], 0.05).all()
    (tmp_path / "pts.csv").write_text("name,lon,lat\ncentre,-0.8891,41.6488\nfields,-1.0,41.66\n")
    run("sample", str(ZARAGOZA), str(tmp_path / "pts.csv"), str(tmp_path / "s.csv"), "--buffer", "300")
    import pandas as pd

    s = pd.read_csv(tmp_path / "s.csv")
    shares = s[[c for c in s.columns if c.startswith("lcz_") and c not in ("lcz_label", "lcz_name")]]
    assert s["lcz"].tolist() == [2, 14] and np.allclose(shares.sum(axis=1) + s["nodata"], 1)
    run("render", str(ZARAGOZA), str(tmp_path / "z.png"))
    assert (tmp_path / "z.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_check_wrf_on_the_real_map_and_domain():
    out = run("check-wrf", str(ZARAGOZA), str(GEO_EM))
    assert "urban cells (FRC_URB2D > 0.2): 369, classes 2, 3, 5, 6, 8, 9" in out and "ready for w2w" in out
    assert read_wrf_domain(GEO_EM).shape == (102, 162)


def test_check_wrf_refuses_a_map_smaller_than_the_domain(tmp_path):
    with rasterio.open(ZARAGOZA) as src:
        window = rasterio.windows.Window(300, 200, 600, 400)
        profile = src.profile | {"width": 600, "height": 400, "transform": src.window_transform(window)}
        with rasterio.open(tmp_path / "small.tif", "w", **profile) as dst:
            dst.write(src.read(window=window))
    res = CliRunner().invoke(main, ["check-wrf", str(tmp_path / "small.tif"), str(GEO_EM)])
    assert res.exit_code == 1
    assert "Error: small.tif does not cover the WRF domain" in res.output and "Traceback" not in res.output


def zaragoza_copy(path, data=None, descriptions=None):
    """w2w's Zaragoza map written again, with other pixels (bands) or band descriptions."""
    with rasterio.open(ZARAGOZA) as src:
        bands = src.read() if data is None else data
        profile = src.profile | {"count": bands.shape[0]}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(bands)
        for i, text in enumerate(descriptions or (), start=1):
            dst.set_band_description(i, text)
    return path


@pytest.mark.parametrize("top", [2, 3])
def test_check_wrf_refuses_a_domain_whose_urban_classes_stop_wrf(tmp_path, top):
    """Built LCZ only up to 3: WRF takes the largest urban class (UTYPE_URB2D) in the domain and stops
    at 3 or less, taking the domain for one of the three old urban classes."""
    with rasterio.open(ZARAGOZA) as src:
        data = src.read()
    data = np.where(np.isin(data, range(top + 1, 11)), top, data).astype(np.int32)
    check = check_wrf(zaragoza_copy(tmp_path / "low.tif", data), GEO_EM)
    assert not check.ok and max(check.urban_classes) == top
    assert "OLD 3 URBAN CLASSES" in check.problems[0]
    with rasterio.open(ZARAGOZA) as src:
        data = src.read()
    data = np.where(np.isin(data, range(top + 1, 11)), 4, data).astype(np.int32)
    assert check_wrf(zaragoza_copy(tmp_path / "four.tif", data), GEO_EM).ok  # LCZ 4 is enough


def test_check_wrf_takes_w2w_s_threshold_and_built_classes():
    out = run("check-wrf", str(ZARAGOZA), str(GEO_EM), "--frc-threshold", "0.5")
    assert "urban cells (FRC_URB2D > 0.5): 114, classes 2, 3, 5, 6, 8;" in out
    # LCZ E (bare rock or paved) built as well: w2w gives it urban class 11, LU_INDEX 41 (61)
    check = check_wrf(ZARAGOZA, GEO_EM, built=(*range(1, 11), 15), wrf_version="4.5.1")
    assert 15 in check.urban_classes and check.urban_cells > 369
    assert 41 in check.lu_index("4.4.1") and 61 in check.lu_index() and max(check.lu_index()) == 61
    assert any("WRF >= 4.4.2" in n for n in check.notes)
    with pytest.raises(ZonesError, match="built classes must be among LCZ 1-10 and 15"):
        check_wrf(ZARAGOZA, GEO_EM, built=(1, 12))
    res = CliRunner().invoke(main, ["check-wrf", str(ZARAGOZA), str(GEO_EM), "--wrf-version", "four"])
    assert res.exit_code == 1 and res.output.strip().splitlines()[-1].startswith("Error: WRF version 'four'")
    assert "Traceback" not in res.output


def test_check_wrf_says_which_band_w2w_takes(tmp_path):
    """w2w takes band 2 of any map whose band names hold 'lczFilter', whatever its -l says."""
    with rasterio.open(ZARAGOZA) as src:
        one = src.read(1)
    generator = zaragoza_copy(tmp_path / "gen.tif", np.stack([one, one, one]), ("lcz", "lczFilter", "classProbability"))
    assert check_wrf(generator, GEO_EM).band == 2 and check_wrf(generator, GEO_EM).ok
    raw = check_wrf(generator, GEO_EM, band="lcz")
    assert raw.band == 1 and any("ignores its -l" in n and "--band 1" in n for n in raw.notes)
    alone = check_wrf(zaragoza_copy(tmp_path / "filter.tif", descriptions=("lczFilter",)), GEO_EM)
    assert not alone.ok and "has one band, named lczFilter" in alone.problems[0]
    plain = check_wrf(zaragoza_copy(tmp_path / "two.tif", np.stack([one, one])), GEO_EM, band=2)
    assert any("run it with -l 1 for band 2" in n for n in plain.notes)


@pytest.mark.parametrize("version, first", [(None, 31), ("4.4.1", 31), ("4.4.2", 51), ("v4.5.1", 51)])
def test_wrf_versions_code_urban_lcz_31_or_51(version, first):
    from lczmap.downstream import wrf_urban_offset

    assert wrf_urban_offset(version) + 1 == first


def test_geo_em_read_from_netcdf_classic_too(tmp_path):
    """WPS often writes netCDF classic: the same domain read through scipy gives the same grid."""
    from scipy.io import netcdf_file

    dom = read_wrf_domain(GEO_EM)
    with netcdf_file(tmp_path / "geo_em.d01.nc", "w") as f:
        f.createDimension("Time", 1)
        f.createDimension("south_north", dom.shape[0])
        f.createDimension("west_east", dom.shape[1])
        for name, values in (("XLAT_M", dom.lat), ("XLONG_M", dom.lon)):
            v = f.createVariable(name, "f", ("Time", "south_north", "west_east"))
            v[:] = values[None].astype(np.float32)
        for attr in ("MAP_PROJ", "DX", "DY", "CEN_LAT", "CEN_LON", "TRUELAT1", "TRUELAT2", "STAND_LON"):
            key = {"MAP_PROJ": "map_proj", "DX": "dx", "DY": "dy", "CEN_LAT": "cen_lat", "CEN_LON": "cen_lon"}.get(attr)
            value = getattr(dom, key or attr.lower())
            setattr(f, attr, np.int32(value) if attr == "MAP_PROJ" else np.float32(value))
    classic = read_wrf_domain(tmp_path / "geo_em.d01.nc")
    assert classic.shape == dom.shape and classic.proj4 == dom.proj4
    assert classic.transform.almost_equals(dom.transform)
