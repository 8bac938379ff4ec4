"""sample_points and `lczmap sample`: the LCZ at stations and the shares around them."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from _maps_fixtures import UTM, X0, Y0, run, write_raster
from pyproj import Transformer

from lczmap.errors import ZonesError
from lczmap.maps import sample_points
from lczmap.zones import SHARE_COLUMNS


@pytest.fixture
def halves(tmp_path):
    """40 x 40 pixels: the western half LCZ 2, the eastern half LCZ A."""
    codes = np.full((40, 40), 11, np.uint8)
    codes[:, :20] = 2
    return write_raster(tmp_path / "halves.tif", codes)


def _lonlat(xs, ys):
    return Transformer.from_crs(UTM, "EPSG:4326", always_xy=True).transform(xs, ys)


def test_csv_lon_lat_gives_class_and_exact_shares(halves, tmp_path):
    lon, lat = _lonlat([X0 + 1000, X0 + 2000, X0 + 3050], [Y0 - 2000, Y0 - 2000, Y0 - 2000])
    pd.DataFrame({"station": ["w", "edge", "e"], "Longitude": lon, "Latitude": lat}).to_csv(tmp_path / "s.csv", index=False)
    out = sample_points(halves, tmp_path / "s.csv", tmp_path / "out.csv", buffer=250)
    assert out["lcz"].tolist() == [2, 11, 11]
    assert out["lcz_2"].tolist() == pytest.approx([1.0, 0.5, 0.0], abs=2e-3)  # a circle cut in half at the edge
    assert out["lcz_A"].tolist() == pytest.approx([0.0, 0.5, 1.0], abs=2e-3)
    assert (out[list(SHARE_COLUMNS)].sum(axis=1) + out["nodata"]).tolist() == pytest.approx([1, 1, 1])
    assert out["dominant"].tolist()[0] == 2 and out["dom_label"].tolist()[2] == "A"
    back = pd.read_csv(tmp_path / "out.csv")
    assert list(back["station"]) == ["w", "edge", "e"] and "Longitude" in back


def test_circle_partly_off_the_map_counts_as_nodata(halves):
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([X0 + 50], [Y0 - 2000]), crs=UTM)
    out = sample_points(halves, pts, buffer=200)
    # the map edge is 50 m west of the point: the circular segment beyond it is no data
    d, r = 50.0, 200.0
    segment = r * r * math.acos(d / r) - d * math.sqrt(r * r - d * d)
    assert out["nodata"].iloc[0] == pytest.approx(segment / (math.pi * r * r), abs=3e-3)


def test_xy_columns_with_crs_and_vector_output(halves, tmp_path):
    pd.DataFrame({"X": [X0 + 500], "Y": [Y0 - 500]}).to_csv(tmp_path / "p.csv", index=False)
    out = sample_points(halves, tmp_path / "p.csv", tmp_path / "p.gpkg", buffer=0, crs=UTM)
    assert out["lcz"].tolist() == [2] and "lcz_2" not in out
    assert gpd.read_file(tmp_path / "p.gpkg")["lcz_label"].tolist() == ["2"]


def test_points_outside_the_map_and_missing_columns(halves, tmp_path):
    pd.DataFrame({"lon": [0.0], "lat": [0.0]}).to_csv(tmp_path / "far.csv", index=False)
    with pytest.raises(ZonesError, match="outside"):
        sample_points(halves, tmp_path / "far.csv")
    pd.DataFrame({"a": [1.0], "b": [2.0]}).to_csv(tmp_path / "nocols.csv", index=False)
    with pytest.raises(ZonesError, match="--x and --y"):
        sample_points(halves, tmp_path / "nocols.csv")
    done = run(["-q", "sample", halves, tmp_path / "far.csv", tmp_path / "o.csv"])
    assert done.exit_code == 1 and done.output.startswith("Error: ") and done.output.count("\n") == 1


def test_cli_sample(halves, tmp_path):
    lon, lat = _lonlat([X0 + 1000], [Y0 - 1000])
    pd.DataFrame({"lon": lon, "lat": lat}).to_csv(tmp_path / "s.csv", index=False)
    done = run(["-q", "sample", halves, tmp_path / "s.csv", tmp_path / "o.geojson", "--buffer", "100"])
    assert done.exit_code == 0, done.output
    assert gpd.read_file(tmp_path / "o.geojson")["dominant"].tolist() == [2]
