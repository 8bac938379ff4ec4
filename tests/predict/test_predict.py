"""Scene prediction: window geometry, nodata rule, tiled == untiled, outputs, resume, dask, bad input, CLI."""

import os

import numpy as np
import pytest
import rasterio
import torch
from _predict_fixtures import CentrePixel, grd, tiny_checkpoint, write_tif
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from lczmap.bands import band_set
from lczmap.cli import main
from lczmap.errors import CheckpointError, LczmapError, OutputExistsError, SceneError
from lczmap.predict import (
    Model,
    PredictOptions,
    load_model,
    output_grid,
    plan_tiles,
    predict_dataarray,
    predict_scene,
    predict_scenes,
    window_rows,
)
from lczmap.scene import open_scene

torch.set_num_threads(1)
LEE = band_set("lee-intensity", "sar")


@pytest.fixture
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("model") / "m.safetensors")


@pytest.fixture
def scene_tif(tmp_path):
    return write_tif(tmp_path / "scene.tif", grd(150, 170, border=12), descriptions=["VV", "VH"])


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(1), ds.profile, ds.tags()


# ------------------------------------------------------------------ geometry (property tests)


@settings(max_examples=150, deadline=None)
@given(h=st.integers(1, 60), w=st.integers(1, 60), tile=st.integers(1, 70))
def test_tiles_cover_output_exactly_once(h, w, tile):
    hits = np.zeros((h, w), int)
    for i0, i1, j0, j1 in plan_tiles(h, w, tile):
        assert 0 <= i0 < i1 <= h and 0 <= j0 < j1 <= w
        hits[i0:i1, j0:j1] += 1
    assert (hits == 1).all()


@settings(max_examples=150, deadline=None)
@given(n=st.integers(32, 400), s=st.integers(1, 20), tile=st.integers(1, 50))
def test_tile_blocks_hold_exactly_their_windows(n, s, tile):
    out = output_grid(n, n, s)[0]
    assert (out - 1) * s < n <= out * s  # covers the extent, no extra row
    for i0, i1, _, _ in plan_tiles(out, 1, tile):
        a, b = window_rows(i0, i1, s)
        assert b - a == (i1 - i0 - 1) * s + 32  # one block = its windows, unfolded at stride s
        for i in (i0, i1 - 1):  # every window centred on its output pixel's footprint
            wa, wb = window_rows(i, i + 1, s)
            assert wa - a == (i - i0) * s and wb - wa == 32
            assert wa + 16 == i * s + s // 2


@settings(max_examples=12, deadline=None)
@given(stride=st.integers(3, 12), tile=st.integers(1, 9), seed=st.integers(0, 3))
def test_tiled_equals_untiled(stride, tile, seed):
    import xarray as xr
    from affine import Affine
    from odc.geo.geobox import GeoBox
    from odc.geo.xr import xr_coords

    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 5, stride=3),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(12, 4),
    )
    model = Model(net, (3, 6, 7, 8), LEE)
    a = grd(70, 83, seed=seed, border=5)
    grid = GeoBox(a.shape[1:], Affine(10, 0, 500000, 0, -10, 5000000), "EPSG:32632")
    da = xr.DataArray(a, dims=("band", "y", "x"), coords=xr_coords(grid, crs_coord_name="spatial_ref"))
    whole = predict_dataarray(da, model, stride=stride, tile_size=10_000, probabilities=True)
    tiled = predict_dataarray(da, model, stride=stride, tile_size=tile, probabilities=True, batch_size=7)
    np.testing.assert_array_equal(whole.lcz.values, tiled.lcz.values)
    np.testing.assert_allclose(whole.probabilities.values, tiled.probabilities.values, atol=1e-5)


# ------------------------------------------------------------------ window convention and nodata


