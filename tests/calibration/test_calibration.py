"""Calibrated probabilities: temperature scaling recovers a known temperature, the ECE of a case
computed by hand, the checkpoint's calibration (and old checkpoints as uncalibrated), predict's
probability outputs calibrated and tagged with the classes unchanged, assess's ECE of a
probability layer, and bad inputs in one line."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import torch
from _predict_fixtures import grd, tiny_checkpoint, write_tif
from click.testing import CliRunner
from shapely.geometry import Point

from lczmap.calibration import (
    N_BINS,
    Calibration,
    calibration_of,
    expected_calibration_error,
    fit_calibration,
    fit_temperature,
    reliability,
    softmax,
    write_reliability_diagram,
)
from lczmap.checkpoint import load_checkpoint, save_checkpoint
from lczmap.cli import main
from lczmap.errors import CheckpointError, DataError, ZonesError
from lczmap.maps import assess_map
from lczmap.predict import load_model, predict_dataarray, predict_scene

torch.set_num_threads(1)

CLASSES = (3, 6, 7, 8)
T_KNOWN = 2.5


# --- temperature and ECE --------------------------------------------------------------------------


@pytest.mark.parametrize("t_true", [0.5, 2.0, 4.0])
def test_fitted_temperature_recovers_a_known_one(t_true):
    """Labels drawn from softmax(z / T): the NLL fit finds T (within sampling error)."""
    rng = np.random.default_rng(1)
    z = rng.normal(size=(30000, 6)) * 3.0
    p = softmax(z, t_true)
    y = (p.cumsum(axis=1) > rng.random((len(z), 1))).argmax(axis=1)
    assert fit_temperature(z, y) == pytest.approx(t_true, rel=0.05)
    cal = fit_calibration(z, y, "synthetic")
    assert cal.nll_after <= cal.nll_before and cal.ece_after < 0.02
    if t_true != 1.0:
        assert cal.ece_before > 0.05  # miscalibrated before


def test_ece_of_a_case_computed_by_hand():
    # bins (i/15, (i+1)/15]: 0.05 -> bin 0; 0.3 -> bin 4; 0.95 and 1.0 -> bin 14
    conf = np.array([0.05, 0.3, 0.3, 0.95, 0.95, 1.0])
    correct = np.array([False, True, False, True, True, False])
    r = reliability(conf, correct)
    # bin 0: |0 - 0.05| * 1; bin 4: |0.5 - 0.3| * 2; bin 14: |2/3 - 2.9/3| * 3 = 0.9; over 6 samples
    assert r.ece == pytest.approx((0.05 + 0.4 + 0.9) / 6)
    assert r.count.tolist() == [1, 0, 0, 0, 2] + [0] * 9 + [3] and len(r.count) == N_BINS
    assert r.accuracy[4] == pytest.approx(0.5) and r.confidence[14] == pytest.approx(2.9 / 3)
    assert np.isnan(r.accuracy[1])
    assert reliability(np.array([0.0, 1.0]), np.array([False, True])).ece == 0.0  # 0 falls in the first bin
    # from probabilities: the top label
    p = np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4]])
    assert expected_calibration_error(p, np.array([0, 0, 0])) == pytest.approx((abs(1 - 0.65) * 2 + abs(0 - 0.8)) / 3)


def test_temperature_keeps_the_classes():
    z = np.random.default_rng(0).normal(size=(5000, 17)) * 4
    for t in (0.1, 0.7, 3.0, 19.0):
        assert (softmax(z, t).argmax(1) == z.argmax(1)).all()


def test_bad_inputs_in_one_line(tmp_path):
    with pytest.raises(DataError, match="no held-out samples"):
        fit_temperature(np.zeros((0, 3)), np.zeros(0, int))
    with pytest.raises(DataError, match="NaN"):
        fit_temperature(np.full((2, 3), np.nan), np.array([0, 1]))
    with pytest.raises(DataError, match="probabilities in"):
        reliability(np.array([3.0, 17.0]), np.array([True, False]))  # class codes, not probabilities
    with pytest.raises(DataError, match="positive temperature"):
        Calibration.from_dict({"method": "temperature", "temperature": -1})
    r = reliability(np.array([0.9, 0.8]), np.array([True, False]))
    out = write_reliability_diagram(tmp_path / "r.png", {"x": r})
    assert out.read_bytes()[:4] == b"\x89PNG" and not list(tmp_path.glob("*.part*"))


# --- the checkpoint -------------------------------------------------------------------------------


def _calibrated(src, dst, t=T_KNOWN):
    ck = load_checkpoint(src)
    meta = {k: v for k, v in ck.meta.items() if k != "lczmap_version"}
    meta["calibration"] = Calibration(t, "the test", 100, 1.2, 1.0, 0.2, 0.01).to_dict()
    return save_checkpoint(dst, ck.model(), meta)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    raw = tiny_checkpoint(d / "raw.safetensors", classes=CLASSES, seed=3)
    return raw, _calibrated(raw, d / "cal.safetensors")


def test_checkpoint_round_trip_and_old_checkpoints_uncalibrated(models, tmp_path):
    raw, cal = models
    old = load_checkpoint(raw)
    assert "calibration" not in old.meta and old.calibration is None and old.temperature == 1.0
    ck = load_checkpoint(cal)
    assert ck.calibration == Calibration(T_KNOWN, "the test", 100, 1.2, 1.0, 0.2, 0.01) and ck.temperature == T_KNOWN
    assert calibration_of(ck.meta) == ck.calibration
    assert load_model(cal).temperature == T_KNOWN and load_model(raw).calibration is None
    # an edited header is refused in one line
    meta = {k: v for k, v in ck.meta.items() if k != "lczmap_version"}
    meta["calibration"] = {"method": "temperature", "temperature": 0}
    bad = save_checkpoint(tmp_path / "bad.safetensors", ck.model(), meta)
    with pytest.raises(CheckpointError, match="positive temperature"):
        load_model(bad)


# --- predict --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scene_tif(tmp_path_factory):
    return write_tif(tmp_path_factory.mktemp("scene") / "scene.tif", grd(120, 140, border=10), descriptions=["VV", "VH"])


@pytest.fixture(scope="module")
def maps(models, scene_tif, tmp_path_factory):
    """Each model's map, probabilities, confidence and LCZ Generator layout."""
    out = {}
    for name, ckpt in zip(("raw", "cal"), models):
        d = tmp_path_factory.mktemp(name)
        r = predict_scene(
            scene_tif, d / "lcz.tif", ckpt, probabilities=d / "p.tif", confidence=d / "c.tif", device="cpu", stride=5
        )
        g = predict_scene(scene_tif, d / "gen.tif", ckpt, device="cpu", stride=5, layout="lcz-generator")
        out[name] = (r, g.out)
    return out


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.tags()


