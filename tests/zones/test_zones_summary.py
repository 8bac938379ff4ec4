"""Per-district and whole-map summaries (lczmap.zones.summarize, grid_districts)."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from _zones_fixtures import ORIGIN, UTM, write_halves
from shapely.geometry import Polygon, box

from lczmap.zones import SHARE_COLUMNS, ZonesError, grid_districts, summarize


@pytest.fixture
def halves(tmp_path):
    """10 x 10 pixels: the western half LCZ 2, the eastern half LCZ A, the last row no data."""
    return write_halves(tmp_path / "lcz.tif")


def test_district_shares_weight_edge_pixels_exactly(tmp_path, halves):
    # x 500230..500780 crosses the class edge at 500500 mid-pixel-free; y 5000450..5001100 runs
    # 100 m beyond the map's top edge and cuts pixels in half at the bottom (row 5)
    district = box(500230, 5000450, 500780, 5001100)
    districts = gpd.GeoDataFrame({"name": ["old town"]}, geometry=[district], crs=UTM)
    districts.to_file(tmp_path / "districts.gpkg")
    result = summarize(halves, tmp_path / "summary.gpkg", by=tmp_path / "districts.gpkg")
    row = result.iloc[0]
    inside = 550 / 650
    assert row["area_m2"] == pytest.approx(550 * 650)
    assert row["lcz_2"] == pytest.approx(270 / 550 * inside)
    assert row["lcz_A"] == pytest.approx(280 / 550 * inside)
    assert row["nodata"] == pytest.approx(100 / 650)
    assert row["dominant"] == 11 and row["dom_label"] == "A" and row["dom_name"] == "Dense trees"
    assert row[list(SHARE_COLUMNS)].sum() + row["nodata"] == pytest.approx(1)
    written = gpd.read_file(tmp_path / "summary.gpkg")
    assert written.crs == UTM and written["name"].tolist() == ["old town"]
    assert written["lcz_A"].iloc[0] == pytest.approx(row["lcz_A"])

    # the same district in another CRS: reprojected to the map's, shares unchanged (edges bend
    # slightly in the round trip)
    wgs = summarize(halves, by=districts.to_crs("EPSG:4326")).iloc[0]
    assert wgs["lcz_2"] == pytest.approx(row["lcz_2"], abs=2e-3)
    assert wgs["nodata"] == pytest.approx(row["nodata"], abs=2e-3)


def test_district_outside_the_map_and_no_overlap(tmp_path, halves):
    far = gpd.GeoDataFrame(geometry=[box(600000, 5100000, 601000, 5101000)], crs=UTM)
    with pytest.raises(ZonesError, match="does not overlap"):
        summarize(halves, by=far)
    both = gpd.GeoDataFrame(geometry=[box(500000, 5000100, 500500, 5001000), far.geometry[0]], crs=UTM)
    result = summarize(halves, by=both)
    assert result["lcz_2"].tolist() == [pytest.approx(1.0), 0.0]
    assert result["nodata"].tolist() == [pytest.approx(0.0), 1.0]
    assert result["dominant"].tolist() == [2, 0] and result["dom_name"].tolist() == ["Compact mid-rise", "No data"]


def test_invalid_district_geometries_are_repaired_and_reported(tmp_path, halves, caplog):
    bowtie = Polygon([(500000, 5000100), (501000, 5001000), (501000, 5000100), (500000, 5001000)])
    districts = gpd.GeoDataFrame({"id": [7, 8]}, geometry=[box(500000, 5000100, 500500, 5001000), bowtie], crs=UTM)
    assert not districts.is_valid.all()
    with caplog.at_level(logging.WARNING, logger="lczmap"):
        result = summarize(halves, by=districts)
    assert "repaired 1 invalid geometries (rows 1)" in caplog.text
    assert result.attrs["repaired"] == [1] and result.is_valid.all()
    # the bow tie's two triangles: west one all LCZ 2, east one all LCZ A, equal areas
    assert result["lcz_2"].iloc[1] == pytest.approx(0.5) and result["lcz_A"].iloc[1] == pytest.approx(0.5)


def test_districts_layer_errors(tmp_path, halves):
    no_crs = gpd.GeoDataFrame(geometry=[box(500000, 5000100, 500500, 5001000)])
    with pytest.raises(ZonesError, match="has no CRS"):
        summarize(halves, by=no_crs)
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy([500100], [5000500]), crs=UTM)
    with pytest.raises(ZonesError, match="non-polygon"):
        summarize(halves, by=points)
    with pytest.raises(ZonesError, match="table without geometry"):
        summarize(halves, tmp_path / "map.gpkg")


def test_whole_map_table(tmp_path, halves):
    table = summarize(halves, tmp_path / "map.csv")
    by_code = table.set_index("lcz")
    assert by_code.loc[2, "pixels"] == 45 and by_code.loc[11, "pixels"] == 45 and by_code.loc[0, "pixels"] == 10
    assert by_code.loc[2, "area_m2"] == 450_000
    assert by_code.loc[2, "share"] == pytest.approx(0.5) and by_code.loc[2, "map_share"] == pytest.approx(0.45)
    assert by_code.loc[17, "pixels"] == 0 and len(table) == 18
    assert (tmp_path / "map.csv").read_text().splitlines()[0] == "lcz,label,name,colour,pixels,area_m2,share,map_share"


def test_raster_without_crs(tmp_path):
    path = tmp_path / "nocrs.tif"
    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8", transform=ORIGIN) as dst:
        dst.write(np.ones((1, 4, 4), np.uint8))
    with pytest.raises(ZonesError, match="has no CRS"):
        summarize(path)


def test_grid_districts_cover_the_map(halves):
    grid = grid_districts(halves, 300)
    assert len(grid) == 16 and grid.crs == UTM and grid["district"].iloc[5] == "r001c001"
    assert grid.union_all().contains(box(500000, 5000000, 501000, 5001000))
