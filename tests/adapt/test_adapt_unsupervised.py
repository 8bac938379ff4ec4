"""Adaptation without labels (``swd-eo``): the EO reference checkpoints carry, the losses against
POT, the label-free stopping rule, the run from the library and the CLI, and bad input as one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from lczmap.adapt import adapt_model
from lczmap.adapt.unsupervised import EpochCheck, ReferencePool, check_model, choose, reestimate_batch_norm
from lczmap.checkpoint import load_checkpoint, save_checkpoint
from lczmap.cli import main
from lczmap.errors import CheckpointError, ConfigError, ZonesError
from lczmap.train.reference import REFERENCE_PER_CLASS, EoReference, read_reference, reference_from_data

#: Small and fast: two epochs on the test city's patches.
FAST = {"sar_epochs": 2, "device": "cpu", "batch_size": 32, "scene_patches": 600}


@pytest.fixture(scope="module")
def old_model(tiny_model, tmp_path_factory):
    """The tiny model as a checkpoint written before checkpoints carried the EO reference."""
    ckpt = load_checkpoint(tiny_model)
    path = tmp_path_factory.mktemp("old_model") / "old.safetensors"
    save_checkpoint(path, ckpt.model(), {k: v for k, v in ckpt.meta.items() if k != "lczmap_version"})
    return path


def test_train_writes_the_eo_reference(tiny_model, twin_dir):
    ckpt = load_checkpoint(tiny_model)
    ref = read_reference(ckpt)
    assert ref is not None
    assert ref.z.dtype == torch.float16 and ref.y.dtype == torch.int16
    assert ref.z.shape == (len(ref.y), ckpt.architecture.embedding) and torch.isfinite(ref.z.float()).all()
    counts = ref.counts()
    assert counts.max() <= REFERENCE_PER_CLASS and (counts > 0).sum() == len(ckpt.codes)
    # the size the docs state: 2 bytes per value and per class index
    assert ref.nbytes == len(ref.y) * (ckpt.architecture.embedding * 2 + 2)
    # the weights load as before: the reference is no network tensor
    assert not any(k.startswith("eo_reference") for k in ckpt.state)
    ckpt.model()
    # an older checkpoint gets the same sample from the release it was trained on
    again = reference_from_data(ckpt, twin_dir)
    assert torch.equal(again.y, ref.y)
    assert torch.allclose(again.z.float(), ref.z.float(), atol=1e-2)


def test_old_checkpoint_loads_without_reference(old_model):
    ckpt = load_checkpoint(old_model)
    assert ckpt.extra == {} and read_reference(ckpt) is None
    ckpt.model()


def test_info_shows_the_reference(tiny_model, old_model):
    runner = CliRunner()
    res = runner.invoke(main, ["info", str(tiny_model), "--json"])
    assert res.exit_code == 0, res.output
    shown = json.loads(res.output)["eo_reference"]
    assert shown["dtype"] == "float16" and shown["bytes"] == read_reference(load_checkpoint(tiny_model)).nbytes
    assert "eo_reference" in runner.invoke(main, ["info", str(tiny_model)]).output
    res = runner.invoke(main, ["info", str(old_model)])
    assert res.exit_code == 0 and "--eo-data" in res.output


def _pool(n_per: int = 40, d: int = 8, k: int = 3, seed: int = 0) -> tuple[ReferencePool, EoReference]:
    g = torch.Generator().manual_seed(seed)
    z = torch.cat([torch.randn(n_per, d, generator=g) + 3 * c for c in range(k)])
    y = torch.arange(k).repeat_interleave(n_per)
    ref = EoReference(z.to(torch.float16), y.to(torch.int16), tuple(range(1, k + 1)))
    return ReferencePool(ref, torch.device("cpu")), ref


class _Net(torch.nn.Module):
    """A stand-in Y-network with the two parts the check uses: a linear SAR encoder and the
    classifier (nearest of three class centres along the diagonal)."""

    def __init__(self, d: int = 8):
        super().__init__()
        self.sar_encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(d, d))
        with torch.no_grad():
            self.sar_encoder[1].weight.copy_(torch.eye(d))
            self.sar_encoder[1].bias.zero_()
        self.classifier = torch.nn.Linear(d, 3)
        with torch.no_grad():
            centres = torch.stack([torch.full((d,), 3.0 * c) for c in range(3)])
            self.classifier.weight.copy_(centres)
            self.classifier.bias.copy_(-0.5 * (centres**2).sum(1))


def test_check_matches_pot():
    ot = pytest.importorskip("ot")
    pool, _ = _pool()
    g = torch.Generator().manual_seed(1)
    x = torch.cat([torch.randn(30, 8, generator=g) + 3 * c + 0.5 for c in range(3)]).view(-1, 8, 1, 1)
    net = _Net()
    theta = torch.randn(8, 20, generator=g)
    theta = theta / theta.norm(dim=0, keepdim=True)
    prior = torch.tensor([0.2, 0.3, 0.5])
    idx = pool.draw(90, prior, g)
    check, pred = check_model("m", net, x, pool, idx, theta, None, None, torch.device("cpu"))  # type: ignore[arg-type]
    z = x.view(-1, 8).double()
    ref_z = pool.z.double()
    marginal = ot.sliced_wasserstein_distance(ref_z[idx].numpy(), z.numpy(), projections=theta.double().numpy())
    assert check.marginal == pytest.approx(float(marginal), rel=1e-4)
    per_class = [
        ot.sliced_wasserstein_distance(ref_z[pool.y == c].numpy(), z[pred == c].numpy(), projections=theta.double().numpy())
        for c in range(3)
    ]
    assert check.score == pytest.approx(float(np.mean(per_class)), rel=1e-4)
    assert np.allclose(check.shares, np.bincount(pred.numpy(), minlength=3) / 90)


def test_reference_draws_follow_the_class_mix():
    pool, _ = _pool(n_per=50)
    g = torch.Generator().manual_seed(0)
    idx = pool.draw(6000, torch.tensor([0.6, 0.3, 0.1]), g)
    shares = np.bincount(pool.y[idx].numpy(), minlength=3) / 6000
    assert np.allclose(shares, [0.6, 0.3, 0.1], atol=0.03)
    ci, has = pool.draw_like(torch.tensor([2, 0, 1, 2]), g)
    assert has.all() and pool.y[ci].tolist() == [2, 0, 1, 2]


def test_stopping_rule_keeps_the_lowest_score_without_collapse():
    shares = np.array([0.5, 0.5])
    checks = [
        EpochCheck("base", 0.5, 0.4, 1.0, None, shares),
        EpochCheck("epoch 1", 0.3, 0.3, 0.9, 0.9, shares),
        EpochCheck("epoch 2", 0.1, 0.2, 0.5, 0.8, shares, collapsed=[1]),
        EpochCheck("epoch 3", 0.35, 0.2, 0.5, 0.95, shares),
    ]
    assert choose(checks).name == "epoch 1"
    assert choose(checks[:1]).name == "base"
    # a class that falls under a quarter of its first share has collapsed
    torch.manual_seed(0)
    pool, _ = _pool()
    net = _Net()
    x = torch.cat([torch.randn(60, 8) + 6.0, torch.randn(2, 8)]).view(-1, 8, 1, 1)
    theta = torch.eye(8)
    c, _ = check_model(
        "m",
        net,
        x,
        pool,
        torch.arange(62),
        theta,
        None,
        np.array([0.3, 0.0, 0.7]),
        torch.device("cpu"),  # type: ignore[arg-type]
    )
    assert c.collapsed == [0]
    # a class the first check mapped that vanishes from the map has collapsed, under 2 % too; a
    # class it did not map has not
    x = (torch.randn(500, 8) + 6.0).view(-1, 8, 1, 1)
    first = np.array([0, 3, 497]) / 500
    c, _ = check_model("m", net, x, pool, torch.arange(120), theta, None, first, torch.device("cpu"))  # type: ignore[arg-type]
    assert c.shares.tolist() == [0.0, 0.0, 1.0] and c.collapsed == [1]


def test_batch_norm_statistics_follow_the_scene():
    enc = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.BatchNorm2d(4))
    x = torch.randn(100, 2, 8, 8) * 3 + 5
    assert reestimate_batch_norm(enc, x, torch.device("cpu"), batch=32) == 1
    with torch.no_grad():
        out = enc[0](x)
    assert torch.allclose(enc[1].running_mean, out.mean((0, 2, 3)), atol=1e-4)
    assert enc[1].momentum == 0.1 and enc.training  # momentum and mode restored
    assert reestimate_batch_norm(torch.nn.Sequential(torch.nn.InstanceNorm2d(2)), x, torch.device("cpu")) == 0


def test_adapt_without_training_areas(tiny_model, city, tmp_path):
    from lczmap.predict import predict_scene

    scene, _ = city
    out = tmp_path / "unsup.safetensors"
    result = adapt_model(tiny_model, scene, None, out, **FAST)
    assert result.n_labelled == 0 and 0 < result.n_unlabelled <= 600
    assert result.stopping is not None and "stopping rule" in result.summary()
    ckpt = load_checkpoint(out)
    rec = ckpt.meta["adaptation"]
    assert ckpt.meta["method"] == "swd-eo" and rec["training_areas"] is None
    names = [c["model"] for c in rec["stopping"]["checks"]]
    assert names[:2] == ["base", "batch-norm statistics"] and rec["stopping"]["kept"] in names
    assert rec["eo_reference"]["from"] == "the checkpoint" and rec["eo_reference"]["dtype"] == "float16"
    assert 1 <= len(rec["history"]) <= 2 and "pseudo_labelled" in rec["history"][0]
    assert read_reference(ckpt) is not None  # the adapted model can be adapted again
    # the same seed gives the same model
    again = adapt_model(tiny_model, scene, None, tmp_path / "again.safetensors", **FAST)
    assert out.read_bytes() == again.checkpoint.read_bytes()
    predict_scene(scene, tmp_path / "unsup.tif", out, device="cpu")


def test_adapt_with_areas_and_the_eo_reference(tiny_model, city, city_areas, tmp_path):
    scene, _ = city
    result = adapt_model(tiny_model, scene, city_areas, tmp_path / "both.safetensors", method="swd-eo", unlabelled=1.0, **FAST)
    assert result.n_labelled > 0 and result.stopping is not None
    rec = load_checkpoint(result.checkpoint).meta["adaptation"]
    assert rec["method"] == "swd-eo" and rec["training_areas"]["polygons"] > 0 and "stopping" in rec
    # with labels the model kept is one that trained on them: an epoch, never the base model
    assert rec["stopping"]["kept"].startswith("epoch") and rec["stopping"]["checks"][0]["model"] == "base"
    assert rec["history"][0]["ce_sar"] > 0


def test_cli_adapts_without_training_areas(tiny_model, city, tmp_path):
    scene, _ = city
    out = tmp_path / "cli.safetensors"
    args = ["adapt", str(tiny_model), str(scene), "-o", str(out), "--sar-epochs", "1", "--scene-patches", "300"]
    res = CliRunner().invoke(main, [*args, "--device", "cpu", "--batch-size", "32"])
    assert res.exit_code == 0, res.output
    assert "stopping rule (no labels): kept" in res.output and out.exists()
    assert json.loads(json.dumps(load_checkpoint(out).meta["adaptation"]["options"]))["method"] == "swd-eo"


def test_cli_adapts_an_old_checkpoint_with_eo_data(old_model, twin_dir, city, tmp_path):
    """A checkpoint written before the EO reference: --eo-data makes it from the So2Sat release the
    model was trained on (the sample train stores), and the adapted checkpoint carries it."""
    scene, _ = city
    out = tmp_path / "old_unsup.safetensors"
    args = ["adapt", str(old_model), str(scene), "-o", str(out), "--sar-epochs", "1", "--scene-patches", "300"]
    res = CliRunner().invoke(main, [*args, "--eo-data", str(twin_dir), "--device", "cpu", "--batch-size", "32"])
    assert res.exit_code == 0, res.output
    ckpt = load_checkpoint(out)
    assert ckpt.meta["adaptation"]["eo_reference"]["from"] == f"--eo-data {twin_dir}"
    made, stored = read_reference(ckpt), reference_from_data(load_checkpoint(old_model), twin_dir)
    assert made is not None and torch.equal(made.y, stored.y) and torch.equal(made.z, stored.z)
    # a folder that holds no So2Sat release is one line naming it
    text = _one_line_error([*args, "--eo-data", str(tmp_path), "--device", "cpu"])
    assert str(tmp_path) in text


def _one_line_error(args: list[str]) -> str:
    res = CliRunner().invoke(main, args)
    assert res.exit_code in (1, 2), res.output
    assert "Traceback" not in res.output
    lines = [line for line in res.output.strip().splitlines() if line.startswith(("Error", "lczmap: error", "Usage"))]
    assert lines, res.output
    return res.output


def test_bad_inputs_one_line(tiny_model, old_model, city, tmp_path):
    import rasterio
    from rasterio.windows import Window

    scene, _ = city
    out = str(tmp_path / "x.safetensors")
    fast = ["--device", "cpu", "--sar-epochs", "1"]
    # a checkpoint without the reference and no --eo-data
    text = _one_line_error(["adapt", str(old_model), str(scene), "-o", out, *fast])
    assert "carries no EO reference" in text and "--eo-data" in text
    # a scene the model's band set cannot read: one band (VV) where the model needs VV and VH
    with rasterio.open(scene) as src:
        profile = src.profile | {"count": 1}
        one, desc = src.read(1), src.descriptions[0]
        small = src.read(window=Window(0, 0, 70, 70))
        small_profile = src.profile | {"width": 70, "height": 70, "transform": src.window_transform(Window(0, 0, 70, 70))}
        descriptions = src.descriptions
        tags, band_tags = src.tags(), [src.tags(i) for i in range(1, src.count + 1)]
    vv = tmp_path / "vv_only.tif"
    with rasterio.open(vv, "w", **profile) as dst:
        dst.write(one, 1)
        dst.set_band_description(1, desc)
    text = _one_line_error(["adapt", str(tiny_model), str(vv), "-o", out, *fast])
    assert "vv_only" in text or "VH" in text
    # a scene with fewer valid patches than a batch: 7 x 7 output pixels
    tiny = tmp_path / "tiny.tif"
    with rasterio.open(tiny, "w", **small_profile) as dst:
        dst.write(small)
        dst.update_tags(**tags)  # the scene's units travel with its pixels
        for i, d in enumerate(descriptions, 1):
            dst.set_band_description(i, d)
            dst.update_tags(i, **band_tags[i - 1])
    text = _one_line_error(["adapt", str(tiny_model), str(tiny), "-o", out, *fast])
    assert "fewer than a batch" in text
    # options that need training areas
    assert "--method swd" in _one_line_error(["adapt", str(tiny_model), str(scene), "-o", out, "--method", "swd"])
    with pytest.raises(ConfigError, match="holdout"):
        adapt_model(tiny_model, scene, None, out, holdout=0.3, **FAST)
    with pytest.raises(ZonesError, match="fewer than a batch"):
        adapt_model(tiny_model, tiny, None, out, **{**FAST, "batch_size": 64})  # 49 patches
    with pytest.raises(CheckpointError, match="no EO reference"):
        adapt_model(old_model, scene, None, out, **FAST)
