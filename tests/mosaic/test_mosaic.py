"""lczmap mosaic: one scene is predict's map, a split acquisition is the whole file's map, twin
acquisitions fuse without seams, tiles + VRT + STAC, resume after SIGKILL, bad inputs in one
line with nothing written, a LocalCluster run, the CLI."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from _mosaic_fixtures import ORIGIN, corrupt_scene, grd, scene
from _predict_fixtures import tiny_checkpoint
from click.testing import CliRunner

from lczmap.cli import main
from lczmap.errors import ConfigError, SceneError
from lczmap.mosaic import MosaicOptions, mosaic_grid, predict_mosaic
from lczmap.mosaic.options import GLOBAL_LCZ_ORIGIN, GLOBAL_LCZ_RESOLUTION
from lczmap.predict import PredictOptions, predict_scene
from lczmap.scene import open_scene

torch.set_num_threads(1)
CPU = {"device": "cpu", "workers": 0}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("model") / "m.safetensors")


@pytest.fixture(scope="module")
def data():
    return grd(150, 170, border=12)


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.transform, ds.crs, ds.tags()


def _outputs(folder):
    return sorted(p.name for p in Path(folder).iterdir())


# ------------------------------------------------------------------ equal to predict


@pytest.mark.parametrize("layout", ["lcz", "lcz-generator"])
def test_one_scene_is_predicts_map(tmp_path, ckpt, data, layout):
    s = scene(tmp_path / "scene.tif", data)
    predict_scene(s, tmp_path / "p.tif", ckpt, device="cpu", layout=layout)
    r = predict_mosaic([s], tmp_path / "m.tif", ckpt, layout=layout, **CPU)
    a, ta, ca, _ = _read(tmp_path / "p.tif")
    b, tb, cb, tags = _read(tmp_path / "m.tif")
    assert a.tobytes() == b.tobytes() and ta == tb and ca == cb
    assert r.shape == a.shape[1:] and r.n_used == 1 and tags["fusion"] == "probability"
    count = _read(tmp_path / "m.count.tif")[0][0]
    assert ((count == 1) == (a[0] != 0)).all()  # one acquisition wherever there is a class
    assert (tmp_path / "m.qml").is_file() and (tmp_path / "m.footprints.gpkg").is_file()


def test_an_area_beyond_the_scene_extends_predicts_grid(tmp_path, ckpt, data):
    """An --aoi larger than the scenes (on one 10 m UTM grid) grows the grid by whole output
    pixels over the area, and where the scene lies the map is still predict's, pixel for pixel."""
    from rasterio.warp import transform_bounds

    s = scene(tmp_path / "scene.tif", data)
    predict_scene(s, tmp_path / "p.tif", ckpt, device="cpu")
    a, ta, _, _ = _read(tmp_path / "p.tif")
    with rasterio.open(s) as ds:
        w, so, e, n = ds.bounds
        aoi = transform_bounds(ds.crs, "EPSG:4326", w - 2500, so - 1500, e + 3000, n + 2000)
    predict_mosaic([s], tmp_path / "m.tif", ckpt, aoi=aoi, **CPU)
    b, tb, _, _ = _read(tmp_path / "m.tif")
    col, row = ~tb @ (ta.c, ta.f)
    assert tb.a == ta.a and col == round(col) > 0 and row == round(row) > 0  # the same lattice, grown
    r, c = round(row), round(col)
    assert b.shape[1] > a.shape[1] + r and b.shape[2] > a.shape[2] + c
    assert b[:, r : r + a.shape[1], c : c + a.shape[2]].tobytes() == a.tobytes()
    assert (b[:, :r] == 0).all() and (b[:, :, :c] == 0).all()


