"""The speckle filter inside the tile kernel (halo, tiled == untiled == filtered first), its tags,
and mapping only an area of interest (aligned sub-grid, reads only there, refused outside)."""

import numpy as np
import pytest
import rasterio
import torch
import xarray as xr
from _predict_fixtures import grd, tiny_checkpoint, write_tif
from affine import Affine
from hypothesis import given, settings, strategies as st
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

from lczmap.bands import band_set
from lczmap.errors import ConfigError, SceneError
from lczmap.predict import Model, PredictOptions, output_geobox, predict_dataarray, predict_scene
from lczmap.scene import Scene
from lczmap.speckle import GRD_LOOKS, HALO, filter_channels

torch.set_num_threads(1)
LEE = band_set("lee-intensity", "sar")
UTM = Affine(10, 0, 500000, 0, -10, 5000000)


def _net(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 5, stride=3),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(12, 4),
    )


def _cube(a):
    grid = GeoBox(a.shape[1:], UTM, "EPSG:32632")
    return xr.DataArray(a, dims=("band", "y", "x"), coords=xr_coords(grid, crs_coord_name="spatial_ref"))


@settings(max_examples=8, deadline=None)
@given(stride=st.integers(4, 12), tile=st.integers(1, 7), seed=st.integers(0, 3))
def test_filtered_tiles_equal_the_untiled_map_and_the_scene_filtered_first(stride, tile, seed):
    model = Model(_net(seed), (3, 6, 7, 8), LEE, fill=(0.1, 0.1))
    a = grd(70, 83, seed=seed, border=5)
    a[:, 40:44, 50:52] = np.nan  # a hole: the filter must not spread it
    whole = predict_dataarray(_cube(a), model, stride=stride, tile_size=10_000, probabilities=True)
    tiled = predict_dataarray(_cube(a), model, stride=stride, tile_size=tile, probabilities=True, batch_size=7)
    assert whole.attrs["speckle_filter"] == "refined-lee"  # what a lee-intensity model expects
    np.testing.assert_array_equal(whole.lcz.values, tiled.lcz.values)
    np.testing.assert_allclose(whole.probabilities.values, tiled.probabilities.values, atol=1e-5)
    # the kernel's filter = the whole scene filtered first (mirrored at its edges, as reads are)
    padded = np.pad(a, ((0, 0), (HALO, HALO), (HALO, HALO)), mode="reflect")
    first = filter_channels(torch.from_numpy(padded), LEE, looks=GRD_LOOKS).numpy()  # delivered data: ~4.4 looks
    assert (np.isnan(first) == np.isnan(a)).all()
    pre = predict_dataarray(_cube(first), model, stride=stride, tile_size=tile, probabilities=True, speckle_filter="none")
    np.testing.assert_array_equal(whole.lcz.values, pre.lcz.values)
    np.testing.assert_allclose(whole.probabilities.values, pre.probabilities.values, atol=1e-5)


@pytest.fixture
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("model") / "m.safetensors")


def test_filter_follows_the_band_set_and_is_tagged(ckpt, tmp_path):
    scene = write_tif(tmp_path / "s.tif", grd(90, 100, border=6), descriptions=["VV", "VH"])
    on = predict_scene(scene, tmp_path / "on.tif", ckpt)
    off = predict_scene(scene, tmp_path / "off.tif", ckpt, speckle_filter="none")
    with rasterio.open(on.out) as a, rasterio.open(off.out) as b:
        assert a.tags()["speckle_filter"] == "refined-lee" and b.tags()["speckle_filter"] == "none"
        assert (a.read(1) > 0).sum() == (b.read(1) > 0).sum()  # the filter never changes what is valid
    cplx = tiny_checkpoint(tmp_path / "c.safetensors", sar="vv-complex")
    with pytest.raises(ConfigError, match="--speckle-filter none"):
        predict_scene(scene, tmp_path / "c.tif", cplx, speckle_filter="refined-lee")
    assert not (tmp_path / "c.tif").exists()
    with pytest.raises(ConfigError, match="--speckle-filter"):
        PredictOptions(speckle_filter="lee")


# ------------------------------------------------------------------ area of interest


def _lonlat(grid, rows, cols):
    """(west, south, east, north) of output rows/cols ranges, inset by a tenth of a pixel."""
    from odc.geo.geom import box

    x0, y0 = grid.affine @ (cols[0] + 0.1, rows[1] - 0.1)
    x1, y1 = grid.affine @ (cols[1] - 0.1, rows[0] + 0.1)
    return tuple(box(x0, y0, x1, y1, grid.crs).to_crs("EPSG:4326").boundingbox)


