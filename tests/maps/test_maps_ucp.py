"""Urban canopy parameters: the table, the per-pixel raster and district values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from _maps_fixtures import HAND_MAP, run, write_raster

from lczmap.errors import ZonesError
from lczmap.maps import UCP_PARAMETERS, district_ucp, map_ucp, ucp_table
from lczmap.zones import SHARE_COLUMNS


def test_table_carries_the_papers_ranges():
    low, high, mid = ucp_table("low"), ucp_table("high"), ucp_table("mid")
    assert (low.loc[1, "sky_view_factor"], high.loc[1, "sky_view_factor"]) == pytest.approx((0.2, 0.4))
    assert (low.loc[2, "surface_admittance"], high.loc[2, "surface_admittance"]) == (1500, 2200)
    assert (low.loc[10, "anthropogenic_heat_output"], high.loc[10, "anthropogenic_heat_output"]) == (300, 300)  # ">300"
    assert (low.loc[2, "anthropogenic_heat_output"], high.loc[2, "anthropogenic_heat_output"]) == (0, 75)  # "<75"
    assert (low.loc[8, "sky_view_factor"], high.loc[8, "sky_view_factor"]) == pytest.approx((0.7, 1.0))  # ">0.7"
    assert high.loc[7, "building_surface_fraction"] == pytest.approx(0.9)  # 60-90 %, as a fraction
    assert low.loc[15, "impervious_surface_fraction"] == pytest.approx(0.9)  # E: >90 % impervious
    assert np.isnan(mid.loc[11, "surface_admittance"]) and np.isnan(mid.loc[17, "height_of_roughness_elements"])
    assert mid.loc[4, "terrain_roughness_class"] == 7.5
    both = ucp_table()
    assert list(both.columns[:4]) == ["label", "name", "sky_view_factor_low", "sky_view_factor_mid"]
    assert len(both) == 17


def test_map_ucp_writes_named_float_bands(tmp_path):
    lcz = write_raster(tmp_path / "lcz.tif", HAND_MAP)
    out = map_ucp(lcz, tmp_path / "ucp.tif", value="high")
    table = ucp_table("high")
    with rasterio.open(out) as src:
        assert src.descriptions == tuple(UCP_PARAMETERS)
        assert src.dtypes[0] == "float32" and np.isnan(src.nodata)
        assert src.tags()["ucp_value"] == "high"
        svf = src.read(1)
        albedo = src.read(list(UCP_PARAMETERS).index("surface_albedo") + 1)
    assert svf[0, 0] == pytest.approx(table.loc[1, "sky_view_factor"])
    assert albedo[2, 0] == pytest.approx(table.loc[11, "surface_albedo"])
    assert np.isnan(svf[3, 3])  # no data
    with pytest.raises(ZonesError, match="--parameter"):
        map_ucp(lcz, tmp_path / "x.tif", parameters=("albedo",))
    with pytest.raises(ZonesError, match="--value"):
        map_ucp(lcz, tmp_path / "x.tif", value="max")  # type: ignore[arg-type]


def test_district_ucp_weights_by_class_share():
    shares = pd.DataFrame(0.0, index=range(2), columns=[*SHARE_COLUMNS, "nodata"])
    shares.loc[0, ["lcz_1", "lcz_D", "nodata"]] = [0.25, 0.25, 0.5]
    shares.loc[1, "nodata"] = 1.0
    out = district_ucp(shares, value="mid", prefix="ucp_")
    mid = ucp_table("mid")
    assert out.loc[0, "ucp_sky_view_factor"] == pytest.approx(
        (mid.loc[1, "sky_view_factor"] + mid.loc[14, "sky_view_factor"]) / 2
    )
    assert np.isnan(out.loc[1, "ucp_sky_view_factor"])
    with pytest.raises(ZonesError, match="lcz_1"):
        district_ucp(pd.DataFrame({"x": [1]}))


def test_cli_ucp(tmp_path):
    lcz = write_raster(tmp_path / "lcz.tif", HAND_MAP)
    done = run(["-q", "ucp", lcz, tmp_path / "ucp.tif", "--value", "low", "--parameter", "sky_view_factor"])
    assert done.exit_code == 0, done.output
    with rasterio.open(tmp_path / "ucp.tif") as src:
        assert src.count == 1 and src.descriptions == ("sky_view_factor",)


def test_summarize_with_ucp_adds_district_parameters(tmp_path):
    """`lczmap summarize --by DISTRICTS --ucp mid` adds area-weighted canopy parameters per district,
    equal to district_ucp on the share columns; without --by it is refused in one line."""
    from lczmap.zones import grid_districts, summarize

    lcz = write_raster(tmp_path / "lcz.tif", HAND_MAP)
    districts = grid_districts(lcz, 200)
    table = summarize(lcz, by=districts, ucp="mid")
    expected = district_ucp(table[[*SHARE_COLUMNS, "nodata"]], value="mid")
    for name in UCP_PARAMETERS:
        np.testing.assert_allclose(table[f"ucp_{name}"], expected[f"ucp_{name}"], equal_nan=True)
    assert np.isfinite(table["ucp_sky_view_factor"]).any()
    districts.to_file(tmp_path / "districts.gpkg")
    done = run(["-q", "summarize", lcz, tmp_path / "out.csv", "--by", tmp_path / "districts.gpkg", "--ucp", "high"])
    assert done.exit_code == 0, done.output
    assert "ucp_aspect_ratio" in pd.read_csv(tmp_path / "out.csv").columns
    done = run(["-q", "summarize", lcz, tmp_path / "whole.csv", "--ucp", "low"])
    assert done.exit_code == 1 and "give --by too" in done.output and "Traceback" not in done.output
    assert not (tmp_path / "whole.csv").exists()
