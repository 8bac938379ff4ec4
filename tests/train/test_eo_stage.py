"""Shared EO stages and data on the device: a run started from a trained EO stage writes the same
checkpoint as one that trains it; patches on the device give the same numbers; the batched
augmentation equals cropping, flipping and turning each patch in turn."""

import hashlib
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from lczmap.cli import main
from lczmap.errors import ConfigError
from lczmap.train import EO_OPTIONS, TrainConfig, augment, load_eo_stage, output_paths, train, train_eo_stage
from lczmap.train.data import apply_augment, augment_draws, run_device_bytes

torch.set_num_threads(1)

SMALL = dict(
    width=4,
    depth=2,
    blocks=1,
    embedding=16,
    projection=8,
    batch_size=32,
    eo_epochs=2,
    sar_epochs=1,
    val_max=64,
    device="cpu",
    projections=10,
)


def small(data, **kw):
    return TrainConfig(data=str(data), **{**SMALL, **kw})


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("LCZMAP_HOME", str(tmp_path / "home"))


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "kw",
    [dict(method="swd", norm="batch", supcon=True), dict(method="finetune", labels=32)],
    ids=["swd-batch-supcon", "finetune"],
)
def test_a_shared_eo_stage_gives_the_same_checkpoint(twin_dir, tmp_path, kw):
    """Training the EO stage in the run, or once with train_eo_stage and starting the SAR stage from
    it: the same checkpoint, byte for byte, and the same history."""
    cfg = small(twin_dir, **kw)
    inside = train(cfg, tmp_path / "inside.safetensors")
    stage = train_eo_stage(cfg, tmp_path / "eo.safetensors")
    assert stage.is_file() and load_eo_stage(stage, cfg).options == cfg.eo_options()
    shared = train(replace(cfg, eo_checkpoint=str(stage)), tmp_path / "shared.safetensors")
    assert _md5(inside.checkpoint) == _md5(shared.checkpoint)
    drop = ("seconds", "samples_per_s")
    assert [{k: v for k, v in r.items() if k not in drop} for r in inside.history] == [
        {k: v for k, v in r.items() if k not in drop} for r in shared.history
    ]
    assert [r["stage"] for r in shared.history] == ["eo", "eo", "sar"]
    # a stage is the same whoever trains it (another method or budget with the same EO options)
    other = replace(cfg, method="finetune" if cfg.method == "swd" else "swd", labels=16)
    assert other.eo_stage_id == cfg.eo_stage_id
    a, b = load_eo_stage(stage, cfg), load_eo_stage(train_eo_stage(other, tmp_path / "eo2.safetensors"), other)
    assert a.state.keys() == b.state.keys() and all(torch.equal(a.state[k], b.state[k]) for k in a.state)
    assert [r["loss"] for r in a.history] == [r["loss"] for r in b.history]


def test_eo_checkpoint_must_match_the_run(twin_dir, tmp_path):
    cfg = small(twin_dir, method="finetune")
    stage = train_eo_stage(cfg, tmp_path / "eo.safetensors")
    out = tmp_path / "m.safetensors"
    with pytest.raises(ConfigError, match=r"other EO options \(eo_lr 0.001 there, 0.003 here\)") as info:
        train(replace(cfg, eo_lr=3e-3, eo_checkpoint=str(stage)), out)
    assert "\n" not in str(info.value) and not out.exists()
    with pytest.raises(ConfigError, match="seed 0 there, 1 here"):
        train(replace(cfg, seed=1, eo_checkpoint=str(stage)), out)
    # the method, the budget and the SAR stage's options are not EO options
    assert {"method", "labels", "sar_lr", "sar_epochs", "swd_lambda"}.isdisjoint(EO_OPTIONS)
    train(replace(cfg, method="swd", labels=16, sar_lr=3e-3, eo_checkpoint=str(stage)), out)
    with pytest.raises(ConfigError, match="not an lczmap EO stage"):
        train(replace(cfg, eo_checkpoint=str(out)), tmp_path / "n.safetensors")  # a model, not an EO stage
    with pytest.raises(ConfigError, match="does not exist"):
        train(replace(cfg, eo_checkpoint=str(tmp_path / "none.safetensors")), tmp_path / "n.safetensors")
    with pytest.raises(ConfigError, match="sar-only does not have"):
        small(twin_dir, method="sar-only", eo_checkpoint=str(stage))
    with pytest.raises(ConfigError, match="--device-data 'gpu'"):
        small(twin_dir, device_data="gpu")


