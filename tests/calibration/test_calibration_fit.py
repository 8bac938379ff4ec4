"""Where the temperature is fitted: ``lczmap train`` on the validation split, ``lczmap adapt`` on
the held-out training areas (none held out: uncalibrated); ``lczmap evaluate`` reports the ECE
uncalibrated and with it, and draws the reliability diagram."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from lczmap.calibration import nll, softmax
from lczmap.checkpoint import load_checkpoint
from lczmap.cli import main
from lczmap.evaluate import evaluate, predict_logits
from lczmap.train import TrainConfig, train

torch.set_num_threads(1)

TINY = dict(
    width=4,
    depth=2,
    blocks=1,
    embedding=16,
    projection=8,
    batch_size=32,
    eo_epochs=1,
    sar_epochs=2,
    val_max=128,
    device="cpu",
    projections=10,
)


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("LCZMAP_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def trained(twin_dir, tmp_path_factory):
    cfg = TrainConfig(data=str(twin_dir), method="sar-only", **TINY)
    return train(cfg, tmp_path_factory.mktemp("cal_train") / "m.safetensors", record_last=False).checkpoint


def test_train_fits_the_temperature_on_the_validation_split(trained, twin_dir):
    from lczmap.data import open_patches, select_classes

    ck = load_checkpoint(trained)
    cal = ck.calibration
    assert cal is not None and cal.fitted_on == "the validation split"
    assert cal.nll_after <= cal.nll_before + 1e-9
    # the stored temperature is the NLL minimum on those patches: nearby temperatures do worse
    src = open_patches(twin_dir, "validation", ck.sar_bands, None)
    pos, y = select_classes(src.labels, ck.meta["classes"], "validation")
    keep = np.arange(len(pos))
    if len(pos) > 128:  # as training draws them (val_max)
        keep = np.sort(np.random.default_rng(ck.meta["seed"]).choice(len(pos), 128, replace=False))
    assert cal.n == len(keep)
    x = torch.as_tensor(np.asarray(src[pos[keep]]), dtype=torch.float32)
    z = predict_logits(ck.sar_network(), x).numpy()
    t = cal.temperature
    assert nll(z, y[keep], t) == pytest.approx(cal.nll_after, abs=1e-5)
    assert nll(z, y[keep], t) <= min(nll(z, y[keep], t * 1.05), nll(z, y[keep], t / 1.05))


def test_no_validation_split_is_uncalibrated(twin_dir, tmp_path):
    cfg = TrainConfig(data=str(twin_dir), method="sar-only", val_split=None, **{**TINY, "sar_epochs": 1})
    ck = load_checkpoint(train(cfg, tmp_path / "n.safetensors", record_last=False).checkpoint)
    assert ck.meta["calibration"] is None and ck.calibration is None and ck.temperature == 1.0


def test_evaluate_reports_the_ece_before_and_after(trained, twin_dir, tmp_path):
    report = evaluate(trained, twin_dir, split="testing", out_dir=tmp_path / "e")
    cal = report["calibration"]
    t = load_checkpoint(trained).temperature
    assert cal["calibrated"] and cal["temperature"] == t and "15 equal-width bins" in cal["definition"]
    assert sum(cal["reliability_calibrated"]["count"]) == report["n"]
    assert (tmp_path / "e" / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((tmp_path / "e" / "report.json").read_text())
    assert saved["calibration"]["ece_calibrated"] == cal["ece_calibrated"]
    # the ECE recomputed from the logits
    from lczmap.calibration import expected_calibration_error
    from lczmap.data import open_patches, select_classes

    ck = load_checkpoint(trained)
    src = open_patches(twin_dir, "testing", ck.sar_bands, None)
    pos, y = select_classes(src.labels, ck.meta["classes"], "testing")
    z = predict_logits(ck.sar_network(), torch.as_tensor(np.asarray(src[pos]), dtype=torch.float32)).numpy()
    assert cal["ece_uncalibrated"] == pytest.approx(expected_calibration_error(softmax(z), y), abs=1e-6)
    assert cal["ece_calibrated"] == pytest.approx(expected_calibration_error(softmax(z, t), y), abs=1e-6)
    res = CliRunner().invoke(main, ["-q", "evaluate", str(trained), str(twin_dir), "-o", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    assert "calibration ECE" in res.output and f"T = {t:.3f}" in res.output


def test_adapt_fits_the_temperature_on_the_held_out_areas(twin_dir, tmp_path):
    from lczmap.adapt import adapt_model
    from lczmap.adapt.areas import areas_from_map
    from lczmap.twin import write_scene

    cfg = TrainConfig(
        data=str(twin_dir),
        method="sar-only",
        classes="all",
        sar_bands="lee-intensity",
        val_split=None,
        **{**TINY, "sar_epochs": 1},
    )
    base = train(cfg, tmp_path / "base.safetensors", record_last=False).checkpoint
    city, truth = write_scene(
        tmp_path / "city.tif", size=(300, 360), seed=5, kind="grd", units="db", truth_path=tmp_path / "t.tif"
    )
    areas = areas_from_map(truth, 3, size=3, seed=0).rename(columns={"lcz": "class"})
    fast = {"sar_epochs": 1, "unlabelled": 1.0, "device": "cpu", "batch_size": 32}
    held = adapt_model(base, city, areas, tmp_path / "held.safetensors", holdout=0.3, **fast)
    cal = load_checkpoint(held.checkpoint).calibration
    assert cal is not None and cal.fitted_on == "the held-out training areas"
    assert cal.n > 0 and held.scores is not None
    assert cal.nll_after <= cal.nll_before + 1e-9
    none = adapt_model(base, city, areas, tmp_path / "none.safetensors", **fast)
    assert load_checkpoint(none.checkpoint).calibration is None  # nothing held out: uncalibrated
