"""Vector zones and per-area summaries (lczmap.zones, `lczmap zones`, `lczmap summarize`).

LCZ rasters are real GeoTIFFs written with rasterio; outputs are read back with geopandas.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon, box

from lczmap.classes import LCZ_CLASSES
from lczmap.cli import main
from lczmap.errors import OutputExistsError
from lczmap.zones import (
    SHARE_COLUMNS,
    ZonesError,
    _sieve_array,
    _sieve_halo,
    _sieved_strips,
    grid_districts,
    inspect_lcz,
    summarize,
    zones,
    zones_qml,
)

UTM = "EPSG:32633"
ORIGIN = Affine(100, 0, 500000, 0, -100, 5001000)  # 100 m pixels, the LCZ standard scale


def blobby(height, width, seed=0, cell=6, noise=0.05, classes=17):
    """An LCZ-like map: blocks of classes, salt-and-pepper noise, a no-data band on top."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(1, classes + 1, (height // cell + 1, width // cell + 1)).astype(np.uint8)
    codes = np.kron(coarse, np.ones((cell, cell), np.uint8))[:height, :width].copy()
    hit = rng.random(codes.shape) < noise
    codes[hit] = rng.integers(1, classes + 1, int(hit.sum()))
    codes[:3] = 0
    return codes


def write_raster(path, data, crs=UTM, transform=ORIGIN, nodata=0):
    data = np.asarray(data)
    bands = data if data.ndim == 3 else data[None]
    with rasterio.open(
        path, "w", driver="GTiff", width=bands.shape[2], height=bands.shape[1], count=bands.shape[0],
        dtype=bands.dtype, crs=crs, transform=transform, nodata=nodata,
    ) as dst:
        dst.write(bands)
    return path


def zone_set(frame):
    """Zones as comparable values: (code, pixels, normalised geometry)."""
    wkb = shapely.to_wkb(shapely.normalize(frame.geometry.values))
    return sorted(zip(frame["lcz"].tolist(), frame["pixels"].tolist(), wkb))


def run(args):
    return CliRunner().invoke(main, args)


# --------------------------------------------------------------------------------------------
# The sieve


def test_sieve_rules():
    codes = np.full((12, 12), 1, np.uint8)
    codes[:, 6:] = 2
    codes[2, 2] = 3  # one pixel inside class 1: dissolved into 1
    codes[5:8, 5] = 4  # three pixels bordering 1 (3 edges + ends) and 2 (3 edges): ties -> lowest code
    codes[9:12, 9:12] = 5  # 9 pixels: kept at min 9
    codes[0, 11] = 0
    codes[1, 11] = 0
    codes[0, 10] = 0  # no data: never filled, never a target
    out = _sieve_array(codes, 9)
    assert out[2, 2] == 1
    assert (out[5:8, 5] == 1).all()
    assert (out[9:12, 9:12] == 5).all()
    assert out[0, 11] == 0 and out[1, 11] == 0 and out[0, 10] == 0
    assert _sieve_array(codes, 10)[10, 10] == 2  # at 10 the block is small and joins class 2


def test_sieve_keeps_islands_without_large_neighbours():
    codes = np.zeros((7, 7), np.uint8)
    codes[3, 3] = 7  # alone in no data
    codes[0:2, 0:2] = 4
    assert (_sieve_array(codes, 5) == codes).all()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    min_pixels=st.integers(2, 6),
    block_rows=st.integers(1, 40),
    cell=st.integers(1, 5),
)
def test_sieve_in_strips_equals_whole_map(tmp_path_factory, seed, min_pixels, block_rows, cell):
    height = 2 * _sieve_halo(min_pixels) + 3 * block_rows + 7  # strips never see the whole map
    codes = blobby(height, 23, seed=seed, cell=cell, noise=0.2, classes=5)
    path = write_raster(tmp_path_factory.mktemp("sieve") / "lcz.tif", codes)
    info = inspect_lcz(path)
    with rasterio.open(path) as src:
        strips = list(_sieved_strips(src, info, min_pixels, block_rows))
    assert [r0 for r0, _ in strips] == list(range(0, height, block_rows))
    assert np.array_equal(np.vstack([s for _, s in strips]), _sieve_array(codes, min_pixels))


