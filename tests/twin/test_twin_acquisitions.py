"""The twin's acquisitions: dates, passes and offset footprints of one city, and one truth map."""

import hashlib
import json
from itertools import combinations

import numpy as np
import pytest
import rasterio

from lczmap.errors import ConfigError
from lczmap.twin import ACQUISITION_TAGS, MATERIALS, SCENE_ANGLES, plan_acquisitions, write_acquisitions, write_scene
from lczmap.twin.acquisitions import DATE_CHANGE_DB, date_change_db
from lczmap.twin.materials import radar_sigma0

SIZE = (300, 360)
ORIGIN = (380000.0, 5830000.0)


@pytest.fixture(scope="module")
def acq4(tmp_path_factory):
    return write_acquisitions(tmp_path_factory.mktemp("acq4"), 4, size=SIZE, seed=2)


def _read(path):
    with rasterio.open(path) as src:
        return src.read(), src.transform, src.tags()


def _pixels_sha(path):
    h = hashlib.sha256()
    with rasterio.open(path) as src:
        h.update(src.read().tobytes())
        h.update(json.dumps(src.tags(), sort_keys=True).encode())
    return h.hexdigest()


# write_scene(size=(120, 160), seed=3) as it was before the twin grew acquisitions (pixels and tags;
# recorded on x86-64, numpy 2 with AVX2): new parameters keep today's output.
SCENE_SHA = "ae310b41b75bb95d5afcc12760e0cd2145b1b6e0b2297cf76ab78d44625b0f1d"
TRUTH_SHA = "b54c2691b3bc31b0490fabcea3d419c2724cdb52687e994279e81f550044f788"


def test_existing_scene_unchanged(tmp_path):
    scene, truth = write_scene(tmp_path / "small.tif", size=(120, 160), seed=3)
    assert _pixels_sha(truth) == TRUTH_SHA
    assert _pixels_sha(scene) == SCENE_SHA


def test_demo_data_acquisitions_cli_keeps_the_scene(tmp_path):
    from click.testing import CliRunner

    from lczmap.cli import main

    out = tmp_path / "demo"
    args = [
        "-q",
        "demo-data",
        str(out),
        "--n-train",
        "17",
        "--n-val",
        "17",
        "--n-test",
        "17",
        "--scene-size",
        "120",
        "160",
        "--seed",
        "3",
    ]
    result = CliRunner().invoke(main, [*args, "--acquisitions", "3"])
    assert result.exit_code == 0, result.output
    assert _pixels_sha(out / "scene_grd.tif") == SCENE_SHA
    with rasterio.open(out / "scene_truth_lcz.tif") as a, rasterio.open(tmp_path / "t.tif", "w", **a.profile) as b:
        b.write(a.read())  # the same pixels, without the tag naming the scene
        b.update_tags(**{**a.tags(), "SCENE": "small.tif"})
    assert _pixels_sha(tmp_path / "t.tif") == TRUTH_SHA
    files = sorted((out / "acquisitions").glob("acq*.tif"))
    assert [f.name[:5] for f in files] == ["acq00", "acq01", "acq02"]
    assert (out / "acquisitions" / "truth_lcz.tif").exists()
    assert "acquisitions_truth:" in result.output
    # refused in one line before anything is written
    bad = CliRunner().invoke(main, ["demo-data", str(tmp_path / "bad"), "--scene-kind", "hyp3", "--acquisitions", "2"])
    assert bad.exit_code == 1 and bad.output.count("\n") == 1 and "--scene-kind" in bad.output
    assert not (tmp_path / "bad").exists()


def test_reproducible_window_independent_and_prefix(tmp_path, acq4):
    again = write_acquisitions(tmp_path / "b", 3, size=SIZE, seed=2, block=128)  # other windows, fewer dates
    for a, b in zip(acq4.scenes, again.scenes):
        assert a.name == b.name
        assert _pixels_sha(a) == _pixels_sha(b)
    other = write_acquisitions(tmp_path / "c", 1, size=SIZE, seed=5)
    assert not np.array_equal(_read(other.scenes[0])[0], _read(acq4.scenes[0])[0])


