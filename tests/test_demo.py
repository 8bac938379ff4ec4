import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from lczmap.cli import main
from lczmap.demo import AREA_FIGURE, ECE_FIGURE, QUICK_DEMO, largest_built_area, map_agreement, run_demo

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_end_to_end_and_rerun(tmp_path):
    # the quick demo whose class counts docs/img/pictures.json records (one epoch of 400 patches
    # mapped everything as water on some CPUs' BLAS kernels)
    kw = dict(QUICK_DEMO)
    report = run_demo(tmp_path / "demo", **kw)
    o = report.outputs
    for key in (
        "checkpoint",
        "lcz_map",
        "confidence",
        "zones",
        "districts",
        "summary_csv",
        "assessment",
        "map_png",
        "training_areas",
        "held_out_areas",
        "adapted_model",
        "adapted_map",
        "adapted_assessment",
        "adapted_png",
    ):
        assert Path(o[key]).exists(), key
    with rasterio.open(o["lcz_map"]) as lcz, rasterio.open(o["truth"]) as truth:
        assert lcz.shape == truth.shape and lcz.crs == truth.crs
        values = np.unique(lcz.read(1))
        assert set(values.tolist()) <= set(range(18)) and len(values) > 2
    assert 0 <= report.figures["map agreement with the scene's ground truth"] <= 1
    # the LCZ community's OA against the truth map is the same count as the plain agreement
    assert report.figures["map OA against the ground truth"] == pytest.approx(
        report.figures["map agreement with the scene's ground truth"]
    )
    assert "map OAw against the ground truth" in report.summary()
    # the adapted model: trained on the training areas, scored outside them, on the scene's grid
    import geopandas as gpd

    from lczmap.checkpoint import load_checkpoint

    areas = gpd.read_file(o["training_areas"])
    assert len(areas) and set(areas["lcz"]) <= set(range(1, 18))
    assert load_checkpoint(o["adapted_model"]).meta["adaptation"]["labelled_patches"] > 0
    with rasterio.open(o["adapted_map"]) as adapted, rasterio.open(o["truth"]) as truth:
        assert adapted.shape == truth.shape and adapted.transform == truth.transform
    for which in ("base", "adapted"):
        assert 0 <= report.figures[f"agreement outside the training areas, {which} model"] <= 1
        assert "bootstrap interval" in report.figures[f"OA on the held-out training areas, {which} model"]
    held = gpd.read_file(o["held_out_areas"])  # the held-out polygons are training areas the model never saw
    assert 0 < len(held) < len(areas)
    assert str(o["lcz_map"]) in report.summary() and "QGIS" in report.summary()
    _check_trust_lines(report)
    _check_unsupervised(report)
    # a rerun reuses every finished step and changes nothing
    before = Path(o["lcz_map"]).stat().st_mtime_ns
    unsupervised = [Path(o[k]).stat().st_mtime_ns for k in ("unsupervised_model", "unsupervised_map")]
    again = run_demo(tmp_path / "demo", **kw)
    assert Path(again.outputs["lcz_map"]).stat().st_mtime_ns == before
    assert [Path(o[k]).stat().st_mtime_ns for k in ("unsupervised_model", "unsupervised_map")] == unsupervised
    line = "agreement outside the training areas, model adapted without labels"
    assert again.figures[line] == report.figures[line]


NUMBER = r"(\d+(?:\.\d+)?)"


