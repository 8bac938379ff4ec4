"""`lczmap info` on LCZ maps and scenes, real files each: a map `lczmap predict` wrote (one band,
and the LCZ Generator's three), the twin's GeoTIFF scenes (linear and dB), an IW GRD SAFE product
the twin writes and the real S1B IW SLC test product (xarray-sentinel's, one sub-swath)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from _predict_fixtures import tiny_checkpoint
from click.testing import CliRunner

from lczmap.cli import main
from lczmap.errors import SceneError
from lczmap.info import describe, format_description
from lczmap.twin import write_scene

SLC_ZIP = next((Path(__file__).parent / "data" / "safe_slc").glob("*.zip"))


def info(*args: object) -> dict:
    res = CliRunner().invoke(main, ["info", "--json", *map(str, args)])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)  # the log (e.g. the band read) goes to stderr


def failed(*args: object) -> str:
    res = CliRunner().invoke(main, ["info", *map(str, args)])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    return lines[0]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("info")
    grd, truth = write_scene(folder / "scene_grd.tif", size=(96, 112), kind="grd", truth_path=folder / "truth.tif")
    db, _ = write_scene(folder / "scene_db.tif", size=(96, 112), kind="grd", units="db", truth_path=folder / "truth_db.tif")
    safe, _ = write_scene(folder / "safe", size=(96, 112), kind="safe", truth_path=folder / "truth_safe.tif")
    model = tiny_checkpoint(folder / "m.safetensors")
    complex_model = tiny_checkpoint(folder / "c.safetensors", sar="vv-complex")
    return {"grd": grd, "db": db, "safe": safe, "truth": truth, "model": model, "complex": complex_model, "folder": folder}


@pytest.fixture(scope="module")
def maps(scenes):
    """Maps `lczmap predict` wrote from the twin's scene: one band, and the LCZ Generator layout."""
    folder = scenes["folder"]
    out = {}
    for layout in ("lcz", "lcz-generator"):
        path = folder / f"{layout}.tif"
        res = CliRunner().invoke(
            main,
            ["-q", "predict", str(scenes["grd"]), str(path), "-m", str(scenes["model"]), "--layout", layout, "--device", "cpu"],
        )
        assert res.exit_code == 0, res.output
        out[layout] = path
    return out


def test_an_lcz_map_from_predict(maps, scenes):
    d = info(maps["lcz"])
    assert d["kind"] == "lcz_map" and d["layout"] == "lcz" and d["coding"] == "1-17" and d["band"] == 1
    assert d["crs"] == "EPSG:32633" and d["pixel"] == "100 m"
    with rasterio.open(maps["lcz"]) as src:
        codes = src.read(1)
        tags = src.tags()
    counts = {int(c): int(n) for c, n in zip(*np.unique(codes[codes > 0], return_counts=True))}
    assert {c["lcz"]: c["pixels"] for c in d["classes"]} == {str(c): n for c, n in counts.items()}
    assert all(c["area_km2"] == pytest.approx(c["pixels"] * 0.01) for c in d["classes"])  # 100 m pixels
    assert sum(c["share"] for c in d["classes"]) == pytest.approx(1, abs=1e-3)
    assert d["nodata_pixels"] == int((codes == 0).sum())
    assert d["tags"]["model"] == tags["model"] and "input_conversions" in d["tags"]  # what predict recorded
    text = format_description(describe(maps["lcz"]))
    assert "coding: 1-17" in text and "\n  - lcz: 6, name: Open low-rise, pixels: " in text


def test_an_lcz_generator_product_from_predict(maps):
    d = info(maps["lcz-generator"])
    assert d["layout"] == "lcz-generator" and d["band"] == 2
    assert [(layer["band"], layer["name"]) for layer in d["layers"]] == [(1, "lcz"), (2, "lczFilter"), (3, "classProbability")]
    raw = info(maps["lcz-generator"], "--band", "lcz")
    assert raw["band"] == 1 and raw["classes"] == info(maps["lcz"])["classes"]  # the raw band is the plain map
    assert "no band named 'probability'" in failed(maps["lcz-generator"], "--band", "probability")


def test_a_ground_truth_map_of_another_coding(scenes, tmp_path):
    """A map that codes A-G as 101-107 with nodata 255 (some LCZ Generator outputs)."""
    with rasterio.open(scenes["truth"]) as src:
        codes, profile = src.read(1), src.profile
    coded = np.where(codes > 10, codes + 90, np.where(codes == 0, 255, codes)).astype(np.uint8)
    profile.update(nodata=255)
    with rasterio.open(tmp_path / "wudapt.tif", "w", **profile) as dst:
        dst.write(coded, 1)
    d = info(tmp_path / "wudapt.tif")
    assert d["coding"] == "101-107" and d["nodata"] == 255
    assert d["classes"] == info(scenes["truth"])["classes"]


