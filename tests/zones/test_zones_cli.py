"""`lczmap zones` and `lczmap summarize`: exit codes and messages."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from _zones_fixtures import UTM, run, write_halves, write_raster
from shapely.geometry import Polygon, box


@pytest.fixture
def halves(tmp_path):
    """10 x 10 pixels: the western half LCZ 2, the eastern half LCZ A, the last row no data."""
    return write_halves(tmp_path / "lcz.tif")


def test_cli_zones_and_summaries(tmp_path, halves):
    out = tmp_path / "zones.shp"
    result = run(["-q", "zones", str(halves), str(out), "--min-area", "20000"])
    assert result.exit_code == 0, result.output
    assert "Wrote 2 zones" in result.output and out.exists() and (tmp_path / "zones.qml").exists()
    result = run(["-q", "zones", str(halves), str(out)])
    assert result.exit_code == 1 and "Error: " in result.output and "--overwrite" in result.output

    gpd.GeoDataFrame({"name": ["a"]}, geometry=[box(500000, 5000100, 500500, 5001000)], crs=UTM).to_file(tmp_path / "d.geojson")
    result = run(
        [
            "-q",
            "summarize",
            str(halves),
            "--by",
            str(tmp_path / "d.geojson"),
            str(tmp_path / "s.gpkg"),
            "--csv",
            str(tmp_path / "s.csv"),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Summarised 1 districts" in result.output
    header = (tmp_path / "s.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["name", "area_m2", "lcz_1"] and "nodata" in header and "dominant" in header

    result = run(["summarize", str(halves)])
    assert result.exit_code == 0, result.output
    assert "Compact mid-rise" in result.output and "No data" in result.output

    bowtie = Polygon([(500000, 5000100), (501000, 5001000), (501000, 5000100), (500000, 5001000)])
    gpd.GeoDataFrame({"name": ["b"]}, geometry=[bowtie], crs=UTM).to_file(tmp_path / "bad.gpkg")
    result = run(["summarize", str(halves), "--by", str(tmp_path / "bad.gpkg"), str(tmp_path / "b.csv")])
    assert result.exit_code == 0, result.output
    assert "repaired 1 invalid geometries (rows 0)" in result.output  # the log line
    assert "Summarised 1 districts into" in result.output and "1 invalid geometries repaired" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["zones", "{lcz}", "{tmp}/z.txt"], "cannot tell the format"),
        (["summarize", "{lcz}", "{tmp}/s.gpkg"], "a whole-map summary is a table"),
        (["summarize", "{lcz}", "--layer", "x"], "give --by too"),
        (["summarize", "{lcz}", "--by", "{lcz}"], "give an OUTPUT path"),
        (["zones", "{lcz}", "{tmp}/z.gpkg", "--codes", "101-107"], "not LCZ codes under coding 101-107"),
        (["summarize", "{lcz}", "--by", "{lcz}", "{tmp}/s.csv"], "cannot read districts layer"),
    ],
)
def test_cli_bad_input(tmp_path, halves, args, message):
    codes = np.full((4, 4), 12, np.uint8)
    lcz = write_raster(tmp_path / "b.tif", codes)
    result = run([a.format(lcz=lcz, tmp=tmp_path) for a in args])
    assert result.exit_code in (1, 2) and message in result.output, result.output
    assert "Traceback" not in result.output