@pytest.mark.parametrize("axis", [0, 1])
def test_split_acquisition_is_the_whole_files_map(tmp_path, ckpt, data, axis):
    """Two files of one acquisition overlapping by one window and the speckle filter's halo on
    each side (32 + 2 x 3 pixels) mosaic to predict's map of the whole file."""
    whole = scene(tmp_path / "whole.tif", data)
    predict_scene(whole, tmp_path / "p.tif", ckpt, device="cpu")
    cut, overlap = 70, 38
    if axis == 0:
        a = scene(tmp_path / "a.tif", data[:, : cut + overlap])
        b = scene(tmp_path / "b.tif", data[:, cut:], row=cut)
    else:
        a = scene(tmp_path / "a.tif", data[:, :, : cut + overlap])
        b = scene(tmp_path / "b.tif", data[:, :, cut:], col=cut)
    predict_mosaic([b, a], tmp_path / "m.tif", ckpt, **CPU)
    assert _read(tmp_path / "p.tif")[0].tobytes() == _read(tmp_path / "m.tif")[0].tobytes()
    count = _read(tmp_path / "m.count.tif")[0][0]
    assert count.max() == 1  # each pixel from the file its window (and halo) lies whole in


# ------------------------------------------------------------------ twin acquisitions


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    from lczmap.twin.acquisitions import write_acquisitions

    folder = tmp_path_factory.mktemp("twins")
    acq = write_acquisitions(folder, 2, size=(160, 160), seed=3, offsets=[(0, 0), (40, 30)])
    files = sorted(str(p) for p in folder.glob("*.tif") if "truth" not in p.name)
    return folder, files, acq


def test_two_overlapping_twin_scenes_fuse(tmp_path, ckpt, twins):
    folder, files, _ = twins
    assert len(files) == 2
    r = predict_mosaic(files, tmp_path / "m.tif", ckpt, confidence=tmp_path / "c.tif", **CPU)
    codes = _read(tmp_path / "m.tif")[0][0]
    count = _read(tmp_path / "m.count.tif")[0][0]
    conf = _read(tmp_path / "c.tif")[0][0]
    assert r.n_used == 2 and count.max() == 2 and (count[codes == 0] == 0).all()
    assert np.isfinite(conf[codes != 0]).all() and (conf[codes != 0] <= 1).all()
    # the union of both footprints: the grid reaches the second scene's far corner
    with rasterio.open(files[0]) as a, rasterio.open(files[1]) as b:
        right = max(a.bounds.right, b.bounds.right)
    assert r.transform.c + r.shape[1] * r.transform.a >= right
    import pyogrio

    fp = pyogrio.read_dataframe(tmp_path / "m.footprints.gpkg")
    assert list(fp["status"]) == ["used", "used"]
    assert fp["date"].notna().all() and fp["pass"].notna().all() and fp["relative_orbit"].notna().all()
    # a folder of them is the same two scenes (its truth map is not a scene: refused)
    r2 = predict_mosaic([folder], tmp_path / "f.tif", ckpt, skip_bad=True, **CPU)
    assert r2.n_used == 2


def test_composite_fusion_averages_one_orbit(tmp_path, ckpt, data):
    tags = {"RELATIVE_ORBIT": "44", "PASS": "ASCENDING"}
    a = scene(tmp_path / "a.tif", data, tags={**tags, "PRODUCT_ID": "A", "ACQUISITION_DATE": "2021-06-01"})
    b = scene(tmp_path / "b.tif", data * 1.01, tags={**tags, "PRODUCT_ID": "B", "ACQUISITION_DATE": "2021-06-13"})
    r = predict_mosaic([a, b], tmp_path / "m.tif", ckpt, fusion="composite", **CPU)
    assert r.n_used == 2
    count = _read(tmp_path / "m.count.tif")[0][0]
    assert count.max() == 2
    with pytest.raises(ConfigError, match="composite"):
        MosaicOptions(fusion="median")  # type: ignore[arg-type]


# ------------------------------------------------------------------ grids