# --------------------------------------------------------------------------------------------
# zones()


def test_zones_in_strips_equal_whole_map(tmp_path):
    codes = blobby(130, 90, seed=3)
    lcz = write_raster(tmp_path / "lcz.tif", codes)
    whole = zones(lcz, tmp_path / "whole.gpkg", min_area=50_000, block_rows=4096)
    strips = zones(lcz, tmp_path / "strips.gpkg", min_area=50_000, block_rows=16, style=False)
    assert whole.min_pixels == 5 and whole.zones == strips.zones
    a, b = gpd.read_file(whole.path), gpd.read_file(strips.path)
    assert zone_set(a) == zone_set(b)
    assert a.is_valid.all() and set(a.geom_type) == {"Polygon"}
    # every zone of the sieved map reaches the minimum (none borders only no data here)
    assert a["pixels"].min() >= 5
    assert np.allclose(a["area_m2"], a.area) and np.allclose(a["area_m2"], a["pixels"] * 10_000)
    assert a.area.sum() == pytest.approx((codes > 0).sum() * 10_000)
    # zones of one code never share an edge (they would be one zone)
    for _, group in a.groupby("lcz"):
        touching = group.sindex.query(group.geometry, predicate="touches")
        for i, j in touching.T:
            if i < j:
                assert group.geometry.iloc[i].intersection(group.geometry.iloc[j]).length == 0


def test_zones_without_sieve_match_pixels(tmp_path):
    codes = blobby(40, 30, seed=5, noise=0.3)
    lcz = write_raster(tmp_path / "lcz.tif", codes)
    result = zones(lcz, tmp_path / "z.gpkg", block_rows=16)
    frame = gpd.read_file(result.path)
    burnt = rasterio.features.rasterize(
        zip(frame.geometry, frame["lcz"]), out_shape=codes.shape, transform=ORIGIN, dtype="uint8"
    )
    assert np.array_equal(burnt, codes)


@pytest.mark.parametrize("ext", [".gpkg", ".parquet", ".geojson", ".shp", ".fgb"])
def test_zone_attributes_in_each_format(tmp_path, ext):
    codes = np.full((20, 20), 12, np.uint8)  # LCZ B
    codes[:, :8] = 2
    codes[15:, 15:] = 17
    lcz = write_raster(tmp_path / "lcz.tif", codes)
    out = tmp_path / f"zones{ext}"
    result = zones(lcz, out)
    frame = gpd.read_parquet(out) if ext == ".parquet" else gpd.read_file(out)
    assert frame.crs == UTM and result.style == tmp_path / "zones.qml"
    rows = frame.sort_values("lcz").reset_index(drop=True)
    assert rows["lcz"].tolist() == [2, 12, 17]
    assert rows["label"].tolist() == ["2", "B", "G"]
    assert rows["name"].tolist() == ["Compact mid-rise", "Scattered trees", "Water"]
    assert rows["colour"].tolist() == ["#d10000", "#00aa00", "#6a6aff"]
    assert rows["area_m2"].tolist() == [160 * 1e4, 215 * 1e4, 25 * 1e4]


def test_zone_mean_confidence_and_probabilities(tmp_path):
    codes = np.full((10, 10), 6, np.uint8)
    codes[:, 5:] = 8
    lcz = write_raster(tmp_path / "lcz.tif", codes)
    conf = np.where(np.arange(10)[None, :] < 5, 0.2, 0.9).astype(np.float32) * np.ones((10, 1), np.float32)
    conf[::2, :5] = 0.4  # left half: mean 0.3
    conf[0, 9] = np.nan  # unknown confidence: left out of the mean
    write_raster(tmp_path / "conf.tif", conf, nodata=None)
    frame = gpd.read_file(zones(lcz, tmp_path / "z.gpkg", confidence=tmp_path / "conf.tif").path)
    mean = dict(zip(frame["lcz"], frame["confidence"]))
    assert mean[6] == pytest.approx(0.3) and mean[8] == pytest.approx(0.9)

    probs = np.stack([conf, 1 - conf, np.full_like(conf, 0.5)])
    write_raster(tmp_path / "probs.tif", probs, nodata=None)
    frame = gpd.read_file(zones(lcz, tmp_path / "p.gpkg", confidence=tmp_path / "probs.tif", style=False).path)
    mean = dict(zip(frame["lcz"], frame["confidence"]))
    assert mean[6] == pytest.approx(0.7) and mean[8] == pytest.approx((49 * 0.9 + 0.5) / 50)  # NaN -> other bands

    write_raster(tmp_path / "small.tif", conf[:5], nodata=None)
    with pytest.raises(ZonesError, match="not on the LCZ map's grid"):
        zones(lcz, tmp_path / "bad.gpkg", confidence=tmp_path / "small.tif")