def _check_trust_lines(report):
    """The demo's calibration and area lines: printed, and their numbers those of evaluate and assess_sample."""
    import json
    import re

    import geopandas as gpd

    import lczmap
    from lczmap.checkpoint import load_checkpoint

    o, summary = report.outputs, report.summary()
    # calibrated test ECE, beside the uncalibrated one and the temperature from the checkpoint
    line = report.figures[ECE_FIGURE]
    assert f"{ECE_FIGURE}: {line}" in summary
    m = re.match(rf"{NUMBER} on (\d+) test patches \(uncalibrated {NUMBER}; temperature {NUMBER} fitted on the validation", line)
    assert m, line
    ece, n, ece_raw, t = float(m[1]), int(m[2]), float(m[3]), float(m[4])
    assert 0 <= ece <= 1 and 0 <= ece_raw <= 1
    cal = json.loads((o["evaluation"] / "report.json").read_text())["calibration"]
    assert ece == pytest.approx(cal["ece_calibrated"], abs=5e-4) and ece_raw == pytest.approx(cal["ece_uncalibrated"], abs=5e-4)
    assert t == pytest.approx(load_checkpoint(o["checkpoint"]).calibration.temperature, abs=5e-3)
    assert n == json.loads((o["evaluation"] / "report.json").read_text())["n"]
    # the largest built class's area: its interval holds the estimate, and assess_sample gives the same
    line = report.figures[AREA_FIGURE]
    assert f"{AREA_FIGURE}: {line}" in summary
    m = re.match(
        rf"LCZ (\d+) \(.+\): {NUMBER} km2, 95 % interval {NUMBER}-{NUMBER} \(.+ from (\d+) sample points whose reference labels "
        rf"come from the twin's ground truth.+mapped {NUMBER} km2, true {NUMBER} km2\)",
        line,
    )
    assert m, line
    code, area, low, high, points, mapped, true = int(m[1]), *map(float, m.group(2, 3, 4)), int(m[5]), *map(float, m.group(6, 7))
    assert 1 <= code <= 10 and low <= area <= high
    with rasterio.open(o["lcz_map"]) as src:
        lcz = src.read(1)
        pixel_km2 = abs(src.transform.a * src.transform.e) * 1e-6
    counts = np.bincount(lcz.ravel(), minlength=18)
    assert int(np.argmax(counts[1:11])) + 1 == code
    assert mapped == pytest.approx(counts[code] * pixel_km2, abs=0.005)
    with rasterio.open(o["truth"]) as src:
        truth = src.read(1)
    assert true == pytest.approx((truth == code).sum() * pixel_km2, abs=0.005)
    sample = gpd.read_file(o["area_sample"], layer="sample")
    assert len(sample) == points and (sample["reference"].fillna("") == "").all()  # as a user receives it
    sample["reference"] = [str(int(truth[r, c])) for r, c in zip(sample["row"], sample["col"])]
    e = lczmap.assess_sample(o["lcz_map"], sample).estimate
    i = e.classes.index(code)
    lo, hi = e.interval(e.area[i], e.area_se[i])
    assert (area, low, high) == pytest.approx((e.area[i] * 1e-6, lo * 1e-6, hi * 1e-6), abs=0.005)


def _write_lcz(path, array):
    profile = dict(
        driver="GTiff",
        width=array.shape[1],
        height=array.shape[0],
        count=1,
        dtype="uint8",
        nodata=0,
        crs="EPSG:32633",
        transform=rasterio.transform.from_origin(500000, 5000000, 100, 100),
    )
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array.astype(np.uint8), 1)
    return path


def _map_and_truth(tmp_path):
    """A 40 x 40 map (LCZ D the largest class, LCZ 6 the largest built one) and its truth: 100 of
    the 400 pixels mapped as LCZ 6 are LCZ 2, and 40 mapped as LCZ D are LCZ 6 (true LCZ 6: 3.40 km2)."""
    lcz = np.full((40, 40), 14, np.uint8)
    lcz[20:30], lcz[30:35], lcz[35:] = 6, 2, 9
    truth = lcz.copy()
    truth[20:30, :10] = 2
    truth[0, :40] = 6
    return _write_lcz(tmp_path / "map.tif", lcz), _write_lcz(tmp_path / "truth.tif", truth), lcz, truth


def test_largest_built_area_whole_map_is_exact(tmp_path):
    # a map with fewer pixels than the sample asks for is sampled whole: the estimate is the true area, no interval
    lcz_path, truth_path, _, _ = _map_and_truth(tmp_path)
    got = largest_built_area(lcz_path, truth_path, tmp_path / "s.gpkg", tmp_path / "s.json", n=5000)
    assert got is not None and got["code"] == 6 and got["label"] == "6" and got["points"] == 1600
    assert got["mapped_km2"] == pytest.approx(4.0) and got["true_km2"] == pytest.approx(3.4)
    assert got["area_km2"] == got["low_km2"] == got["high_km2"] == pytest.approx(3.4)
    assert (tmp_path / "s.json").exists() and (tmp_path / "s.kml").exists()


