import h5py
import numpy as np
import pytest
from _so2sat_files import write_so2sat_file

from lczmap.data import (
    band_set,
    channel_stats,
    draw_budget,
    open_patches,
    open_so2sat,
    prepare,
    select_classes,
)
from lczmap.errors import ConfigError, DataError, OutputExistsError


def test_v2_layout_and_band_sets(tmp_path):
    for name, seed in (("training", 0), ("validation", 1), ("testing", 2)):
        write_so2sat_file(tmp_path / f"{name}.h5", n=20, seed=seed)
    ds = open_so2sat(tmp_path)
    assert ds.layout == "v2"
    assert set(ds.splits) == {"training", "validation", "testing"}
    assert ds.test_split == "testing"
    src = open_patches(tmp_path, "training", "rgb")
    x = src[np.array([5, 1, 5])]
    assert x.shape == (3, 3, 32, 32) and x.dtype == np.float32
    with h5py.File(tmp_path / "training.h5") as f:
        raw = f["sen2"][5]
    np.testing.assert_allclose(x[0], raw[..., [2, 1, 0]].transpose(2, 0, 1).astype(np.float32))
    np.testing.assert_array_equal(x[0], x[2])
    sar = open_patches(tmp_path, "training", "lee-intensity")[np.array([3])]
    with h5py.File(tmp_path / "training.h5") as f:
        np.testing.assert_allclose(sar[0], f["sen1"][3][..., [4, 5]].transpose(2, 0, 1).astype(np.float32))


def test_v1_and_v3_layouts(tmp_path):
    v1 = tmp_path / "v1"
    v1.mkdir()
    write_so2sat_file(v1 / "training.h5", n=8)
    write_so2sat_file(v1 / "validation.h5", n=8)
    ds = open_so2sat(v1)
    assert ds.layout == "v1" and ds.test_split == "validation"
    v3 = tmp_path / "v3"
    for variant in ("random", "block", "culture_10"):
        (v3 / variant).mkdir(parents=True)
        write_so2sat_file(v3 / variant / "training.h5", n=8)
        write_so2sat_file(v3 / variant / "testing.h5", n=8)
    assert open_so2sat(v3).layout == "v3"
    assert "culture_10/testing" in open_so2sat(v3).splits
    one = open_so2sat(v3 / "block")
    assert one.layout == "v3-block" and set(one.splits) == {"training", "testing"}


def test_uint8_gzip_files_are_readable(tmp_path):
    path = write_so2sat_file(tmp_path / "training.h5", n=16, dtype="uint8", compression="gzip")
    src = open_patches(path, "training", "s1-all")
    x = src[np.arange(16)]
    with h5py.File(path) as f:
        np.testing.assert_array_equal(x, f["sen1"][:].transpose(0, 3, 1, 2).astype(np.float32))
        np.testing.assert_array_equal(src.labels, f["label"][:].argmax(1))


