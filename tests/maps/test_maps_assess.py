"""assess_map and `lczmap assess`: a case counted by hand, outputs, map-to-map, bad input."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from _maps_fixtures import HAND_MAP, UTM, X0, Y0, cell, hand_pairs, hand_reference, run, write_raster
from shapely.affinity import translate

from lczmap.errors import OutputExistsError, ZonesError
from lczmap.maps import assess_map


@pytest.fixture
def hand_map(tmp_path):
    return write_raster(tmp_path / "map.tif", HAND_MAP)


def test_oa_and_kappa_equal_a_direct_numpy_count_on_a_hand_case(hand_map):
    result = assess_map(hand_map, hand_reference("EPSG:4326"), draws=0)
    ref, mapped = hand_pairs()
    oa = np.mean(ref == mapped)
    pe = sum(np.mean(ref == k) * np.mean(mapped == k) for k in range(1, 18))
    assert result.pixels == 14 and result.units == 4
    assert result.scores["OA"] == pytest.approx(oa) == pytest.approx(12 / 14)
    assert result.scores["kappa"] == pytest.approx((oa - pe) / (1 - pe)) == pytest.approx(116 / 144)
    assert result.scores["OAu"] == pytest.approx(5 / 7)
    assert result.scores["OAbu"] == pytest.approx(1.0)
    assert result.intervals is None


def test_agreement_layer_json_csv_and_figure(hand_map, tmp_path):
    out = {k: tmp_path / n for k, n in (("json", "a.json"), ("csv", "a.csv"), ("figure", "cm.png"), ("agreement", "u.gpkg"))}
    result = assess_map(
        hand_map,
        hand_reference(),
        json_path=out["json"],
        csv_path=out["csv"],
        figure_path=out["figure"],
        agreement_path=out["agreement"],
        seed=3,
    )
    data = json.loads(out["json"].read_text())
    assert data["scores"]["OA"] == pytest.approx(12 / 14)
    assert data["bootstrap"] == {"draws": 25, "seed": 3, "level": 0.95}
    assert np.array(data["confusion"]["counts"]).sum() == 14
    assert np.array(data["confusion"]["mean"]).shape == (17, 17)
    iv = data["intervals"]["OA"]
    assert iv["low"] <= iv["mean"] <= iv["high"]
    table = pd.read_csv(out["csv"])
    assert set(table["scope"]) >= {"overall", "LCZ 1", "LCZ A"}
    assert out["figure"].read_bytes()[:4] == b"\x89PNG"
    units = gpd.read_file(out["agreement"])
    assert units["ref_lcz"].tolist() == [1, 11, 14, 2]
    assert units["agree"].tolist() == pytest.approx([4 / 6, 1.0, 1.0, 1.0])
    assert units["nodata_px"].tolist() == [0, 0, 1, 0]
    assert units["site"].tolist() == ["p1", "p2", "p3", "pt"]  # the reference's own columns kept
    assert set(result.outputs) == {"json", "csv", "figure", "agreement"}
    with pytest.raises(OutputExistsError):
        assess_map(hand_map, hand_reference(), json_path=out["json"])


def test_codes_101_107_and_a_kml_reference(hand_map, tmp_path):
    frame = hand_reference().assign(LCZ=[1, 101, 104, 2]).rename(columns={"LCZ": "Name"})
    kml = tmp_path / "ref.kml"
    frame[["Name", "geometry"]].assign(Name=frame["Name"].astype(str)).to_file(kml, driver="KML")
    result = assess_map(hand_map, kml, draws=0)
    assert result.extra["field"] == "Name"
    assert result.scores["OA"] == pytest.approx(12 / 14)


def test_against_another_map_on_the_union_grid_honours_nodata(tmp_path):
    a = np.full((4, 4), 2, np.uint8)
    a[0, 0] = 0
    b = np.full((4, 4), 2, np.uint8)
    b[:, 3] = 11
    mine = write_raster(tmp_path / "a.tif", a)
    # the other map: shifted two pixels east, so the union grid is 4 x 6
    other = write_raster(tmp_path / "b.tif", b, transform=__import__("affine").Affine(100, 0, X0 + 200, 0, -100, Y0))
    result = assess_map(mine, against=other, figure_path=tmp_path / "cm.pdf")
    assert result.extra["grid_shape"] == [4, 6]
    assert result.pixels == 8  # columns 2-3 of a against columns 0-1 of b
    assert result.extra["pixels_map_only"] == 7  # 8 pixels of a outside b, one of them no data
    assert result.extra["pixels_other_only"] == 8
    assert result.scores["OA"] == pytest.approx(1.0)
    assert (tmp_path / "cm.pdf").read_bytes()[:4] == b"%PDF"


def test_against_a_map_in_another_crs_is_resampled_by_nearest_neighbour(tmp_path):
    mine = write_raster(tmp_path / "a.tif", HAND_MAP)
    import rasterio
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    with rasterio.open(mine) as src:
        transform, w, h = calculate_default_transform(src.crs, "EPSG:3857", src.width, src.height, *src.bounds)
        dst = np.zeros((h, w), np.uint8)
        reproject(
            HAND_MAP,
            dst,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=transform,
            dst_crs="EPSG:3857",
            resampling=Resampling.nearest,
            src_nodata=0,
            dst_nodata=0,
        )
    other = write_raster(tmp_path / "b.tif", dst, crs="EPSG:3857", transform=transform)
    result = assess_map(mine, against=other)
    assert result.scores["OA"] > 0.8 and set(np.unique(np.nonzero(result.confusion)[0])) <= {0, 1, 10, 13}


def test_bad_reference_input_gives_one_line_errors(hand_map, tmp_path):
    no_field = hand_reference()[["site", "geometry"]]
    with pytest.raises(ZonesError, match=r"no LCZ class field \(fields: site\).*--field"):
        assess_map(hand_map, no_field)
    with pytest.raises(ZonesError, match=r"no field 'klass'.*--field"):
        assess_map(hand_map, hand_reference(), field="klass")
    with pytest.raises(ZonesError, match="not LCZ codes"):
        assess_map(hand_map, hand_reference().assign(LCZ=[1, 2, 99, 3]))
    far = gpd.GeoDataFrame({"lcz": [1]}, geometry=[translate(cell(0, 0), 50_000)], crs=UTM)
    with pytest.raises(ZonesError, match="does not overlap"):
        assess_map(hand_map, far)
    with pytest.raises(ZonesError, match="either REFERENCE"):
        assess_map(hand_map)
    not_lcz = write_raster(tmp_path / "dem.tif", np.full((4, 4), 250.5, np.float32), nodata=None)
    with pytest.raises(ZonesError, match="not LCZ codes"):
        assess_map(not_lcz, hand_reference())


def test_cli_prints_scores_and_fails_in_one_line(hand_map, tmp_path):
    ref = tmp_path / "ref.gpkg"
    hand_reference().to_file(ref)
    done = run(["assess", hand_map, ref, "--json", tmp_path / "a.json", "--draws", "5"])
    assert done.exit_code == 0, done.output
    assert "OA 0.857" in done.output and "kappa 0.806" in done.output and "5 bootstrap draws" in done.output
    bad = run(["-q", "assess", hand_map, ref, "--field", "nope"])
    assert bad.exit_code == 1
    assert bad.output.count("\n") == 1 and bad.output.startswith("Error: ") and "Traceback" not in bad.output


def test_cli_agreement_layer_and_its_old_spelling(hand_map, tmp_path):
    ref = tmp_path / "ref.gpkg"
    hand_reference().to_file(ref)
    done = run(["-q", "assess", hand_map, ref, "--draws", "0", "--agreement-layer", tmp_path / "agree.gpkg"])
    assert done.exit_code == 0, done.output
    assert f"Wrote agreement: {tmp_path / 'agree.gpkg'}" in done.output
    assert gpd.read_file(tmp_path / "agree.gpkg")["agree"].tolist() == pytest.approx([4 / 6, 1.0, 1.0, 1.0])
    old = run(["-q", "assess", hand_map, ref, "--draws", "0", "--units", tmp_path / "old.gpkg"])  # one more release
    assert old.exit_code == 0, old.output
    assert "--units is now --agreement-layer" in old.output
    assert gpd.read_file(tmp_path / "old.gpkg")["agree"].tolist() == pytest.approx([4 / 6, 1.0, 1.0, 1.0])
    both = run(["assess", hand_map, ref, "--units", tmp_path / "a.gpkg", "--agreement-layer", tmp_path / "b.gpkg"])
    assert both.exit_code == 2 and "give only --agreement-layer" in both.output
    assert "--units" not in run(["assess", "--help"]).output
    against = run(["-q", "assess", hand_map, "--against", hand_map, "--agreement-layer", tmp_path / "c.gpkg"])
    assert against.exit_code == 1 and "--agreement-layer (agreement_path)" in against.output