def test_other_products_codes_and_nodata(tmp_path):
    codes = blobby(50, 40, seed=8)
    native = write_raster(tmp_path / "native.tif", codes)
    other = np.where(codes > 10, codes.astype(np.int16) + 90, codes.astype(np.int16))
    other[codes == 0] = -9999
    product = write_raster(tmp_path / "product.tif", other, nodata=-9999)
    assert inspect_lcz(product).scheme == "101-107"
    a = gpd.read_file(zones(native, tmp_path / "a.gpkg", min_area=30_000).path)
    b = gpd.read_file(zones(product, tmp_path / "b.gpkg", min_area=30_000, codes="101-107").path)
    assert zone_set(a) == zone_set(b)
    assert summarize(product)["pixels"].tolist() == summarize(native)["pixels"].tolist()

    # nodata given by the user: 255 undeclared in the file
    undeclared = np.where(codes == 0, 255, codes).astype(np.uint8)
    path = write_raster(tmp_path / "undeclared.tif", undeclared, nodata=None)
    with pytest.raises(ZonesError, match=r"not LCZ codes.*\(255\).*--nodata"):
        inspect_lcz(path)
    assert summarize(path, nodata=255)["pixels"].tolist() == summarize(native)["pixels"].tolist()


@pytest.mark.parametrize(
    "values, kwargs, message",
    [
        ([1, 5, 200], {}, r"not LCZ codes under coding 1-17 \(200\)"),
        ([1, 12, 103], {}, "mixed"),
        ([1, 12], {"codes": "101-107"}, r"not LCZ codes under coding 101-107 \(12\)"),
        ([0, 0], {}, "no LCZ pixels"),
    ],
)
def test_values_that_are_not_lcz_codes(tmp_path, values, kwargs, message):
    data = np.resize(np.asarray(values, np.uint8), (6, 6))
    path = write_raster(tmp_path / "bad.tif", data, nodata=None)
    with pytest.raises(ZonesError, match=message):
        zones(path, tmp_path / "z.gpkg", **kwargs)
    assert not (tmp_path / "z.gpkg").exists()


def test_outputs_are_not_overwritten(tmp_path):
    lcz = write_raster(tmp_path / "lcz.tif", blobby(20, 20))
    zones(lcz, tmp_path / "z.gpkg")
    before = (tmp_path / "z.gpkg").read_bytes()
    with pytest.raises(OutputExistsError):
        zones(lcz, tmp_path / "z.gpkg")
    assert (tmp_path / "z.gpkg").read_bytes() == before
    zones(lcz, tmp_path / "z.gpkg", min_area=40_000, overwrite=True)
    assert (tmp_path / "z.gpkg").read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lcz.tif", "z.gpkg", "z.qml"]  # no temporaries


def test_geographic_raster_areas(tmp_path):
    codes = blobby(60, 80, seed=2)
    transform = Affine(0.001, 0, 13.0, 0, -0.001, 52.5)  # ~68 m x 111 m pixels
    lcz = write_raster(tmp_path / "lcz.tif", codes, crs="EPSG:4326", transform=transform)
    frame = gpd.read_file(zones(lcz, tmp_path / "z.gpkg").path)
    equal_area = frame.to_crs("EPSG:8857").area
    assert np.allclose(frame["area_m2"], equal_area, rtol=5e-3)
    table = summarize(lcz)
    assert table["area_m2"][:17].sum() == pytest.approx(frame["area_m2"].sum())
    grid = grid_districts(lcz, 1000)
    assert grid.crs.to_epsg() == 8857
    shares = summarize(lcz, by=grid)
    assert (shares["area_m2"] * (1 - shares["nodata"])).sum() == pytest.approx(frame["area_m2"].sum(), rel=5e-3)


