"""The So2Sat twin and the synthetic Sentinel-1 scene (lczmap.twin)."""

from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest
import rasterio

from lczmap.errors import ConfigError, LczmapError, OutputExistsError
from lczmap.twin import (
    CLASS_MODELS,
    MATERIALS,
    lee_filter,
    make_cities,
    polsar_lee,
    render_patches,
    twin_files,
    write_scene,
    write_twin,
)

N_TRAIN, N_VAL, N_TEST = 700, 500, 500


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    return write_twin(tmp_path_factory.mktemp("twin"), N_TRAIN, N_VAL, N_TEST, seed=7)


def _read(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f.keys()}, dict(f.attrs)


# --- layout, dtypes, labels ---------------------------------------------------------------


def test_v2_layout_keys_shapes_dtypes(twin):
    assert sorted(p.name for p in twin.iterdir()) == ["testing.h5", "training.h5", "validation.h5"]
    for name, n in (("training.h5", N_TRAIN), ("validation.h5", N_VAL), ("testing.h5", N_TEST)):
        with h5py.File(twin / name, "r") as f:
            assert sorted(f.keys()) == ["label", "sen1", "sen2"]
            assert f["sen1"].shape == (n, 32, 32, 8)
            assert f["sen2"].shape == (n, 32, 32, 10)
            assert f["label"].shape == (n, 17)
            for key in ("sen1", "sen2", "label"):
                assert f[key].dtype == np.float64
                assert f[key].compression is None  # like the real files: uncompressed


def test_labels_one_hot_and_every_class_in_every_split(twin):
    for name in ("training.h5", "validation.h5", "testing.h5"):
        with h5py.File(twin / name, "r") as f:
            label = f["label"][()]
        assert set(np.unique(label)) == {0.0, 1.0}
        np.testing.assert_array_equal(label.sum(axis=1), 1.0)
        counts = np.bincount(label.argmax(axis=1), minlength=17)
        assert counts.min() >= 3, counts
        assert counts.max() >= 8 * counts.min()  # unequal frequencies, like So2Sat


def test_heldout_cities_are_not_training_cities(twin):
    cities = {}
    for name in ("training.h5", "validation.h5", "testing.h5"):
        with h5py.File(twin / name, "r") as f:
            cities[name] = set(json.loads(f.attrs["lczmap_synthetic"])["cities"])
    assert not cities["training.h5"] & cities["validation.h5"]
    assert cities["validation.h5"] == cities["testing.h5"]  # west / east halves of the same cities


@pytest.mark.parametrize(
    "layout, files",
    [
        ("v1", ["training.h5", "validation.h5"]),
        ("v3", [f"{d}/{s}.h5" for d in ("block", "culture_10", "random") for s in ("testing", "training")]),
    ],
)
def test_v1_and_v3_layouts(tmp_path, layout, files):
    out = write_twin(tmp_path / "t", 20, 20, 17, seed=1, layout=layout)
    found = sorted(str(p.relative_to(out)) for p in out.rglob("*.h5"))
    assert found == sorted(files) == sorted(twin_files(layout))
    with h5py.File(out / files[0], "r") as f:
        assert f["sen1"].shape[1:] == (32, 32, 8) and f["label"].dtype == np.float64


def test_seeded_reproducibility_and_chunk_independence(tmp_path):
    a = write_twin(tmp_path / "a", 40, 20, 20, seed=3)
    b = write_twin(tmp_path / "b", 40, 20, 20, seed=3, chunk=7)
    c = write_twin(tmp_path / "c", 40, 20, 20, seed=4)
    for name in ("training.h5", "testing.h5"):
        da, _ = _read(a / name)
        db, _ = _read(b / name)
        dc, _ = _read(c / name)
        for key in ("sen1", "sen2", "label"):
            np.testing.assert_array_equal(da[key], db[key])
        assert not np.array_equal(da["sen1"], dc["sen1"])


# --- physics and consistency ----------------------------------------------------------------