def test_predict_probabilities_calibrated_tagged_classes_unchanged(maps):
    (r0, g0), (r1, g1) = maps["raw"], maps["cal"]
    lcz0, tags0 = _read(r0.out)
    lcz1, tags1 = _read(r1.out)
    assert np.array_equal(lcz0, lcz1) and (lcz0 != 0).sum() > 100  # the map's classes do not change
    p0, pt0 = _read(r0.probabilities)
    p1, pt1 = _read(r1.probabilities)
    valid = np.isfinite(p0).all(0)
    assert valid.sum() > 100 and np.array_equal(valid, np.isfinite(p1).all(0))
    # softmax(z / T) from softmax(z): log p = z - logsumexp(z)
    expect = softmax(np.log(np.maximum(p0[:, valid].T, 1e-30)), T_KNOWN).T
    assert np.allclose(p1[:, valid], expect, atol=2e-5)
    assert not np.allclose(p0[:, valid], p1[:, valid], atol=1e-3)
    assert (p1[:, valid].argmax(0) == p0[:, valid].argmax(0)).all()
    c1, ct1 = _read(r1.confidence)
    assert np.allclose(c1[0][valid], p1[:, valid].max(0))
    assert pt0["probability_calibration"].startswith("uncalibrated")
    assert "T=2.5000" in pt1["probability_calibration"] and "T=2.5000" in ct1["probability_calibration"]
    assert "probability_calibration" not in tags1  # the map of classes: no probabilities in it
    a0, gt0 = _read(g0)
    a1, gt1 = _read(g1)
    assert np.array_equal(a0[0], a1[0])  # the lcz band
    pct = np.where(a1[0] != 0, np.clip(np.rint(c1[0] * 100), 1, 100), 0)
    assert np.array_equal(a1[2], pct.astype(np.uint8))  # classProbability: the calibrated top probability
    assert "T=2.5000" in gt1["probability_calibration"] and gt0["probability_calibration"].startswith("uncalibrated")