# --------------------------------------------------------------------------------------------
# summarize()


@pytest.fixture
def halves(tmp_path):
    """10 x 10 pixels: the western half LCZ 2, the eastern half LCZ A, the last row no data."""
    codes = np.full((10, 10), 11, np.uint8)
    codes[:, :5] = 2
    codes[9, :] = 0
    return write_raster(tmp_path / "lcz.tif", codes)


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


def test_qml_style(tmp_path):
    from lczmap.zones import _STYLE

    assert _STYLE.read_text() == zones_qml()  # the shipped file is the generated one
    root = ET.fromstring(zones_qml())
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "lcz"
    categories = renderer.findall("categories/category")
    assert [int(c.get("value")) for c in categories] == list(range(1, 18))
    assert categories[10].get("label") == "A Dense trees"
    colours = {s.get("name"): s.find("layer/Option/Option[@name='color']").get("value") for s in renderer.findall("symbols/symbol")}
    for category, lcz in zip(categories, LCZ_CLASSES):
        assert colours[category.get("symbol")] == "{},{},{},255".format(*lcz.rgb)


# --------------------------------------------------------------------------------------------
# CLI


def test_cli_zones_and_summaries(tmp_path, halves):
    out = tmp_path / "zones.shp"
    result = run(["-q", "zones", str(halves), str(out), "--min-area", "20000"])
    assert result.exit_code == 0, result.output
    assert "Wrote 2 zones" in result.output and out.exists() and (tmp_path / "zones.qml").exists()
    result = run(["-q", "zones", str(halves), str(out)])
    assert result.exit_code == 1 and "Error: " in result.output and "--overwrite" in result.output

    gpd.GeoDataFrame({"name": ["a"]}, geometry=[box(500000, 5000100, 500500, 5001000)], crs=UTM).to_file(
        tmp_path / "d.geojson"
    )
    result = run(["-q", "summarize", str(halves), "--by", str(tmp_path / "d.geojson"), str(tmp_path / "s.gpkg"),
                  "--csv", str(tmp_path / "s.csv")])
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


# --------------------------------------------------------------------------------------------
# The parts zones meets: predict's LCZ COGs and the synthetic twin scene


def test_reads_predicts_lcz_cog(tmp_path):
    from lczmap.raster import write_lcz

    codes = blobby(64, 48, seed=4)
    cog = write_lcz(tmp_path / "map.tif", codes, ORIGIN, UTM)
    plain = write_raster(tmp_path / "plain.tif", codes)
    assert inspect_lcz(cog).is_native
    a = gpd.read_file(zones(cog, tmp_path / "a.gpkg", min_area=40_000, style=False).path)
    b = gpd.read_file(zones(plain, tmp_path / "b.gpkg", min_area=40_000, style=False).path)
    assert zone_set(a) == zone_set(b)


def test_twin_scene_truth_zones_and_district_summary(tmp_path):
    from lczmap.data.synthetic import write_scene

    _, truth = write_scene(tmp_path / "scene.tif", size=(300, 400), seed=1)
    result = zones(truth, tmp_path / "zones.gpkg", min_area=20_000, block_rows=16)
    frame = gpd.read_file(result.path)
    assert result.zones == len(frame) > 0 and frame.is_valid.all()
    summary = summarize(truth, tmp_path / "districts.gpkg", by=grid_districts(truth, 1000), csv_path=tmp_path / "d.csv")
    table = summarize(truth)
    classified = (summary["area_m2"] * (1 - summary["nodata"])).sum()
    assert classified == pytest.approx(table["area_m2"][:17].sum())
    assert frame["area_m2"].sum() == pytest.approx(classified)
