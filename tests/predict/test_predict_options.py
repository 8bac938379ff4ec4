"""PredictOptions (one validated options object for the library, the CLI and QGIS), the grids from
odc-geo, and cubes from rioxarray and odc-geo carrying their CRS."""

import dataclasses

import numpy as np
import pytest
import rasterio
import torch
from _predict_fixtures import grd, tiny_checkpoint, write_tif
from affine import Affine
from hypothesis import given, settings, strategies as st
from odc.geo.geobox import GeoBox

from lczmap.errors import ConfigError, SceneError
from lczmap.predict import PredictOptions, output_geobox, output_grid, plan_tiles, predict_dataarray, predict_scene

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("model") / "m.safetensors")


@pytest.fixture(scope="module")
def scene_tif(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scene")
    return write_tif(folder / "scene.tif", grd(150, 170, border=12), descriptions=["VV", "VH"])


# ------------------------------------------------------------------ options


def test_options_are_frozen_validated_and_name_the_cli_option():
    o = PredictOptions(stride=5, bands=["VV", "VH"])
    assert o.bands == ("VV", "VH") and o.tile_size == 128 and o.max_nodata == 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.stride = 3  # type: ignore[misc]
    for bad, option in (
        (dict(stride=0), "--stride"),
        (dict(tile_size=0), "--tile-size"),
        (dict(max_nodata=1.5), "--max-nodata"),
        (dict(read_threads=0), "--read-threads"),
        (dict(threads=0), "--threads"),
        (dict(batch_size=0), "--batch-size"),
        (dict(filter_sigma=0), "--filter-sigma"),
        (dict(units="dbz"), "--units"),
        (dict(resample="bogus"), "--resample"),
        (dict(device="tpu"), "device"),
    ):
        with pytest.raises(ConfigError, match=option):
            PredictOptions(**bad)
    with pytest.raises(ConfigError, match="--stride"):
        dataclasses.replace(o, stride=-1)  # replace validates again


def test_options_object_equals_keyword_arguments(ckpt, scene_tif, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    a = predict_scene(scene_tif, tmp_path / "a.tif", ckpt, stride=7, tile_size=5, max_nodata=0.3)
    b = predict_scene(scene_tif, tmp_path / "b.tif", ckpt, options=PredictOptions(stride=7, tile_size=5, max_nodata=0.3))
    c = predict_scene(scene_tif, tmp_path / "c.tif", ckpt, options=PredictOptions(stride=7), tile_size=5, max_nodata=0.3)
    assert a.out.read_bytes() == b.out.read_bytes() == c.out.read_bytes()
    with pytest.raises(TypeError, match="stirde"):
        predict_scene(scene_tif, tmp_path / "d.tif", ckpt, stirde=7)


# ------------------------------------------------------------------ grids from odc-geo


def _old_plan(h, w, t):
    return [(i0, min(h, i0 + t), j0, min(w, j0 + t)) for i0 in range(0, h, t) for j0 in range(0, w, t)]


@settings(max_examples=150, deadline=None)
@given(
    h=st.integers(32, 5000),
    w=st.integers(32, 5000),
    s=st.integers(1, 40),
    tile=st.integers(1, 300),
    res=st.sampled_from([10.0, 9.999, 0.0001]),
    x0=st.floats(-1e6, 1e6),
    y0=st.floats(-1e7, 1e7),
)
def test_output_grid_and_tiles_equal_the_closed_forms(h, w, s, tile, res, x0, y0):
    grid = GeoBox((h, w), Affine(res, 0, x0, 0, -res, y0), "EPSG:32632")
    out = output_geobox(grid, s)
    assert (out.shape.y, out.shape.x) == (-(-h // s), -(-w // s)) == output_grid(h, w, s)
    assert out.affine == grid.affine @ Affine.scale(s) and out.crs == grid.crs
    if out.shape.y * out.shape.x <= 20_000 * tile * tile:
        assert plan_tiles(out.shape.y, out.shape.x, tile) == _old_plan(out.shape.y, out.shape.x, tile)


# ------------------------------------------------------------------ cubes with their CRS


def _geotiff_map(ckpt, scene_tif, tmp_path):
    res = predict_scene(scene_tif, tmp_path / "ref.tif", ckpt, tile_size=6)
    with rasterio.open(res.out) as ds:
        return ds.read(1), ds.transform, ds.crs


def test_rioxarray_cube_maps_like_the_geotiff(ckpt, scene_tif, tmp_path):
    rioxarray = pytest.importorskip("rioxarray")
    ref, transform, crs = _geotiff_map(ckpt, scene_tif, tmp_path)
    da = rioxarray.open_rasterio(scene_tif, chunks={"x": 64, "y": 64})  # band 1, 2 = VV, VH; NaN nodata
    da = da.assign_coords(band=["VV", "VH"])
    out = predict_dataarray(da, ckpt, tile_size=6)
    np.testing.assert_array_equal(out.values, ref)
    assert out.rio.crs == crs and out.rio.transform() == transform
    assert out.odc.geobox.affine == transform


def test_odc_geo_cube_maps_like_the_geotiff(ckpt, scene_tif, tmp_path):
    import xarray as xr
    from odc.geo.xr import xr_coords

    ref, transform, crs = _geotiff_map(ckpt, scene_tif, tmp_path)
    with rasterio.open(scene_tif) as src:
        grid = GeoBox(src.shape, src.transform, src.crs.to_wkt())
        a = src.read()
    da = xr.DataArray(a, dims=("band", "y", "x"), coords={"band": ["VV", "VH"], **xr_coords(grid, crs_coord_name="spatial_ref")})
    ds = predict_dataarray(da, ckpt, tile_size=6, probabilities=True)
    np.testing.assert_array_equal(ds.lcz.values, ref)
    assert ds.lcz.odc.geobox == output_geobox(grid, 10) and ds.probabilities.odc.crs == grid.crs


def test_cube_without_crs_is_refused(ckpt):
    import xarray as xr

    a = grd(64, 64)
    bare = xr.DataArray(
        a, dims=("band", "y", "x"), coords={"y": 5e6 - 5 - 10.0 * np.arange(64), "x": 5e5 + 5 + 10.0 * np.arange(64)}
    )
    with pytest.raises(SceneError, match="no CRS"):
        predict_dataarray(bare, ckpt)
    with pytest.raises(SceneError, match="no CRS"):
        predict_dataarray(xr.DataArray(a, dims=("band", "y", "x")), ckpt)
    with pytest.raises(ConfigError, match="units"):
        predict_dataarray(bare, ckpt, units="db")


# ------------------------------------------------------------------ the plan: resolved once


def test_plan_resolves_device_filter_halo_and_batch_once(ckpt):
    from lczmap.predict import TilePlan, load_model

    m = load_model(ckpt)
    plan = PredictOptions(device="cpu", tile_size=9).resolve(m, None)
    assert isinstance(plan, TilePlan) and plan.device == "cpu" and plan.batch == 512 and plan.tile_size == 9
    assert plan.speckle_filter == "refined-lee" and plan.halo == 3 and plan.patch == m.patch_size
    assert PredictOptions(device="cpu", speckle_filter="none").resolve(m, None).halo == 0
    prefiltered = type("Prefiltered", (), {"prefiltered": True})()  # a scene whose reader filtered the Lee channels
    assert PredictOptions(device="cpu").resolve(m, prefiltered).speckle_filter == "none"  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="smooth twice"):
        PredictOptions(device="cpu", speckle_filter="refined-lee").resolve(m, prefiltered)  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.device = "cuda"  # type: ignore[misc]
    # a cluster run's plan keeps the device as asked; each worker resolves it for itself
    remote = dataclasses.replace(plan, device="auto", batch_size=None, on_workers=True)
    with pytest.raises(ConfigError, match="worker"):
        _ = remote.batch
    here = remote.here()
    assert not here.on_workers and here.device in ("cpu", "cuda", "mps") and here.batch in (512, 4096)