def test_grids_other_crs_geographic_and_aligned(tmp_path, ckpt, data):
    a = scene(tmp_path / "a.tif", data)
    b = scene(tmp_path / "b.tif", data, row=3, col=5)  # another 10 m grid phase, same zone
    s = [open_scene(str(a)), open_scene(str(b))]
    native = mosaic_grid(s, MosaicOptions())
    assert native.native and native.transform[2] == ORIGIN[0] and native.transform[5] == ORIGIN[1]
    aligned = mosaic_grid(s, MosaicOptions(align=True))
    assert not aligned.native and aligned.transform[2] % 100 == 0 and aligned.transform[5] % 100 == 0
    geo = mosaic_grid(s, MosaicOptions(crs="EPSG:4326"))
    assert geo.transform[0] == GLOBAL_LCZ_RESOLUTION
    k = (geo.transform[2] - GLOBAL_LCZ_ORIGIN[0]) / GLOBAL_LCZ_RESOLUTION
    assert abs(k - round(k)) < 1e-6
    # a scene of the next UTM zone east is reprojected onto the one grid
    c = scene(tmp_path / "c.tif", data, crs="EPSG:32633")
    with rasterio.open(a) as ds:
        from rasterio.warp import transform as warp

        x, y = warp("EPSG:32632", "EPSG:32633", [ds.bounds.left], [ds.bounds.top])
    scene(tmp_path / "c.tif", data, crs="EPSG:32633")
    with rasterio.open(c, "r+") as ds:
        ds.transform = rasterio.transform.from_origin(round(x[0], -1) + 300, round(y[0], -1), 10, 10)
    r = predict_mosaic([a, c], tmp_path / "m.tif", ckpt, **CPU)
    assert r.crs.endswith("32632") and r.n_used == 2
    assert _read(tmp_path / "m.count.tif")[0][0].max() == 2


# ------------------------------------------------------------------ tiles, VRT, STAC


def test_tiles_vrt_and_stac(tmp_path, ckpt, data):
    import pystac

    a = scene(tmp_path / "a.tif", data)
    b = scene(tmp_path / "b.tif", data, row=160, col=180)  # 31 x 35 pixels: 2 x 3 tiles of 16, 2 never reached
    whole = predict_mosaic([a, b], tmp_path / "m.tif", ckpt, tile_pixels=16, **CPU)
    r = predict_mosaic([a, b], None, ckpt, tiles=tmp_path / "t", tile_pixels=16, **CPU)
    assert r.vrt == tmp_path / "t" / "lcz.vrt" and (tmp_path / "t" / "lcz.qml").is_file()
    with rasterio.open(r.vrt) as ds:
        mosaic = ds.read(1)
        assert ds.colormap(1)[6][:3] == (255, 34, 0) or ds.colormap(1)[6][3] == 255
        assert ds.transform == whole.transform
    assert mosaic.tobytes() == _read(tmp_path / "m.tif")[0][0].tobytes()
    with rasterio.open(tmp_path / "t" / "count.vrt") as ds:
        assert np.array_equal(np.nan_to_num(ds.read(1)), _read(tmp_path / "m.count.tif")[0][0])  # NaN: no tile
    collection = pystac.Collection.from_file(str(tmp_path / "t" / "collection.json"))
    items = list(collection.get_items())
    n_tiles = len(list((tmp_path / "t").glob("lcz_*.tif")))
    assert len(items) == n_tiles == 4  # the tiles no scene reaches are not written
    for item in items:
        assert Path(item.assets["lcz"].get_absolute_href()).is_file()
        assert item.properties["proj:code"] == "EPSG:32632"


# ------------------------------------------------------------------ resume

_KILLED = textwrap.dedent("""
    import os, signal, sys
    import torch
    torch.set_num_threads(1)
    from lczmap.mosaic import predict_mosaic

    class Bar:
        n = 0
        def update(self, k=1):
            Bar.n += k
            if Bar.n == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        def close(self):
            pass

    a, b, model, out = sys.argv[1:5]
    predict_mosaic([a, b], out, model, device="cpu", workers=0, tile_pixels=8, progress=lambda **kw: Bar(),
                   resume=len(sys.argv) > 5)
""")