def test_lee_channels_consistent_with_speckle(twin):
    with h5py.File(twin / "validation.h5", "r") as f:
        s1 = f["sen1"][:20]
    vh = s1[..., 0] + 1j * s1[..., 1]
    vv = s1[..., 2] + 1j * s1[..., 3]
    # The 7x7 refined Lee filter over the patch alone is exact for the interior (3 pixels in).
    inner = (slice(None), slice(3, -3), slice(3, -3))
    i_vh, i_vv, cov = polsar_lee(vh, vv)
    # the covariance form: one weight from the span, not each intensity on its own
    assert not np.allclose(s1[..., 4][inner], lee_filter(np.abs(vh) ** 2), rtol=1e-3)
    np.testing.assert_allclose(s1[..., 4][inner], i_vh, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(s1[..., 5][inner], i_vv, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(s1[..., 6][inner], cov.real, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(s1[..., 7][inner], cov.imag, rtol=1e-5, atol=1e-9)


def test_lee_filter_smooths_homogeneous_speckle_and_keeps_the_mean():
    rng = np.random.default_rng(0)
    speckle = rng.exponential(0.1, (200, 200))  # single-look intensity of a flat target
    out = lee_filter(speckle)
    assert out.shape == (194, 194)
    # SNAP's refined Lee (So2Sat's) keeps the darker side of an edge: flat areas 13 % darker
    assert abs(out.mean() / 0.1 - 0.87) < 0.03
    assert out.std() < 0.3 * speckle.std()


def test_sar_statistics_like_so2sat(twin):
    with h5py.File(twin / "training.h5", "r") as f:
        s1 = f["sen1"][()]
    mean = s1.mean(axis=(0, 1, 2))
    std = s1.std(axis=(0, 1, 2))
    # Complex channels: zero-mean speckle, real and imaginary parts with equal spread.
    assert np.all(np.abs(mean[:4]) < 0.02 * std[:4])
    assert abs(std[2] / std[3] - 1) < 0.05 and abs(std[0] / std[1] - 1) < 0.05
    assert 0.25 < std[2] < 0.6  # So2Sat: VV real std 0.46
    # Intensities: non-negative, VV brighter than VH, mean intensity = mean |s|^2.
    assert s1[..., 4:6].min() >= 0
    assert 3 < mean[5] / mean[4] < 15
    # Lee intensity / mean |s|^2: SNAP's refined Lee (So2Sat's) keeps the darker side of every edge,
    # 13 % darker on flat speckle and more on textured land (twin: 0.69). So2Sat's own figures
    # give 0.257 / (0.46^2 + 0.456^2) = 0.61: the same darkening, not an inconsistency.
    assert 0.6 < mean[5] / (std[2] ** 2 + std[3] ** 2) < 0.8


def test_eo_reflectance_in_so2sat_range(twin):
    with h5py.File(twin / "training.h5", "r") as f:
        s2 = f["sen2"][()]
        y = f["label"][()].argmax(axis=1)
    assert s2.min() >= 0 and s2.max() < 1.5
    b2, b3, b4 = s2[..., 0].mean(), s2[..., 1].mean(), s2[..., 2].mean()
    for value, target in ((b4, 0.101), (b3, 0.109), (b2, 0.124)):
        assert abs(value - target) < 0.03
    ndvi = (s2[..., 6] - s2[..., 2]) / (s2[..., 6] + s2[..., 2])
    per_class = np.array([ndvi[y == c].mean() for c in range(17)])
    assert per_class[10] > 0.5  # dense trees
    assert per_class[16] < 0  # water
    assert per_class[10] > per_class[0] + 0.3  # trees greener than compact high-rise


def _features(path):
    with h5py.File(path, "r") as f:
        s1, s2, y = f["sen1"][()], f["sen2"][()], f["label"][()].argmax(axis=1)
    db = 10 * np.log10(np.maximum(s1[..., 4:6], 1e-8))
    sar = np.concatenate([db.mean(axis=(1, 2)), db.std(axis=(1, 2))], axis=1)
    eo = np.concatenate([s2.mean(axis=(1, 2)), s2.std(axis=(1, 2))], axis=1)
    return sar, eo, y


def _nearest_class_mean(train, y_train, test, y_test):
    mu, sd = train.mean(0), train.std(0) + 1e-12
    train, test = (train - mu) / sd, (test - mu) / sd
    centres = np.stack([train[y_train == c].mean(0) for c in range(17)])
    pred = ((test[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
    return (pred == y_test).mean()


def test_classes_separable_eo_better_than_sar_on_new_cities(twin):
    sar_tr, eo_tr, y_tr = _features(twin / "training.h5")
    sar_te, eo_te, y_te = _features(twin / "testing.h5")
    acc_eo = _nearest_class_mean(eo_tr, y_tr, eo_te, y_te)
    acc_sar = _nearest_class_mean(sar_tr, y_tr, sar_te, y_te)
    chance = 1 / 17
    assert acc_eo > acc_sar > 4 * chance, (acc_eo, acc_sar)


def test_render_patches_matches_written_twin_models():
    cities = make_cities(2, seed=0)
    labels = np.arange(17)
    origins = np.stack([np.arange(17) * 1000, np.zeros(17)], axis=1).astype(np.int64)
    sen1, sen2 = render_patches(labels, cities, np.zeros(17, dtype=int), origins, key=5)
    assert sen1.shape == (17, 32, 32, 8) and sen2.shape == (17, 32, 32, 10)
    vv_db = 10 * np.log10(sen1[..., 5].mean(axis=(1, 2)))
    assert vv_db[16] < vv_db[[0, 1, 2, 9]].min() - 10  # water far darker than dense built-up
    assert len(CLASS_MODELS) == 17 and MATERIALS[0] == "roof"


# --- options: dtype, compression, resume, errors -------------------------------------------


def test_uint8_gzip_twin_readable(tmp_path):
    ref = write_twin(tmp_path / "f", 30, 20, 20, seed=2)
    out = write_twin(tmp_path / "u", 30, 20, 20, seed=2, dtype="uint8", compression="gzip")
    with h5py.File(out / "training.h5", "r") as f, h5py.File(ref / "training.h5", "r") as g:
        for key in ("sen1", "sen2", "label"):
            assert f[key].dtype == np.uint8
            assert f[key].compression == "gzip"
        np.testing.assert_array_equal(f["label"][()], g["label"][()].astype(np.uint8))
        sen2 = f["sen2"][()] * f["sen2"].attrs["scale"] + f["sen2"].attrs["offset"]
        np.testing.assert_allclose(sen2, np.clip(g["sen2"][()], 0, 1), atol=0.5 / 255 + 1e-9)


def test_rerun_resumes_and_refuses_to_clobber(tmp_path):
    out = write_twin(tmp_path / "t", 20, 17, 17, seed=0)
    stamp = (out / "training.h5").stat().st_mtime_ns
    write_twin(out, 20, 17, 17, seed=0)  # same parameters: files kept, nothing rewritten
    assert (out / "training.h5").stat().st_mtime_ns == stamp
    (out / "testing.h5").unlink()  # as if interrupted before the last file
    write_twin(out, 20, 17, 17, seed=0)
    assert (out / "testing.h5").exists()
    with pytest.raises(OutputExistsError, match="overwrite"):
        write_twin(out, 20, 17, 17, seed=1)
    write_twin(out, 20, 17, 17, seed=1, overwrite=True)
    assert json.loads(h5py.File(out / "training.h5", "r").attrs["lczmap_synthetic"])["seed"] == 1
    assert not list(out.glob(".*part*"))  # no temporary files left behind


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"layout": "v9"}, "v1, v2 or v3"),
        ({"n_train": 0}, "positive integer"),
        ({"dtype": "complex64"}, "float or integer"),
        ({"dtype": "nonsense"}, "dtype"),
    ],
)
def test_twin_bad_options(tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        write_twin(tmp_path / "t", **{"n_train": 20, "n_val": 17, "n_test": 17, **kwargs})


# --- scenes -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scene")
    return write_scene(folder / "grd.tif", size=(300, 420), seed=11)


def test_scene_georeferencing_bands_and_tags(scene):
    path, truth = scene
    assert truth.name == "grd_truth.tif"
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 32633
        assert (src.width, src.height, src.count) == (420, 300, 2)
        assert src.transform.a == 10 and src.transform.e == -10 and src.transform.b == src.transform.d == 0
        assert src.descriptions == ("VV", "VH")
        assert src.dtypes == ("float32", "float32")
        assert math.isnan(src.nodata)
        assert src.tags()["PRODUCT"] == "GRD" and src.tags()["UNITS"] == "linear"
        assert src.tags(1)["POLARISATION"] == "VV"
        data = src.read()
    valid = np.isfinite(data[0])
    np.testing.assert_array_equal(valid, np.isfinite(data[1]))
    border = round(0.03 * 300)
    for edge in (data[0, :border], data[0, -border:], data[0, :, :border], data[0, :, -border:]):
        assert np.isnan(edge).all()
    assert valid[border : 300 - border, 2 * border : 420 - 2 * border].all()
    assert 0.05 < 1 - valid.mean() < 0.25
    assert (data[:, valid] > 0).all()
    assert np.nanmean(data[0]) > np.nanmean(data[1])  # VV brighter than VH


def test_truth_aligned_with_scene(scene):
    path, truth = scene
    with rasterio.open(path) as src, rasterio.open(truth) as t:
        assert t.crs == src.crs
        assert (t.width, t.height) == (42, 30)
        assert t.transform.a == 100 and t.transform.e == -100
        assert (t.transform.c, t.transform.f) == (src.transform.c, src.transform.f)
        assert t.dtypes == ("uint8",) and t.nodata == 0
        assert t.colormap(1)[1][:3] == (0x8C, 0x00, 0x00)
        lcz = t.read(1)
        vv = src.read(1)
    assert set(np.unique(lcz)) <= set(range(18))
    assert len(np.unique(lcz[lcz > 0])) >= 8  # many classes
    centre_valid = np.isfinite(vv[5::10, 5::10])
    np.testing.assert_array_equal(lcz > 0, centre_valid)
    # Truth cell (i, j) covers scene pixels [10i, 10i+10) x [10j, 10j+10): water is dark there.
    blocks = vv.reshape(30, 10, 42, 10).transpose(0, 2, 1, 3).reshape(30, 42, 100)
    full = np.isfinite(blocks).all(-1)
    mean_db = 10 * np.log10(np.where(full, np.where(np.isfinite(blocks), blocks, 1).mean(-1), 1))
    water = full & (lcz == 17)
    built = full & np.isin(lcz, (1, 2, 3, 8, 10))
    assert water.sum() > 5 and built.sum() > 5
    assert np.median(mean_db[water]) < np.median(mean_db[built]) - 10


def test_scene_windows_do_not_change_the_output(tmp_path, scene):
    path, _ = scene
    other, _ = write_scene(tmp_path / "b.tif", size=(300, 420), seed=11, block=64)
    with rasterio.open(path) as a, rasterio.open(other) as b:
        np.testing.assert_array_equal(a.read(), b.read())


def test_slc_lee_and_db_scenes_consistent_with_grd(tmp_path, scene):
    path, _ = scene
    slc, _ = write_scene(tmp_path / "slc.tif", size=(300, 420), seed=11, kind="slc")
    lee, _ = write_scene(tmp_path / "lee.tif", size=(300, 420), seed=11, kind="lee")
    db, _ = write_scene(tmp_path / "db.tif", size=(300, 420), seed=11, units="db")
    with rasterio.open(path) as g, rasterio.open(slc) as s, rasterio.open(db) as d, rasterio.open(lee) as e:
        grd = g.read()
        assert g.tags()["SPECKLE_FILTER"] == "none" and g.tags()["LOOKS"] == "4.37"
        assert s.dtypes == ("complex64", "complex64") and s.descriptions == ("VV", "VH")
        assert s.tags()["PRODUCT"] == "SLC"
        amp = s.read()
        assert d.tags()["UNITS"] == "db"
        np.testing.assert_allclose(d.read(), 10 * np.log10(grd), rtol=1e-5, atol=1e-4)
        filtered = e.read()
    # lee = the twin's So2Sat channels: the SLC's covariance refined-Lee filtered (interior)
    rows, cols = slice(40, 260), slice(60, 360)
    win = amp[:, rows.start - 3 : rows.stop + 3, cols.start - 3 : cols.stop + 3].astype(np.complex128)
    assert np.isfinite(win).all()
    i_vh, i_vv, _ = polsar_lee(win[1], win[0])
    np.testing.assert_allclose(filtered[0, rows, cols], i_vv, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(filtered[1, rows, cols], i_vh, rtol=1e-4, atol=1e-7)
    assert abs(np.nanmean(amp[0].real)) < 0.05 * np.nanstd(amp[0].real)
    # GRD: unfiltered multi-looked speckle of the same sigma0 (about 4.4 looks, same mean)
    flat = grd[0, rows, cols]
    ratio = flat / filtered[0, rows, cols]
    assert 0.8 < np.median(grd[:, rows, cols] / np.abs(win[:, 3:-3, 3:-3]) ** 2) < 10  # same radiometry, speckled
    assert abs(np.mean(flat) / np.mean(np.abs(win[0, 3:-3, 3:-3]) ** 2) - 1) < 0.05
    assert np.std(ratio) > 0.3  # not filtered


def test_gamma0_hyp3_and_planetary_scenes(tmp_path, scene):
    path, _ = scene
    with rasterio.open(path) as g:
        sigma0 = g.read()
    gam, _ = write_scene(tmp_path / "g0.tif", size=(300, 420), seed=11, kind="gamma0")
    hyp3, _ = write_scene(tmp_path / "hyp3", size=(300, 420), seed=11, kind="hyp3")
    pc, truth = write_scene(tmp_path / "pc", size=(300, 420), seed=11, kind="planetary")
    assert truth == tmp_path / "pc_truth.tif"
    with rasterio.open(gam) as src:
        assert src.descriptions == ("Gamma0_VV", "Gamma0_VH", "angle") and src.tags()["QUANTITY"] == "gamma0"
        g0, angle = src.read()[:2], src.read(3)
    valid = np.isfinite(sigma0[0])
    assert 30 <= np.nanmin(angle) and np.nanmax(angle) <= 46
    np.testing.assert_allclose(g0[:, valid] * np.cos(np.radians(angle[valid])), sigma0[:, valid], rtol=1e-5)
    assert hyp3.name == "S1A_IW_20230615T052311_DVP_RTC10_G_gpuned_000B_VV.tif" and hyp3.parent == tmp_path / "hyp3"
    base = str(hyp3)[: -len("_VV.tif")]
    with (
        rasterio.open(hyp3) as vv,
        rasterio.open(base + "_VH.tif") as vh,
        rasterio.open(base + "_inc_map.tif") as inc,
        rasterio.open(base + "_ls_map.tif") as ls,
    ):
        assert vv.nodata == 0 and vv.count == 1
        np.testing.assert_allclose(vv.read(1)[valid], g0[0][valid], rtol=1e-6)
        assert (vv.read(1)[~valid] == 0).all() and (vh.read(1)[valid] > 0).all()
        np.testing.assert_allclose(np.degrees(inc.read(1)[valid]), angle[valid], rtol=1e-5)
        assert ((ls.read(1) == 1) == valid).all()
    assert pc == tmp_path / "pc" / "measurement" / "iw-vv.rtc.tiff"
    with rasterio.open(pc) as vv, rasterio.open(pc.with_name("iw-vh.rtc.tiff")) as vh:
        assert vv.nodata == vh.nodata == -32768 and vv.dtypes == ("float32",)
        np.testing.assert_allclose(vh.read(1)[valid], g0[1][valid], rtol=1e-6)
        assert (vv.read(1)[~valid] == -32768).all()
    with pytest.raises(ConfigError, match="linear gamma0"):
        write_scene(tmp_path / "pc2", size=(40, 40), kind="planetary", units="db")


def test_scene_refuses_to_clobber_and_bad_options(tmp_path, scene):
    path, _ = scene
    with pytest.raises(OutputExistsError, match="overwrite"):
        write_scene(path, size=(300, 420), seed=11)
    with pytest.raises(ConfigError, match="linear"):
        write_scene(tmp_path / "x.tif", kind="slc", units="db")
    with pytest.raises(ConfigError, match="grd, gamma0, hyp3"):
        write_scene(tmp_path / "x.tif", kind="ocn")
    with pytest.raises(ConfigError, match="too small"):
        write_scene(tmp_path / "x.tif", size=(5, 5))
    with pytest.raises(LczmapError, match="does not exist"):
        write_scene(tmp_path / "missing" / "x.tif", size=(40, 40))
    assert not list(tmp_path.glob("x*"))


class _Bar:
    """A tqdm-like recorder for progress callbacks."""

    def __init__(self, log, total=None, desc=None):
        self.log, self.total, self.done = log, total, 0
        log.append(self)

    def update(self, n=1):
        self.done += n

    def close(self):
        self.closed = True


def test_progress_callbacks_count_the_work(tmp_path):
    bars = []
    write_twin(tmp_path / "t", 40, 20, 17, seed=0, chunk=16, progress=lambda **kw: _Bar(bars, **kw))
    write_scene(tmp_path / "s.tif", size=(100, 130), block=64, progress=lambda **kw: _Bar(bars, **kw))
    assert [(b.total, b.done, b.closed) for b in bars] == [(77, 77, True), (6, 6, True)]