def test_each_output_pixel_is_its_centred_window(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=(97, 113)).astype(np.float32)
    # + 4: CentrePixel takes the value mod 4, and 0 in linear power reads as nodata (swath fill)
    # VV 6 dB above VH, as over land (lczmap refuses VH as bright as VV: swapped or copied bands)
    path = write_tif(tmp_path / "lab.tif", np.stack([labels + 4, (labels + 4) * 4]), descriptions=["VH", "VV"])
    model = Model(CentrePixel(4), (3, 6, 7, 8), LEE)
    for s in (10, 7):
        out = predict_scene(path, tmp_path / f"o{s}.tif", model, stride=s, tile_size=4, speckle_filter="none")
        got, prof, _ = _read(out.out)
        assert got.shape == output_grid(97, 113, s) == out.shape
        rows = np.arange(got.shape[0]) * s + s // 2
        cols = np.arange(got.shape[1]) * s + s // 2
        # centre pixel of window (i, j) = scene pixel (i*s + s//2, j*s + s//2), mirrored at the edge
        rows = np.where(rows >= 97, 2 * 96 - rows, rows)
        cols = np.where(cols >= 113, 2 * 112 - cols, cols)
        expect = np.array([3, 6, 7, 8], np.uint8)[labels[np.ix_(rows, cols)].astype(int)]
        np.testing.assert_array_equal(got, expect)
        with rasterio.open(path) as src:
            assert prof["transform"] == src.transform @ rasterio.Affine.scale(s)
            assert prof["crs"] == src.crs


def test_nodata_rule(tmp_path):
    a = np.ones((2, 64, 64), np.float32)
    a[:, 0:10, :] = np.nan  # rows 0-9: output row 0's centre (row 5) is nodata
    a[:, :, 40:64] = np.nan  # output col 4 (centre col 45) nodata; col 3 (window cols 19..50): 11/32 nodata
    a[1] *= 4  # VV 6 dB above VH, as over land
    path = write_tif(tmp_path / "s.tif", a, descriptions=["VH", "VV"])
    model = Model(CentrePixel(4), (3, 6, 7, 8), LEE, fill=(0.0, 0.0))
    got, _, _ = _read(predict_scene(path, tmp_path / "o.tif", model, stride=10).out)
    assert (got[0] == 0).all() and (got[:, 4:] == 0).all()
    assert (got[1:, :3] != 0).all() and (got[2:, 3] != 0).all()
    assert got[1, 3] == 0  # window rows -1..30 (11 nodata, mirrored), cols 19..50 (11 nodata): 57 % > 50 %
    strict, _, _ = _read(predict_scene(path, tmp_path / "o2.tif", model, stride=10, max_nodata=0.3).out)
    assert (strict[:, 3] == 0).all() and (strict[1] == 0).all()  # 11/32 = 34 % > 30 %
    assert (strict[2:, :3] != 0).all()


# ------------------------------------------------------------------ outputs