def test_footprints_offset_on_the_truth_grid(acq4):
    rows, cols = SIZE
    assert acq4.area == (rows + 70, cols + 90)  # default: a quarter of the size, whole 100 m cells
    offsets = {a.offset for a in acq4.acquisitions}
    assert len(offsets) == 4  # every acquisition its own footprint
    cols_seen = {a.offset[1] for a in acq4.acquisitions}
    assert max(cols_seen) - min(cols_seen) >= 40  # other orbits, other swaths (400 m here; km at full size)
    with rasterio.open(acq4.truth) as t:
        tt, tshape, tcrs = t.transform, t.shape, t.crs
    assert tshape == (-(-acq4.area[0] // 10), -(-acq4.area[1] // 10))
    for acq, path in zip(acq4.acquisitions, acq4.scenes):
        with rasterio.open(path) as src:
            assert src.shape == SIZE and src.crs == tcrs
            t = src.transform
            assert (t.c, t.f) == (ORIGIN[0] + 10 * acq.offset[1], ORIGIN[1] - 10 * acq.offset[0])
            assert (t.c - tt.c) % 100 == 0 and (tt.f - t.f) % 100 == 0  # on the truth's 100 m grid


def test_truth_is_shared(tmp_path, acq4):
    two = write_acquisitions(tmp_path / "two", 2, size=SIZE, seed=2)
    big, _, _ = _read(acq4.truth)
    small, _, tags = _read(two.truth)
    both = (big[0] > 0) & (small[0] > 0)
    assert both.mean() > 0.5 and np.array_equal(big[0][both], small[0][both])
    assert ((small[0] > 0) <= (big[0] > 0)).all()  # more acquisitions see more, never less
    assert tags["SCENES"].split(",") == [p.name for p in two.scenes]
    # every acquisition's valid pixels lie on truth cells it is counted in
    for acq, path in zip(acq4.acquisitions, acq4.scenes):
        data, _, _ = _read(path)
        centre = np.isfinite(data[0][5::10, 5::10])
        r, c = acq.offset[0] // 10, acq.offset[1] // 10
        window = big[0][r : r + centre.shape[0], c : c + centre.shape[1]]
        assert (window[centre] > 0).all()
        assert 0.8 < centre.mean() < 0.97  # the swath's nodata frame


def test_tags_date_pass_orbit(acq4):
    for acq, path in zip(acq4.acquisitions, acq4.scenes):
        _, _, tags = _read(path)
        assert set(ACQUISITION_TAGS) <= set(tags)
        assert tags["ORBIT_DIRECTION"] == acq.pass_.upper()
        assert tags["RELATIVE_ORBIT"] == str(acq.relative_orbit)
        assert (int(tags["ORBIT_NUMBER"]) - 73) % 175 + 1 == acq.relative_orbit
        assert tags["ACQUISITION_DATE"] in path.name.replace("_", "-") or tags["ACQUISITION_DATE"].replace("-", "") in path.name
        assert tags["ACQUISITION_START_TIME"].startswith(tags["ACQUISITION_DATE"] + "T")
        assert tags["LOOK_DIRECTION"] == ("east" if acq.pass_ == "ascending" else "west")
        assert tags["PRODUCT"] == "GRD" and tags["QUANTITY"] == "sigma0"  # what write_scene writes
    assert len({_read(p)[2]["PRODUCT_ID"] for p in acq4.scenes}) == 4
    assert [a.pass_ for a in acq4.acquisitions] == ["ascending", "descending", "ascending", "descending"]
    assert len({a.relative_orbit for a in acq4.acquisitions}) == 4
    dates = [a.start for a in acq4.acquisitions]
    assert dates == sorted(dates) and len(set(dates)) == 4


def _common(acq4):
    """Every acquisition's pixels on the area all of them cover, as dB, and the truth class there."""
    r0 = max(a.offset[0] for a in acq4.acquisitions)
    c0 = max(a.offset[1] for a in acq4.acquisitions)
    r1 = min(a.offset[0] for a in acq4.acquisitions) + SIZE[0]
    c1 = min(a.offset[1] for a in acq4.acquisitions) + SIZE[1]
    truth, _, _ = _read(acq4.truth)
    cls = np.kron(truth[0], np.ones((10, 10), np.uint8))[r0:r1, c0:c1]
    db = []
    for a, path in zip(acq4.acquisitions, acq4.scenes):
        data, _, _ = _read(path)
        db.append(10 * np.log10(data[:, r0 - a.offset[0] : r1 - a.offset[0], c0 - a.offset[1] : c1 - a.offset[1]]))
    valid = np.all([np.isfinite(d[0]) for d in db], axis=0) & (cls > 0)
    return db, cls, valid


def test_date_change_bounded_vegetation_more_than_buildings():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5000, 4000)
    y = rng.integers(0, 5000, 4000)
    worst = {}
    for acq in plan_acquisitions(40, seed=1, size=SIZE):
        for i, name in enumerate(MATERIALS):
            change = np.abs(date_change_db(acq, np.full(x.shape, i), x, y, 7))
            worst[name] = max(worst.get(name, 0.0), float(change.max()))
    for name, coef in DATE_CHANGE_DB.items():
        assert worst[name] <= sum(coef) + 1e-9  # the stated bound per date
    assert max(worst[m] for m in ("roof", "paved", "rock")) <= 0.05 + 1e-9
    assert min(worst[m] for m in ("tree", "shrub", "grass")) >= 0.3  # tenths of a dB, reached
    assert max(worst[m] for m in ("tree", "shrub", "grass", "soil", "water")) <= 0.5 + 1e-9


def test_date_to_date_change_in_the_files(acq4):
    db, cls, valid = _common(acq4)
    acqs = acq4.acquisitions
    for i, j in combinations(range(4), 2):
        if acqs[i].pass_ != acqs[j].pass_:
            continue  # the same ground seen from the same side: only the date differs
        for code in np.unique(cls[valid]):
            m = valid & (cls == code)
            if m.sum() < 2000:
                continue
            change = float(np.mean(db[j][:, m] - db[i][:, m]))  # mean log-ratio: speckle's bias cancels
            assert abs(change) <= 1.0 + 0.05, (code, i, j, change)  # 2 x 0.5 dB between two dates
            if code in (1, 2, 4, 8):  # built-up: roofs, walls, streets (and a little green)
                assert abs(change) <= 0.3, (code, i, j, change)
        water = valid & (cls == 17)
        if water.sum() > 500:  # water follows the wind: 0.5 dB per unit
            expected = 0.5 * (acqs[j].wind - acqs[i].wind)
            assert float(np.mean(db[j][:, water] - db[i][:, water])) == pytest.approx(expected, abs=0.12)


def test_speckle_independent_between_dates(acq4):
    db, cls, valid = _common(acq4)
    a, b = db[0][0][valid], db[2][0][valid]  # two ascending dates: the same geometry
    ratio = a - b
    # independent 4.4-look speckle: the log-ratio's spread is about sqrt(2) times one date's log spread
    assert 2.5 < float(np.std(ratio)) < 4.5
    assert float(np.corrcoef(a, b)[0, 1]) < 0.9


def test_vh_vv_statistics_per_pass(acq4):
    db, cls, valid = _common(acq4)
    stats = {}
    for acq, d in zip(acq4.acquisitions, db):
        vv, vh = d[0][valid], d[1][valid]
        stats.setdefault(acq.pass_, []).append((float(np.mean(vv)), float(np.mean(vh)), float(np.mean(vh - vv))))
    for pass_, rows in stats.items():
        for vv, vh, ratio in rows:
            assert -18 < vv < -8 and -26 < vh < -14, pass_
            assert -11 < ratio < -5, pass_  # VH about 5-11 dB below VV, as Sentinel-1 over land
    asc, desc = (np.mean(stats[p], axis=0) for p in ("ascending", "descending"))
    assert np.abs(asc - desc).max() < 0.3  # the same ground from both sides: the same statistics


def test_look_direction_mirrors_walls_and_shadows():
    # one tall building, 4 x 4 pixels, on grass: the wall facing the sensor flashes, the far side is in shadow
    mat = np.full((1, 20), MATERIALS.index("grass"), np.uint8)
    mat[0, 8:12] = MATERIALS.index("roof")
    height = np.where(mat == 0, 40.0, 0.0).astype(np.float32)
    m = {
        "mat": mat,
        "height": height,
        "metal": np.zeros_like(mat, bool),
        "orient": np.ones_like(height),
        "tex": np.full_like(height, 0.5),
        "albedo": np.ones_like(height),
    }
    east = radar_sigma0(m, 0.0, 0.0, 0.0, look="east")[0][0]
    west = radar_sigma0(m, 0.0, 0.0, 0.0, look="west")[0][0]
    assert east.argmax() == 8 and west.argmax() == 11  # the near wall: west side for an east-looking pass
    assert east[12] < 0.01 and east[7] > 0.01  # shadow behind (east of) the building
    assert west[7] < 0.01 and west[12] > 0.01
    np.testing.assert_array_equal(east, radar_sigma0(m, 0.0, 0.0, 0.0)[0][0])  # the default looks east


def test_gamma0_angle_ramp_reversed_for_the_other_pass(tmp_path):
    s = write_acquisitions(tmp_path, 2, size=(60, 80), seed=1, kind="gamma0")
    ramps = []
    for path in s.scenes:
        data, _, tags = _read(path)
        row = data[2][30]
        ramps.append(row[np.isfinite(row)])
        assert tags["QUANTITY"] == "gamma0"
    asc, desc = ramps
    assert asc[0] < asc[-1] and desc[0] > desc[-1]
    assert SCENE_ANGLES[0] - 0.5 < min(asc.min(), desc.min()) and max(asc.max(), desc.max()) < SCENE_ANGLES[1] + 0.5


def test_explicit_offsets_tracks_and_frames(tmp_path):
    grid = [(r, c) for r in (0, 40) for c in (0, 60)]  # 2 frames x 2 tracks, overlapping
    s = write_acquisitions(tmp_path, 4, size=(60, 80), seed=1, offsets=grid)
    assert [a.offset for a in s.acquisitions] == grid and s.area == (100, 140)
    with rasterio.open(s.truth) as t:
        assert t.shape == (10, 14) and (t.read(1) > 0).mean() > 0.8


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 2, "offsets": [(0, 0)]}, "one \\(row, column\\)"),
        ({"n": 1, "offsets": [(0, 20)], "max_offset": (10, 10)}, "beyond max_offset"),
        ({"n": 0}, "at least 1"),
        ({"n": 2, "kind": "hyp3"}, "grd or gamma0"),
        ({"n": 2, "max_offset": (15, 20)}, "100 m"),
        ({"n": 2, "size": (10, 10)}, "too small"),
    ],
)
def test_bad_options_refused_before_writing(tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        write_acquisitions(tmp_path / "out", **{"size": (60, 80), **kwargs})
    assert not (tmp_path / "out").exists()


def test_refuses_to_clobber(tmp_path):
    from lczmap.errors import OutputExistsError

    write_acquisitions(tmp_path, 1, size=(60, 80))
    with pytest.raises(OutputExistsError):
        write_acquisitions(tmp_path, 1, size=(60, 80))
    write_acquisitions(tmp_path, 1, size=(60, 80), overwrite=True)