def test_resume_after_sigkill_is_byte_identical(tmp_path, ckpt, data):
    a = scene(tmp_path / "a.tif", data)
    b = scene(tmp_path / "b.tif", data * 1.02, row=40, col=30)
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}
    script = tmp_path / "run.py"
    script.write_text(_KILLED)
    killed = subprocess.run(
        [sys.executable, str(script), str(a), str(b), str(ckpt), str(tmp_path / "k.tif")], env=env, capture_output=True
    )
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "k.tif").exists()
    partial = [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    assert partial and len(list((partial[0] / "tiles").glob("*.npz"))) >= 1
    os.environ["SOURCE_DATE_EPOCH"] = "1700000000"
    try:
        predict_mosaic([a, b], tmp_path / "k.tif", ckpt, tile_pixels=8, resume=True, **CPU)
        predict_mosaic([a, b], tmp_path / "clean.tif", ckpt, tile_pixels=8, **CPU)
    finally:
        del os.environ["SOURCE_DATE_EPOCH"]
    assert (tmp_path / "k.tif").read_bytes() == (tmp_path / "clean.tif").read_bytes()
    assert (tmp_path / "k.count.tif").read_bytes() == (tmp_path / "clean.count.tif").read_bytes()
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


# ------------------------------------------------------------------ bad input


def _nothing_written(folder, before):
    assert _outputs(folder) == before


def test_bad_inputs_one_line_nothing_written(tmp_path, ckpt, data):
    good = scene(tmp_path / "good.tif", data)
    one_band = scene(tmp_path / "vv.tif", data[:1], descriptions=("VV",))
    hh = scene(tmp_path / "hh.tif", data, descriptions=("HH", "HV"))
    before = _outputs(tmp_path)
    out = tmp_path / "m.tif"
    for scenes, error, match in (
        ([good, one_band], SceneError, "vv.tif"),  # a band set the model cannot take
        ([good, hh], SceneError, "mixed polarisations"),
        ([good], SceneError, "no scene lies in the area"),
    ):
        aoi = (20.0, 10.0, 20.1, 10.1) if len(scenes) == 1 else None
        with pytest.raises(error, match=match) as info:
            predict_mosaic(scenes, out, ckpt, aoi=aoi, **CPU)
        assert "\n" not in str(info.value)
        _nothing_written(tmp_path, before)


def test_same_product_twice_counted_once_and_scene_outside_skipped(tmp_path, ckpt, data, caplog):
    import pyogrio

    from lczmap.scene.grid import utm_crs  # noqa: F401 - the area below is lon/lat

    a = scene(tmp_path / "a.tif", data)
    far = scene(tmp_path / "far.tif", data, row=-200000, col=0)  # 2000 km north
    with rasterio.open(a) as ds:
        from rasterio.warp import transform_bounds

        aoi = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    r = predict_mosaic([a, a, far], tmp_path / "m.tif", ckpt, aoi=aoi, **CPU)
    assert r.n_used == 1 and {w.split(":")[0] for _, w in r.skipped} >= {"misses the area"}
    fp = pyogrio.read_dataframe(tmp_path / "m.footprints.gpkg")
    assert sorted(fp["status"]) == ["duplicate", "outside", "used"]
    assert "counted once" in caplog.text


def test_scene_failing_halfway_named_or_skipped(tmp_path, ckpt):
    import pyogrio

    good = scene(tmp_path / "good.tif", grd(400, 170))
    bad = corrupt_scene(tmp_path / "bad.tif", grd(400, 170, seed=1))
    before = _outputs(tmp_path)
    with pytest.raises(SceneError, match="bad") as info:
        predict_mosaic([good, bad], tmp_path / "m.tif", ckpt, **CPU)
    assert "\n" not in str(info.value) and "--skip-bad" in str(info.value)
    _nothing_written(tmp_path, before)
    r = predict_mosaic([good, bad], tmp_path / "m.tif", ckpt, skip_bad=True, **CPU)
    assert r.n_used == 1 and r.skipped and "bad" in r.skipped[0][0]
    fp = pyogrio.read_dataframe(tmp_path / "m.footprints.gpkg")
    assert list(fp["status"]) == ["used", "bad"]
    # the map is the good scene's alone: what the bad one gave before failing was taken out
    predict_scene(good, tmp_path / "p.tif", ckpt, device="cpu")
    assert _read(tmp_path / "p.tif")[0].tobytes() == _read(tmp_path / "m.tif")[0].tobytes()


def test_options_checked(tmp_path):
    with pytest.raises(ConfigError, match="--crs"):
        MosaicOptions(crs="EPSG:nonsense")
    with pytest.raises(ConfigError, match="--resolution"):
        MosaicOptions(resolution=-1)
    with pytest.raises(ConfigError, match="MosaicOptions.aoi"):
        MosaicOptions(predict=PredictOptions(aoi=(1, 2, 3, 4)))
    with pytest.raises(TypeError, match="unknown mosaic option"):
        predict_mosaic(["x.tif"], tmp_path / "m.tif", None, colour="red")


# ------------------------------------------------------------------ dask


def test_local_cluster_run_equals_in_process(tmp_path, ckpt, data):
    from distributed import Client, LocalCluster

    a = scene(tmp_path / "a.tif", data)
    b = scene(tmp_path / "b.tif", data * 0.9, row=60, col=80)
    predict_mosaic([a, b], tmp_path / "here.tif", ckpt, tile_pixels=8, **CPU)
    with (
        LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        predict_mosaic([a, b], tmp_path / "dask.tif", ckpt, tile_pixels=8, device="cpu", scheduler=client)
    assert _read(tmp_path / "here.tif")[0].tobytes() == _read(tmp_path / "dask.tif")[0].tobytes()


# ------------------------------------------------------------------ CLI


def test_cli_maps_and_errors_in_one_line(tmp_path, ckpt, data):
    a = scene(tmp_path / "a.tif", data)
    b = scene(tmp_path / "b.tif", data, row=50)
    runner = CliRunner()
    res = runner.invoke(
        main, ["-q", "mosaic", str(a), str(b), str(tmp_path / "m.tif"), "-m", str(ckpt), "--device", "cpu", "--workers", "0"]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "m.tif").is_file() and (tmp_path / "m.count.tif").is_file()
    res = runner.invoke(
        main,
        [
            "-q",
            "mosaic",
            str(a),
            str(tmp_path / "n.tif"),
            "-m",
            str(ckpt),
            "--device",
            "cpu",
            "--workers",
            "0",
            "--aoi",
            "20,10,20.1,10.1",
        ],
    )
    assert res.exit_code == 1 and res.output.count("\n") == 1 and "Error:" in res.output
    assert not (tmp_path / "n.tif").exists()
    res = runner.invoke(main, ["mosaic", str(a), str(tmp_path / "n.tif"), "--fusion", "median"])
    assert res.exit_code == 2
    res = runner.invoke(
        main,
        [
            "mosaic",
            str(a),
            str(b),
            "--tiles",
            str(tmp_path / "t"),
            "-m",
            str(ckpt),
            "--device",
            "cpu",
            "--workers",
            "0",
            "--tile-pixels",
            "16",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "t" / "collection.json").read_text())["type"] == "Collection"


def test_default_local_cluster_of_processes(tmp_path, ckpt, data):
    """Without a scheduler the tiles run on a LocalCluster of worker processes (one here)."""
    a = scene(tmp_path / "a.tif", data)
    predict_mosaic([a], tmp_path / "here.tif", ckpt, tile_pixels=8, **CPU)
    predict_mosaic([a], tmp_path / "procs.tif", ckpt, tile_pixels=8, device="cpu", workers=1)
    assert _read(tmp_path / "here.tif")[0].tobytes() == _read(tmp_path / "procs.tif")[0].tobytes()
