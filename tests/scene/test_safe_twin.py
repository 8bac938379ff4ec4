"""The twin's scene as an IW GRD SAFE product (``write_scene(kind="safe")``): through the SAFE
path (DN, calibration and noise LUTs, geolocation grid) it comes back as the GeoTIFF scene, on
its grid, and maps as the GeoTIFF does."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from _predict_fixtures import tiny_checkpoint
from click.testing import CliRunner

from lczmap.cli import main
from lczmap.errors import ConfigError
from lczmap.predict import predict_scene
from lczmap.scene import open_scene
from lczmap.twin import write_scene

torch.set_num_threads(1)
SIZE = (200, 240)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    d = tmp_path_factory.mktemp("twin_safe")
    safe, t1 = write_scene(d / "safe", size=SIZE, seed=3, kind="safe", truth_path=d / "truth_safe.tif")
    grd, t2 = write_scene(d / "grd.tif", size=SIZE, seed=3, kind="grd", truth_path=d / "truth_grd.tif")
    return safe, grd, t1, t2


def test_safe_scene_reads_back_as_the_geotiff_scene_on_its_grid(scenes):
    safe, grd, t1, t2 = scenes
    assert safe.name.endswith(".SAFE") and (safe / "manifest.safe").is_file()
    with rasterio.open(t1) as a, rasterio.open(t2) as b:
        assert np.array_equal(a.read(1), b.read(1))  # one truth
    a, b = open_scene(str(safe), "lee-intensity"), open_scene(str(grd), "lee-intensity")
    assert (a.height, a.width) == (b.height, b.width) == SIZE
    assert tuple(a.transform) == pytest.approx(tuple(b.transform)) and a.crs == b.crs
    ra, rb = a.read(0, a.height, 0, a.width), b.read(0, b.height, 0, b.width)
    # nodata: the same frame, at most a one-pixel rim more (bilinear next to DN 0)
    extra = np.isnan(ra) & ~np.isnan(rb)
    assert not (~np.isnan(ra) & np.isnan(rb)).any() and extra.sum() < 0.02 * ra.size
    v = ~np.isnan(ra)
    rel = np.abs(ra[v] - rb[v]) / rb[v]
    assert np.median(rel) < 0.01  # uint16 digital numbers
    assert ra[v].mean() / rb[v].mean() == pytest.approx(1, abs=0.005)  # calibration and noise removal unbiased


def test_safe_scene_maps_as_the_geotiff_scene(scenes, tmp_path):
    safe, grd, _, _ = scenes
    ckpt = tiny_checkpoint(tmp_path / "m.safetensors", sar="lee-intensity", classes=(3, 6, 11, 14))
    maps = []
    for src in (safe, grd):
        out = predict_scene(str(src), tmp_path / f"{src.stem}.tif", ckpt, device="cpu").out
        with rasterio.open(out) as ds:
            maps.append((ds.read(1), ds.transform))
    (a, ta), (b, tb) = maps
    assert ta == tb
    both = (a > 0) & (b > 0)
    assert both.sum() > 0.8 * (b > 0).sum()
    assert (a[both] == b[both]).mean() > 0.95


def test_demo_data_writes_a_safe_scene(tmp_path):
    res = CliRunner().invoke(
        main,
        [
            "-q",
            "demo-data",
            str(tmp_path),
            "--n-train",
            "60",
            "--n-val",
            "20",
            "--n-test",
            "20",
            "--scene-size",
            "100",
            "120",
            "--scene-kind",
            "safe",
        ],
    )
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "scene_safe").glob("*.SAFE/measurement/*.tiff"))) == 2
    with pytest.raises(ConfigError, match="digital numbers"):
        write_scene(tmp_path / "x", size=(100, 120), kind="safe", units="db")