def test_checkpoint_outputs_cog_styled(ckpt, scene_tif, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    res = predict_scene(
        scene_tif,
        tmp_path / "lcz.tif",
        ckpt,
        probabilities=tmp_path / "p.tif",
        confidence=tmp_path / "c.tif",
        filtered=tmp_path / "f.tif",
        tile_size=5,
    )
    codes, prof, tags = _read(res.out)
    assert prof["dtype"] == "uint8" and prof["nodata"] == 0 and codes.shape == (15, 17)
    assert set(np.unique(codes)) <= {0, 3, 6, 7, 8} and (codes[2:, 2:] != 0).all() and (codes[0] == 0).all()
    with rasterio.open(res.out) as ds:
        assert ds.colormap(1)[6][:3] == (255, 153, 85)
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
    assert tags["model"] == str(ckpt) and tags["date"] == "2023-11-14T22:13:20Z" and tags["input"] == str(scene_tif)
    assert "lczmap_version" in tags
    assert (tmp_path / "lcz.qml").exists() and (tmp_path / "lcz.tif.aux.xml").exists()
    with rasterio.open(res.probabilities) as ds:
        p = ds.read()
        assert ds.count == 4 and ds.descriptions[0] == "LCZ 3 Compact low-rise"
    valid = codes != 0
    np.testing.assert_allclose(p[:, valid].sum(0), 1, atol=1e-5)
    assert np.isnan(p[:, ~valid]).all()
    np.testing.assert_array_equal(np.array([3, 6, 7, 8])[p[:, valid].argmax(0)], codes[valid])
    with rasterio.open(res.confidence) as ds:
        np.testing.assert_allclose(ds.read(1)[valid], p[:, valid].max(0), rtol=1e-6)
    filt, _, _ = _read(res.filtered)
    assert ((filt != 0) == valid).all() and set(np.unique(filt)) <= {0, 3, 6, 7, 8}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no partial files left"


def test_resume_is_byte_identical(ckpt, scene_tif, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    ref = predict_scene(scene_tif, tmp_path / "ref.tif", ckpt, tile_size=4, probabilities=tmp_path / "refp.tif")

    class Interrupt(Exception):
        pass

    class Bar:
        n = 0

        def update(self, k):
            Bar.n += k
            if Bar.n == 7:
                raise Interrupt

        def close(self):
            pass

    out = tmp_path / "out.tif"
    with pytest.raises(Interrupt):
        predict_scene(scene_tif, out, ckpt, tile_size=4, probabilities=tmp_path / "p.tif", progress=lambda total, desc: Bar())
    assert not out.exists() and (tmp_path / ".out.tif.partial").is_dir()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1800000000")  # the resumed run keeps the first run's date
    done = []
    predict_scene(
        scene_tif,
        out,
        ckpt,
        tile_size=4,
        probabilities=tmp_path / "p.tif",
        resume=True,
        progress=lambda total, desc: type("B", (), {"update": lambda self, k: done.append(k), "close": lambda self: None})(),
    )
    assert sum(done) == 20 and len(done) < 20, "finished tiles are not recomputed"
    assert out.read_bytes() == ref.out.read_bytes()
    assert (tmp_path / "p.tif").read_bytes() == ref.probabilities.read_bytes()
    assert not (tmp_path / ".out.tif.partial").exists()


def test_prepared_tiles_keep_order_and_bound_reads_ahead(ckpt):
    """Reader threads finish in any order; tiles come out in plan order, at most readers + 1 ahead."""
    import threading
    import time

    from lczmap.predict import Timings, prepared_tiles

    m = load_model(ckpt)
    plan = PredictOptions(stride=10, device="cpu", speckle_filter="none", read_threads=3).resolve(m, None)
    assert plan.halo == 0 and plan.readers == 3  # blocks without a filter halo
    tiles = plan_tiles(12, 12, 2)
    rng = np.random.default_rng(0)
    delays = {t: float(d) for t, d in zip(tiles, rng.uniform(0, 0.01, len(tiles)))}
    lock = threading.Lock()
    started, consumed, ahead = [], [], []

    def read(r0, r1, c0, c1, out=None):
        with lock:
            started.append((r0, c0))
            ahead.append(len(started) - len(consumed))
        time.sleep(
            delays[next(t for t in tiles if window_rows(t[0], t[1], 10)[0] == r0 and window_rows(t[2], t[3], 10)[0] == c0)]
        )
        block = np.full((2, r1 - r0, c1 - c0), r0 * 1000 + c0, np.float32)
        if out is not None:
            out[...] = block
            return out
        return block

    timings, memory = Timings(), set()
    for t, prep in prepared_tiles(read, tiles, m, plan, timings=timings):
        with lock:
            consumed.append(t)
        r0, c0 = window_rows(t[0], t[1], 10)[0], window_rows(t[2], t[3], 10)[0]
        assert float(prep.block[0, 0, 0]) == r0 * 1000 + c0  # this tile's own pixels
        assert float(prep.block[1, -1, -1]) == r0 * 1000 + c0
        assert prep.valid.shape == (t[1] - t[0], t[3] - t[2])
        memory.add(prep.block.data_ptr())
    assert consumed == tiles
    assert max(ahead) <= 3 + 1 + 1  # the one being consumed plus readers + 1 prefetched
    assert timings.read_wait >= 0
    assert len(memory) <= 3 + 4, "tiles are read into a few reused buffers"


def test_reader_settings_and_read_threads_option(ckpt, scene_tif, tmp_path, monkeypatch):
    from lczmap.predict import reader_settings

    assert 2 <= reader_settings("cpu") <= 4
    assert 2 <= reader_settings("cuda") <= 8 and reader_settings("cuda") >= reader_settings("cpu")
    assert reader_settings("cuda:0", 5) == 5
    with pytest.raises(LczmapError, match="read_threads"):
        predict_scene(scene_tif, tmp_path / "x.tif", ckpt, read_threads=0)
    assert not (tmp_path / "x.tif").exists()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    one = predict_scene(scene_tif, tmp_path / "one.tif", ckpt, tile_size=3, read_threads=1)
    runner = CliRunner()
    r = runner.invoke(
        main,
        ["-q", "predict", "-m", str(ckpt), "--tile-size", "3", "--read-threads", "6", str(scene_tif), str(tmp_path / "six.tif")],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "six.tif").read_bytes() == one.out.read_bytes()  # readers change speed, not results
    r = runner.invoke(main, ["predict", "-m", str(ckpt), "--read-threads", "0", str(scene_tif), str(tmp_path / "z.tif")])
    assert r.exit_code == 2 and "--read-threads" in r.output


def test_out_of_memory_halves_the_batch_once_for_the_run(ckpt, tmp_path, caplog):
    """A batch the device cannot hold is halved until it fits, the halved size is kept for the
    following tiles, and the map is the one a run with that batch size makes (the real CUDA case
    is in tests/predict/test_gpu.py)."""
    import logging

    class FullDevice(torch.nn.Module):  # fails as a full GPU does on batches over 100 windows
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            if x.shape[0] > 100:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return self.net(x)

    # the network as it is: the CPU's inference copy runs in sub-batches that never reach 100
    m = load_model(ckpt)
    m.cpu_inference = False
    full = Model(FullDevice(m.network), m.codes, m.band_set, m.fill, cpu_inference=False)
    scene = write_tif(tmp_path / "s.tif", grd(300, 340, border=12), descriptions=["VV", "VH"])
    ref = predict_scene(scene, tmp_path / "ref.tif", m, batch_size=62, tile_size=12)
    with caplog.at_level(logging.WARNING, logger="lczmap.predict"):
        res = predict_scene(scene, tmp_path / "full.tif", full, batch_size=1000, tile_size=12)
    halved = [r.getMessage() for r in caplog.records if "halved" in r.getMessage()]
    # 1000 -> 500 -> 250 -> 125 -> 62 on the first 12 x 12 tile; the other full tiles keep 62
    assert len(halved) == 4 and halved[-1].endswith("halved to 62")
    np.testing.assert_array_equal(_read(res.out)[0], _read(ref.out)[0])


def test_timings_say_where_the_time_went(ckpt, scene_tif, tmp_path, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="lczmap.predict"):
        res = predict_scene(scene_tif, tmp_path / "t.tif", ckpt, tile_size=4)
    t = res.timings.as_dict()
    assert set(t) >= {"setup", "tiles", "write", "read_wait", "compute", "store"}
    assert all(v >= 0 for v in t.values())
    assert t["read_wait"] + t["compute"] + t["store"] <= t["tiles"] + 1e-3
    assert t["setup"] + t["tiles"] + t["write"] <= res.seconds + 1e-3
    assert t["compute"] > 0  # the model ran on this thread (CPU)
    assert any("waiting for reads" in r.getMessage() and "writing" in r.getMessage() for r in caplog.records)


def test_timings_give_the_speckle_filters_share(ckpt, scene_tif, tmp_path, caplog):
    """On the CPU the filter's seconds are timed inside the model's: a share a user can read from
    the INFO line; with the filter off there is no filter time."""
    import logging

    with caplog.at_level(logging.INFO, logger="lczmap.predict"):
        res = predict_scene(scene_tif, tmp_path / "f.tif", ckpt, tile_size=4, speckle_filter="refined-lee")
    t = res.timings.as_dict()
    assert 0 < t["filter"] <= t["compute"]
    assert any("of which the speckle filter" in r.getMessage() for r in caplog.records)
    off = predict_scene(scene_tif, tmp_path / "n.tif", ckpt, tile_size=4, speckle_filter="none")
    assert "filter" not in off.timings.as_dict() and off.timings.compute > 0


@pytest.mark.slow
def test_distributed_cluster_gives_identical_raster(ckpt, scene_tif, tmp_path, monkeypatch):
    from distributed import LocalCluster

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    local = predict_scene(scene_tif, tmp_path / "local.tif", ckpt, tile_size=6)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        dist = predict_scene(scene_tif, tmp_path / "dist.tif", ckpt, tile_size=6, scheduler=cluster.scheduler_address)
    assert dist.out.read_bytes() == local.out.read_bytes()


def test_several_scenes_out_dir(ckpt, tmp_path):
    a = write_tif(tmp_path / "a.tif", grd(64, 64, seed=1), descriptions=["VV", "VH"])
    b = write_tif(tmp_path / "b.tif", grd(80, 50, seed=2), descriptions=["VV", "VH"])
    (tmp_path / "maps").mkdir()
    res = predict_scenes([a, b], tmp_path / "maps", ckpt, with_confidence=True)
    assert [r.out.name for r in res] == ["a_lcz.tif", "b_lcz.tif"]
    assert (tmp_path / "maps" / "b_confidence.tif").exists()
    assert _read(res[1].out)[0].shape == (8, 5)


def test_dataarray_entry_has_output_coordinates(ckpt, scene_tif):
    scene = open_scene(scene_tif)
    da = scene.to_dataarray(chunks=64)
    out = predict_dataarray(da, ckpt, stride=10)
    assert out.dims == ("y", "x") and out.shape == (15, 17) and out.dtype == np.uint8
    assert out.x.values[0] == 500050.0 and out.y.values[0] == 4999950.0
    assert out.attrs["transform"][0] == 100.0 and out.attrs["codes"] == [3, 6, 7, 8]
    # bands matched by name, whatever the order of the array
    swapped = predict_dataarray(da.isel(band=[1, 0]), ckpt, stride=10)
    np.testing.assert_array_equal(out.values, swapped.values)


# ------------------------------------------------------------------ bad input: clear errors, no partial output


def _no_output(folder, name="out.tif"):
    return not (folder / name).exists() and not [p for p in folder.iterdir() if p.name.startswith(f".{name}")]


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # the no-CRS file written below
def test_bad_inputs_leave_nothing(ckpt, tmp_path):
    out = tmp_path / "out.tif"
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(SceneError, match="cannot read"):
        predict_scene(bad, out, ckpt)
    nocrs = tmp_path / "nocrs.tif"
    with rasterio.open(nocrs, "w", driver="GTiff", height=40, width=40, count=2, dtype="float32") as ds:
        ds.write(grd(40, 40))
    with pytest.raises(SceneError, match="no CRS"):
        predict_scene(nocrs, out, ckpt, bands=["VV", "VH"])
    one = write_tif(tmp_path / "one.tif", grd(40, 40)[:1], descriptions=["VV"])
    with pytest.raises(SceneError, match="no VH band"):
        predict_scene(one, out, ckpt)
    small = write_tif(tmp_path / "small.tif", grd(20, 50), descriptions=["VV", "VH"])
    with pytest.raises(SceneError, match="smaller than one 32 x 32 window"):
        predict_scene(small, out, ckpt)
    empty = write_tif(tmp_path / "empty.tif", np.full((2, 40, 40), -1.0, np.float32), nodata=-1.0, descriptions=["VV", "VH"])
    with pytest.raises(SceneError, match="holds no data"):
        predict_scene(empty, out, ckpt)
    notmodel = tmp_path / "m.safetensors"
    notmodel.write_text("hello")
    with pytest.raises(CheckpointError, match="not an lczmap checkpoint"):
        predict_scene(one, out, notmodel)
    assert _no_output(tmp_path)


def test_output_checks(ckpt, scene_tif, tmp_path):
    out = tmp_path / "out.tif"
    out.write_text("keep me")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        predict_scene(scene_tif, out, ckpt)
    assert out.read_text() == "keep me"
    with pytest.raises(LczmapError, match="does not exist"):
        predict_scene(scene_tif, tmp_path / "nope" / "o.tif", ckpt)
    with pytest.raises(LczmapError, match="writable"):
        predict_scene(scene_tif, "/proc/lczmap-out.tif", ckpt)
    predict_scene(scene_tif, out, ckpt, overwrite=True)
    assert _read(out)[0].shape == (15, 17)


def test_model_resolution(ckpt, tmp_path, monkeypatch):
    monkeypatch.delenv("LCZMAP_MODEL", raising=False)
    monkeypatch.setenv("LCZMAP_HOME", str(tmp_path / "home"))
    with pytest.raises(CheckpointError, match="lczmap train"):
        load_model(None)
    monkeypatch.setenv("LCZMAP_MODEL", str(ckpt))
    assert load_model(None).codes == (3, 6, 7, 8)
    monkeypatch.delenv("LCZMAP_MODEL")
    from lczmap.checkpoint import record_last_checkpoint

    record_last_checkpoint(ckpt)
    m = load_model(None)
    assert m.band_set.name == "lee-intensity" and m.fill == (0.1, 0.1)


# ------------------------------------------------------------------ CLI


def test_cli_predict(ckpt, scene_tif, tmp_path, monkeypatch):
    monkeypatch.setenv("LCZMAP_MODEL", str(ckpt))
    runner = CliRunner()
    out = tmp_path / "cli.tif"
    r = runner.invoke(main, ["-q", "predict", str(scene_tif), str(out)])
    assert r.exit_code == 0, r.output
    assert "15 x 17 LCZ pixels" in r.output and out.exists()
    r = runner.invoke(main, ["predict", str(scene_tif), str(out)])
    assert r.exit_code == 1 and "Error:" in r.output and "--overwrite" in r.output and "Traceback" not in r.output
    r = runner.invoke(main, ["predict", str(scene_tif)])
    assert r.exit_code == 2 and "SCENE OUT" in r.output
    r = runner.invoke(main, ["predict", "--stride", "0", str(scene_tif), str(out)])
    assert r.exit_code == 2 and "--stride" in r.output


def test_cli_vv_vh_db(ckpt, tmp_path):
    a = grd(64, 64)
    vv = write_tif(tmp_path / "vv.tif", 10 * np.log10(a[0]))
    vh = write_tif(tmp_path / "vh.tif", 10 * np.log10(a[1]))
    runner = CliRunner()
    r = runner.invoke(main, ["-q", "predict", "-m", str(ckpt), "--vv", str(vv), "--vh", str(vh), str(tmp_path / "o.tif")])
    assert r.exit_code == 1 and "--units db" in r.output
    r = runner.invoke(
        main, ["-q", "predict", "-m", str(ckpt), "--vv", str(vv), "--vh", str(vh), "--units", "db", str(tmp_path / "o.tif")]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["predict", "-m", str(ckpt), "--vv", str(vv), str(tmp_path / "a.tif"), str(tmp_path / "b.tif")])
    assert r.exit_code == 2 and "exactly one argument" in r.output


def test_cli_no_model_and_bad_checkpoint(scene_tif, tmp_path, monkeypatch):
    monkeypatch.delenv("LCZMAP_MODEL", raising=False)
    monkeypatch.setenv("LCZMAP_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    r = runner.invoke(main, ["predict", str(scene_tif), str(tmp_path / "o.tif")])
    assert r.exit_code == 1 and "lczmap train" in r.output
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(os.urandom(64))
    r = runner.invoke(main, ["predict", "-m", str(junk), str(scene_tif), str(tmp_path / "o.tif")])
    assert r.exit_code == 1 and "not an lczmap checkpoint" in r.output
    assert not (tmp_path / "o.tif").exists()


# ------------------------------------------------------------------ real Sentinel-1 GRD data (bigearthnet-common)


@pytest.fixture(scope="session")
def twin_lee_model(twin_dir, tmp_path_factory):
    """A small lee-intensity model trained on the So2Sat twin (real lczmap.train)."""
    from lczmap.train import TrainConfig, train

    cfg = TrainConfig(
        data=str(twin_dir),
        method="sar-only",
        classes="all",
        labels="all",
        sar_bands="lee-intensity",
        sar_epochs=3,
        width=8,
        depth=2,
        blocks=1,
        embedding=32,
        batch_size=64,
        device="cpu",
        val_max=200,
    )
    return train(cfg, tmp_path_factory.mktemp("lee") / "lee.safetensors").checkpoint


@pytest.fixture(scope="session")
def bigearthnet_s1(tmp_path_factory):
    """The real Sentinel-1 GRD patches shipped in the bigearthnet-common wheel (VV/VH GeoTIFFs in dB)."""
    import tarfile
    from importlib import resources

    ben = pytest.importorskip("bigearthnet_common", reason="pip install bigearthnet-common (test extra)")
    archive = resources.files(ben) / "BigEarthNet-S1-Example.tar.bz2"
    out = tmp_path_factory.mktemp("ben")
    with tarfile.open(archive) as tar:
        tar.extractall(out, filter="data")
    pairs = []
    for vv in sorted(out.rglob("*_VV.tif")):
        vh = vv.with_name(vv.name.replace("_VV.tif", "_VH.tif"))
        if vh.exists():
            pairs.append((vv, vh))
    assert pairs, "the archive holds VV/VH pairs"
    return pairs


@pytest.mark.slow
def test_real_grd_patches(bigearthnet_s1, twin_lee_model, tmp_path):
    codes = set(load_model(twin_lee_model).codes)
    for k, (vv, vh) in enumerate(bigearthnet_s1[:3]):
        out = tmp_path / f"lcz{k}.tif"
        with pytest.raises(SceneError, match="--units db"):
            predict_scene(None, out, twin_lee_model, vv=vv, vh=vh)
        res = predict_scene(None, out, twin_lee_model, vv=vv, vh=vh, units="db")
        with rasterio.open(vv) as src, rasterio.open(res.out) as ds:
            assert ds.crs == src.crs and src.crs.is_projected
            step = ds.transform.a
            for a, b in zip(ds.bounds, src.bounds):
                assert abs(a - b) <= step
            got = ds.read(1)
        assert (got != 0).all() and set(np.unique(got)) <= codes