def test_aoi_maps_an_aligned_sub_grid_reading_only_its_tiles(ckpt, tmp_path, monkeypatch):
    a = grd(400, 430, seed=2, border=8)
    scene = write_tif(tmp_path / "s.tif", a, descriptions=["VV", "VH"])
    full = predict_scene(scene, tmp_path / "full.tif", ckpt, tile_size=8)
    with rasterio.open(full.out) as src:
        grid, whole = GeoBox((src.height, src.width), src.transform, src.crs), src.read(1)
    assert grid == output_geobox(GeoBox((400, 430), UTM, "EPSG:32632"), 10)
    rows, cols = (12, 27), (20, 31)
    reads = []
    real_read = Scene.read

    def counting_read(self, r0, r1, c0, c1, out=None):
        reads.append((r0, r1, c0, c1))
        return real_read(self, r0, r1, c0, c1, out=out)

    monkeypatch.setattr(Scene, "read", counting_read)
    aoi = _lonlat(grid, rows, cols)
    res = predict_scene(scene, tmp_path / "aoi.tif", ckpt, tile_size=8, aoi=aoi)
    with rasterio.open(res.out) as src:
        sub, part, tags = GeoBox((src.height, src.width), src.transform, src.crs), src.read(1), src.tags()
    assert sub == grid[rows[0] : rows[1], cols[0] : cols[1]]  # aligned with the full scene's 100 m grid
    assert sub.affine == grid.affine @ Affine.translation(cols[0], rows[0])
    np.testing.assert_array_equal(part, whole[rows[0] : rows[1], cols[0] : cols[1]])  # the same pixels
    assert tags["aoi"] == ",".join(f"{v:g}" for v in aoi)
    # reads: the AOI's windows and the filter halo only (16 + 3 pixels around its footprint)
    # not the units check's 128 x 128 sample at the scene's centre (lczmap.scene.check_linear)
    tile_reads = [r for r in reads if r != (136, 264, 151, 279)]
    assert len(tile_reads) == 2 * 2  # 15 x 11 output pixels in tiles of 8: 2 x 2 tiles
    pad = 16 + HALO
    for r0, r1, c0, c1 in tile_reads:
        assert rows[0] * 10 - pad <= r0 and r1 <= rows[1] * 10 + pad
        assert cols[0] * 10 - pad <= c0 and c1 <= cols[1] * 10 + pad


def test_aoi_from_a_vector_file_and_in_python_cubes(ckpt, tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    a = grd(300, 320, seed=4, border=8)
    scene = write_tif(tmp_path / "s.tif", a, descriptions=["VV", "VH"])
    grid = output_geobox(GeoBox((300, 320), UTM, "EPSG:32632"), 10)
    rows, cols = (5, 17), (9, 25)
    x0, y0 = grid.affine @ (cols[0] + 0.2, rows[1] - 0.2)
    x1, y1 = grid.affine @ (cols[1] - 0.2, rows[0] + 0.2)
    gpd.GeoDataFrame(geometry=[box(x0, y0, x1, y1)], crs="EPSG:32632").to_file(tmp_path / "aoi.gpkg")
    res = predict_scene(scene, tmp_path / "o.tif", ckpt, aoi=str(tmp_path / "aoi.gpkg"))
    with rasterio.open(res.out) as src:
        assert GeoBox((src.height, src.width), src.transform, src.crs) == grid[rows[0] : rows[1], cols[0] : cols[1]]
        part = src.read(1)
    cube = predict_dataarray(_cube(a[::-1].copy()), ckpt, aoi=tmp_path / "aoi.gpkg")  # the model's order: VH, VV
    np.testing.assert_array_equal(cube.values, part)
    assert cube.odc.geobox == grid[rows[0] : rows[1], cols[0] : cols[1]]


def test_aoi_outside_the_scene_or_malformed_is_one_line(ckpt, tmp_path):
    scene = write_tif(tmp_path / "s.tif", grd(100, 100, border=4), descriptions=["VV", "VH"])
    with pytest.raises(SceneError, match="lies outside the scene") as exc:
        predict_scene(scene, tmp_path / "o.tif", ckpt, aoi=(100.0, 10.0, 100.1, 10.1))
    assert "\n" not in str(exc.value) and not (tmp_path / "o.tif").exists()
    for bad, match in (("1,2,3", "not a file"), ("a,b,c,d", "west,south,east,north"), ((3, 1, 2, 4), "west < east")):
        with pytest.raises(ConfigError, match=match):
            PredictOptions(aoi=bad)
    assert PredictOptions(aoi=" 9.1,45.2,9.3,45.4").aoi == (9.1, 45.2, 9.3, 45.4)


def test_cli_speckle_filter_and_aoi(ckpt, tmp_path):
    from click.testing import CliRunner

    from lczmap.cli import main

    scene = write_tif(tmp_path / "s.tif", grd(200, 210, border=6), descriptions=["VV", "VH"])
    grid = output_geobox(GeoBox((200, 210), UTM, "EPSG:32632"), 10)
    aoi = ",".join(f"{v:.6f}" for v in _lonlat(grid, (3, 9), (4, 12)))
    out = tmp_path / "o.tif"
    result = CliRunner().invoke(
        main, ["-q", "predict", str(scene), str(out), "-m", str(ckpt), "--aoi", aoi, "--speckle-filter", "none"]
    )
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as src:
        assert (src.height, src.width) == (6, 8) and src.tags()["speckle_filter"] == "none"
    result = CliRunner().invoke(
        main, ["-q", "predict", str(scene), str(tmp_path / "x.tif"), "-m", str(ckpt), "--aoi", "100,10,100.1,10.1"]
    )
    assert result.exit_code != 0 and "lies outside the scene" in result.output
    result = CliRunner().invoke(main, ["-q", "predict", str(scene), str(tmp_path / "y.tif"), "--speckle-filter", "lee"])
    assert result.exit_code == 2 and "lee" in result.output