def test_a_geotiff_scene_dry_run(scenes):
    d = info(scenes["grd"])
    assert d["kind"] == "scene" and d["product_kind"] == "geotiff" and d["band_set"].startswith("lee-intensity")
    assert [(b["channel"], b["band"]) for b in d["bands"]] == [("VH intensity", 2), ("VV intensity", 1)]
    assert d["units"] == "linear" and d["quantity"] == "sigma0" and d["size"] == "96 x 112 pixels"
    assert d["pixel"] == "10 m" and d["speckle_filter"] == "refined-lee"
    assert d["conversions"][-1].startswith("speckle filter: refined Lee 7 x 7")
    db = info(scenes["db"])
    assert db["units"] == "db" and any(c.startswith("dB -> linear") for c in db["conversions"]), db["conversions"]
    # for a model: its band set, and a one-line refusal when the scene cannot supply it
    assert info(scenes["grd"], "--model", scenes["model"])["band_set"].startswith("lee-intensity, the model's")
    assert "is no LCZ map" in failed(scenes["grd"], "--model", scenes["complex"])


def test_a_safe_grd_product_dry_run(scenes):
    (product,) = scenes["safe"].parent.glob("*.SAFE") if scenes["safe"].suffix != ".SAFE" else [scenes["safe"]]
    d = info(product)
    assert d["product_kind"] == "safe" and len(d["files"]) == 2
    conversions = "\n".join(d["conversions"])
    for step in ("calibration: DN -> sigma0", "noise removal", "geocoding", "speckle filter: refined Lee"):
        assert step in conversions, conversions


def test_the_real_slc_test_product_dry_run():
    """xarray-sentinel's S1B IW SLC zip holds IW1 only: described for a complex model, with the
    missing sub-swaths named."""
    d = info(SLC_ZIP)
    assert d["band_set"].startswith("vv-complex") and [b["part"] for b in d["bands"]] == ["real", "imag"]
    conversions = "\n".join(d["conversions"])
    assert "IW1 mapped; IW2, IW3 missing" in conversions and "deburst" in conversions
    assert d["speckle_filter"] == "none"


def test_what_is_neither_is_one_line(scenes, tmp_path):
    (tmp_path / "notes.txt").write_text("not a raster\n")
    assert "notes.txt as a raster" in failed(tmp_path / "notes.txt")
    with rasterio.open(
        tmp_path / "dem.tif",
        "w",
        driver="GTiff",
        width=20,
        height=10,
        count=1,
        dtype="float32",
        crs="EPSG:32633",
        transform=rasterio.transform.from_origin(500000, 5000000, 30, 30),
    ) as dst:
        dst.write(np.full((1, 10, 20), 312.5, np.float32))
    assert "dem.tif is no LCZ map" in failed(tmp_path / "dem.tif")
    with pytest.raises(SceneError, match="is no LCZ map"):
        describe(tmp_path / "dem.tif")
    assert "does not exist" in failed(tmp_path / "missing.tif")


def test_a_checkpoint_shows_its_eo_reference(scenes, tmp_path):
    """A checkpoint carrying the EO reference (embeddings by its real EO encoder) shows the classes,
    samples and size; one without says how to adapt it without labels (--eo-data)."""
    import torch

    from lczmap.checkpoint import load_checkpoint, save_checkpoint
    from lczmap.train.reference import eo_reference

    plain = load_checkpoint(scenes["model"])
    old = info(scenes["model"])
    assert old["kind"] == "checkpoint" and "--eo-data SO2SAT_DIR" in old["eo_reference"]
    net = plain.model()
    x = torch.rand(40, 3, 32, 32)
    y = torch.tensor([0] * 20 + [2] * 15 + [3] * 5)  # output indices of LCZ 3, 7 and 8; none of LCZ 6
    ref = eo_reference(net, x, y, plain.codes, per_class=16)
    path = tmp_path / "with_ref.safetensors"
    meta = {k: v for k, v in plain.meta.items() if k != "lczmap_version"}
    save_checkpoint(path, net, meta, extra=ref.tensors())
    shown = info(path)["eo_reference"]
    width = plain.architecture.embedding
    assert shown["classes"] == 3 and shown["samples"] == 16 + 15 + 5 and shown["dimension"] == width
    assert shown["bytes"] == 36 * (width * 2 + 2) and shown["size"] == f"{shown['bytes'] / 1024:.1f} KiB"
    assert shown["samples_per_lcz"] == {"LCZ 3": 16, "LCZ 6": 0, "LCZ 7": 15, "LCZ 8": 5}
    text = format_description(describe(path))
    assert "eo_reference:\n  classes: 3\n  samples: 36\n" in text and "    LCZ 7: 15" in text