def test_predict_dataarray_attrs_say_calibrated(models):
    import xarray as xr
    from affine import Affine
    from odc.geo.geobox import GeoBox
    from odc.geo.xr import xr_coords

    a = grd(70, 70)
    grid = GeoBox(a.shape[1:], Affine(10, 0, 500000, 0, -10, 5000000), "EPSG:32632")
    da = xr.DataArray(a, dims=("band", "y", "x"), coords=xr_coords(grid, crs_coord_name="spatial_ref"))
    raw = predict_dataarray(da, models[0], probabilities=True, device="cpu", stride=5)
    cal = predict_dataarray(da, models[1], probabilities=True, device="cpu", stride=5)
    assert np.array_equal(raw["lcz"].values, cal["lcz"].values)
    assert "T=2.5000" in cal["probabilities"].attrs["probability_calibration"]
    assert raw["confidence"].attrs["probability_calibration"].startswith("uncalibrated")


# --- assess ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def points(maps, tmp_path_factory):
    """Reference points at pixel centres of the calibrated map, half of them of its class."""
    r = maps["cal"][0]
    with rasterio.open(r.out) as ds:
        lcz, t, crs = ds.read(1), ds.transform, ds.crs
    rows, cols = np.nonzero(lcz)
    rng = np.random.default_rng(0)
    pick = rng.choice(len(rows), 200, replace=False)
    ref = lcz[rows[pick], cols[pick]].astype(int)
    wrong = rng.random(200) < 0.5
    ref[wrong] = [[c for c in CLASSES if c != v][0] for v in ref[wrong]]
    geoms = [Point(*(t @ (c + 0.5, r_ + 0.5))) for r_, c in zip(rows[pick], cols[pick])]
    path = tmp_path_factory.mktemp("ref") / "ref.gpkg"
    gpd.GeoDataFrame({"lcz": ref}, geometry=geoms, crs=crs).to_file(path)
    return path, ~wrong


def test_assess_reports_the_ece_of_a_probability_layer(maps, points, tmp_path):
    r, gen = maps["cal"]
    ref, correct = points
    p, _ = _read(r.probabilities)
    result = assess_map(r.out, ref, probabilities=r.probabilities, reliability_path=tmp_path / "rel.png", draws=0)
    cal = result.extra["calibration"]
    assert cal["pixels"] == 200 and cal["accuracy"] == pytest.approx(correct.mean())
    # by hand: the top probability at each point, correct where the reference is the map's class
    with rasterio.open(r.probabilities) as ds:
        conf = np.array([ds.read()[:, rr, cc].max() for rr, cc in (ds.index(pt.x, pt.y) for pt in gpd.read_file(ref).geometry)])
    assert cal["ece"] == pytest.approx(reliability(conf, correct).ece, abs=1e-6)
    assert "T=2.5000" in cal["probability_calibration"] and (tmp_path / "rel.png").read_bytes()[:4] == b"\x89PNG"
    assert "ECE" in result.summary()
    # the confidence layer and the LCZ Generator layout give the same ECE (percent rounding aside)
    same = assess_map(r.out, ref, probabilities=r.confidence, draws=0).extra["calibration"]
    assert same["ece"] == pytest.approx(cal["ece"], abs=1e-6)
    g = assess_map(gen, ref, probabilities=gen, draws=0).extra["calibration"]
    assert g["ece"] == pytest.approx(cal["ece"], abs=0.01) and g["layer"] == "lcz-generator"


def test_assess_cli_ece_and_a_map_without_probabilities_in_one_line(maps, points, tmp_path):
    r, _ = maps["cal"]
    ref, _ = points
    runner = CliRunner()
    res = runner.invoke(main, ["assess", str(r.out), str(ref), "--probabilities", str(r.probabilities), "--draws", "0"])
    assert res.exit_code == 0, res.output
    assert "ECE" in res.output and "T=2.5000" in res.output
    for args, words in (
        (["--probabilities", str(r.out)], "holds no probabilities"),  # a map of classes
        (["--reliability", str(tmp_path / "r.png")], "needs a probability layer"),
    ):
        res = runner.invoke(main, ["assess", str(r.out), str(ref), *args])
        assert res.exit_code == 1 and words in res.output, res.output
        assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
    with pytest.raises(ZonesError, match="REFERENCE"):
        assess_map(r.out, against=r.out, probabilities=r.probabilities)
