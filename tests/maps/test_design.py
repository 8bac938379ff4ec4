"""The sample design: allocation, equal-probability draws, points inside their stratum's pixels,
GeoPackage and KML outputs, the command line and its bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pyogrio
import pytest
import rasterio
from _maps_fixtures import blocks, run, write_raster
from affine import Affine

from lczmap.errors import ZonesError
from lczmap.maps import design_sample
from lczmap.maps.design import ALLOCATIONS, ANTICIPATED_UA, allocate, draw_pixels, parse_anticipated


def _pixels(**by_code):
    out = np.zeros(18, np.int64)
    for code, n in by_code.items():
        out[int(code[1:])] = n
    return out


@pytest.mark.parametrize("allocation", ALLOCATIONS)
def test_allocations_sum_to_n_and_keep_the_bounds(allocation):
    rng = np.random.default_rng(0)
    for _ in range(200):
        px = np.zeros(18, np.int64)
        k = rng.integers(1, 18)
        px[rng.choice(np.arange(1, 18), k, replace=False)] = rng.integers(1, 200_000, k) ** rng.integers(1, 3, k) // 3 + 1
        n = int(rng.integers(1, 3000))
        m = int(rng.integers(0, 80))
        floor = np.minimum(m, px)
        if n < floor.sum() or n > px.sum():
            with pytest.raises(ZonesError):
                allocate(px, n, allocation, m)
            continue
        n_h = allocate(px, n, allocation, m)
        assert n_h.sum() == n and n_h[0] == 0
        assert np.all(n_h >= floor) and np.all(n_h <= px), (px, n, m, n_h)


def test_allocation_rules():
    px = _pixels(c1=1_000, c6=20_000, c14=300_000, c17=79_000)
    prop = allocate(px, 800, "proportional", 0)
    assert prop[[1, 6, 14, 17]].tolist() == [2, 40, 600, 158]
    assert allocate(px, 800, "equal", 0)[[1, 6, 14, 17]].tolist() == [200, 200, 200, 200]
    floored = allocate(px, 800, "proportional", 50)  # the small strata raised to 50, the rest by area
    assert floored[[1, 6]].tolist() == [50, 50] and floored[14] > 3 * floored[17]
    # Neyman: N_h sqrt(U_h (1 - U_h)); LCZ 6 (0.7) gains on LCZ G (0.95) against proportional
    ney = allocate(px, 800, "neyman", 0)
    s = np.sqrt([ANTICIPATED_UA[c] * (1 - ANTICIPATED_UA[c]) for c in (1, 6, 14, 17)]) * px[[1, 6, 14, 17]]
    np.testing.assert_allclose(ney[[1, 6, 14, 17]], 800 * s / s.sum(), atol=1)
    assert ney[6] / ney[17] > prop[6] / prop[17]
    # one anticipated accuracy for all classes: Neyman is proportional
    assert allocate(px, 800, "neyman", 0, anticipated=0.8).tolist() == prop.tolist()
    # a class with fewer pixels than the minimum is sampled whole
    tiny = allocate(_pixels(c2=7, c11=5_000), 100, "proportional", 50)
    assert tiny[[2, 11]].tolist() == [7, 93]


def test_allocation_bad_inputs():
    px = _pixels(c1=1_000, c2=1_000, c3=1_000)
    with pytest.raises(ZonesError, match=r"n \(--n\) 100 is below 150, the minimum of 50 points \(--min-per-class\) in each of"):
        allocate(px, 100, "proportional", 50)
    with pytest.raises(ZonesError, match=r"more than the map's 3000 LCZ pixels"):
        allocate(px, 3001, "equal", 0)
    with pytest.raises(ZonesError, match="between 0 and 1"):
        allocate(px, 300, "neyman", 0, anticipated={6: 1.0})
    with pytest.raises(ZonesError, match="unknown allocation"):
        allocate(px, 300, "optimal", 0)  # type: ignore[arg-type]
    assert parse_anticipated(["0.8", "A=0.9", "LCZ 6=0.6"]) == {**dict.fromkeys(ANTICIPATED_UA, 0.8), 11: 0.9, 6: 0.6}


def test_draws_are_distinct_equal_probability_pixels_of_their_stratum():
    """Each pixel of a stratum is drawn with probability n_h / N_h (2,000 draws, chi-square-like
    bound), never twice in one draw, and always of its stratum, across strips."""
    codes = blocks(30, 40, seed=3, cell=5)
    pixels = np.bincount(codes.ravel(), minlength=18)
    n_h = np.minimum(pixels, 4)
    n_h[0] = 0
    rng = np.random.default_rng(5)
    hits = np.zeros(codes.shape)
    draws = 2000
    for _ in range(draws):
        rows, cols, strata = draw_pixels(((r0, codes[r0 : r0 + 7]) for r0 in range(0, 30, 7)), pixels, n_h, rng)
        assert np.all(codes[rows, cols] == strata)
        assert len(set(zip(rows.tolist(), cols.tolist()))) == rows.size == n_h.sum()
        np.add.at(hits, (rows, cols), 1)
    expected = (n_h / np.maximum(pixels, 1))[codes] * draws
    valid = codes > 0
    assert np.all(hits[~valid] == 0)
    z = (hits[valid] - expected[valid]) / np.sqrt(expected[valid] * (1 - expected[valid] / draws))
    assert np.abs(z).max() < 5 and abs(z.mean()) < 0.2 and 0.8 < z.std() < 1.2


def test_design_sample_files(tmp_path):
    codes = blocks(60, 80, seed=2)
    lcz = write_raster(tmp_path / "lcz.tif", codes)
    out = tmp_path / "sample.gpkg"
    drawn = design_sample(lcz, out, n=400, min_per_class=10, seed=4)
    points = drawn.points
    assert len(points) == 400 and drawn.outputs == {"sample": out, "kml": tmp_path / "sample.kml"}
    # every point lies inside a pixel of its stratum (the map class read back at the point)
    with rasterio.open(lcz) as src:
        under = np.array([v[0] for v in src.sample(zip(points.geometry.x, points.geometry.y))])
    assert np.array_equal(under, points["map_lcz"].to_numpy())
    pixels = np.bincount(codes.ravel(), minlength=18)
    assert np.array_equal(points["stratum_px"].to_numpy(), pixels[points["map_lcz"]])
    assert set(points["reference"]) == {""}
    # the GeoPackage: the points, the strata table, the design in the metadata
    assert [name for name, _ in pyogrio.list_layers(out)] == ["sample", "strata"]
    strata = pyogrio.read_dataframe(out, layer="strata")
    assert strata["points"].sum() == 400 and np.array_equal(strata["pixels"], pixels[strata["lcz"]])
    assert strata["weight"].sum() == pytest.approx(1.0)
    meta = json.loads(pyogrio.read_info(out, layer="sample")["dataset_metadata"]["lczmap_design"])
    assert meta["n"] == 400 and meta["seed"] == 4 and meta["allocation"] == "proportional"
    # the KML, read by GDAL: the same points in WGS84 with their fields
    kml = pyogrio.read_dataframe(tmp_path / "sample.kml")
    assert len(kml) == 400 and list(kml["Name"]) == list(points["name"])
    assert np.array_equal(kml["map_lcz"].astype(int), points["map_lcz"])
    wgs = points.to_crs("EPSG:4326")
    np.testing.assert_allclose(kml.geometry.x, wgs.geometry.x, atol=1e-9)
    np.testing.assert_allclose(kml.geometry.y, wgs.geometry.y, atol=1e-9)
    # the same seed draws the same points; another seed others
    again = design_sample(lcz, tmp_path / "again.gpkg", n=400, min_per_class=10, seed=4)
    assert again.points.geometry.equals(points.geometry)
    other = design_sample(lcz, tmp_path / "other.gpkg", n=400, min_per_class=10, seed=5)
    assert not other.points.geometry.equals(points.geometry)


def test_design_on_a_geographic_map(tmp_path):
    """Stratum areas exact on a geographic grid (pixels shrink with latitude): the weights are
    areas, not pixel counts."""
    codes = np.zeros((50, 20), np.uint8)
    codes[:25] = 6  # the northern half, at 60-65 N
    codes[25:] = 14
    lcz = write_raster(tmp_path / "geo.tif", codes, crs="EPSG:4326", transform=Affine(0.1, 0, 10, 0, -0.2, 65))
    drawn = design_sample(lcz, tmp_path / "s.gpkg", n=100, min_per_class=0)
    strata = drawn.strata.set_index("lcz")
    assert strata.loc[6, "pixels"] == strata.loc[14, "pixels"]
    assert strata.loc[6, "weight"] < 0.5 < strata.loc[14, "weight"]
    assert strata.loc[6, "points"] < strata.loc[14, "points"]
    with rasterio.open(lcz) as src:
        under = np.array([v[0] for v in src.sample(zip(drawn.points.geometry.x, drawn.points.geometry.y))])
    assert np.array_equal(under, drawn.points["map_lcz"].to_numpy())


def test_cli_design(tmp_path):
    lcz = write_raster(tmp_path / "lcz.tif", blocks(60, 80, seed=2))
    res = run(["design", lcz, tmp_path / "s.gpkg", "--n", 300, "--min-per-class", 10, "--allocation", "neyman"])
    assert res.exit_code == 0, res.output
    assert "300 points over 17 strata (neyman allocation, seed 0)" in res.output
    assert f"Wrote kml: {tmp_path / 's.kml'}" in res.output
    again = run(["design", lcz, tmp_path / "s.gpkg"])
    assert again.exit_code == 1 and "exists" in again.output and len(again.output.strip().splitlines()) == 1
    few = run(["design", lcz, tmp_path / "t.gpkg", "--n", 100])
    assert few.exit_code == 1
    assert few.output.strip().splitlines() == [
        "Error: n (--n) 100 is below 850, the minimum of 50 points (--min-per-class) in each of the map's 17 classes: "
        "raise --n or lower --min-per-class"
    ]
    bad = run(["design", lcz, tmp_path / "t.gpkg", "--allocation", "neyman", "--anticipated-ua", "Z=0.5"])
    assert bad.exit_code == 1 and "not LCZ codes ('Z')" in bad.output
    shp = run(["design", lcz, tmp_path / "t.shp"])
    assert shp.exit_code == 1 and "end the name of" in shp.output
