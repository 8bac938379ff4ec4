import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from lczmap.cli import main
from lczmap.demo import QUICK_DEMO, map_agreement, run_demo

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
    # a rerun reuses every finished step and changes nothing
    before = Path(o["lcz_map"]).stat().st_mtime_ns
    again = run_demo(tmp_path / "demo", **kw)
    assert Path(again.outputs["lcz_map"]).stat().st_mtime_ns == before


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
