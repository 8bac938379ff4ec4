"""Zone polygons (lczmap.zones.vectorize_zones, also lczmap.zones.zones).

LCZ rasters are real GeoTIFFs written with rasterio; outputs are read back with geopandas.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from _zones_fixtures import ORIGIN, UTM, blobby, write_raster, zone_set
from affine import Affine

from lczmap.errors import OutputExistsError
from lczmap.zones import ZonesError, grid_districts, inspect_lcz, summarize, vectorize_zones, zones


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


def test_zones_in_one_row_strips_equal_whole_map(tmp_path):
    """Stitching at every row: combs and U shapes whose arms join (or part) across strip edges."""
    codes = blobby(40, 30, seed=6, cell=2, noise=0.3, classes=3)
    codes[5:15, 2:12] = 1
    codes[5:13, 4:10:2] = 2  # a comb in class 1: teeth (separate zones down to row 12) ...
    codes[13, 4:9] = 2  # ... joined by its back in row 13
    codes[16:26, 2:12] = 2
    codes[17, 4:9] = 3  # the comb upside down: one zone in row 17 ...
    codes[18:26, 4:10:2] = 3  # ... parts into teeth below
    lcz = write_raster(tmp_path / "lcz.tif", codes)
    whole = vectorize_zones(lcz, tmp_path / "whole.gpkg", block_rows=4096, style=False)
    rows = zones(lcz, tmp_path / "rows.gpkg", block_rows=1, style=False)
    assert zones is vectorize_zones and whole.zones == rows.zones
    a, b = gpd.read_file(whole.path), gpd.read_file(rows.path)
    assert zone_set(a) == zone_set(b) and b.is_valid.all()


def test_zones_without_sieve_match_pixels(tmp_path):
    codes = blobby(40, 30, seed=5, noise=0.3)
    lcz = write_raster(tmp_path / "lcz.tif", codes)
    result = zones(lcz, tmp_path / "z.gpkg", block_rows=16)
    frame = gpd.read_file(result.path)
    burnt = rasterio.features.rasterize(zip(frame.geometry, frame["lcz"]), out_shape=codes.shape, transform=ORIGIN, dtype="uint8")
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
    from lczmap.twin import write_scene

    _, truth = write_scene(tmp_path / "scene.tif", size=(300, 400), seed=1)
    result = zones(truth, tmp_path / "zones.gpkg", min_area=20_000, block_rows=16)
    frame = gpd.read_file(result.path)
    assert result.zones == len(frame) > 0 and frame.is_valid.all()
    summary = summarize(truth, tmp_path / "districts.gpkg", by=grid_districts(truth, 1000), csv_path=tmp_path / "d.csv")
    table = summarize(truth)
    classified = (summary["area_m2"] * (1 - summary["nodata"])).sum()
    assert classified == pytest.approx(table["area_m2"][:17].sum())
    assert frame["area_m2"].sum() == pytest.approx(classified)
