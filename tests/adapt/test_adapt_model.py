"""``lczmap adapt``: patches cut as predict sees the scene, both methods end to end, the record in
the checkpoint, held-out scores, and bad input as one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from lczmap.adapt import AdaptOptions, adapt_model
from lczmap.checkpoint import load_checkpoint
from lczmap.cli import main
from lczmap.errors import ConfigError, OutputError, SceneError, ZonesError

#: Small and fast: one epoch, one unlabelled patch per labelled one.
FAST = {"sar_epochs": 1, "unlabelled": 1.0, "device": "cpu", "batch_size": 32}


def test_labelled_windows_are_the_windows_predict_classifies(tiny_model, city, city_areas, tmp_path):
    from lczmap.adapt import cut_patches, read_training_areas
    from lczmap.predict import load_model, predict_scene
    from lczmap.scene import open_scene

    scene_path, _ = city
    m = load_model(tiny_model)
    opts = AdaptOptions(**FAST)
    scene = open_scene(scene_path, m.band_set)
    patches = cut_patches(scene, m, read_training_areas(city_areas), opts.predict.resolve(m, scene), 2.0, seed=3)
    assert len(patches.x_lab) > 50 and 2 * len(patches.x_lab) <= len(patches.x_unl) <= 2 * patches.pixels_per_polygon.sum()
    assert np.isfinite(patches.x_lab).all() and np.isfinite(patches.x_unl).all()
    lcz = tmp_path / "base.tif"
    predict_scene(scene_path, lcz, tiny_model, device="cpu")
    import rasterio
    import torch

    with rasterio.open(lcz) as src:
        mapped = src.read(1)
        assert src.transform == patches.grid.affine
    with torch.no_grad():
        logits = m.network(torch.from_numpy(patches.x_lab))
    codes = np.asarray(m.codes)[logits.argmax(1).numpy()]
    assert (codes == mapped[patches.pixel[:, 0], patches.pixel[:, 1]]).all()


@pytest.mark.parametrize("method", ["finetune", "swd"])
def test_adapt_writes_a_self_describing_checkpoint(tiny_model, city, city_areas, tmp_path, method):
    from lczmap.predict import predict_scene

    scene_path, truth = city
    out = tmp_path / f"{method}.safetensors"
    result = adapt_model(
        tiny_model,
        scene_path,
        city_areas,
        out,
        method=method,
        holdout=0.3,
        bootstrap=5,
        holdout_layer=tmp_path / "held.gpkg",
        **FAST,
    )
    table = result.classes
    assert {"lcz", "polygons", "with_patches", "patches", "held_out_polygons"} <= set(table.columns)
    assert (table["patches"] <= 9 * table["polygons"]).all() and table["patches"].sum() > 50
    assert result.n_labelled == (table["patches"] - table["held_out_patches"]).sum()
    assert set(result.scores) == {"base", "adapted"}
    for s in result.scores.values():
        assert 0 <= s.scores["OA"] <= 1 and s.intervals["OA"]["low"] <= s.intervals["OA"]["high"]
    ckpt = load_checkpoint(out)
    rec = ckpt.meta["adaptation"]
    assert ckpt.meta["method"] == method and rec["method"] == method
    assert rec["scene"]["name"] and rec["scene"]["sources"] and rec["training_areas"]["polygons"] == table["polygons"].sum()
    assert {r["lcz"]: r["patches"] for r in rec["classes"]} == dict(zip(table["lcz"], table["patches"]))
    assert rec["holdout"]["adapted"]["scores"]["OA"] == pytest.approx(result.scores["adapted"].scores["OA"])
    base = load_checkpoint(tiny_model)
    assert ckpt.codes == base.codes  # every class of the base model is kept
    for name, tensor in base.state.items():  # the classifier and the EO side are the base model's
        if name.startswith(("classifier.", "eo_encoder.")):
            assert (ckpt.state[name] == tensor).all(), name
    assert any(not (ckpt.state[n] == t).all() for n, t in base.state.items() if n.startswith("sar_encoder."))
    import geopandas as gpd

    held = gpd.read_file(tmp_path / "held.gpkg")
    assert len(held) == table["held_out_polygons"].sum()
    res = predict_scene(scene_path, tmp_path / "lcz.tif", out, device="cpu")
    assert res.n_windows > 0


def test_same_seed_same_model(tiny_model, city, city_areas, tmp_path):
    a = adapt_model(tiny_model, city[0], city_areas, tmp_path / "a.safetensors", method="swd", seed=4, **FAST)
    b = adapt_model(tiny_model, city[0], city_areas, tmp_path / "b.safetensors", method="swd", seed=4, **FAST)
    sa, sb = load_checkpoint(a.checkpoint).state, load_checkpoint(b.checkpoint).state
    assert all((sa[k] == sb[k]).all() for k in sa)


def test_cli_prints_the_table_and_the_scores(tiny_model, city, city_areas, tmp_path):
    out = tmp_path / "cli.safetensors"
    args = [
        "adapt",
        str(tiny_model),
        str(city[0]),
        str(city_areas),
        "-o",
        str(out),
        "--method",
        "finetune",
        "--sar-epochs",
        "1",
        "--unlabelled",
        "1",
        "--device",
        "cpu",
        "--holdout",
        "0.3",
        "--bootstrap",
        "3",
    ]
    done = CliRunner().invoke(main, ["-q", *args])
    assert done.exit_code == 0, done.output
    assert "with_patches" in done.output and "held-out polygons" in done.output
    assert "base" in done.output and "adapted" in done.output and "OAw" in done.output
    again = CliRunner().invoke(main, ["-q", *args])
    assert again.exit_code == 1 and "--overwrite" in again.output and "Traceback" not in again.output


def _cli_error(args) -> str:
    done = CliRunner().invoke(main, ["-q", "adapt", *map(str, args), "--device", "cpu", "--sar-epochs", "1"])
    assert done.exit_code != 0, done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)
    lines = [ln for ln in done.output.splitlines() if ln.startswith("Error")]
    assert len(lines) == 1, done.output
    return lines[0]


def test_bad_input_is_one_line_each(tiny_model, city, city_areas, tmp_path):
    import geopandas as gpd
    import rasterio
    from shapely.geometry import box

    scene_path, truth = city
    with rasterio.open(scene_path) as src:
        left, bottom, right, top = src.bounds
        crs = src.crs
    out = tmp_path / "m.safetensors"
    far = tmp_path / "far.geojson"
    gpd.GeoDataFrame(
        {"lcz": [1, 2]}, geometry=[box(left + 1e5, top + 1e5, left + 1e5 + 300, top + 1e5 + 300)] * 2, crs=crs
    ).to_file(far)
    assert "outside the scene" in _cli_error([tiny_model, scene_path, far, "-o", out])
    border = tmp_path / "border.geojson"  # over the nodata frame of the swath: no valid window
    gpd.GeoDataFrame({"lcz": [1, 2]}, geometry=[box(left, top - 80, left + 80, top)] * 2, crs=crs).to_file(border)
    assert "no labelled patch" in _cli_error([tiny_model, scene_path, border, "-o", out])
    bad_codes = tmp_path / "codes.geojson"
    gpd.GeoDataFrame({"lcz": [1, 55]}, geometry=[box(left, bottom, right, top)] * 2, crs=crs).to_file(bad_codes)
    assert "not LCZ codes" in _cli_error([tiny_model, scene_path, bad_codes, "-o", out])
    no_field = tmp_path / "nofield.geojson"
    gpd.GeoDataFrame({"kind": ["x"]}, geometry=[box(left, bottom, right, top)], crs=crs).to_file(no_field)
    assert "--field" in _cli_error([tiny_model, scene_path, no_field, "-o", out])
    one_band = tmp_path / "vv_only.tif"  # a lee-intensity model needs VH too
    with rasterio.open(scene_path) as src:
        profile = {**src.profile, "count": 1}
        with rasterio.open(one_band, "w", **profile) as dst:
            dst.write(src.read(1), 1)
            dst.set_band_description(1, "VV")
            dst.set_band_unit(1, "dB")
    assert "VH" in _cli_error([tiny_model, one_band, city_areas, "-o", out])
    assert _cli_error([tiny_model, scene_path, city_areas, "-o", tmp_path / "m.pt"]).count(".safetensors")
    # the scene is read as predict reads it: gamma0 needs the incidence angle, which this file lacks
    assert "angle" in _cli_error([tiny_model, scene_path, city_areas, "-o", out, "--quantity", "gamma0"])
    assert not out.exists()
    with pytest.raises(OutputError):
        adapt_model(tiny_model, scene_path, city_areas, tiny_model, overwrite=True, **FAST)
    with pytest.raises(ConfigError, match="--holdout"):
        AdaptOptions(holdout=1.0)
    with pytest.raises(ConfigError, match="--method"):
        AdaptOptions(method="sar-only")
    with pytest.raises(SceneError):
        adapt_model(tiny_model, one_band, city_areas, out, **FAST)
    single = tmp_path / "single.geojson"  # one polygon per class: nothing to hold out
    areas = gpd.read_file(city_areas)
    areas.groupby("class").head(1).to_file(single)
    with pytest.raises(ZonesError, match="--holdout"):
        adapt_model(tiny_model, scene_path, single, out, holdout=0.3, **FAST)
    assert json.dumps(AdaptOptions().to_dict())


def test_options_hold_predicts_options_and_record_them_flat():
    """AdaptOptions reads the scene with the PredictOptions lczmap predict is given; the checkpoint
    records the scene fields as flat keys, in the order they always had."""
    from lczmap.predict import PredictOptions

    opts = AdaptOptions(predict=PredictOptions(stride=5, bands=["VV", "VH"], speckle_filter="none"))
    rec = opts.to_dict()
    assert list(rec)[-8:] == ["bands", "units", "quantity", "resample", "stride", "max_nodata", "speckle_filter", "overwrite"]
    assert rec["stride"] == 5 and rec["bands"] == ["VV", "VH"] and rec["speckle_filter"] == "none"
    assert "predict" not in rec
    with pytest.raises(ConfigError, match="PredictOptions"):
        AdaptOptions(predict={"stride": 5})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        AdaptOptions(stride=5)  # type: ignore[call-arg]