def test_statistics_equal_numpy_over_whole_array(tmp_path):
    path = write_so2sat_file(tmp_path / "training.h5", n=300)
    src = open_patches(path, "training", "dual-complex")
    mean, std = channel_stats(src, block=64)
    with h5py.File(path) as f:
        # the reader hands float32 patches to training: statistics are of those values
        whole = f["sen1"][:][..., [0, 1, 2, 3]].astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(mean, whole.mean(axis=(0, 1, 2)), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(std, whole.std(axis=(0, 1, 2)), rtol=1e-10)
    sub = np.array([3, 7, 100, 299])
    m2, s2 = channel_stats(src, positions=sub, block=3)
    np.testing.assert_allclose(m2, whole[sub].mean(axis=(0, 1, 2)), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(s2, whole[sub].std(axis=(0, 1, 2)), rtol=1e-10)


def test_select_classes_maps_codes_to_output_index():
    labels = np.array([2, 5, 6, 7, 0, 16, 2])  # LCZ 3, 6, 7, 8, 1, G, 3
    pos, y = select_classes(labels, "lowrise")
    np.testing.assert_array_equal(pos, [0, 1, 2, 3, 6])
    np.testing.assert_array_equal(y, [0, 1, 2, 3, 0])
    with pytest.raises(DataError, match="LCZ 8"):
        select_classes(np.array([2, 5, 6]), "lowrise")
    with pytest.raises(ConfigError, match="unknown class setting"):
        select_classes(labels, "suburban")


@pytest.mark.parametrize("budget", [32, 128, 17, 5])
def test_stratified_budget_exact_balanced_reproducible(budget):
    rng = np.random.default_rng(0)
    y = rng.choice(4, size=2000, p=[0.6, 0.3, 0.08, 0.02])
    lab, unlab = draw_budget(y, budget, seed=3)
    assert len(lab) == budget and len(np.unique(lab)) == budget
    assert len(lab) + len(unlab) == len(y) and not set(lab) & set(unlab)
    counts = np.bincount(y[lab], minlength=4)
    assert counts.max() - counts.min() <= 1  # every class has enough here, so the spread is even
    lab2, _ = draw_budget(y, budget, seed=3)
    np.testing.assert_array_equal(lab, lab2)
    lab3, _ = draw_budget(y, budget, seed=4)
    assert not np.array_equal(lab, lab3)


def test_stratified_budget_with_a_rare_class():
    y = np.array([0] * 100 + [1] * 100 + [2] * 3)
    lab, _ = draw_budget(y, 30, seed=0)
    counts = np.bincount(y[lab], minlength=3)
    assert counts.tolist() == [14, 13, 3] or counts.tolist() == [13, 14, 3]


def test_random_budget_and_all():
    y = np.repeat(np.arange(3), 50)
    lab, unlab = draw_budget(y, 40, seed=1, stratified=False)
    assert len(lab) == 40 and len(unlab) == 110
    lab, unlab = draw_budget(y, "all", seed=1)
    assert len(lab) == 150 and len(unlab) == 0
    with pytest.raises(DataError, match="larger than"):
        draw_budget(y, 151)
    with pytest.raises(ConfigError):
        draw_budget(y, "many")


def test_cache_round_trip_and_resume(tmp_path):
    data = tmp_path / "so2sat"
    data.mkdir()
    write_so2sat_file(data / "training.h5", n=5000)
    write_so2sat_file(data / "testing.h5", n=40, seed=9)
    cache = tmp_path / "cache"
    prepare(data, cache, band_sets=["rgb", "vv-complex"])
    for split in ("training", "testing"):
        for bs in ("rgb", "vv-complex"):
            raw = open_patches(data, split, bs)
            cached = open_patches(data, split, bs, cache=cache)
            assert type(cached).__name__ == "CachePatches"
            idx = np.random.default_rng(0).integers(0, len(raw), 50)
            np.testing.assert_array_equal(raw[idx], cached[idx])
            np.testing.assert_array_equal(raw.labels, cached.labels)
    # cache-only use (no raw data)
    assert len(open_patches(None, "training", "rgb", cache=cache)) == 5000
    # an interrupted prepare resumes: fake a half-finished band set and run again
    import json

    index = json.loads((cache / "cache.json").read_text())
    state = index["splits"]["training"]["band_sets"]["rgb"]
    state["complete"], state["rows_done"] = False, 2048
    arr = np.load(cache / "training" / "rgb.npy", mmap_mode="r+")
    arr[2048:] = 0
    arr.flush()
    del arr
    (cache / "cache.json").write_text(json.dumps(index))
    prepare(data, cache, band_sets=["rgb"])
    np.testing.assert_array_equal(
        open_patches(data, "training", "rgb")[np.arange(5000)], open_patches(None, "training", "rgb", cache)[np.arange(5000)]
    )


def test_prepare_refuses_a_foreign_folder(tmp_path):
    data = tmp_path / "so2sat"
    data.mkdir()
    write_so2sat_file(data / "training.h5", n=8)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="not empty"):
        prepare(data, other)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sen1_shape": (8, 32, 32, 6)}, "sen1 has shape"),
        ({"sen2_shape": (8, 16, 16, 10)}, "sen2 has shape"),
        ({"label_rows": np.full((8, 17), 0.5)}, "not one-hot"),
    ],
)
def test_malformed_files(tmp_path, kwargs, message):
    path = write_so2sat_file(tmp_path / "training.h5", n=8, **kwargs)
    with pytest.raises(DataError, match=message):
        _ = open_patches(path, "training", "rgb").labels


def test_missing_keys_and_paths(tmp_path):
    path = tmp_path / "training.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("sen1", data=np.zeros((2, 32, 32, 8)))
    with pytest.raises(DataError, match="'sen2', 'label'"):
        open_so2sat(path)
    with pytest.raises(DataError, match="does not exist"):
        open_so2sat(tmp_path / "nowhere")
    with pytest.raises(DataError, match="no So2Sat files"):
        open_so2sat(tmp_path / ".." / tmp_path.name / "..")
    with pytest.raises(ConfigError, match="unknown SAR band set"):
        band_set("vv-only", "sar")