def test_largest_built_area_is_the_stratified_estimate(tmp_path):
    # the estimate by hand (Olofsson et al. 2014, eqs. 9-11) from the sample's points labelled from the truth
    import geopandas as gpd

    lcz_path, truth_path, lcz, truth = _map_and_truth(tmp_path)
    got = largest_built_area(lcz_path, truth_path, tmp_path / "s.gpkg", n=300, seed=3)
    assert got is not None and got["points"] == 300
    pts = gpd.read_file(tmp_path / "s.gpkg", layer="sample")
    ref = truth[pts["row"], pts["col"]]
    strata = np.unique(lcz)
    weights = {h: (lcz == h).mean() for h in strata}
    rows = {h: ref[pts["map_lcz"] == h] for h in strata}
    share = sum(weights[h] * (rows[h] == 6).mean() for h in strata)
    var = sum(weights[h] ** 2 * (rows[h] == 6).mean() * (1 - (rows[h] == 6).mean()) / (len(rows[h]) - 1) for h in strata)
    total_km2 = lcz.size * 0.01
    assert got["area_km2"] == pytest.approx(share * total_km2)
    assert got["high_km2"] - got["area_km2"] == pytest.approx(1.959964 * np.sqrt(var) * total_km2, rel=1e-5)
    assert got["low_km2"] < got["area_km2"] < got["high_km2"]


def test_largest_built_area_none_without_built_classes(tmp_path):
    lcz = np.full((10, 10), 11, np.uint8)
    lcz[5:] = 17
    path = _write_lcz(tmp_path / "natural.tif", lcz)
    assert largest_built_area(path, path, tmp_path / "s.gpkg") is None
    assert not (tmp_path / "s.gpkg").exists()


def _check_unsupervised(report):
    """Step 10: the model adapted without labels (swd-eo, bounded), its map on the scene's grid, the
    third rendered map, and its agreement outside the training squares, printed as one line."""
    import geopandas as gpd

    from lczmap.checkpoint import load_checkpoint
    from lczmap.train.reference import read_reference

    o = report.outputs
    for key in ("unsupervised_model", "unsupervised_map", "unsupervised_png"):
        assert Path(o[key]).exists(), key
    ckpt = load_checkpoint(o["unsupervised_model"])
    rec = ckpt.meta["adaptation"]
    assert ckpt.meta["method"] == "swd-eo" and rec["training_areas"] is None and rec["labelled_patches"] == 0
    assert 0 < rec["unlabelled_patches"] <= 1000 and 1 <= len(rec["history"]) <= 2
    assert rec["stopping"]["kept"] in [c["model"] for c in rec["stopping"]["checks"]]
    assert read_reference(ckpt) is not None
    with rasterio.open(o["unsupervised_map"]) as unsup, rasterio.open(o["truth"]) as truth:
        assert unsup.shape == truth.shape and unsup.transform == truth.transform
        assert len(np.unique(unsup.read(1))) > 1
    line = "agreement outside the training areas, model adapted without labels"
    want = map_agreement(o["unsupervised_map"], o["truth"], exclude=gpd.read_file(o["training_areas"]))["agreement"]
    assert report.figures[line] == pytest.approx(want) and 0 <= want <= 1
    assert f"{line}: {want:.3f}" in report.summary()


def test_map_agreement_counts_only_valid_pixels(tmp_path):
    profile = dict(
        driver="GTiff",
        width=4,
        height=2,
        count=1,
        dtype="uint8",
        crs="EPSG:32633",
        transform=rasterio.transform.from_origin(0, 200, 100, 100),
    )
    a = np.array([[1, 2, 3, 0], [17, 17, 5, 5]], np.uint8)
    b = np.array([[1, 3, 3, 4], [0, 17, 5, 6]], np.uint8)
    for name, arr in (("a.tif", a), ("b.tif", b)):
        with rasterio.open(tmp_path / name, "w", **profile) as dst:
            dst.write(arr, 1)
    result = map_agreement(tmp_path / "a.tif", tmp_path / "b.tif")
    assert result["pixels"] == 6 and result["agreement"] == pytest.approx(4 / 6)


def test_demo_data_cli_refuses_to_overwrite(tmp_path):
    args = ["-q", "demo-data", str(tmp_path), "--n-train", "60", "--n-val", "20", "--n-test", "20", "--scene-size", "100", "120"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "scene_grd.tif").exists() and (tmp_path / "so2sat" / "testing.h5").exists()
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "exists: pass --overwrite" in result.output
    result = CliRunner().invoke(main, args[:-3] + ["--scene-kind", "slc", "--units", "db"])
    assert result.exit_code == 1 and "cannot be in dB" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").glob("*.py")))
def test_examples_run(example, tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / example), str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