def test_eo_checkpoint_from_the_command_line(twin_dir, tmp_path):
    args = [
        "--width",
        "4",
        "--depth",
        "2",
        "--embedding",
        "16",
        "--eo-epochs",
        "1",
        "--sar-epochs",
        "1",
        "--batch-size",
        "32",
        "--projections",
        "10",
        "--device",
        "cpu",
        "--method",
        "swd",
    ]
    cfg = TrainConfig(
        data=str(twin_dir), width=4, depth=2, embedding=16, eo_epochs=1, sar_epochs=1, batch_size=32, projections=10, device="cpu"
    )  # the options above, the rest lczmap train's defaults
    stage = train_eo_stage(cfg, tmp_path / "eo.safetensors")
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path):
        res = runner.invoke(
            main, ["-q", "train", str(twin_dir), "-o", "m.safetensors", *args, "--eo-lr", "0.003", "--eo-checkpoint", str(stage)]
        )
        assert res.exit_code == 1 and res.output.count("\n") == 1, res.output
        assert res.output.startswith("Error: --eo-checkpoint") and "eo_lr 0.001 there, 0.003 here" in res.output
        res = runner.invoke(main, ["-q", "train", str(twin_dir), "-o", "m.safetensors", *args, "--eo-checkpoint", str(stage)])
        assert res.exit_code == 0, res.output
        res = runner.invoke(
            main,
            ["-q", "train", str(twin_dir), "-o", "s.safetensors", *args, "--method", "sar-only", "--eo-checkpoint", str(stage)],
        )
        assert res.exit_code == 2 and "--eo-checkpoint" in res.output


def test_resume_with_a_shared_eo_stage(twin_dir, tmp_path):
    """An interrupted run resumed with the EO stage given continues to the same checkpoint."""
    cfg = small(twin_dir, method="finetune", sar_epochs=2)
    full = train(cfg, tmp_path / "full.safetensors")
    stage = train_eo_stage(cfg, tmp_path / "eo.safetensors")
    calls = []

    class Stop(Exception):
        pass

    def stopping(total=None, desc=None, **kw):
        if desc and "SAR stage epoch 2" in desc:
            raise Stop
        calls.append(desc)
        from tqdm import tqdm

        return tqdm(total=total, disable=True)

    out = tmp_path / "cut.safetensors"
    shared = replace(cfg, eo_checkpoint=str(stage))
    with pytest.raises(Stop):
        train(shared, out, progress=stopping)
    assert output_paths(out)["resume"].exists()
    resumed = train(shared, out, resume=True)
    assert _md5(resumed.checkpoint) == _md5(full.checkpoint)


def test_data_on_the_device_gives_the_same_numbers(twin_dir, tmp_path):
    """device_data on (patches on the device, batches gathered there) and off (gathered on the host,
    copied per step): the same checkpoint on the CPU."""
    cfg = small(twin_dir, method="swd", supcon=True)
    on = train(replace(cfg, device_data="on"), tmp_path / "on.safetensors")
    off = train(replace(cfg, device_data="off"), tmp_path / "off.safetensors")
    assert _md5(on.checkpoint) == _md5(off.checkpoint)
    assert [r["loss"] for r in on.history] == pytest.approx([r["loss"] for r in off.history], rel=1e-6)
    # the estimate that sizes cells per GPU grows with the patches it would hold
    assert run_device_bytes(cfg, 10_000) > run_device_bytes(cfg, 100) > run_device_bytes(cfg, 100, device_data=False)


def _augment_one_by_one(x, generator, shift=2):
    """The augmentation as lczmap did it before batching it: patch by patch."""
    b, _, h, w = x.shape
    k = torch.randint(0, 4, (b,), generator=generator).tolist()
    flip = torch.randint(0, 2, (b,), generator=generator).tolist()
    dy = torch.randint(-shift, shift + 1, (b,), generator=generator).tolist()
    dx = torch.randint(-shift, shift + 1, (b,), generator=generator).tolist()
    padded = F.pad(x, (shift, shift, shift, shift), mode="reflect") if shift else x
    out = torch.empty_like(x)
    for i in range(b):
        p = padded[i, :, shift + dy[i] : shift + dy[i] + h, shift + dx[i] : shift + dx[i] + w]
        if flip[i]:
            p = torch.flip(p, dims=(-1,))
        out[i] = torch.rot90(p, k[i], dims=(-2, -1))
    return out


@pytest.mark.parametrize("shift", [0, 2])
def test_batched_augment_equals_patch_by_patch(shift):
    x = torch.randn(300, 3, 32, 32)
    ref = _augment_one_by_one(x, torch.Generator().manual_seed(7), shift)
    assert torch.equal(augment(x, torch.Generator().manual_seed(7), shift), ref)
    draws = augment_draws(300, torch.Generator().manual_seed(7), shift)
    assert draws.shape == (4, 300) and torch.equal(apply_augment(x, draws, shift), ref)
    assert apply_augment(x[:0], draws[:, :0], shift).shape == (0, 3, 32, 32)
